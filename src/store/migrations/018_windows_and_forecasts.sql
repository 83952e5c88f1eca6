-- The forecast a run was started with (how long earlier runs of the same steps took), kept so the
-- status message and the report compare the run with what was expected of it at its start.
alter table runs add column forecast jsonb;

-- `/migrate start … --at … --override <reason>`: an approver's reason to start outside the change
-- windows, recorded in the run's timeline when the start comes due.
alter table scheduled_starts add column override_reason text;

-- Forecasts read the latest succeeded runbook runs.
create index runs_succeeded_recent on runs (started_at desc) where status = 'succeeded' and purpose = 'runbook';
