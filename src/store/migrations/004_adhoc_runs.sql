-- Ad hoc toggles (`/migrate maintenance|crons`) are one-step runs beside the runbook's run: lifting
-- maintenance during an incident must not wait for the migration to end.
alter table runs add column purpose text not null default 'runbook' check (purpose in ('runbook', 'adhoc'));
drop index runs_one_active;
create unique index runs_one_active on runs (service, environment)
  where status not in ('succeeded', 'rolled_back', 'aborted') and purpose = 'runbook';
