package inbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeadOwner is a claimer whose registration ended and whose claims were
// released.
type DeadOwner struct {
	Owner       string
	Instance    string
	StartedAt   time.Time // when it registered
	HeartbeatAt time.Time // its last heartbeat, database clock
	// Messages is how many of its messages, sending under a lease that had
	// not ended yet, were made claimable. (Those whose lease had already
	// ended were claimable anyway and are not counted.)
	Messages int
}

// DeadClaims is what a release found: the owners released, in owner order,
// and the messages made claimable, in all.
type DeadClaims struct {
	Owners   []DeadOwner
	Messages int
}

// NewOwner returns a claim owner string for a process of instance starting
// now: the instance id and 64 random bits, so no two process starts share
// one.
func NewOwner(instance string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return instance + "/" + hex.EncodeToString(b[:])
}

// Heartbeat records that owner is alive (heartbeat_at = now(), database
// clock). Call it every interval from the moment TakeOverInstance returned,
// so that no two successful calls are ever staleAfter apart (see Liveness
// in the package documentation). owner belongs to one instance for its
// whole life.
//
// revived reports that owner had no row: it was declared dead (its claims
// were released: what it has in flight may be sent by another process too;
// its Requeue of them is refused) or unregistered. The row is back; claims
// made from now on are covered again. Log it: it means a pause longer than
// staleAfter.
//
// ErrOwnerSuperseded: owner had no row and another owner holds its instance
// (a restarted process took over, or two processes share the instance id).
// Nothing was written; the process must stop dispatching.
func (s *Store) Heartbeat(ctx context.Context, owner, instance string) (revived bool, err error) {
	if owner == "" || instance == "" {
		return false, invalid("heartbeat needs an owner and an instance")
	}
	var updated, inserted int
	var holder *string
	err = retry(ctx, func() error {
		return s.pool.QueryRow(ctx, heartbeatSQL, owner, instance).Scan(&updated, &inserted, &holder)
	})
	switch {
	case err != nil:
		return false, err
	case updated == 1:
		return false, nil
	case inserted == 1:
		return true, nil
	case holder != nil:
		return false, fmt.Errorf("%w: instance %s is registered to %s", ErrOwnerSuperseded, instance, *holder)
	default:
		return false, fmt.Errorf("%w: instance %s", ErrOwnerSuperseded, instance)
	}
}

// heartbeatSQL refreshes owner's row or, when it is gone, inserts it again
// unless another owner holds the instance (the unique constraint decides,
// waiting for a concurrent TakeOverInstance to commit). The holder column
// only names the other owner for the error.
const heartbeatSQL = `
WITH u AS (
    UPDATE dispatch_owners SET heartbeat_at = now() WHERE owner = $1 RETURNING owner
),
i AS (
    INSERT INTO dispatch_owners (owner, instance)
    SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM u)
    ON CONFLICT DO NOTHING
    RETURNING owner
)
SELECT (SELECT count(*) FROM u)::int, (SELECT count(*) FROM i)::int,
       (SELECT o.owner FROM dispatch_owners o WHERE o.instance = $2 AND o.owner <> $1)
`

// ReleaseDeadClaims declares dead every owner whose last heartbeat is older
// than staleAfter (database clock): its row is deleted, and its messages
// still sending under a lease that has not ended are made claimable at
// once, as if their lease had ended (see Liveness in the package
// documentation). It returns the owners released and how many messages.
// Owners that never registered are not watched: their claims wait for
// their lease.
//
// Safe to call from every process at once, as often as every heartbeat
// interval: an owner is released by exactly one call, its messages once.
// When no owner is stale it writes nothing and reads only dispatch_owners.
// Finding a dead owner's messages reads, per sender number, the range of
// messages_ready beyond now — heads in flight under a lease and heads
// requeued for later — never the backlog. One round trip.
func (s *Store) ReleaseDeadClaims(ctx context.Context, staleAfter time.Duration) (DeadClaims, error) {
	if staleAfter <= 0 {
		return DeadClaims{}, invalid("staleAfter must be positive")
	}
	return s.release(ctx, releaseStaleSQL, []any{micros(staleAfter)}, nil)
}

// TakeOverInstance registers owner for instance, at process start, before
// the first Claim. A previous owner of the same instance is this instance's
// previous life (the instance id is unique among running processes, as bind
// leases already require): its row is deleted and its claims released at
// once, without waiting for its heartbeat to go stale. Calling it again for
// the same owner only refreshes its heartbeat. It returns what it released
// (nothing of the previous life when a ReleaseDeadClaims elsewhere got to
// it first). One round trip.
//
// ErrOwnerSuperseded: another owner registered the instance in the
// meantime (two processes starting with one instance id); nothing was
// written.
func (s *Store) TakeOverInstance(ctx context.Context, owner, instance string) (DeadClaims, error) {
	if owner == "" || instance == "" {
		return DeadClaims{}, invalid("take-over needs an owner and an instance")
	}
	dc, err := s.release(ctx, releaseInstanceSQL, []any{instance, owner}, &pgx.QueuedQuery{
		SQL: `INSERT INTO dispatch_owners AS o (owner, instance) VALUES ($1, $2)
		      ON CONFLICT (owner) DO UPDATE SET heartbeat_at = now(), instance = excluded.instance`,
		Arguments: []any{owner, instance},
	})
	if isUniqueViolation(err, "dispatch_owners_instance") {
		return DeadClaims{}, fmt.Errorf("%w: instance %s registered concurrently", ErrOwnerSuperseded, instance)
	}
	return dc, err
}

// Unregister ends owner's registration on clean shutdown, once its
// dispatcher has stopped submitting and put back what it could. Anything
// still sending under owner's lease is made claimable at once (it returns
// how many). One round trip.
func (s *Store) Unregister(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, invalid("unregister needs an owner")
	}
	dc, err := s.release(ctx, releaseOwnerSQL, []any{owner}, nil)
	return dc.Messages, err
}

// releasePlan opens a release's transaction with the settings that keep
// its scans of messages on messages_ready (a plain or bitmap index scan of
// each number's range beyond now): left to itself, the planner may prefer a sequential
// scan of messages whenever the statistics, stale by nature for the queue,
// make the range look large. With sequential scans disabled, the scan of
// dispatch_owners (no index fits it, and it is tiny) is costed as disabled,
// which would set off JIT compilation (tens of milliseconds) every call:
// jit is off too.
var releasePlan = []string{"BEGIN", "SET LOCAL enable_seqscan = off", "SET LOCAL jit = off"}

// release runs one of the release statements in a transaction of its own,
// then register (when not nil) in the same transaction. One round trip.
func (s *Store) release(ctx context.Context, sql string, args []any, register *pgx.QueuedQuery) (DeadClaims, error) {
	var out DeadClaims
	err := retry(ctx, func() error {
		out = DeadClaims{}
		var more []*pgx.QueuedQuery
		if register != nil {
			more = append(more, register)
		}
		return s.queryPlanned(ctx, releasePlan, sql, args, func(rows pgx.Rows) error {
			var d DeadOwner
			if err := rows.Scan(&d.Owner, &d.Instance, &d.StartedAt, &d.HeartbeatAt, &d.Messages); err != nil {
				return err
			}
			out.Owners = append(out.Owners, d)
			out.Messages += d.Messages
			return nil
		}, more...)
	})
	if err != nil {
		return DeadClaims{}, err
	}
	return out, nil
}

// releaseClaimsSQL deletes the owner rows cond selects (locking them: a concurrent
// release of the same owner waits, then finds the row gone and releases
// nothing of it) and makes their messages claimable.
//
// cand finds the messages: sending under a lease that has not ended is,
// per sender number (the numbers table is small), a range of
// messages_ready (due_at > now()), the index of thread heads, in which the
// other entries are heads requeued for later and the dead index entries of
// leases that ended recently. The one-time filter skips
// the scan when no owner was deleted, so the every-interval call costs a
// read of dispatch_owners only. lk locks them in id order (primary-key
// probes), rechecking each under its lock: a message submitted or failed
// meanwhile is left alone. rel ends their lease: due_at = now() makes them
// claimable, as an ended lease would, and lease_owner = NULL refuses the
// dead owner's late Requeue. Status, attempts and sent_mask stay: Claim
// counts the next attempt and hands over the parts already accepted.
func releaseClaimsSQL(cond string) string {
	return `
WITH gone AS (
    DELETE FROM dispatch_owners o WHERE ` + cond + `
    RETURNING o.owner, o.instance, o.started_at, o.heartbeat_at
),
cand AS MATERIALIZED (
    SELECT m.id FROM numbers n
    CROSS JOIN LATERAL (
        SELECT m.id FROM messages m
        WHERE m.number_id = n.id AND m.due_at > now() AND m.status = 'sending'
          AND m.lease_owner = ANY (ARRAY(SELECT owner FROM gone))
    ) m
    WHERE cardinality(ARRAY(SELECT owner FROM gone)) > 0
),
lk AS MATERIALIZED (
    SELECT m.id, m.lease_owner FROM messages m
    WHERE m.id = ANY (ARRAY(SELECT id FROM cand))
      AND m.status = 'sending' AND m.lease_owner = ANY (ARRAY(SELECT owner FROM gone))
    ORDER BY m.id
    FOR NO KEY UPDATE
),
rel AS (
    UPDATE messages m SET due_at = now(), lease_owner = NULL
    FROM lk WHERE m.id = lk.id
    RETURNING lk.lease_owner AS owner
)
SELECT g.owner, g.instance, g.started_at, g.heartbeat_at,
       (SELECT count(*) FROM rel WHERE rel.owner = g.owner)::int
FROM gone g
ORDER BY g.owner
`
}

var (
	releaseStaleSQL    = releaseClaimsSQL(`o.heartbeat_at < now() - $1::int8 * interval '1 microsecond'`)
	releaseInstanceSQL = releaseClaimsSQL(`o.instance = $1 AND o.owner <> $2`)
	releaseOwnerSQL    = releaseClaimsSQL(`o.owner = $1`)
)
