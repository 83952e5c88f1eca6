-- `/migrate lock`: no run may start for a service and environment until unlocked.
create table locks (
  service text not null,
  environment text not null,
  reason text not null,
  locked_by text not null,
  locked_at timestamptz not null,
  primary key (service, environment)
);

-- `/migrate incident`: incidents during a run, shown on its status message until resolved.
create table incidents (
  id bigint generated always as identity primary key,
  run_id text not null references runs (id),
  severity text not null check (severity in ('sev1', 'sev2', 'sev3')),
  summary text not null,
  opened_by text not null,
  opened_at timestamptz not null,
  resolved_by text,
  resolved_at timestamptz
);
create index incidents_open on incidents (run_id) where resolved_at is null;
