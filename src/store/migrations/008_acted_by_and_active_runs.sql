-- Who last moved a step by hand (Done, Skip, Retry, Reject): kept apart from the step's texts, which
-- name no people, so each surface can name them its own way.
alter table steps add column acted_by text;

-- Which run statuses are still active, said once for SQL (the engine's `terminalStatuses` says the
-- same, and a test holds the two together): the one-active-run index and every query use it.
create function run_is_active(status text) returns boolean language sql immutable parallel safe
  as $$ select status not in ('succeeded', 'rolled_back', 'aborted') $$;

drop index runs_one_active;
create unique index runs_one_active on runs (service, environment)
  where run_is_active(status) and purpose = 'runbook';
