-- `/migrate start <service> <env> --at <time>`: a run to start later. The row turns 'started' in the
-- same transaction that creates the run, so two replicas never start it twice.
create sequence scheduled_start_seq;
create table scheduled_starts (
  id text primary key,
  service text not null,
  environment text not null,
  requested_by text not null,
  channel text not null,
  start_at timestamptz not null,
  status text not null default 'pending' check (status in ('pending', 'started', 'cancelled', 'failed')),
  run_id text references runs (id),
  decided_by text,
  error text,
  created_at timestamptz not null default now()
);
create unique index scheduled_starts_one_pending on scheduled_starts (service, environment) where status = 'pending';
create index scheduled_starts_due on scheduled_starts (start_at) where status = 'pending';
