-- Approvals that bind: how many distinct people a step needs (M of N), the approvals of its open
-- request so far, and what the step will do as its request shows it (the digest an approval records).
alter table steps add column approvals_needed integer not null default 1 check (approvals_needed between 1 and 5);
alter table steps add column votes jsonb not null default '[]';
alter table steps add column content jsonb;

-- An expired request, asked again, is closed as 'expired'.
alter table approvals drop constraint approvals_decision_check;
alter table approvals add constraint approvals_decision_check
  check (decision in ('approved', 'rejected', 'cancelled', 'expired'));
