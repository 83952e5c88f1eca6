-- Fencing: each claim of an attempt gets a number of its own. Renewing the lease, saving the capture,
-- the check right before acting and recording the outcome all name it, so a claimant whose lease
-- lapsed and was taken over (even by the same process) can no longer do any of them.
create sequence step_claim_seq;
alter table step_attempts add column claim_id bigint;
