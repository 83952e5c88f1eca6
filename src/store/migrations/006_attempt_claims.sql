-- How many times an attempt was claimed: each claim after a crash acts again, so Ferry stops at a bound.
alter table step_attempts add column claims integer not null default 0;
