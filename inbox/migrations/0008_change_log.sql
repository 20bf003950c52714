-- 0008: the change feed from a log written per statement (Store.Changes).
--
-- Until now the feed was an index of messages, (workspace_id, change_xid,
-- id): every insert and every status change wrote an entry into it, and
-- since change_xid is indexed no status update of messages could be HOT.
-- Now every statement that inserts messages or changes their status writes
-- one row per workspace into message_changes: the transaction (change_xid)
-- and the ids it changed. messages.change_xid stays (unindexed): it is the
-- transaction of a message's latest change, and the feed shows a message
-- only at that entry of the log, so a message changed several times between
-- two reads still appears once, as it is now.
--
-- The rows are written by statement-level triggers over the statement's
-- new rows (a transition table): a row whose change_xid is the current
-- transaction changed in this statement (the writers set it when, and only
-- when, the status changes; see Store.Changes), any other row did not.
-- One place for every writer, present and future; the cost is the
-- transition table (the updated rows, kept in memory for the statement) and
-- one small insert per statement and workspace.

CREATE TABLE message_changes (
    change_xid   xid8 NOT NULL DEFAULT pg_current_xact_id(),
    workspace_id bigint NOT NULL,
    ids          bigint[] NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
-- A workspace's log in feed order.
CREATE INDEX message_changes_feed ON message_changes (workspace_id, change_xid);
-- Store.PruneChanges: rows are appended in time order, so a BRIN index of a
-- few pages answers "older than".
CREATE INDEX message_changes_at ON message_changes USING brin (at);

CREATE FUNCTION log_message_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_changes (workspace_id, ids)
    SELECT workspace_id, array_agg(id ORDER BY id)
    FROM changed
    WHERE change_xid = pg_current_xact_id()
    GROUP BY workspace_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_log_inserts AFTER INSERT ON messages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION log_message_changes();
CREATE TRIGGER messages_log_updates AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION log_message_changes();

-- The feed so far, as the log would have written it (one row per
-- transaction and workspace, for each message's latest change).
INSERT INTO message_changes (change_xid, workspace_id, ids)
SELECT change_xid, workspace_id, array_agg(id ORDER BY id)
FROM messages
WHERE change_xid IS NOT NULL
GROUP BY change_xid, workspace_id;

DROP INDEX messages_changes;

-- Room on each page for the new version of a row, so that an update
-- that changes no indexed column (a receipt's: status, masks, times) is HOT.
-- Applies to pages written from now on.
ALTER TABLE messages SET (fillfactor = 85);
ALTER TABLE segments SET (fillfactor = 85);
