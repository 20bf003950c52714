-- 0009: opt-outs beyond English STOP (keyword settings per workspace, the
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
-- the message's creation, direction and status. An outbound message counts
-- from its first status past queued and sending (submitted, or a final
-- one), once, in its current status: when it changes, one is taken from
-- the old status and added to the new, so submitted → delivered never
-- counts twice. Pending messages are not counted: enqueues, claims and
-- requeues write nothing here (measured: tracking them doubled the rows
-- written per batch). Inbound messages count as 'received'.
--
-- Kept by statement-level triggers over the statement's transition tables
-- (like message_changes, 0008): one grouped upsert per statement, never a
-- per-row trigger, and one place for every writer of messages, present and
-- future (enqueue, claims, submits, receipts, requeues, expiry, inbound,
-- unrouted assignment). Rows are never deleted with messages: usage is
-- history. The upsert locks its rows in key order, after every row of
-- messages, threads and contacts the statement locked.
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

-- The same per month (month: its first day), written by the same
-- statements: a year of a busy workspace is 12 rows per number and bucket
-- here against 365 in usage_daily (measured: a year of 100 numbers, 219,000
-- daily rows, took 150-280 ms to sum; see BenchmarkUsageYear).
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

CREATE FUNCTION usage_bucket(status text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN status IN ('queued', 'sending') THEN 'pending' ELSE status END;

-- usage_add adds grouped deltas to both rollups, daily rows first, each
-- in key order.
CREATE FUNCTION usage_add(d usage_daily[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO usage_daily AS u
    SELECT * FROM unnest(d) x ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, number_id, direction, status) DO UPDATE
        SET messages = u.messages + excluded.messages, segments = u.segments + excluded.segments;
    INSERT INTO usage_monthly AS u
    SELECT workspace_id, date_trunc('month', day::timestamp)::date, number_id, direction, status, sum(messages), sum(segments)
    FROM unnest(d) x
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(messages) <> 0 OR sum(segments) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, month, number_id, direction, status) DO UPDATE
        SET messages = u.messages + excluded.messages, segments = u.segments + excluded.segments;
$$;

CREATE FUNCTION usage_count_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d usage_daily[] := ARRAY(
        SELECT ROW(workspace_id, (created_at AT TIME ZONE 'UTC')::date, number_id, direction,
                   usage_bucket(status), count(*), sum(segments)::int8)::usage_daily
        FROM changed
        WHERE usage_bucket(status) <> 'pending'
        GROUP BY workspace_id, (created_at AT TIME ZONE 'UTC')::date, number_id, direction, usage_bucket(status));
BEGIN
    IF cardinality(d) > 0 THEN
        PERFORM usage_add(d);
    END IF;
    RETURN NULL;
END
$$;

-- Only rows changed in this statement's transaction by a status change
-- (change_xid, see 0008) can have moved between buckets; the others are
-- not joined.
CREATE FUNCTION usage_count_updates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d usage_daily[] := ARRAY(
    SELECT ROW(workspace_id, day, number_id, direction, bucket, sum(dm)::int8, sum(ds)::int8)::usage_daily
    FROM (
        SELECT n.workspace_id, (n.created_at AT TIME ZONE 'UTC')::date AS day, n.number_id, n.direction,
               usage_bucket(n.status) AS bucket, 1 AS dm, n.segments::bigint AS ds
        FROM changed n JOIN before o ON o.id = n.id
        WHERE n.change_xid = pg_current_xact_id() AND usage_bucket(o.status) <> usage_bucket(n.status)
          AND usage_bucket(n.status) <> 'pending'
        UNION ALL
        SELECT o.workspace_id, (o.created_at AT TIME ZONE 'UTC')::date, o.number_id, o.direction,
               usage_bucket(o.status), -1, -o.segments::bigint
        FROM changed n JOIN before o ON o.id = n.id
        WHERE n.change_xid = pg_current_xact_id() AND usage_bucket(o.status) <> usage_bucket(n.status)
          AND usage_bucket(o.status) <> 'pending'
    ) d
    GROUP BY workspace_id, day, number_id, direction, bucket
    HAVING sum(dm) <> 0 OR sum(ds) <> 0);
BEGIN
    IF cardinality(d) > 0 THEN
        PERFORM usage_add(d);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_usage_inserts AFTER INSERT ON messages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION usage_count_inserts();
CREATE TRIGGER messages_usage_updates AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS before NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION usage_count_updates();

-- The usage so far (one scan of messages, once).
INSERT INTO usage_daily (workspace_id, day, number_id, direction, status, messages, segments)
SELECT workspace_id, (created_at AT TIME ZONE 'UTC')::date, number_id, direction,
       usage_bucket(status), count(*), sum(segments)
FROM messages
WHERE usage_bucket(status) <> 'pending'
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO usage_monthly (workspace_id, month, number_id, direction, status, messages, segments)
SELECT workspace_id, date_trunc('month', day::timestamp)::date, number_id, direction, status, sum(messages), sum(segments)
FROM usage_daily
GROUP BY 1, 2, 3, 4, 5;
