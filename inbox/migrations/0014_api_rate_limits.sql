-- 0014: a workspace's own API rate limits (issue 19 §1; docs/operations.md,
-- API rate limits): requests and messages per second. NULL: the engine's
-- configured default (api_limits); 0: no limit. Columns without a default
-- rewrite nothing; the checks scan the workspaces table (small) once.
ALTER TABLE workspaces
    ADD COLUMN api_requests_per_second integer CHECK (api_requests_per_second BETWEEN 0 AND 1000000),
    ADD COLUMN api_messages_per_second integer CHECK (api_messages_per_second BETWEEN 0 AND 1000000);
