-- Runs, their steps, step attempts, approvals, Slack message references and the append-only timeline.

create sequence run_number_seq;

create table runs (
  id text primary key,
  service text not null,
  environment text not null,
  status text not null check (status in ('running', 'waiting', 'failed', 'rolling_back', 'rolled_back', 'succeeded', 'aborted')),
  started_by text not null,
  started_at timestamptz not null,
  finished_at timestamptz,
  channel text not null,
  plan_file text not null,
  policy jsonb not null,
  -- Bumped by every decision; the Slack publisher re-renders the status message while behind it.
  version integer not null default 0,
  created_at timestamptz not null default now()
);
-- One active run per service and environment, enforced where it cannot be raced.
create unique index runs_one_active on runs (service, environment)
  where status not in ('succeeded', 'rolled_back', 'aborted');
create index runs_by_channel on runs (channel, created_at desc);

create table steps (
  run_id text not null references runs (id),
  position integer not null,
  step_id text not null,
  kind text not null,
  spec jsonb not null,
  title text not null,
  needs_approval boolean not null,
  status text not null check (status in ('pending', 'awaiting_approval', 'running', 'succeeded', 'failed', 'skipped', 'rolled_back')),
  attempt integer not null default 0,
  direction text not null default 'do' check (direction in ('do', 'undo')),
  undo text check (undo in ('running', 'failed')),
  waiting_for_person boolean not null default false,
  approval jsonb,
  approval_requested_at timestamptz,
  summary text,
  error text,
  started_at timestamptz,
  finished_at timestamptz,
  primary key (run_id, step_id),
  unique (run_id, position)
);

-- Every approval decision ever made; steps.approval holds the current one.
create table approvals (
  id bigint generated always as identity primary key,
  run_id text not null references runs (id),
  step_id text not null,
  decision text not null check (decision in ('approved', 'rejected', 'cancelled')),
  decided_by text not null,
  decided_at timestamptz not null
);
create index approvals_by_step on approvals (run_id, step_id);

-- Durable work: one row per attempt to run or undo a step. `captured` is committed before acting.
create table step_attempts (
  id bigint generated always as identity primary key,
  run_id text not null references runs (id),
  step_id text not null,
  attempt integer not null,
  direction text not null check (direction in ('do', 'undo')),
  status text not null check (status in ('due', 'running', 'done', 'cancelled')),
  not_before timestamptz not null,
  lease_until timestamptz,
  claimed_by text,
  captured jsonb,
  captured_at timestamptz,
  outcome jsonb,
  finished_at timestamptz,
  unique (run_id, step_id, direction, attempt)
);
create index step_attempts_due on step_attempts (not_before) where status in ('due', 'running');

-- Live progress of a long step (drain, DNS propagation); edited in place in Slack.
create table step_progress (
  run_id text not null references runs (id),
  step_id text not null,
  text text not null,
  fraction double precision,
  figures jsonb,
  version integer not null default 1,
  updated_at timestamptz not null default now(),
  primary key (run_id, step_id)
);

create table timeline_events (
  id bigint generated always as identity primary key,
  run_id text not null references runs (id),
  seq integer not null,
  at timestamptz not null,
  type text not null,
  step_id text,
  actor text,
  detail text,
  figures jsonb,
  unique (run_id, seq)
);

create function timeline_events_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'timeline_events is append-only: % refused', tg_op using errcode = 'restrict_violation';
end $$;
create trigger timeline_events_no_update before update or delete on timeline_events
  for each row execute function timeline_events_append_only();
create trigger timeline_events_no_truncate before truncate on timeline_events
  for each statement execute function timeline_events_append_only();

-- Messages Ferry posted for a run: the status message, approval requests, progress, timeline replies.
create table slack_messages (
  run_id text not null references runs (id),
  kind text not null check (kind in ('status', 'approval', 'progress', 'event')),
  key text not null,
  channel text not null,
  ts text not null,
  rendered_version integer not null default 0,
  rendered_at timestamptz not null default now(),
  primary key (run_id, kind, key)
);

-- Who publishes a run's messages right now (a lease, so two replicas never post the same event).
create table publisher_leases (
  run_id text primary key references runs (id),
  owner text not null,
  lease_until timestamptz not null
);

-- Slack deliveries already handled (Events API retries, repeated slash commands).
create table slack_deliveries (
  key text primary key,
  received_at timestamptz not null default now()
);
