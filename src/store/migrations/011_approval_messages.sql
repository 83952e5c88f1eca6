-- An open approval request's message now records how many approvals it shows (0 to 4: M of N), so
-- it is edited as they come in; a closed one is marked -1 instead of 1, which is now a count.
update slack_messages set rendered_version = -1 where kind = 'approval' and rendered_version = 1;
