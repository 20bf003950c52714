package inbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// Benchmarks run against the local PostgreSQL, each against a database of
// its own, created and pre-populated once per process (so -count=N runs
// share it and it grows between runs, like a live system) and dropped in
// TestMain:
//
//	go test -run '^$' -bench . -count 5 ./inbox/
//
// Each op is one message; msgs/s is the throughput. Batches of benchBatch
// are issued by benchWorkers goroutines at once, as the engine's group
// commit would. SB_BENCH_BATCH sets another batch size (the engine's
// batches are as big as what waits while one is stored: tens at a few
// thousand messages a second).
var benchBatch = envInt("SB_BENCH_BATCH", 500)

const (
	benchWorkers    = 4
	benchWorkspaces = 100
	benchThreadsPer = 2000 // threads per workspace on its dedicated number
	benchShared     = 10   // shared numbers, used by half the workspaces
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var (
	benchMu  sync.Mutex
	benchDBs = map[string]*benchDB{}
	dropDBs  []string
)

type benchDB struct {
	pool *pgxpool.Pool
	s    *inbox.Store
	ded  []string // dedicated number of workspace i+1
	shr  []string // shared numbers
}

func TestMain(m *testing.M) {
	code := m.Run()
	benchMu.Lock()
	for _, db := range benchDBs {
		db.pool.Close()
	}
	if len(dropDBs) > 0 {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, testenv.DatabaseURL()); err == nil {
			for _, name := range dropDBs {
				c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			}
			c.Close(ctx)
		}
	}
	benchMu.Unlock()
	os.Exit(code)
}

// benchContact is contact(i) in SQL.
const benchContactSQL = `'+1646' || (200 + (%[1]s / 10000) %% 800)::text || lpad((%[1]s %% 10000)::text, 4, '0')`

func sqlContact(expr string) string { return fmt.Sprintf(benchContactSQL, expr) }

// openBench returns the pre-populated database of one benchmark.
func openBench(b *testing.B) *benchDB {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if db, ok := benchDBs[b.Name()]; ok {
		return db
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		b.Fatalf("PostgreSQL does not answer (scripts/services.sh up): %v", err)
	}
	name := testenv.UniqueName("sbbench_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	admin.Close(ctx)
	dropDBs = append(dropDBs, name)
	cfg, err := pgxpool.ParseConfig(testenv.DatabaseURL())
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	cfg.MaxConns = 2 * benchWorkers
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := inbox.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	db := &benchDB{pool: pool, s: inbox.New(pool, inbox.Options{})}
	start := time.Now()
	populate(b, pool)
	b.Logf("populated %s in %v", name, time.Since(start).Round(time.Millisecond))
	for i := 1; i <= benchWorkspaces; i++ {
		db.ded = append(db.ded, dedicatedE164(i))
	}
	for i := 1; i <= benchShared; i++ {
		db.shr = append(db.shr, sharedE164(i))
	}
	benchDBs[b.Name()] = db
	return db
}

func dedicatedE164(ws int) string { return fmt.Sprintf("+1415%03d%04d", 200+ws/10000, ws%10000) }
func sharedE164(i int) string     { return fmt.Sprintf("+1415999%04d", i) }

// benchContactOf is the j-th existing contact of workspace ws.
func benchContactOf(ws, j int) string { return contact(ws*benchThreadsPer + j) }

// populate writes the history a live system would have: 100 workspaces with
// a dedicated number each, 10 shared numbers connected by half of them,
// 200,000 threads on dedicated numbers and 25,000 on shared ones, each with
// one delivered outbound message (and its segment) and one inbound reply.
func populate(b *testing.B, pool *pgxpool.Pool) { populateT(b, pool) }

func populateT(b testing.TB, pool *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	stmts := []string{
		fmt.Sprintf(`INSERT INTO workspaces (name, sms_addon) SELECT 'ws' || i, true FROM generate_series(1, %d) i`, benchWorkspaces),
		fmt.Sprintf(`INSERT INTO numbers (e164, kind, rate_class, carrier, workspace_id)
			SELECT '+1415' || (200 + i / 10000)::text || lpad((i %% 10000)::text, 4, '0'), 'dedicated', 'dedicated', 'carrier-' || (i %% 3), i
			FROM generate_series(1, %d) i`, benchWorkspaces),
		fmt.Sprintf(`INSERT INTO numbers (e164, kind, rate_class, carrier)
			SELECT '+1415999' || lpad(i::text, 4, '0'), 'shared', 'shared', 'carrier-' || (i %% 3) FROM generate_series(1, %d) i`, benchShared),
		`INSERT INTO number_connections (workspace_id, number_id)
			SELECT n.workspace_id, n.id FROM numbers n WHERE n.kind = 'dedicated'`,
		fmt.Sprintf(`INSERT INTO number_connections (workspace_id, number_id)
			SELECT w.id, n.id FROM workspaces w JOIN numbers n ON n.e164 = '+1415999' || lpad((1 + w.id %% %d)::text, 4, '0')
			WHERE w.id %% 2 = 0`, benchShared),
		fmt.Sprintf(`INSERT INTO threads (workspace_id, number_id, contact, created_at, last_message_at, last_outbound_at, out_seq, out_next)
			SELECT n.workspace_id, n.id, %s, now() - interval '2 days', now() - (j || ' seconds')::interval, now() - interval '1 day', 1, 2
			FROM numbers n, generate_series(0, %d) j WHERE n.kind = 'dedicated'`,
			sqlContact(fmt.Sprintf("(n.workspace_id * %d + j)", benchThreadsPer)), benchThreadsPer-1),
		fmt.Sprintf(`INSERT INTO threads (workspace_id, number_id, contact, created_at, last_message_at, last_outbound_at, out_seq, out_next)
			SELECT c.workspace_id, c.number_id, %s, now() - interval '2 days', now() - interval '1 day', now() - interval '1 day', 1, 2
			FROM number_connections c JOIN numbers n ON n.id = c.number_id AND n.kind = 'shared', generate_series(0, 499) j`,
			sqlContact("(5000000 + c.workspace_id * 500 + j)")),
		`INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding, segments, status,
				attempts, sent_mask, delivered_mask, created_at, queued_at, sending_at, submitted_at, delivered_at)
			SELECT workspace_id, id, 1, number_id, contact, 'out', 'Your appointment is tomorrow at 10:00. Reply C to cancel.',
				'gsm7', 1, 'delivered', 1, 1, 1, created_at, created_at, created_at, created_at, created_at
			FROM threads`,
		`INSERT INTO messages (workspace_id, thread_id, number_id, contact, direction, body, encoding, segments, status, created_at, received_at)
			SELECT workspace_id, id, number_id, contact, 'in', 'Thanks, see you then', 'gsm7', 1, 'received', last_message_at, last_message_at
			FROM threads`,
		`INSERT INTO segments (carrier, carrier_key, message_id, seg, carrier_id, submitted_at, receipt_status, receipt_at)
			SELECT n.carrier, m.id::text, m.id, 0, to_hex(m.id), m.created_at, 'delivered', m.created_at
			FROM messages m JOIN numbers n ON n.id = m.number_id WHERE m.direction = 'out'`,
		`VACUUM ANALYZE`,
	}
	// SB_BENCH_SCHEDULED scheduled messages due tomorrow (0 by default): they
	// must cost the claim and the enqueue nothing today.
	if n := envInt("SB_BENCH_SCHEDULED", 0); n > 0 {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO messages (workspace_id, thread_id, number_id, contact, direction,
				body, encoding, segments, status, send_at)
			SELECT t.workspace_id, t.id, t.number_id, t.contact, 'out', 'See you tomorrow', 'gsm7', 1, 'scheduled',
				now() + interval '1 day' + (g || ' ms')::interval
			FROM generate_series(1, %d) g JOIN threads t ON t.id = 1 + g %% 200000`, n))
	}
	for _, q := range stmts {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// runBatches runs fn over [0, n) in batches of benchBatch from benchWorkers
// goroutines and reports msgs/s, plus what each message cost: CPU time of
// the PostgreSQL backends serving the pool (pg-cpu-us/msg, read from /proc,
// so only for a local server), CPU time of this process (go-cpu-us/msg) and
// WAL written (wal-B/msg). CPU per message does not depend on what else the
// machine is running; msgs/s does.
func runBatches(b *testing.B, db *benchDB, n int, fn func(worker, from, to int) error) {
	b.Helper()
	runBatchesOf(b, db, n, benchBatch, fn)
}

// runBatchesOf is runBatches with batches of size batch.
func runBatchesOf(b *testing.B, db *benchDB, n, batch int, fn func(worker, from, to int) error) {
	b.Helper()
	p := startProbe(b, db.pool)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWorkers)
	b.ResetTimer()
	start := time.Now()
	for w := range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(int64(batch))) - batch
				if from >= n {
					return
				}
				if err := fn(w, from, min(from+batch, n)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	p.report(b, n)
}

type probe struct {
	pool   *pgxpool.Pool
	pids   []int
	pgCPU  time.Duration
	goCPU  time.Duration
	walLSN string
}

func startProbe(b *testing.B, pool *pgxpool.Pool) *probe {
	ctx := context.Background()
	p := &probe{pool: pool}
	var conns []*pgxpool.Conn
	for range 2 * benchWorkers {
		c, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		var pid int
		if err := c.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			b.Fatal(err)
		}
		p.pids = append(p.pids, pid)
	}
	for _, c := range conns {
		c.Release()
	}
	if err := pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&p.walLSN); err != nil {
		b.Fatal(err)
	}
	p.pgCPU, p.goCPU = testenv.ProcessCPU(p.pids), testenv.SelfCPU()
	return p
}

func (p *probe) report(b *testing.B, n int) {
	pg, self := testenv.ProcessCPU(p.pids)-p.pgCPU, testenv.SelfCPU()-p.goCPU
	var wal int64
	if err := p.pool.QueryRow(context.Background(),
		`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::int8`, p.walLSN).Scan(&wal); err != nil {
		b.Fatal(err)
	}
	if pg > 0 {
		b.ReportMetric(float64(pg.Microseconds())/float64(n), "pg-cpu-us/msg")
	}
	b.ReportMetric(float64(self.Microseconds())/float64(n), "go-cpu-us/msg")
	b.ReportMetric(float64(wal)/float64(n), "wal-B/msg")
}

var benchRun atomic.Int64

func BenchmarkEnqueue(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	run := benchRun.Add(1)
	rng := rand.New(rand.NewPCG(uint64(run), 1))
	reqs := make([]inbox.OutboundRequest, b.N)
	for i := range reqs {
		ws := 1 + rng.IntN(benchWorkspaces)
		to := benchContactOf(ws, rng.IntN(benchThreadsPer)) // an existing conversation
		if rng.IntN(5) == 0 {
			to = contact(3_000_000 + rng.IntN(2_000_000)) // a new contact
		}
		reqs[i] = inbox.OutboundRequest{
			Workspace: inbox.WorkspaceID(ws), To: to, Encoding: "gsm7", Segments: 1,
			Body:           "Hi! Your order #12345 has shipped and arrives Tuesday. Reply STOP to opt out.",
			IdempotencyKey: fmt.Sprintf("r%d-%d", run, i),
		}
	}
	runBatches(b, db, b.N, func(_, from, to int) error {
		res, err := db.s.Enqueue(ctx, reqs[from:to])
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	})
}

func BenchmarkClaimAndRecordSubmit(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	run := benchRun.Add(1)
	rng := rand.New(rand.NewPCG(uint64(run), 2))
	// Setup, untimed: b.N queued messages (plus whatever earlier runs left).
	reqs := make([]inbox.OutboundRequest, 0, benchBatch)
	for i := 0; i < b.N; i++ {
		ws := 1 + rng.IntN(benchWorkspaces)
		reqs = append(reqs, inbox.OutboundRequest{Workspace: inbox.WorkspaceID(ws),
			To: benchContactOf(ws, rng.IntN(benchThreadsPer)), Body: "Your code is 123456", Encoding: "gsm7", Segments: 1})
		if len(reqs) == benchBatch || i == b.N-1 {
			if _, err := db.s.Enqueue(ctx, reqs); err != nil {
				b.Fatal(err)
			}
			reqs = reqs[:0]
		}
	}
	// As in an engine process: one claim at a time (its dispatcher's claim
	// loop, which owns the Store's claim cursor), the submit results
	// recorded concurrently. Two claims at once would start at the same
	// cursor, pick the same heads, and the later one would skip them (SKIP
	// LOCKED) and come back short. A claim can still come back short when
	// a thread's next message is not its head yet: each batch claims until
	// it has its share or every queued message is claimed, and the short
	// claims are counted.
	var claimMu sync.Mutex
	var claimed, calls, short atomic.Int64
	var idSeq atomic.Int64
	idSeq.Store(run << 40)
	deadline := time.Now().Add(time.Minute)
	runBatches(b, db, b.N, func(w, from, to int) error {
		for need := to - from; need > 0 && claimed.Load() < int64(b.N); {
			if time.Now().After(deadline) {
				return fmt.Errorf("claimed %d of %d in a minute", claimed.Load(), b.N)
			}
			claimMu.Lock()
			c, err := db.s.Claim(ctx, "bench", need, time.Minute)
			claimMu.Unlock()
			if err != nil {
				return err
			}
			calls.Add(1)
			if len(c) < need {
				short.Add(1)
			}
			need -= len(c)
			claimed.Add(int64(len(c)))
			if len(c) == 0 {
				continue
			}
			rs := make([]inbox.SubmitResult, 0, len(c))
			for _, m := range c {
				for s := 0; s < m.Segments; s++ {
					rs = append(rs, inbox.SubmitResult{Message: m.ID, Segment: s, Outcome: inbox.SubmitOK,
						CarrierMessageID: fmt.Sprintf("%016X", idSeq.Add(1)), Format: inbox.IDHex})
				}
			}
			if _, err := db.s.RecordSubmits(ctx, rs); err != nil {
				return err
			}
		}
		return nil
	})
	if claimed.Load() != int64(b.N) {
		b.Fatalf("claimed %d of %d", claimed.Load(), b.N)
	}
	b.ReportMetric(float64(calls.Load()), "claims")
	b.ReportMetric(float64(short.Load()), "short-claims")
	// Leave nothing in flight for the next run.
	if _, err := db.pool.Exec(ctx, `
		WITH d AS (
			UPDATE messages SET status = 'delivered', due_at = NULL, pending_since = NULL
			WHERE pending_since IS NOT NULL RETURNING thread_id
		)
		UPDATE threads SET out_next = out_seq + 1 WHERE id IN (SELECT thread_id FROM d)`); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkApplyReceipts(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	run := benchRun.Add(1)
	// Setup, untimed: b.N submitted messages with carrier ids.
	var first int64
	err := db.pool.QueryRow(ctx, `
		WITH m AS (
			INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding, segments,
				status, attempts, sent_mask, created_at, queued_at, sending_at, submitted_at)
			SELECT t.workspace_id, t.id, 0, t.number_id, t.contact, 'out', 'Your code is 123456', 'gsm7', 1,
				'submitted', 1, 1, now(), now(), now(), now()
			FROM generate_series(1, $1) g
			JOIN threads t ON t.id = 1 + (g * 7919) % 200000
			RETURNING id, number_id
		), s AS (
			INSERT INTO segments (carrier, carrier_key, message_id, seg, carrier_id, submitted_at)
			SELECT n.carrier, (($2::int8 << 32) + m.id)::text, m.id, 0, to_hex(($2::int8 << 32) + m.id), now()
			FROM m JOIN numbers n ON n.id = m.number_id
		)
		SELECT min(id) FROM m`, b.N, run).Scan(&first)
	if err != nil {
		b.Fatal(err)
	}
	var carriers []string
	rows, _ := db.pool.Query(ctx, `SELECT n.carrier FROM messages m JOIN numbers n ON n.id = m.number_id WHERE m.id >= $1 ORDER BY m.id`, first)
	carriers, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(carriers) != b.N {
		b.Fatalf("carriers: %d, %v", len(carriers), err)
	}
	rs := make([]inbox.Receipt, b.N)
	for i := range rs {
		// Receipts in decimal for ids answered in hex.
		rs[i] = inbox.Receipt{Carrier: carriers[i], CarrierMessageID: fmt.Sprint(run<<32 + first + int64(i)),
			Format: inbox.IDDecimal, Status: inbox.ReceiptDelivered}
	}
	var applied atomic.Int64
	runBatches(b, db, b.N, func(_, from, to int) error {
		res, err := db.s.ApplyReceipts(ctx, rs[from:to])
		for _, r := range res {
			if r.Status == inbox.StatusDelivered {
				applied.Add(1)
			}
		}
		return err
	})
	if applied.Load() != int64(b.N) {
		b.Fatalf("%d of %d receipts delivered a message", applied.Load(), b.N)
	}
}

func BenchmarkAppendInbound(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	run := benchRun.Add(1)
	rng := rand.New(rand.NewPCG(uint64(run), 4))
	msgs := make([]inbox.Inbound, b.N)
	for i := range msgs {
		m := inbox.Inbound{Carrier: "carrier-1", Body: "Yes, that works for me. See you at 10!", Encoding: "gsm7", Segments: 1}
		switch r := rng.IntN(10); {
		case r < 7: // a reply in an existing conversation on a dedicated number
			ws := 1 + rng.IntN(benchWorkspaces)
			m.From, m.To = benchContactOf(ws, rng.IntN(benchThreadsPer)), db.ded[ws-1]
		case r < 9: // a reply to a shared number: routed to the last writer
			ws := 2 * (1 + rng.IntN(benchWorkspaces/2))
			m.From, m.To = contact(5_000_000+ws*500+rng.IntN(500)), db.shr[ws%benchShared]
		default: // a new contact writes to a dedicated number
			m.From, m.To = contact(6_000_000+rng.IntN(1_000_000)), db.ded[rng.IntN(benchWorkspaces)]
		}
		msgs[i] = m
	}
	runBatches(b, db, b.N, func(_, from, to int) error {
		res, err := db.s.AppendInbound(ctx, msgs[from:to])
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Message == 0 {
				return fmt.Errorf("inbound not routed: %+v", r)
			}
		}
		return nil
	})
}

// BenchmarkSendingStats is the "why is my SMS late" query of GET /v1/sms on
// one dedicated number of a busy workspace: the last hour holds `submitted`
// messages (36,000 is 10/s for an hour, 360,000 is 100/s, a dedicated
// number at full rate) and the queue 5,000. One op is one call.
// statsSeeded marks the databases BenchmarkSendingStats has filled (-count
// runs share them).
var statsSeeded = map[*benchDB]bool{}

func BenchmarkSendingStats(b *testing.B) {
	for _, submitted := range []int{36_000, 360_000} {
		b.Run(fmt.Sprint("submitted=", submitted), func(b *testing.B) {
			db := openBench(b)
			ctx := context.Background()
			var num inbox.NumberID
			if err := db.pool.QueryRow(ctx, `SELECT id FROM numbers WHERE workspace_id = 1`).Scan(&num); err != nil {
				b.Fatal(err)
			}
			benchMu.Lock()
			seeded := statsSeeded[db]
			statsSeeded[db] = true
			benchMu.Unlock()
			if !seeded {
				// Spread over the workspace's threads; waits of 0 to 5 s.
				q := fmt.Sprintf(`
					INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding,
						segments, status, attempts, sent_mask, created_at, queued_at, sending_at, submitted_at, pending_since)
					SELECT t.workspace_id, t.id, 1000 + j, t.number_id, t.contact, 'out', 'Your code is 123456', 'gsm7', 1,
						CASE WHEN j < %[1]d THEN 'submitted' ELSE 'queued' END, 1, 1,
						s - (j %% 50) * interval '100 ms', s, s, CASE WHEN j < %[1]d THEN s END, CASE WHEN j >= %[1]d THEN s END
					FROM generate_series(0, %[1]d + 4999) j
					JOIN threads t ON t.workspace_id = 1 AND t.contact = %[2]s,
					LATERAL (SELECT now() - (j::int8 * 3500000 / %[1]d) * interval '1 ms' AS s) x`,
					submitted, sqlContact(fmt.Sprintf("(%d + j %% %d)", benchThreadsPer, benchThreadsPer)))
				if _, err := db.pool.Exec(ctx, q); err != nil {
					b.Fatal(err)
				}
				if _, err := db.pool.Exec(ctx, `ANALYZE messages`); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				st, err := db.s.SendingStats(ctx, 1, []inbox.NumberID{num}, time.Hour, []int32{0x58, 0x14})
				if err != nil {
					b.Fatal(err)
				}
				if st[0].Submitted != submitted || st[0].QueuedMessages != 5000 || st[0].WaitP95 <= st[0].WaitP50 {
					b.Fatalf("stats %+v", st[0])
				}
			}
		})
	}
}

// BenchmarkQueueByNumber is the per-number queue read behind the engine's
// switchboard_number_queue_* metrics (one call per 10 s at most), against
// QueueStats (the whole-queue gauges, read at every scrape), with
// SB_BENCH_PENDING pending messages (default 100,000) over 1,000 numbers.
func BenchmarkQueueByNumber(b *testing.B) {
	ctx := context.Background()
	pool := testenv.OpenPool(b, testenv.NewDatabase(b), 4)
	if err := inbox.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	s := inbox.New(pool, inbox.Options{})
	pending := envInt("SB_BENCH_PENDING", 100_000)
	for _, q := range []string{
		`INSERT INTO workspaces (name, sms_addon) VALUES ('bench', true)`,
		`INSERT INTO numbers (e164, kind, rate_class, carrier)
			SELECT '+1415999' || lpad(i::text, 4, '0'), 'shared', 'shared', 'carrier-' || (i % 3) FROM generate_series(1, 1000) i`,
		fmt.Sprintf(`INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body, encoding, segments, status,
				created_at, queued_at, pending_since)
			SELECT 1, j, 1, 1 + j %% 1000, '+16462000000', 'out', 'queued text', 'gsm7', 1 + j %% 3, 'queued',
				now() - j * interval '1 ms', now(), now() - j * interval '1 ms'
			FROM generate_series(1, %d) j`, pending),
		`VACUUM ANALYZE`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	b.Run("QueueByNumber", func(b *testing.B) {
		for b.Loop() {
			qs, err := s.QueueByNumber(ctx, 200)
			if err != nil || len(qs) != 200 {
				b.Fatal(len(qs), err)
			}
		}
	})
	b.Run("QueueStats", func(b *testing.B) {
		for b.Loop() {
			if q, err := s.QueueStats(ctx); err != nil || q.Pending == 0 {
				b.Fatal(q, err)
			}
		}
	})
}
