-- Slack takes about one post a second per channel, with short bursts, whichever process posts: the
-- publishers of every replica spend one bucket per channel, kept here. `tokens` is what the bucket
-- held at `updated_at` (the database's clock, which every replica shares); it refills at the
-- publisher's rate up to its burst, and may be negative while Slack asked for a pause (a 429).
create table slack_post_budget (
  channel text primary key,
  tokens double precision not null,
  updated_at timestamptz not null
);
