package inbox

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultMessageTTL is how long an outbound message may wait to be submitted
// before ExpireMessages marks it expired.
const DefaultMessageTTL = 10 * time.Hour

// Options configures a Store. The zero value is valid.
type Options struct {
	// MessageTTL is the age past which a message not yet submitted expires
	// (and stops being claimable). Zero means DefaultMessageTTL.
	MessageTTL time.Duration
	// ChangesWaitLimit is how long the change feed (Changes) waits for a
	// write transaction of this database still running before it reads
	// past it. Zero means DefaultChangesWaitLimit.
	ChangesWaitLimit time.Duration
	// WaitSample bounds how many of a number's submitted messages
	// SendingStats computes wait percentiles over. Zero means
	// DefaultWaitSample.
	WaitSample int
}

// DefaultChangesWaitLimit is the default of Options.ChangesWaitLimit.
const DefaultChangesWaitLimit = 10 * time.Second

// Store is the inbox over a PostgreSQL pool whose schema Migrate has brought
// to LatestVersion. It is safe for concurrent use by many goroutines and by
// many processes sharing the database: every operation is one transaction,
// and the batch operations do a constant number of round trips per call.
type Store struct {
	pool     *pgxpool.Pool
	ttl      time.Duration
	feedWait time.Duration
	// waitSample is Options.WaitSample.
	waitSample int
	// foldStep is FoldUsage's step (defaultFoldStep; tests set less).
	foldStep uint64
	// quotaNow, when set (tests), is the clock the quota periods are
	// computed at instead of the database's now().
	quotaNow func() time.Time
	// claimCursor is the sender number (id) the next claim's walk starts
	// after (ClaimLimited).
	claimCursor atomic.Int64
	capped      cappedSet // workspaces seen with a segment cap (Enqueue)
}

// New returns a Store over pool. It does not migrate: call Migrate first.
func New(pool *pgxpool.Pool, opts Options) *Store {
	if opts.MessageTTL <= 0 {
		opts.MessageTTL = DefaultMessageTTL
	}
	if opts.ChangesWaitLimit <= 0 {
		opts.ChangesWaitLimit = DefaultChangesWaitLimit
	}
	if opts.WaitSample <= 0 {
		opts.WaitSample = DefaultWaitSample
	}
	return &Store{pool: pool, ttl: opts.MessageTTL, feedWait: opts.ChangesWaitLimit, waitSample: opts.WaitSample,
		foldStep: defaultFoldStep}
}

// MessageTTL returns the configured message age limit.
func (s *Store) MessageTTL() time.Duration { return s.ttl }

const maxAttempts = 5

// retry runs fn again when PostgreSQL aborted it for a deadlock or a
// serialization failure. fn must be a whole transaction (or one implicit
// transaction: a statement or a pgx.Batch), so running it again is safe.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for i := 0; i < maxAttempts; i++ {
		if err = fn(); err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i+1) * 5 * time.Millisecond):
		}
	}
	return err
}

func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

func isUniqueViolation(err error, constraint string) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505" && (constraint == "" || pg.ConstraintName == constraint)
}

func isForeignKeyViolation(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23503"
}

// queryPlanned runs sql in a transaction of its own that opens with the
// statements of plan ("BEGIN" and SET LOCAL planner settings), in one round
// trip: each row of its result goes to scan, then the queries of more run in
// the same transaction, which then commits. The caller retries it.
func (s *Store) queryPlanned(ctx context.Context, plan []string, sql string, args []any, scan func(pgx.Rows) error, more ...*pgx.QueuedQuery) error {
	b := &pgx.Batch{}
	for _, q := range plan {
		b.Queue(q)
	}
	b.Queue(sql, args...)
	for _, q := range more {
		b.Queue(q.SQL, q.Arguments...)
	}
	b.Queue("COMMIT")
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	for range plan {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := scan(rows); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for range more {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	_, err = br.Exec() // COMMIT
	return err
}

// inTx runs fn in a transaction, retried as a whole on deadlock.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, fn)
	})
}

// planFor opens the transaction of a batch statement (Enqueue,
// RecordSubmits, Requeue, ApplyReceipts, AppendInbound; see queryPlanned)
// of rows items. The statement is prepared once per connection (parsed and
// analysed once); the unnamed statement, the other way to plan per call,
// is parsed again each time, a fifth to a third of a batch statement's
// PostgreSQL CPU at the engine's batch sizes.
//
// A batch of up to genericPlanRows items runs on the connection's cached
// generic plan, a larger one is planned for its own arrays:
//   - A generic plan cannot see the batch size: it guesses a handful of
//     rows and joins the statement's CTEs with nested loops, O(n²) per
//     batch. At hundreds of items that costs more than planning (Enqueue,
//     500 a batch: 122 µs of PostgreSQL CPU a message planned per call,
//     189 on the generic plan).
//   - At tens of items, the engine's usual batches, planning each call
//     costs more than the nested loops. At 20 a batch, per call → generic:
//     Enqueue 254–304 → 216–232 µs a message, ApplyReceipts 157–166 →
//     106–114, AppendInbound 269–279 → 162; at 60 about even (185 → 186,
//     105 → 98, 180 → 142); at 150 planning per call wins for two of
//     three (SB_BENCH_BATCH=N go test -run '^$' -bench
//     'Enqueue$|ApplyReceipts|AppendInbound' -benchtime 20000x ./inbox/).
//   - A generic plan is made once per connection, from the statistics of
//     that moment, and kept: one made while a table was nearly empty
//     scanned the whole table in every later call (in smppbench e2e, from
//     a new database: receipts 5.4 → 18.7 ms a call, p99 POST → delivered
//     0.2 → 1–2.9 s). The batch statements reach rows only through their
//     keys, so the generic plan's transaction turns sequential scans off
//     (enable_seqscan): index paths only, whatever the statistics said
//     when it was made (TestBatchStatementsUseIndexes).
//
// The settings are LOCAL: the Store's other statements keep the server's
// defaults (forcing custom plans on every statement of the connection made
// GetMessage plan each call, 0.5 ms under load, measured with
// pg_stat_statements).
func planFor(rows int) []string {
	if rows <= genericPlanRows {
		return genericPlan
	}
	return perCallPlan
}

// genericPlanRows is the largest batch planFor runs on the generic plan.
const genericPlanRows = 64

var (
	genericPlan = []string{"BEGIN", "SET LOCAL plan_cache_mode = force_generic_plan", "SET LOCAL enable_seqscan = off"}
	perCallPlan = []string{"BEGIN", "SET LOCAL plan_cache_mode = force_custom_plan"}
)

// micros turns a duration into whole microseconds for `$n * interval '1 microsecond'`.
func micros(d time.Duration) int64 { return d.Microseconds() }

// timeOrZero returns the time a nullable timestamptz held, or the zero time.
func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
