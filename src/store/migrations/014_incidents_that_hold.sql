-- Incidents that hold a run: the step that was in play when one was opened, and who went on despite
-- it (a sev1 or sev2 holds the run until it is resolved or someone does).
alter table incidents add column step_id text;
alter table incidents add column overridden_by text;
alter table incidents add column overridden_at timestamptz;
create index incidents_open_by_run on incidents (run_id) where resolved_at is null;
