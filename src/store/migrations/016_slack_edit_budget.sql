-- Slack allows about fifty chat.update calls a minute per workspace, whichever process makes them:
-- the publishers of every replica spend one budget, kept here. `spent` holds when each edit of the
-- last minute was made, by the database's clock, which every replica shares.
create table slack_edit_budget (
  name text primary key,
  spent timestamptz[] not null default '{}'
);
insert into slack_edit_budget (name) values ('chat.update');
