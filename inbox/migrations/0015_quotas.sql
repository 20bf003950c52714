-- 0015: segment quotas per workspace (issue 19 §2; docs/quotas.md).

-- A workspace's time zone (an IANA name PostgreSQL knows), in which its
-- quota days and months are counted; its daily and monthly segment caps,
-- set by the operator (NULL: no cap, the default). Constant defaults and
-- NULL columns: adding them rewrites nothing.
ALTER TABLE workspaces
    ADD COLUMN time_zone           text NOT NULL DEFAULT 'UTC' CHECK (time_zone <> ''),
    ADD COLUMN daily_segment_cap   bigint CHECK (daily_segment_cap > 0),
    ADD COLUMN monthly_segment_cap bigint CHECK (monthly_segment_cap > 0);

-- The segments a workspace with a cap has had accepted in its current day
-- and month (in its time zone): one row per workspace that has a cap,
-- none for the others. Enqueue locks the rows of a batch's capped
-- workspaces, refuses what would cross a cap and adds what it inserted, in
-- the statement that inserts the messages; a row whose day (month) is not
-- the current one counts as 0 for it. Store.SetQuota creates the row when
-- a workspace gets its first cap, counting what the periods have accepted
-- so far, and deletes it when the last cap goes.
CREATE TABLE quota_usage (
    workspace_id   bigint PRIMARY KEY REFERENCES workspaces (id),
    day            date NOT NULL,
    day_segments   bigint NOT NULL CHECK (day_segments >= 0),
    month          date NOT NULL,
    month_segments bigint NOT NULL CHECK (month_segments >= 0)
) WITH (fillfactor = 50); -- updated in place (HOT): no indexed column changes

-- Threshold events (quota.threshold): a workspace reached 80 % or 100 % of
-- a cap. At most one per workspace, period, threshold and cap value (a
-- raised cap may fire again). change_xid puts them in the change feed
-- (Store.Changes) like number_requests.
CREATE TABLE quota_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    period       text NOT NULL CHECK (period IN ('day', 'month')),
    period_start date NOT NULL,
    threshold    smallint NOT NULL CHECK (threshold IN (80, 100)),
    cap          bigint NOT NULL,
    used         bigint NOT NULL,
    resets_at    timestamptz NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    change_xid   xid8 NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (workspace_id, period, period_start, threshold, cap)
);
CREATE INDEX quota_events_changes ON quota_events (workspace_id, change_xid, id);
