-- 0010: scheduled sends, per-message validity and cancel (issue 16 §2).
--
-- A scheduled message is stored as 'scheduled' with send_at and no place in
-- its thread's line yet (thread_seq NULL, due_at and pending_since NULL): it
-- is not in messages_due, so the claim never reads it, and it holds back no
-- later message of its thread. ReleaseScheduled (every second or so) moves
-- the due ones into the queue in batches, handing out their thread_seq under
-- the thread row's lock like Enqueue; from there on they are ordinary queued
-- messages served by the fair scheduler at their numbers' rates.
--
-- expires_at is the tenant's validity deadline (send time + validity); NULL
-- means the configured message TTL counted from the send time (send_at, else
-- created_at), as before. A message canceled before it was submitted is
-- 'canceled' (final), at canceled_at.
--
-- ADD COLUMN without a default and constraints added NOT VALID then
-- validated: no table rewrite and no long exclusive lock on messages.
ALTER TABLE messages
    ADD COLUMN send_at     timestamptz,
    ADD COLUMN expires_at  timestamptz,
    ADD COLUMN canceled_at timestamptz;

ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('scheduled', 'queued', 'sending', 'submitted', 'delivered', 'failed',
                      'expired', 'rejected', 'canceled', 'received')) NOT VALID;
ALTER TABLE messages VALIDATE CONSTRAINT messages_status_check;

-- An outbound message has a place in its thread's line (thread_seq) except
-- while scheduled, or once canceled (its place is given up).
ALTER TABLE messages DROP CONSTRAINT messages_check2;
ALTER TABLE messages ADD CONSTRAINT messages_thread_seq_check
    CHECK ((direction = 'out') = (thread_seq IS NOT NULL) OR status IN ('scheduled', 'canceled')) NOT VALID;
ALTER TABLE messages VALIDATE CONSTRAINT messages_thread_seq_check;

-- ReleaseScheduled: scheduled messages by send time. Only scheduled rows
-- have an entry (an outbound message without a place in its line that was
-- not canceled). The predicate names no column the queue's hot updates
-- change (status, masks, due_at...): an index on status, even only in its
-- predicate, would make every receipt's status update non-HOT (see 0008).
CREATE INDEX messages_scheduled ON messages (send_at, id)
    WHERE direction = 'out' AND thread_seq IS NULL AND canceled_at IS NULL;
