-- 0012: opt-outs beyond English STOP (keyword settings per workspace, the
-- source of each opt-out) and usage rollups (issue 16, §3 and §4).

-- Keyword settings of a workspace (see KeywordSettings): the languages
-- whose default keywords apply, and the optional replies to an opt-out, an
-- opt-in and a help keyword. A reply is stored with the encoding and
-- segment count the API computed when it was set (the inbox knows nothing
-- of SMS codings). Constant defaults: adding these columns rewrites nothing.
ALTER TABLE workspaces
    ADD COLUMN keyword_languages text[] NOT NULL DEFAULT '{en,es,fr,de,it,pt,nl,sl}',
    ADD COLUMN opt_out_reply     text,
    ADD COLUMN opt_in_reply      text,
    ADD COLUMN help_reply        text,
    ADD COLUMN reply_encodings   text[] NOT NULL DEFAULT '{"","",""}',
    ADD COLUMN reply_segments    int2[] NOT NULL DEFAULT '{0,0,0}';

-- A workspace's own keywords, in NormalizeKeyword form: each adds a
-- keyword, or overrides a default one (action 0 turns a default off).
-- action: 1 opt-out, 2 opt-in, 3 help (inbox.Keyword).
CREATE TABLE workspace_keywords (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    keyword      text NOT NULL CHECK (keyword <> '' AND length(keyword) <= 32),
    action       smallint NOT NULL CHECK (action BETWEEN 0 AND 3),
    PRIMARY KEY (workspace_id, keyword)
);

-- Who last changed a contact's state, and how: 'keyword' (the contact
-- texted one; keyword holds it as received, normalized), 'api' (the
-- workspace), 'operator'. Rows written before this migration came from
-- keywords.
ALTER TABLE contacts
    ADD COLUMN source  text NOT NULL DEFAULT 'keyword' CHECK (source IN ('keyword', 'api', 'operator')),
    ADD COLUMN keyword text;
-- A workspace's opted-out contacts in order (GET /v1/opt-outs).
CREATE INDEX contacts_opted_out ON contacts (workspace_id, contact) WHERE opted_out;

-- Usage rollups: messages and segments per workspace, number, UTC day of
-- the message's creation, direction and status bucket (usage_bucket). An
-- outbound message counts from its first status past pending (submitted,
-- or a final one), once, in its current status: submitted → delivered
-- moves it from one bucket to the other. Pending messages (queued,
-- sending, and any status not listed in usage_bucket) are not counted.
-- Inbound messages count as 'received'.
--
-- Nothing on the write paths of messages: no trigger, no index. The
-- rollups are folded in from the change log (message_changes, 0008) by
-- Store.FoldUsage, which the engine runs every few seconds: it reads the
-- log entries between its cursor (usage_fold) and the feed's horizon, and
-- counts each listed message whose latest change is that entry (its
-- change_xid), in its status now. usage_open remembers the messages
-- counted in a bucket they can still leave (submitted), so that the next
-- change moves them instead of counting them twice; final statuses never
-- change. Rows are never deleted with messages: usage is history.
CREATE TABLE usage_daily (
    workspace_id bigint NOT NULL,
    day          date NOT NULL,
    number_id    bigint NOT NULL,
    direction    text NOT NULL,
    status       text NOT NULL,
    messages     bigint NOT NULL,
    segments     bigint NOT NULL,
    PRIMARY KEY (workspace_id, day, number_id, direction, status)
) WITH (fillfactor = 70);
-- The operator's view across workspaces reads days in order: rows are
-- inserted about in day order, so a BRIN index of a few pages answers it.
CREATE INDEX usage_daily_day ON usage_daily USING brin (day);

-- The same per month (month: its first day), written by the same fold: a
-- year of a busy workspace is 12 rows per number and bucket here against
-- 365 in usage_daily (see BenchmarkUsageYear).
CREATE TABLE usage_monthly (
    workspace_id bigint NOT NULL,
    month        date NOT NULL,
    number_id    bigint NOT NULL,
    direction    text NOT NULL,
    status       text NOT NULL,
    messages     bigint NOT NULL,
    segments     bigint NOT NULL,
    PRIMARY KEY (workspace_id, month, number_id, direction, status)
) WITH (fillfactor = 70);
CREATE INDEX usage_monthly_month ON usage_monthly USING brin (month);

-- The bucket a status counts in: 'pending' is not counted. A status added
-- later is pending until listed here.
CREATE FUNCTION usage_bucket(status text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN status IN ('submitted', 'delivered', 'failed', 'expired', 'rejected', 'received')
                THEN status ELSE 'pending' END;

-- The messages counted in a bucket they can leave (submitted), and where
-- they were counted. A row goes when the message reaches a final status;
-- one that never gets a receipt stays.
CREATE TABLE usage_open (
    message_id   bigint PRIMARY KEY,
    workspace_id bigint NOT NULL,
    day          date NOT NULL,
    number_id    bigint NOT NULL,
    direction    text NOT NULL,
    status       text NOT NULL,
    segments     bigint NOT NULL
);

-- The fold's cursor (one row): every log entry of a transaction below
-- horizon is in the rollups; folded_at is when the last fold read the
-- log (the rollups' freshness). The fold locks this row, so one fold runs
-- at a time across engine processes; PruneChanges keeps the entries at or
-- above horizon.
CREATE TABLE usage_fold (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    horizon   xid8 NOT NULL,
    folded_at timestamptz NOT NULL
);

-- The usage so far, one scan of messages: those whose latest change is
-- older than every transaction of this database running now (their log
-- entries, if any, are below the cursor, or superseded). The others are
-- left to the first fold, from this cursor. Transactions of other
-- databases are not waited for (as in the feed's horizon): they cannot
-- write here.
WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s)
INSERT INTO usage_fold (horizon, folded_at)
SELECT coalesce(
    (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) x
     WHERE x::xid NOT IN (
         SELECT a.backend_xid FROM pg_stat_get_activity(NULL) a
         WHERE a.backend_xid IS NOT NULL
           AND a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database()))),
    (SELECT pg_snapshot_xmax(s) FROM snap)),
    now();
CREATE TEMPORARY TABLE usage_seed ON COMMIT DROP AS
SELECT m.id, m.workspace_id, (m.created_at AT TIME ZONE 'UTC')::date AS day, m.number_id, m.direction,
       usage_bucket(m.status) AS status, m.segments::bigint AS segments
FROM messages m
WHERE usage_bucket(m.status) <> 'pending'
  AND (m.change_xid IS NULL OR m.change_xid < (SELECT horizon FROM usage_fold));
INSERT INTO usage_daily (workspace_id, day, number_id, direction, status, messages, segments)
SELECT workspace_id, day, number_id, direction, status, count(*), sum(segments)
FROM usage_seed
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO usage_monthly (workspace_id, month, number_id, direction, status, messages, segments)
SELECT workspace_id, date_trunc('month', day::timestamp)::date, number_id, direction, status, sum(messages), sum(segments)
FROM usage_daily
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO usage_open SELECT * FROM usage_seed WHERE status = 'submitted';
