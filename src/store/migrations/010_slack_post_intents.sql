-- A post Ferry is about to make to Slack, recorded before the call: chat.postMessage and the row
-- that stores its ts cannot commit together, so a crash, a database outage or a lost answer in
-- between leaves this row behind. The next pass then looks in Slack for the message carrying the
-- key in its metadata and adopts its ts, or posts it if Slack never got it: each message once.
create table slack_post_intents (
  run_id text not null references runs (id),
  -- Names the message: 'status', 'event:<first seq>', 'approval:<step>:<seq>', 'progress:<step>'.
  key text not null,
  channel text not null,
  -- The status message's ts for a thread reply; null for the status message itself.
  thread_ts text,
  -- The slack_messages rows the post stands for once its ts is known: [{kind, key, rendered_version}].
  refs jsonb not null,
  created_at timestamptz not null default now(),
  primary key (run_id, key)
);
