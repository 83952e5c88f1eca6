-- Every sample a watch step took: what each figure was after it and which breached their limit, for
-- the report's chart. A watch resumed after a restart starts its observation again; its samples go on
-- in time under the same attempt.
create table watch_samples (
  id bigint generated always as identity primary key,
  run_id text not null references runs (id),
  step_id text not null,
  attempt integer not null,
  at timestamptz not null,
  -- `error_rate`, `p95_ms`, `prometheus.<name>`: numbers, or null where a query had no value.
  figures jsonb not null,
  breached jsonb not null default '[]'
);
create index watch_samples_by_step on watch_samples (run_id, step_id, attempt, at);
