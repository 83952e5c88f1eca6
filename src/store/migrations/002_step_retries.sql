-- Automatic retries are counted per streak, so a person's Retry gets a fresh budget.
alter table steps add column retries integer not null default 0;
