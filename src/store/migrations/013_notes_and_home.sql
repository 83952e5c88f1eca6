-- Notes taken from Slack messages (the Add note modal, the "Add to migration timeline" shortcut, a
-- 📌 reaction). A message is one note however often it is pinned or shortcut: the unique key on the
-- source message holds that, not the code. Notes typed in (`/migrate note`, the modal) have no source.
create table notes (
  id bigint generated always as identity primary key,
  run_id text not null references runs (id),
  source_channel text,
  source_ts text,
  author text not null,
  written_at timestamptz not null,
  link text,
  added_by text not null,
  added_at timestamptz not null,
  unique (source_channel, source_ts)
);
create index notes_by_run on notes (run_id);

-- A note's timeline entry keeps who wrote the message, when, and a link to it ({author, at, link}).
alter table timeline_events add column source jsonb;

-- People who opened Ferry's App Home tab: Slack has no "publish for everyone", so the publisher
-- republishes the campaign for those who looked recently, and only when it changed (the digest of
-- what each was last shown).
create table home_viewers (
  user_id text primary key,
  opened_at timestamptz not null,
  published_digest text,
  published_at timestamptz
);
create index home_viewers_recent on home_viewers (opened_at);
