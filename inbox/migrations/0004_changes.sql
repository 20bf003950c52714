-- 0004: the change feed (Store.Changes).
--
-- change_xid is the transaction that last created the message or changed
-- its status. The feed is read in (change_xid, id) order, up to the oldest
-- transaction still running (pg_snapshot_xmin): every transaction below it
-- has ended, so no row can later appear below it and a reader's cursor never
-- skips a change committed late. (A sequence number would: a transaction
-- that drew number 100 may commit after one that drew 101 was read.)
--
-- Inserts set it by default; the statements that change a status set it
-- themselves (measured cheaper than a trigger, see Store.Changes). Rows
-- written before this migration keep NULL and are not in the feed.
-- The default is set apart from ADD COLUMN so the table is not rewritten.
ALTER TABLE messages ADD COLUMN change_xid xid8;
ALTER TABLE messages ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();

-- A workspace's changes in feed order.
CREATE INDEX messages_changes ON messages (workspace_id, change_xid, id);
