-- 0002: the indexes of the hot paths and the read paths.
--
-- The queue indexes are chosen so that no hot-path plan depends on fresh
-- statistics (the pending set swings from empty to millions between two
-- ANALYZE runs): Claim has one index with the order it needs, and the
-- per-candidate checks are primary-key probes.

-- A thread's messages in order (ListMessages) and a message's thread.
CREATE INDEX messages_thread ON messages (thread_id, id);

-- Enqueue is idempotent per workspace and caller's key.
CREATE UNIQUE INDEX messages_idempotency
    ON messages (workspace_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Claim: claimable messages by the time they become claimable.
CREATE INDEX messages_due ON messages (due_at, id) WHERE due_at IS NOT NULL;

-- Pending messages of a number: held and released when a number is
-- disabled and enabled, counted for the least-loaded sender choice.
CREATE INDEX messages_pending
    ON messages (number_id, workspace_id) WHERE pending_since IS NOT NULL;

-- A workspace's threads, newest first.
CREATE INDEX threads_recent ON threads (workspace_id, last_message_at DESC, id DESC);

-- Carrier ids of a message's segments (GetMessage).
CREATE INDEX segments_message ON segments (message_id, seg) WHERE message_id IS NOT NULL;

-- History of a number.
CREATE INDEX number_events_number ON number_events (number_id, id);
CREATE INDEX number_connections_number ON number_connections (number_id) WHERE disconnected_at IS NULL;
CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id);
