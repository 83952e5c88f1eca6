-- Reminders: when a step's approval request, or the Done a manual step waits for, is to be reminded
-- of once (the plan's approval_reminder). The scheduler looks for due ones by this column alone.
alter table steps add column remind_at timestamptz;
create index steps_remind_due on steps (remind_at) where remind_at is not null;
-- Locks remind their owner once, in the channel they were taken in, when older than the plan's lock_reminder.
alter table locks add column reminded_at timestamptz;
alter table locks add column channel text;
