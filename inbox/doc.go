// Package inbox is Switchboard's system of record, in PostgreSQL: workspaces
// and their SMS add-on, shared and dedicated numbers and their connections,
// the durable outbound queue, delivery statuses, and the threads that hold
// each conversation. A message answered 202 is here (Enqueue returned); a
// reply acknowledged to the carrier is here (AppendInbound returned). It
// knows nothing of SMPP: callers pass encodings, segment counts, carrier
// message ids and their formats, and decide whether a carrier error is
// retryable.
//
// # Schema
//
// Versioned SQL files in migrations/ are embedded in the binary and applied
// by Migrate (each in its own transaction, under an advisory lock, recorded
// in schema_migrations; running it again is a no-op). MigrateTo stops at a
// given version.
//
//   - workspaces (name, sms_addon, system: the one system workspace, which
//     owns self-test messages); api_tokens (SHA-256 of each token only, an
//     id, a name, its first 12 characters, scopes messages/settings, the
//     time of last use).
//   - numbers (e164, kind shared|dedicated, rate_class, carrier, owning
//     workspace_id for dedicated ones, status active|retired); one active row
//     per E.164.
//   - number_connections: which workspace has which number connected and
//     enabled; a row is current while disconnected_at is NULL, ended rows
//     are the history; number_events logs every change.
//   - contacts: opt-out state per (workspace, contact).
//   - threads (workspace, channel 'sms', number, contact, last_message_at,
//     last_outbound_at, unread_count, out_seq, out_next), unique on
//     (number_id, contact, workspace_id, channel).
//   - messages, both directions: body, encoding, segments, status, a time
//     per status, attempts, per-segment masks (sent, delivered), carrier
//     error, idempotency key, the queue columns thread_seq, due_at,
//     not_before, pending_since, lease_owner, and change_xid, the
//     transaction that created the message or last changed its status (the
//     change feed, see Changes).
//   - segments: one row per (carrier, canonical carrier message id): the
//     submitted segment it names and/or its delivery receipt.
//   - inbound_part_sets and inbound_parts: concatenated inbound messages
//     awaiting reassembly. unrouted_messages: inbound nobody could claim.
//   - number_requests: a workspace's requests for a dedicated number
//     (open → fulfilled | declined | cancelled), with change_xid like
//     messages. self_tests: number self-tests and whether their probe came
//     back (see StartSelfTest).
//   - dispatch_owners: the live claimers (owner, instance, started_at,
//     heartbeat_at), at most one per instance; see Liveness.
//   - workspaces.time_zone, daily_segment_cap, monthly_segment_cap: the
//     segment quota (see SetQuota); quota_usage: one row per workspace
//     with a cap, its current day's and month's accepted segments, which
//     Enqueue locks and updates in its statement; quota_events: the
//     quota.threshold events (80 %, 100 %), part of the change feed.
//
// Key indexes: messages_ready (number_id, due_at, id) WHERE due_at IS NOT
// NULL, the claim queue (thread heads only, see Outbound order);
// messages_idempotency (workspace_id, idempotency_key); messages_thread
// (thread_id, id); messages_pending (number_id, workspace_id, thread_id,
// thread_seq) WHERE pending;
// threads_recent (workspace_id, last_message_at DESC, id DESC); segments
// primary key (carrier, carrier_key); message_changes_feed (workspace_id,
// change_xid) over the change log message_changes (a row per writing
// statement and workspace, written by triggers on messages) and
// number_requests_changes, the change feed;
// messages_submitted (number_id, workspace_id, submitted_at), partial, the
// waits of SendingStats and the window counts of RecentSending;
// unrouted_messages_destination.
//
// Identifiers are bigint identities: eight bytes, ordered by creation, the
// cheapest keys to index and join on the hot paths (UUIDs would double the
// key size and scatter inserts). They are not secrets: every
// workspace-facing operation takes the caller's WorkspaceID and answers
// ErrNotFound for another workspace's objects. Times are timestamptz.
//
// # Concurrency and guarantees
//
// A Store is safe for concurrent use by many goroutines and by many
// processes sharing the database. Every operation is one transaction (the
// batch operations one statement, or one pgx.Batch, that is one implicit
// transaction) and is retried as a whole on deadlock or serialization
// failure. The batch operations — Enqueue, Claim, RecordSubmits, Requeue,
// ApplyReceipts, AppendInbound, StoreInboundParts — do one round trip per
// call whatever the batch size, using unnest() over array parameters, and
// are planned per call when large and run on a cached generic plan when
// small (see planFor). Results are per item: a refused
// item gets its own error and does not affect the others; the error return
// is for the database, in which case nothing of the batch was written.
//
// Rows are locked in one order everywhere — dispatch_owners, then segments,
// then messages, then threads, then contacts — and within a table in key
// order, so concurrent batches do not deadlock in the ordinary course. One
// exception: a statement that moves a thread on locks the thread's next
// message after the thread row, to give it its due time; no statement
// holds a message queued behind a head while it waits for that head's
// thread (CancelMessage locks the thread first), so this adds no cycle in
// the ordinary course either, and a rare one is retried.
// Enqueue locks the quota_usage rows of its capped workspaces (workspace
// order) before any thread; SetQuota locks the workspace row FOR NO KEY
// UPDATE, which the foreign key checks of Enqueue's inserts do not wait
// for, then its quota_usage row.
//
// Outbound order. The outbound messages of a thread are numbered as they
// are accepted (thread_seq, handed out from threads.out_seq by the thread
// upsert, under the thread row's lock), and threads.out_next names the head,
// the oldest message still pending. Only the head is claimable; the thread
// moves on (out_next+1, under the same lock) only when the head is
// submitted, fails, or expires. Claim therefore never hands out message N+1
// of a thread while N is claimed, in flight or requeued, and since the
// bookkeeping is arithmetic on the locked thread row, no statement depends on
// seeing another transaction's new messages. Only a head has a due time
// (due_at) and so an entry in the claim index messages_ready: a message gets
// it when it becomes its thread's head, at enqueue (or release, for a
// scheduled one) when its thread has nothing pending, else in the statement
// that moves the thread on (RecordSubmits, ApplyReceipts, ExpireMessages,
// CancelMessage), found there with one probe of messages_pending. So the
// index holds one entry per thread with work, never the backlog behind the
// heads, and a number's range in it is exactly what it can send next.
// Claim walks the numbers of messages_ready round robin and reads each one's
// due range, checking each candidate with primary-key probes only, so its
// plan does not depend on statistics about how many messages are pending
// (which swing from none to millions between two ANALYZE runs; an earlier
// design using partial-index anti-joins went quadratic exactly then).
//
// Leases. Claim marks messages sending with a lease (due_at = lease end).
// A dispatcher that dies loses nothing: when the lease ends the message is
// claimable again, with the segments already submitted recorded in
// ClaimedMessage.Submitted. RecordSubmits records results even after a
// lease is lost (the segment did go out); Requeue is refused (ErrLeaseLost).
//
// Liveness. A claimer that dies need not be waited for until its leases
// end (minutes): a dispatcher process that registers its owner and keeps a
// heartbeat has its claims released within seconds of its death, or at
// once when its instance restarts. What a dispatcher process does:
//
//  1. At start, picks an owner string no process start has used before
//     (NewOwner(instance)) and calls TakeOverInstance(owner, instance)
//     before its first Claim. The instance id is the configured one,
//     stable across restarts and unique among running processes (bind
//     leases require it already): another owner of the instance is this
//     instance's previous life (killed, restarted at once), released at
//     once, without waiting for its heartbeat to go stale.
//  2. Calls Heartbeat every interval (2 s) from a goroutine of its own,
//     never queued behind claims or submits — nor behind them for a pool
//     connection — each call with a deadline shorter than the interval.
//  3. Calls ReleaseDeadClaims(staleAfter) every interval too. Any number of
//     processes may: each dead owner is released by exactly one call, and
//     a call that finds none writes nothing. staleAfter must exceed three
//     heartbeat intervals plus the longest pause a live process may take
//     (GC, a slow database), and stay well below the claim lease, or it
//     gains nothing: 6 s for a 2 s interval, which releases a dead
//     process's claims within about 8 s (staleAfter plus one interval).
//  4. On clean shutdown, once its dispatcher has stopped submitting and
//     requeued what it held, calls Unregister(owner): whatever is left
//     under its lease is released at once.
//  5. Stops dispatching on ErrOwnerSuperseded from Heartbeat: a newer life
//     of its instance has taken over.
//
// A released message stays sending, with its lease ended (due_at = the
// release time) and no lease owner: Claim takes it again with Attempts one
// higher and ClaimedMessage.Submitted holding the parts already accepted,
// so what may go out twice is only what was in flight when its claimer
// died. Fencing: a released owner that was only paused and wakes up has its
// Requeue refused (ErrLeaseLost), before and after another claimer took the
// message, so it never undoes a successor's claim; its RecordSubmits are
// recorded (the segment did go out); its next Heartbeat registers it again
// and reports it (revived), unless a newer life of its instance exists
// (ErrOwnerSuperseded). Owners that never register are not watched: their
// leases are the only backstop.
//
// Receipts. ApplyReceipts and RecordSubmits upsert the same segments row,
// keyed by (carrier, CanonicalMessageID(format, id)): whichever comes first,
// the second sees it, so a receipt that overtakes its submit result is kept
// and applied when the result lands. Final statuses never move back; a
// message is delivered when all its segments are; one failed, expired or
// rejected segment makes the whole message so.
//
// Inbound. AppendInbound routes by the destination number: dedicated → its
// owner; shared → the workspace that most recently wrote to that contact
// from that number; otherwise unrouted (kept, never dropped). Threads are
// found or created with INSERT ... ON CONFLICT, so concurrent first messages
// from one contact make one thread. Delivery is at least once: a carrier
// that re-sends a message whose acknowledgement was lost gets it stored
// twice (concatenated messages excepted, see StoreInboundParts).
//
// Change feed. Changes returns a workspace's messages (and number
// requests, and quota events) created or changed since a cursor, in the order of the
// transactions that wrote them, and
// only once every transaction of this database running when they were
// written has ended, so a reader never skips a change committed late. The
// statements that change a status set change_xid in the same UPDATE. The
// feed carries no wake-ups of its own: package inbox/events does
// (LISTEN/NOTIFY), which this package does not import.
// Feed shares the reads among one process's readers (event streams,
// webhook endpoints): those at the end of a workspace's feed are served by
// one read, kept in memory until a wake-up says something was committed.
//
// Self-tests. StartSelfTest queues a probe message in the system workspace
// (an ordinary outbound message, so any engine process sends it) whose text
// carries a random token; AppendInbound records an inbound message carrying
// a known token on its self-test and files it nowhere else. Token scopes
// and last use: Authenticate. Unrouted messages: ListUnroutedGroups,
// AssignUnrouted.
//
// Durability: every write commits with the server's synchronous_commit
// setting (on by default); nothing here relaxes it.
package inbox
