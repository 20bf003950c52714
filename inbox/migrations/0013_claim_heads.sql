-- 0013: the claim index holds only thread heads, per sender number (issue
-- 15: fair at 10,000 numbers, and a claim that reads only what it can take).
--
-- A queued message gets its due time (due_at) when it becomes its thread's
-- head: at enqueue or release when its thread has nothing pending, else
-- when the message before it stops being pending (submitted, failed,
-- expired, rejected, canceled), in the statement that moves the thread on.
-- So messages_ready holds one entry per thread with work (its head, queued
-- or in flight), never the backlog behind heads, and a number's range in it
-- is what that number can send next. Claim walks the numbers in it round
-- robin (see inbox.ClaimLimited).
--
-- Messages queued before this migration keep the due_at they have; the
-- claim still checks that what it takes is its thread's head, so they are
-- only extra entries until their threads reach them.
CREATE INDEX messages_ready ON messages (number_id, due_at, id) WHERE due_at IS NOT NULL;
DROP INDEX messages_due;

-- Pending messages of a number, and of a thread in line order: the
-- statement that moves a thread on finds its next message with one probe
-- (number, workspace and thread come from the thread row). Same entries as
-- before (one per pending message), wider keys.
CREATE INDEX messages_pending_line
    ON messages (number_id, workspace_id, thread_id, thread_seq) WHERE pending_since IS NOT NULL;
DROP INDEX messages_pending;
ALTER INDEX messages_pending_line RENAME TO messages_pending;
