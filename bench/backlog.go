package bench

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// The backlog scenario measures the engine with a large outbound backlog
// already queued: its memory (RSS) and how soon it sends after a start
// and after a kill -9 restart. The goal: 10 million messages queued
// over 10,000 numbers; RSS ≤ 1 GiB; restart → sending again ≤ 10 s.
//
// How the backlog is made. A first engine process (the loader) migrates
// the run's database and serves the API while its carrier points at a
// closed port, so no bind comes up and its dispatcher claims nothing. The
// workspace and the numbers are made through the operator API, a sample
// of messages is queued through POST /v1/messages/batch, and the rest is
// inserted with INSERT … SELECT generate_series in the shape Enqueue gives
// (see backlogInsertSQL); the shapes of the two are compared and a check
// says whether they are equal. Then the loader stops and the measured
// engine starts against the simulator.

// BacklogParams: a queued backlog, then an engine start and a kill -9
// restart.
type BacklogParams struct {
	// Numbers are the workspace's dedicated numbers, each connected.
	Numbers int `yaml:"numbers"`
	// Messages is the whole backlog, sample included.
	Messages int `yaml:"messages"`
	// Contacts per number: the backlog is spread over Numbers × Contacts
	// threads, message k to thread k mod threads.
	Contacts int `yaml:"contacts"`
	// Sample is how many of the messages are queued through the API (the
	// rest by SQL, compared with them); at most 1000 (one batch).
	Sample int `yaml:"sample"`
	// NumberRate is each number's rate class, segments/s (a token bucket
	// of burst 1); the carrier account's rate is carrier.tps.
	NumberRate float64 `yaml:"number_rate"`
	// Duration is how long the submit rate is measured after the first
	// submit_sm of each start.
	Duration time.Duration `yaml:"duration"`
	// ReadyTimeout bounds each start's wait for /readyz and for the
	// first submit_sm.
	ReadyTimeout time.Duration `yaml:"ready_timeout"`
	// Chunk is the messages per INSERT statement of the SQL load, at most
	// 1000 as a batch request: each statement writes one change-log row
	// (message_changes) listing its messages, as one Enqueue call does.
	Chunk int `yaml:"chunk"`
}

var (
	defaultBacklog = BacklogParams{Numbers: 10000, Messages: 10_000_000, Contacts: 10, Sample: 1000, NumberRate: 10,
		Duration: 30 * time.Second, ReadyTimeout: 5 * time.Minute, Chunk: backlogSampleMax}
	shortBacklog = BacklogParams{Numbers: 20, Messages: 4000, Contacts: 5, Sample: 500, NumberRate: 10,
		Duration: 3 * time.Second, ReadyTimeout: time.Minute, Chunk: 1000}
)

// Goals of issue 15 for a 10-million backlog.
const (
	backlogRSSGoal     = 1 << 30 // bytes
	backlogRestartGoal = 10 * time.Second
	maxBacklogNumbers  = 100_000
	backlogSampleMax   = 1000 // one POST /v1/messages/batch
)

func backlogFlags() []flagDef {
	return []flagDef{
		{"numbers", "backlog.numbers", "our numbers (dedicated, each connected)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Backlog.Numbers) }},
		{"messages", "backlog.messages", "messages queued in all (sample included)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Backlog.Messages) }},
		{"contacts", "backlog.contacts", "contacts per number: threads = numbers × contacts", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Backlog.Contacts) }},
		{"sample", "backlog.sample", "messages queued through the API, whose rows the SQL-loaded ones are compared with (1..1000)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Backlog.Sample) }},
		{"number-rate", "backlog.number_rate", "rate class of each number, segments/s", func(sc *Scenario) flag.Value { return (*floatVal)(&sc.Backlog.NumberRate) }},
		{"duration", "backlog.duration", "submit rate measured over this long after each start's first submit_sm", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Backlog.Duration) }},
		{"ready-timeout", "backlog.ready_timeout", "bound on each start's wait for /readyz and the first submit_sm", func(sc *Scenario) flag.Value { return (*durVal)(&sc.Backlog.ReadyTimeout) }},
		{"chunk", "backlog.chunk", "messages per INSERT statement of the SQL load (1..1000, as a batch request)", func(sc *Scenario) flag.Value { return (*intVal)(&sc.Backlog.Chunk) }},
	}
}

// checkBacklog checks the backlog parameters.
func (sc Scenario) checkBacklog() error {
	p := sc.Backlog
	switch {
	case sc.Engine.URL != "":
		return badField("engine.url", "backlog starts its own engine (it loads the database while no engine sends, and kills the engine to restart it)")
	case sc.Engine.Processes != 1:
		return badField("engine.processes", "backlog measures one engine process")
	case p.Numbers < 1 || p.Numbers > maxBacklogNumbers:
		return badField("backlog.numbers", "1..%d", maxBacklogNumbers)
	case p.Contacts < 1 || p.Contacts+5 > 900_000:
		return badField("backlog.contacts", "1..899995 per number")
	case p.Sample < 1 || p.Sample > backlogSampleMax:
		return badField("backlog.sample", "1..%d (one batch request)", backlogSampleMax)
	case p.Messages < p.Sample:
		return badField("backlog.messages", "at least backlog.sample (%d)", p.Sample)
	case p.NumberRate <= 0:
		return badField("backlog.number_rate", "must be above 0")
	case p.Duration <= 0 || p.ReadyTimeout <= 0:
		return badField("backlog", "duration and ready_timeout must be positive")
	case p.Chunk < 1 || p.Chunk > backlogSampleMax:
		return badField("backlog.chunk", "1..%d messages per statement (as a batch request)", backlogSampleMax)
	}
	return nil
}

// backlogNumbers are the backlog's numbers: +1 415 5EE NNNN from exchange
// 520 on, 10,000 an exchange (ourNumbers has room for far fewer).
func backlogNumbers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+1415%03d%04d", 520+i/10000, i%10000)
	}
	return out
}

// BacklogResults are the backlog scenario's results. Times are seconds.
type BacklogResults struct {
	Numbers  int `json:"numbers"`
	Threads  int `json:"threads"`
	Messages int `json:"messages"` // queued in all
	// Sample were queued through the API; the others by SQL.
	Sample int `json:"sample"`
	// SetupSeconds: workspace and numbers through the operator API.
	SetupSeconds float64 `json:"setup_seconds"`
	// LoadSeconds: the SQL load (threads and messages); LoadRate its
	// messages per second.
	LoadSeconds float64 `json:"load_seconds"`
	LoadRate    float64 `json:"load_per_s"`
	// QueuedBeforeStart counts the messages queued when the measured
	// engine started (must equal Messages).
	QueuedBeforeStart int64 `json:"queued_before_start"`
	// ShapeDiff lists the row shapes found on one side only (API sample vs
	// SQL load); empty when they are equal.
	ShapeDiff []string `json:"shape_diff"`
	// ConnectionShapeDiff is the same for the number connections (API:
	// the first 10 numbers; SQL: the others).
	ConnectionShapeDiff []string `json:"connection_shape_diff"`
	// TablesWritten are the tables the API sample and the SQL load added
	// rows to.
	TablesAPI []string `json:"tables_written_api"`
	TablesSQL []string `json:"tables_written_sql"`
	// Database is the run's database (left in place with engine.keep)
	// and FirstSQLID the id of the first message the SQL load inserted.
	Database   string `json:"database"`
	FirstSQLID int64  `json:"first_sql_id"`
	// Workspace is the backlog's workspace; RedisPrefix and Dir (logs and
	// configs) are the run's, also left in place with engine.keep.
	Workspace   int64  `json:"workspace"`
	RedisPrefix string `json:"redis_prefix"`
	Dir         string `json:"dir"`
	// DatabaseBytes is the run database's size after the load.
	DatabaseBytes int64         `json:"database_bytes"`
	Starts        []StartFigure `json:"starts"`
	// RSSMax is the highest VmRSS sampled and HWM the highest VmHWM, over
	// every start, in bytes.
	RSSMax int64 `json:"rss_max_bytes"`
	HWM    int64 `json:"hwm_bytes"`
	// AccountTPS is the carrier account's configured rate.
	AccountTPS float64 `json:"account_tps"`
}

// StartFigure is one start of the measured engine, timed from the moment
// its process was started.
type StartFigure struct {
	Name         string  `json:"name"`
	ReadySeconds float64 `json:"ready_seconds"` // /readyz answered 200
	// FirstSubmitSeconds: the simulator's submit_sm count first grew.
	FirstSubmitSeconds float64 `json:"first_submit_seconds"`
	// Rate is the accepted segments per second over the Duration after
	// the first submit.
	Rate     float64 `json:"submit_rate"`
	Accepted int64   `json:"accepted_segments"`
	RSSMax   int64   `json:"rss_max_bytes"`
	HWM      int64   `json:"hwm_bytes"`
	// RSS samples, one a second: seconds since the start, bytes.
	RSS [][2]float64 `json:"rss"`
	// SentSeries: segments accepted per second, seconds since the start.
	SentSeries [][2]float64 `json:"sent_per_s"`
	// NumbersSent is how many numbers had a segment at the carrier within
	// the start's sending window, and FirstPerNumber the seconds from the
	// process start to their first ones: the first, median and last.
	NumbersSent    int        `json:"numbers_sent"`
	FirstPerNumber [3]float64 `json:"first_per_number_s"`
	// Throttled is the carrier's ESME_RTHROTTLED answers during the start
	// (a strict carrier: none when the engine keeps to the rates).
	Throttled int64 `json:"throttled"`
	// Dispatch is the engine's dispatcher counters at the end of the
	// window (switchboard_dispatch_total by event), nil when /metrics did
	// not answer.
	Dispatch   map[string]float64 `json:"dispatch,omitempty"`
	start, end time.Time
}

// backlogRun is the state of one backlog run.
type backlogRun struct {
	sc       Scenario
	p        BacklogParams
	prog     *Progress
	bin, dir string
	dbURL    string
	dbName   string
	redisURL string
	prefix   string
	token    string
	numbers  []string
	sim      *smscsim.Sim
	simLog   string // the simulator's message log (complete once it is closed)
	cleanup  []func()
}

func runBacklog(ctx context.Context, sc Scenario, rep *Report, prog *Progress) error {
	r := &backlogRun{sc: sc, p: sc.Backlog, prog: prog, numbers: backlogNumbers(sc.Backlog.Numbers)}
	defer r.close()
	if err := r.prepare(ctx); err != nil {
		return err
	}
	res := BacklogResults{Database: r.dbName, RedisPrefix: r.prefix, Dir: r.dir, Numbers: r.p.Numbers, Threads: r.p.Numbers * r.p.Contacts, Messages: r.p.Messages,
		Sample: r.p.Sample, AccountTPS: sc.Carrier.TPS}
	if err := r.load(ctx, &res); err != nil {
		return err
	}
	cpu, err := r.measure(ctx, &res)
	if err != nil {
		return err
	}
	// The simulator's log is buffered: complete once it is closed.
	if err := r.sim.Close(); err != nil {
		return fmt.Errorf("the simulator: %w", err)
	}
	if err := r.numbersSent(&res); err != nil {
		return err
	}
	r.report(rep, &res)
	if cpu != nil {
		cpu.report(rep, res.Starts[0].Accepted, "segment submitted (first start)")
	}
	rep.Against = fmt.Sprintf("switchboard (%s) and smscsim (in-process), PostgreSQL %s, Redis prefix %s", r.bin, redactURL(r.dbURL), r.prefix)
	return nil
}

// prepare makes the run's directory, database, Redis prefix and simulator
// and finds the engine binary.
func (r *backlogRun) prepare(ctx context.Context) error {
	var err error
	if r.dir, err = os.MkdirTemp("", "smppbench-backlog-"); err != nil {
		return err
	}
	if !r.sc.Engine.Keep {
		r.cleanup = append(r.cleanup, func() { os.RemoveAll(r.dir) })
	}
	if r.bin, err = findSwitchboard(ctx, r.sc.Engine.Switchboard, r.dir, r.prog); err != nil {
		return err
	}
	runID := fmt.Sprintf("%d_%s", time.Now().Unix(), randomHex(3))
	dbURL, drop, err := createDatabase(ctx, envOr(r.sc.Engine.DatabaseURL, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "smppbench_"+runID)
	if err != nil {
		return err
	}
	if !r.sc.Engine.Keep {
		r.cleanup = append(r.cleanup, drop)
	}
	r.dbURL, r.dbName = dbURL, "smppbench_"+runID
	r.redisURL = envOr(r.sc.Engine.RedisURL, "REDIS_URL", "redis://127.0.0.1:6379/0")
	r.prefix = "smppbench:" + runID + ":"
	clear, err := redisCleaner(ctx, r.redisURL, r.prefix)
	if err != nil {
		return err
	}
	if !r.sc.Engine.Keep {
		r.cleanup = append(r.cleanup, clear)
	}
	// A strict carrier, as in the fairness scenario: at most each number's
	// rate from it and the account's from all, in any sliding second; its
	// message log gives each number's first segment.
	rate, _, err := strictCarrier([]sourceLimit{{Numbers: r.numbers, Rate: r.p.NumberRate}}, r.sc.Carrier.TPS)
	if err != nil {
		return err
	}
	simCfg, err := simConfig(r.sc, engineOptions{numbers: r.numbers, simRate: &rate})
	if err != nil {
		return err
	}
	r.simLog = filepath.Join(r.dir, "smscsim.jsonl")
	simCfg.Log = r.simLog
	if r.sim, err = smscsim.Start(simCfg); err != nil {
		return fmt.Errorf("starting the simulator: %w", err)
	}
	r.cleanup = append(r.cleanup, func() { r.sim.Close() })
	r.token = "bench-op-" + randomHex(16)
	return nil
}

// close undoes prepare, in reverse order.
func (r *backlogRun) close() {
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		r.cleanup[i]()
	}
}

// startProc starts a switchboard serve process bound to carrier
// host:port, as instance; it does not wait for it to be ready.
func (r *backlogRun) startProc(ctx context.Context, name, instance, host, port, pprof string) (*engineProc, string, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	// The carrier is strict (at most --carrier-tps in any sliding second):
	// the engine's account runs in its default sliding mode (burst 1), as
	// fairness configures it; a token bucket's burst would go over.
	tps, burst := r.sc.Carrier.TPS, 1
	cfg := engineConfig(engineConfigArgs{
		http: httpAddr, db: r.dbURL, redis: r.redisURL, prefix: r.prefix, instance: instance,
		classes: []classDef{{Name: "backlog", Rate: r.p.NumberRate, Burst: 1}}, host: host, port: port,
		binds: r.sc.Carrier.Binds, maxBinds: r.sc.Carrier.Binds, window: r.sc.Carrier.Window, tps: tps, burst: burst,
		margin: r.sc.Engine.ThrottleMargin, pprof: pprof,
	})
	path := filepath.Join(r.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, "", err
	}
	p, err := startEngineProc(ctx, r.bin, path, filepath.Join(r.dir, name+".log"),
		[]string{envOperatorToken + "=" + r.token, envSMSCPassword + "=" + engineSimPass})
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + httpAddr, nil
}

// closedPort returns a loopback port nothing listens on (it was free a
// moment ago and is closed again): the loader's carrier.
func closedPort() (string, error) {
	a, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(a)
	return port, err
}

// load makes the backlog with a loader engine whose carrier cannot be
// reached, then stops it: the workspace and numbers through the API, the
// sample through the batch route, the rest by SQL.
func (r *backlogRun) load(ctx context.Context, res *BacklogResults) error {
	p, base, err := r.startLoader(ctx)
	if err != nil {
		return err
	}
	defer p.stop()
	c, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	t0 := time.Now()
	r.prog.Start(fmt.Sprintf("backlog: %d numbers through the operator API", len(r.numbers)), int64(len(r.numbers)), "numbers")
	wc, wsID, err := r.setupNumbers(ctx, NewAPIClient(base, r.token), c)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(p.log, 3000))
	}
	res.SetupSeconds, res.Workspace = round3(time.Since(t0).Seconds()), wsID
	if res.ConnectionShapeDiff, err = compareConnections(ctx, c, wsID, r.numbers); err != nil {
		return fmt.Errorf("comparing the API's number connections with the SQL ones: %w", err)
	}
	if err := r.loadMessages(ctx, c, wc, wsID, res); err != nil {
		return err
	}
	return finishLoad(ctx, c, res, r.prog)
}

// startLoader starts the loader engine, its carrier a closed port, and
// waits until it serves: without a bind it is never ready (/readyz), so
// /healthz says when.
func (r *backlogRun) startLoader(ctx context.Context) (*engineProc, string, error) {
	port, err := closedPort()
	if err != nil {
		return nil, "", err
	}
	p, base, err := r.startProc(ctx, "switchboard-loader", "bench-loader", "127.0.0.1", port, "")
	if err != nil {
		return nil, "", err
	}
	_, err = pollUntil(ctx, r.p.ReadyTimeout, 50*time.Millisecond, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("the loader engine exited:\n%s", tail(p.log, 3000))
		}
		return httpOK(ctx, base+"/healthz"), nil
	})
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("the loader engine at %s: %w", base, err)
	}
	return p, base, nil
}

// loadMessages queues the sample through the API and the rest by SQL,
// and compares the two: their rows' shapes and the tables they wrote.
func (r *backlogRun) loadMessages(ctx context.Context, c *pgx.Conn, wc *APIClient, ws int64, res *BacklogResults) error {
	before, err := tableCounts(ctx, c)
	if err != nil {
		return err
	}
	if err := r.enqueueSample(ctx, wc); err != nil {
		return err
	}
	afterSample, err := tableCounts(ctx, c)
	if err != nil {
		return err
	}
	res.TablesAPI = grownTables(before, afterSample)

	t0 := time.Now()
	l := &sqlLoad{ws: ws, numbers: r.numbers, contacts: r.p.Contacts, messages: r.p.Messages - r.p.Sample, chunk: r.p.Chunk}
	r.prog.Start(fmt.Sprintf("backlog: %d messages by SQL", l.messages), int64(l.messages), "msgs")
	if err := l.run(ctx, c, r.prog); err != nil {
		return fmt.Errorf("SQL load: %w", err)
	}
	res.LoadSeconds = round3(time.Since(t0).Seconds())
	if res.LoadSeconds > 0 {
		res.LoadRate = round3(float64(l.messages) / res.LoadSeconds)
	}
	afterLoad, err := tableCounts(ctx, c)
	if err != nil {
		return err
	}
	res.TablesSQL, res.FirstSQLID = grownTables(afterSample, afterLoad), l.firstID
	if l.messages > 0 {
		if res.ShapeDiff, err = compareShapes(ctx, c, ws, l.firstID); err != nil {
			return fmt.Errorf("comparing the API's rows with the SQL load's: %w", err)
		}
	}
	return nil
}

// finishLoad counts the messages still queued and never tried, reads the
// database's size, and runs VACUUM ANALYZE as autovacuum would after a
// bulk load, so the measured start plans on statistics of the loaded
// tables.
func finishLoad(ctx context.Context, c *pgx.Conn, res *BacklogResults, prog *Progress) error {
	if err := c.QueryRow(ctx, "SELECT count(*) FROM messages WHERE status = 'queued' AND attempts = 0 AND lease_owner IS NULL").Scan(&res.QueuedBeforeStart); err != nil {
		return err
	}
	if err := c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&res.DatabaseBytes); err != nil {
		return err
	}
	prog.Start("backlog: VACUUM ANALYZE messages, threads", 0, "")
	_, err := c.Exec(ctx, "VACUUM (ANALYZE) messages, threads")
	return err
}

// setupNumbers creates the workspace and its numbers (dedicated, POST
// /admin/v1/numbers, 8 at a time), connects the first apiConnected of
// them through PUT /v1/sms/number and the others by SQL (connectSQL), and
// returns the workspace's client and id: thousands of calls one by one
// take longer than one statement. (PUT /v1/sms/number used to list every
// number of the workspace on each call, quadratic: 2,600 took ten minutes
// before inbox.FindNumber.)
func (r *backlogRun) setupNumbers(ctx context.Context, op *APIClient, c *pgx.Conn) (*APIClient, int64, error) {
	var ws workspaceJSON
	if err := op.Do(ctx, "POST", "/admin/v1/workspaces", map[string]any{"name": "smppbench backlog", "sms_addon": true}, &ws); err != nil {
		return nil, 0, fmt.Errorf("creating the workspace: %w", err)
	}
	id, err := strconv.ParseInt(ws.ID, 10, 64)
	if err != nil || ws.Token == "" {
		return nil, 0, fmt.Errorf("POST /admin/v1/workspaces answered id %q and no token or a token", ws.ID)
	}
	wc := op.with(ws.Token)
	err = forEachConcurrently(ctx, r.numbers, 8, func(n string) error {
		defer r.prog.Add(1)
		return op.Do(ctx, "POST", "/admin/v1/numbers", map[string]any{"number": n, "kind": "dedicated", "workspace": ws.ID, "carrier": "sim", "class": "backlog"}, nil)
	})
	if err != nil {
		return nil, 0, err
	}
	k := min(len(r.numbers), apiConnected)
	for _, n := range r.numbers[:k] {
		if err := wc.Do(ctx, "PUT", "/v1/sms/number", map[string]any{"number": n}, nil); err != nil {
			return nil, 0, fmt.Errorf("connecting number %s: %w", n, err)
		}
	}
	if k < len(r.numbers) {
		tag, err := c.Exec(ctx, connectSQL, id, r.numbers[k:])
		if err != nil {
			return nil, 0, fmt.Errorf("connecting numbers by SQL: %w", err)
		}
		if tag.RowsAffected() != int64(len(r.numbers)-k) {
			return nil, 0, fmt.Errorf("connecting numbers by SQL: %d connected, want %d", tag.RowsAffected(), len(r.numbers)-k)
		}
	}
	return wc, id, nil
}

// apiConnected is how many numbers are connected through the API (the
// sample's); connectSQL connects the others.
const apiConnected = 10

// connectSQL connects numbers ($2, E.164) to workspace $1 as
// ConnectNumber does for a dedicated number not connected before: a
// number_connections row (the other columns at their defaults) and a
// 'connected' number_events row. (ConnectNumber's release of held
// messages has nothing to release: the numbers have none.)
const connectSQL = `
WITH n AS (
    SELECT id FROM numbers WHERE e164 = ANY ($2::text[]) AND workspace_id = $1 AND status = 'active'
), c AS (
    INSERT INTO number_connections (workspace_id, number_id)
    SELECT $1, id FROM n ORDER BY id
    RETURNING number_id
)
INSERT INTO number_events (number_id, workspace_id, event)
SELECT number_id, $1, 'connected' FROM c ORDER BY number_id`

// forEachConcurrently calls f for each item, conc at a time, and returns
// the first error (after which no new item is started).
func forEachConcurrently(ctx context.Context, items []string, conc int, f func(string) error) error {
	next := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return firstErr != nil }
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				if err := f(it); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, fmt.Errorf("%s: %w", it, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		if failed() || ctx.Err() != nil {
			break
		}
		next <- it
	}
	close(next)
	wg.Wait()
	return cmp.Or(firstErr, ctx.Err())
}

// connectionShapesSQL gives the distinct shapes of number_connections
// and number_events rows of numbers $2 (ids) of workspace $1, as
// backlogShapeSQL does for messages.
const connectionShapesSQL = `
SELECT 'number_connections ' || (SELECT jsonb_object_agg(key, CASE WHEN key IN ('enabled') THEN value ELSE to_jsonb(value <> 'null'::jsonb) END)
        FROM jsonb_each(to_jsonb(x)))::text
FROM number_connections x WHERE x.workspace_id = $1 AND x.number_id = ANY ($2::int8[])
UNION
SELECT 'number_events ' || (SELECT jsonb_object_agg(key, CASE WHEN key IN ('event') THEN value ELSE to_jsonb(value <> 'null'::jsonb) END)
        FROM jsonb_each(to_jsonb(x)))::text
FROM number_events x WHERE x.workspace_id = $1 AND x.number_id = ANY ($2::int8[])`

// compareConnections compares the connection rows of the numbers
// connected through the API with those of the others' (the first 200).
func compareConnections(ctx context.Context, c *pgx.Conn, ws int64, numbers []string) ([]string, error) {
	if len(numbers) <= apiConnected {
		return nil, nil
	}
	ids := func(e164s []string) ([]int64, error) {
		rows, err := c.Query(ctx, "SELECT id FROM numbers WHERE e164 = ANY ($1::text[]) AND workspace_id = $2", e164s, ws)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	shapes := func(e164s []string) (map[string]bool, error) {
		ns, err := ids(e164s)
		if err != nil {
			return nil, err
		}
		return shapeSet(ctx, c, connectionShapesSQL, ws, ns)
	}
	a, err := shapes(numbers[:apiConnected])
	if err != nil {
		return nil, err
	}
	b, err := shapes(numbers[apiConnected:min(len(numbers), apiConnected+200)])
	if err != nil {
		return nil, err
	}
	return shapeDiff(a, b), nil
}

// backlogSampleContact is the sample's contact j of 5: apart from the SQL
// load's contacts (0..contacts-1).
func backlogSampleContact(contacts, j int) string { return contact(contacts + j%5) }

// enqueueSample queues the sample through POST /v1/messages/batch: on
// the first min(numbers, 10) numbers, 5 contacts each, so that its threads
// hold several messages (heads and messages behind them).
func (r *backlogRun) enqueueSample(ctx context.Context, wc *APIClient) error {
	k := min(len(r.numbers), 10)
	items := make([]map[string]any, r.p.Sample)
	for j := range items {
		items[j] = map[string]any{"from": r.numbers[j%k], "to": backlogSampleContact(r.p.Contacts, j/k), "text": fmt.Sprintf("backlog s%07d", j)}
	}
	var resp struct {
		Results []struct {
			Status int `json:"status"`
			Error  struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"results"`
	}
	if err := wc.Do(ctx, "POST", "/v1/messages/batch", map[string]any{"messages": items}, &resp); err != nil {
		return fmt.Errorf("queueing the sample: %w", err)
	}
	if len(resp.Results) != len(items) {
		return fmt.Errorf("queueing the sample: %d results for %d messages", len(resp.Results), len(items))
	}
	for j, x := range resp.Results {
		if x.Status >= 300 {
			return fmt.Errorf("queueing the sample: message %d refused: %d %s", j, x.Status, x.Error.Code)
		}
	}
	return nil
}

// sqlLoad inserts messages in the shape Enqueue gives them, to threads
// (number i mod N, contact i div N), message k to thread k mod threads.
type sqlLoad struct {
	ws       int64
	numbers  []string
	contacts int
	messages int
	chunk    int
	// firstID is the id of the first message it inserted (0 before).
	firstID int64
}

// backlogThreadsSQL creates the load's threads (those that get a message)
// and a temporary map from thread index t to thread, as Enqueue's thread
// upsert would leave them after queueing each one's messages: out_seq =
// its message count, out_next = 1, last_message_at = last_outbound_at =
// now(). $1 workspace, $2 numbers' E.164 in order, $3 contacts per number,
// $4 messages.
const backlogThreadsSQL = `
WITH nums AS (
    SELECT n.id, x.ord - 1 AS i
    FROM unnest($2::text[]) WITH ORDINALITY x(e164, ord)
    JOIN numbers n ON n.e164 = x.e164 AND n.status = 'active'
), t AS (
    SELECT t, nums.id AS number_id,
           '+447911' || lpad((100000 + (t / cardinality($2::text[])) % 900000)::text, 6, '0') AS contact,
           $4::int8 / (cardinality($2::text[]) * $3::int8) + CASE WHEN t < $4::int8 % (cardinality($2::text[]) * $3::int8) THEN 1 ELSE 0 END AS n
    FROM generate_series(0::int8, least(cardinality($2::text[]) * $3::int8, $4::int8) - 1) t
    JOIN nums ON nums.i = t % cardinality($2::text[])
)
INSERT INTO threads (workspace_id, channel, number_id, contact, last_message_at, last_outbound_at, out_seq)
SELECT $1, 'sms', number_id, contact, now(), now(), n FROM t ORDER BY t`

// backlogMapSQL fills the temporary map of thread index → thread.
const backlogMapSQL = `
CREATE TEMPORARY TABLE backlog_threads AS
SELECT t, th.id, th.number_id, th.contact
FROM generate_series(0::int8, least(cardinality($2::text[]) * $3::int8, $4::int8) - 1) t
JOIN numbers n ON n.e164 = ($2::text[])[t % cardinality($2::text[]) + 1] AND n.status = 'active'
JOIN threads th ON th.workspace_id = $1 AND th.channel = 'sms' AND th.number_id = n.id
     AND th.contact = '+447911' || lpad((100000 + (t / cardinality($2::text[])) % 900000)::text, 6, '0')`

// backlogInsertSQL inserts messages $2..$3-1 of the load as Enqueue
// queues them (see enqueueInsert in package inbox): status queued,
// direction out, created_at = queued_at = pending_since = now(), thread_seq
// its place in its thread (k div threads + 1), due_at = now() only for a
// thread's first message (its head: out_next is 1), no idempotency key,
// the encoding the API gave the sample's text (same alphabet, $5), one
// segment, the other columns at their defaults. Ids come from the
// sequence in k order, so a thread's messages are in id order as its
// thread_seq. $1 workspace, $4 threads.
const backlogInsertSQL = `
INSERT INTO messages (workspace_id, thread_id, thread_seq, number_id, contact, direction, body,
                      encoding, segments, status, created_at, queued_at, due_at, pending_since)
SELECT $1, m.id, (k / $4::int8 + 1)::int4, m.number_id, m.contact, 'out', 'backlog ' || lpad(k::text, 8, '0'),
       $5, 1, 'queued', now(), now(), CASE WHEN k < $4::int8 THEN now() END, now()
FROM generate_series($2::int8, $3::int8 - 1) k
JOIN backlog_threads m ON m.t = k % $4::int8
ORDER BY k`

// run loads the messages on c, chunk messages per statement (each its own
// transaction), and sets firstID.
func (l *sqlLoad) run(ctx context.Context, c *pgx.Conn, prog *Progress) error {
	if l.messages == 0 {
		return nil
	}
	n, m := int64(len(l.numbers)), int64(l.messages)
	threads := min(n*int64(l.contacts), m)
	if _, err := c.Exec(ctx, backlogThreadsSQL, l.ws, l.numbers, l.contacts, m); err != nil {
		return fmt.Errorf("threads: %w", err)
	}
	if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS backlog_threads"); err != nil {
		return err
	}
	tag, err := c.Exec(ctx, backlogMapSQL, l.ws, l.numbers, l.contacts, m)
	if err != nil {
		return fmt.Errorf("thread map: %w", err)
	}
	if tag.RowsAffected() != threads {
		return fmt.Errorf("thread map: %d threads found, %d made", tag.RowsAffected(), threads)
	}
	if _, err := c.Exec(ctx, "CREATE UNIQUE INDEX ON backlog_threads (t); ANALYZE backlog_threads"); err != nil {
		return err
	}
	var enc string
	if err := c.QueryRow(ctx, "SELECT encoding FROM messages WHERE workspace_id = $1 AND direction = 'out' ORDER BY id LIMIT 1", l.ws).Scan(&enc); err != nil {
		return fmt.Errorf("the sample's encoding: %w", err)
	}
	if err := c.QueryRow(ctx, "SELECT coalesce(max(id), 0) + 1 FROM messages").Scan(&l.firstID); err != nil {
		return err
	}
	for a := int64(0); a < m; a += int64(l.chunk) {
		b := min(a+int64(l.chunk), m)
		tag, err := c.Exec(ctx, backlogInsertSQL, l.ws, a, b, threads, enc)
		if err != nil {
			return fmt.Errorf("messages %d..%d: %w", a, b-1, err)
		}
		if tag.RowsAffected() != b-a {
			return fmt.Errorf("messages %d..%d: %d inserted", a, b-1, tag.RowsAffected())
		}
		prog.Add(b - a)
	}
	return nil
}

// tableCounts counts the rows of every table of the public schema.
func tableCounts(ctx context.Context, c *pgx.Conn) (map[string]int64, error) {
	rows, err := c.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(names))
	for _, n := range names {
		var k int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{n}.Sanitize()).Scan(&k); err != nil {
			return nil, fmt.Errorf("counting %s: %w", n, err)
		}
		out[n] = k
	}
	return out, nil
}

// grownTables lists the tables with more rows in after than in before.
func grownTables(before, after map[string]int64) []string {
	var out []string
	for n, k := range after {
		if k > before[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// backlogShapeSQL gives the distinct shapes of a set of outbound messages
// with their threads: per column, its value for the columns whose value
// Enqueue fixes (direction, status, encoding, segments, counters, channel,
// out_next…) and else only whether it is NULL; and the relations
// Enqueue's bookkeeping keeps (only the head has due_at, times equal,
// out_seq = the thread's message count, thread_seq within it). $1 says
// which messages: a set of thread ids.
const backlogShapeSQL = `
WITH m AS (
    SELECT m.*, th.out_seq, th.out_next,
           (SELECT count(*) FROM messages x WHERE x.thread_id = m.thread_id AND x.direction = 'out') AS thread_count,
           to_jsonb(th) AS th_json, to_jsonb(m) AS m_json
    FROM messages m JOIN threads th ON th.id = m.thread_id
    WHERE m.thread_id = ANY ($1::int8[])
)
SELECT DISTINCT
    (SELECT jsonb_object_agg(key, CASE WHEN key IN ('direction', 'status', 'encoding', 'segments', 'attempts', 'sent_mask',
                                                    'delivered_mask', 'carrier_error', 'lease_owner', 'wire_parts', 'last_error')
                                       THEN value ELSE to_jsonb(value <> 'null'::jsonb) END)
     FROM jsonb_each(m_json))::text || ' thread ' ||
    (SELECT jsonb_object_agg(key, CASE WHEN key IN ('channel', 'out_next', 'unread_count')
                                       THEN value ELSE to_jsonb(value <> 'null'::jsonb) END)
     FROM jsonb_each(th_json))::text || ' ' ||
    jsonb_build_object(
        'head', thread_seq = out_next,
        'due_iff_head', (due_at IS NOT NULL) = (thread_seq = out_next),
        'times_equal', created_at = queued_at AND queued_at = pending_since AND coalesce(due_at = created_at, true),
        'seq_in_line', thread_seq BETWEEN 1 AND out_seq,
        'out_seq_is_count', out_seq = thread_count,
        'thread_times', (th_json->>'last_message_at') = (th_json->>'last_outbound_at'))::text
FROM m`

// compareShapes compares the shapes (backlogShapeSQL) of the API
// sample's messages (ids below firstID) with those of the SQL load's first
// 200 threads (made after the sample's), and returns the shapes found on
// one side only.
func compareShapes(ctx context.Context, c *pgx.Conn, ws, firstID int64) ([]string, error) {
	threadsOf := func(q string, args ...any) ([]int64, error) {
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	api, err := threadsOf("SELECT DISTINCT thread_id FROM messages WHERE workspace_id = $1 AND direction = 'out' AND id < $2 ORDER BY 1", ws, firstID)
	if err != nil || len(api) == 0 {
		return nil, cmp.Or(err, errors.New("no message of the API sample"))
	}
	sql, err := threadsOf("SELECT id FROM threads WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT 200", ws, slices.Max(api))
	if err != nil {
		return nil, err
	}
	shapes := func(threads []int64) (map[string]bool, error) {
		return shapeSet(ctx, c, backlogShapeSQL, threads)
	}
	a, err := shapes(api)
	if err != nil {
		return nil, err
	}
	if len(sql) == 0 {
		return nil, nil // everything went through the API
	}
	b, err := shapes(sql)
	if err != nil {
		return nil, err
	}
	return shapeDiff(a, b), nil
}

// shapeSet runs a query whose rows are one shape each (a string) and
// returns them as a set.
func shapeSet(ctx context.Context, c *pgx.Conn, sql string, args ...any) (map[string]bool, error) {
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := map[string]bool{}
	for _, s := range list {
		out[s] = true
	}
	return out, err
}

// shapeDiff lists the shapes of api missing from sql and those of sql
// missing from api, each marked with its side.
func shapeDiff(api, sql map[string]bool) []string {
	var out []string
	for s := range api {
		if !sql[s] {
			out = append(out, "API only: "+s)
		}
	}
	for s := range sql {
		if !api[s] {
			out = append(out, "SQL only: "+s)
		}
	}
	slices.Sort(out)
	return out
}

// measure starts the engine against the simulator, measures it, kills it
// with SIGKILL and measures its restart. The first start's sending window
// gets the CPU split (and its profile with engine.profile); its meter is
// returned, stopped.
func (r *backlogRun) measure(ctx context.Context, res *BacklogResults) (*cpuMeter, error) {
	host, port, _ := net.SplitHostPort(r.sim.Addr(""))
	var cpu *cpuMeter
	for i, name := range []string{"first start", "restart after kill -9"} {
		e := &engineRun{dbURL: r.dbURL, redisURL: r.redisURL}
		if i == 0 && r.sc.Engine.Profile > 0 {
			addr, err := freeAddr()
			if err != nil {
				return nil, err
			}
			e.pprof, e.profile, e.profileOut = addr, r.sc.Engine.Profile, filepath.Join(cmp.Or(r.sc.Out, r.dir), "engine.cpu.pprof")
		}
		p, base, err := r.startProc(ctx, fmt.Sprintf("switchboard-%d", i+1), "bench-1", host, port, e.pprof)
		if err != nil {
			return nil, err
		}
		e.procs = []*engineProc{p}
		if i > 0 {
			e = nil
		}
		st, m, err := r.measureStart(ctx, name, p, base, e)
		// SIGKILL, as a crash: the restart finds what the crash left.
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		if err != nil {
			return nil, err
		}
		if m != nil {
			cpu = m
		}
		res.Starts = append(res.Starts, st)
		res.RSSMax, res.HWM = max(res.RSSMax, st.RSSMax), max(res.HWM, st.HWM)
	}
	return cpu, nil
}

// measureStart times one start of p (started just before the call):
// ready, first submit_sm, the rate over the following Duration, and RSS
// every second throughout. With e, the CPU split of that Duration is
// measured too (its meter returned, stopped).
func (r *backlogRun) measureStart(ctx context.Context, name string, p *engineProc, base string, e *engineRun) (StartFigure, *cpuMeter, error) {
	t0 := time.Now()
	st := StartFigure{Name: name, start: t0}
	throttled0 := simThrottled(r.sim)
	r.prog.Start("backlog: "+name+": waiting for /readyz and the first submit_sm", 0, "")
	mem := startRSSSampler(p.cmd.Process.Pid, t0)
	defer mem.stop()
	base0 := simSubmits(r.sim)
	ready, err := pollUntil(ctx, r.p.ReadyTimeout, 20*time.Millisecond, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("switchboard exited:\n%s", tail(p.log, 3000))
		}
		return httpOK(ctx, base+"/readyz"), nil
	})
	if err != nil {
		return st, nil, fmt.Errorf("%s: /readyz: %w\n%s", name, err, tail(p.log, 3000))
	}
	st.ReadySeconds = round3(ready.Sub(t0).Seconds())
	first, err := pollUntil(ctx, r.p.ReadyTimeout, 5*time.Millisecond, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("switchboard exited:\n%s", tail(p.log, 3000))
		}
		return simSubmits(r.sim) > base0, nil
	})
	if err != nil {
		return st, nil, fmt.Errorf("%s: first submit_sm: %w\n%s", name, err, tail(p.log, 3000))
	}
	st.FirstSubmitSeconds = round3(first.Sub(t0).Seconds())
	r.prog.Start(fmt.Sprintf("backlog: %s: sending for %s", name, r.p.Duration), int64(r.p.Duration/time.Second), "s")
	var cpu *cpuMeter
	if e != nil {
		cpu = startCPU(ctx, e)
	}
	acc0 := simAccepted(r.sim)
	last, lastAt := acc0, time.Now()
	end := time.Now().Add(r.p.Duration)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return st, nil, ctx.Err()
		case now := <-tick.C:
			a := simAccepted(r.sim)
			st.SentSeries = append(st.SentSeries, [2]float64{round3(now.Sub(t0).Seconds()), round3(float64(a-last) / now.Sub(lastAt).Seconds())})
			last, lastAt = a, now
			r.prog.Add(1)
		}
		if p.exited() {
			return st, nil, fmt.Errorf("%s: switchboard exited while sending:\n%s", name, tail(p.log, 3000))
		}
	}
	st.Accepted = simAccepted(r.sim) - acc0
	st.end, st.Throttled = time.Now(), simThrottled(r.sim)-throttled0
	if cpu != nil {
		cpu.stop(ctx)
	}
	st.Rate = round3(float64(st.Accepted) / time.Since(end.Add(-r.p.Duration)).Seconds())
	mem.stop()
	st.RSS, st.RSSMax, st.HWM = mem.result()
	st.Dispatch = dispatchCounters(ctx, base)
	return st, cpu, nil
}

// pollUntil calls cond every every until it is true (the time it was),
// returns an error, or timeout passes.
func pollUntil(ctx context.Context, timeout, every time.Duration, cond func() (bool, error)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(every):
		}
	}
}

var readyClient = &http.Client{Timeout: 2 * time.Second}

// httpOK reports whether GET url answers 200.
func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return false
	}
	resp, err := readyClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// dispatchCounters reads the engine's switchboard_dispatch_total counters
// from its /metrics (nil when it does not answer).
func dispatchCounters(ctx context.Context, base string) map[string]float64 {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := readyClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	const prefix = `switchboard_dispatch_total{event="`
	out := map[string]float64{}
	for _, l := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); ok && err == nil {
			out[name] = v
		}
	}
	return out
}

// simThrottled is the submit_sm the simulator answered ESME_RTHROTTLED
// (a rate limit), all accounts.
func simThrottled(s *smscsim.Sim) int64 {
	var n int64
	for _, a := range s.Report().Accounts {
		n += a.Throttled
	}
	return n
}

// numbersSent reads the simulator's message log (complete: the simulator
// is closed) and sets, for each start, how many numbers had a segment at
// the carrier between the process start and the end of its sending window,
// and when their first ones came.
func (r *backlogRun) numbersSent(res *BacklogResults) error {
	lines, err := readSimLog(r.simLog)
	if err != nil {
		return err
	}
	for i := range res.Starts {
		st := &res.Starts[i]
		first := map[string]float64{}
		for _, l := range lines {
			if l.T.Before(st.start) || l.T.After(st.end) {
				continue
			}
			at := l.T.Sub(st.start).Seconds()
			if f, ok := first[l.Src]; !ok || at < f {
				first[l.Src] = at
			}
		}
		times := slices.Sorted(maps.Values(first))
		st.NumbersSent = len(times)
		if len(times) > 0 {
			st.FirstPerNumber = [3]float64{round3(times[0]), round3(times[(len(times)-1)/2]), round3(times[len(times)-1])}
		}
	}
	return nil
}

// simSubmits is the submit_sm the simulator received, all accounts.
func simSubmits(s *smscsim.Sim) int64 {
	var n int64
	for _, a := range s.Report().Accounts {
		n += a.Submits
	}
	return n
}

// simAccepted is the segments the simulator accepted, all accounts.
func simAccepted(s *smscsim.Sim) int64 {
	var n int64
	for _, a := range s.Report().Accounts {
		n += a.AcceptedSegments
	}
	return n
}

// rssSampler reads a process's VmRSS and VmHWM every second.
type rssSampler struct {
	pid     int
	t0      time.Time
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
	mu      sync.Mutex
	samples [][2]float64
	rssMax  atomic.Int64
	hwm     atomic.Int64
}

func startRSSSampler(pid int, t0 time.Time) *rssSampler {
	s := &rssSampler{pid: pid, t0: t0, done: make(chan struct{}), stopped: make(chan struct{})}
	go s.loop()
	return s
}

func (s *rssSampler) loop() {
	defer close(s.stopped)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	s.sample()
	for {
		select {
		case <-s.done:
			s.sample()
			return
		case <-tick.C:
			s.sample()
		}
	}
}

func (s *rssSampler) sample() {
	rss, hwm, err := procMemory(s.pid)
	if err != nil {
		return // the process is gone
	}
	s.rssMax.Store(max(s.rssMax.Load(), rss))
	s.hwm.Store(max(s.hwm.Load(), hwm))
	s.mu.Lock()
	s.samples = append(s.samples, [2]float64{round3(time.Since(s.t0).Seconds()), float64(rss)})
	s.mu.Unlock()
}

// stop ends the sampling (after a last sample); it may be called again.
func (s *rssSampler) stop() {
	s.once.Do(func() { close(s.done) })
	<-s.stopped
}

// result returns the samples, the highest VmRSS and the highest VmHWM.
func (s *rssSampler) result() ([][2]float64, int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples), s.rssMax.Load(), s.hwm.Load()
}

// procMemory reads VmRSS and VmHWM (bytes) of a process from
// /proc/PID/status.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseProcMemory(string(b))
}

// parseProcMemory reads VmRSS and VmHWM from /proc/PID/status text.
func parseProcMemory(status string) (rss, hwm int64, err error) {
	found := 0
	for _, line := range strings.Split(status, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status: %s: %q", key, val)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status: %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("/proc status: no VmRSS and VmHWM (a kernel thread, or not Linux)")
	}
	return rss, hwm, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// report writes the results into rep.
func (r *backlogRun) report(rep *Report, res *BacklogResults) {
	rep.metric("messages queued", float64(res.Messages), "")
	rep.metric("SQL load", res.LoadSeconds, "s")
	rep.metric("SQL load rate", res.LoadRate, "msgs/s")
	rows := [][]string{}
	for _, st := range res.Starts {
		rows = append(rows, []string{st.Name, fmt.Sprintf("%.3f", st.ReadySeconds), fmt.Sprintf("%.3f", st.FirstSubmitSeconds),
			fmt.Sprintf("%.1f", st.Rate), fmt.Sprint(st.Accepted), fmt.Sprint(st.Throttled),
			fmt.Sprintf("%d of %d", st.NumbersSent, res.Numbers),
			fmt.Sprintf("%.1f / %.1f / %.1f", st.FirstPerNumber[0], st.FirstPerNumber[1], st.FirstPerNumber[2]),
			fmt.Sprintf("%.1f", mib(st.RSSMax)), fmt.Sprintf("%.1f", mib(st.HWM))})
	}
	for i, st := range res.Starts {
		tag := "start"
		if i > 0 {
			tag = "restart"
		}
		rep.metric(tag+" → ready", st.ReadySeconds, "s")
		rep.metric(tag+" → first submit_sm", st.FirstSubmitSeconds, "s")
		rep.metric(tag+" submit rate", st.Rate, "segments/s")
		rep.metric(tag+": numbers that sent", float64(st.NumbersSent), "")
		rep.metric(tag+": median number's first submit", st.FirstPerNumber[1], "s")
	}
	rep.metric("engine RSS max", mib(res.RSSMax), "MiB")
	rep.metric("engine VmHWM", mib(res.HWM), "MiB")
	rep.Tables = append(rep.Tables,
		Table{Title: "Backlog", Columns: []string{"", "value"}, Rows: [][]string{
			{"numbers", fmt.Sprint(res.Numbers)},
			{"threads", fmt.Sprint(res.Threads)},
			{"messages queued (API sample + SQL)", fmt.Sprintf("%d (%d + %d)", res.Messages, res.Sample, res.Messages-res.Sample)},
			{"queued, never tried, when the engine started", fmt.Sprint(res.QueuedBeforeStart)},
			{"numbers: made through the operator API, connected through it (10) and by SQL (the rest), s", fmt.Sprint(res.SetupSeconds)},
			{"SQL load, s", fmt.Sprint(res.LoadSeconds)},
			{"SQL load, msgs/s", fmt.Sprint(res.LoadRate)},
			{"database size, MiB", fmt.Sprintf("%.0f", mib(res.DatabaseBytes))},
			{"tables written: API sample", strings.Join(res.TablesAPI, " ")},
			{"tables written: SQL load", strings.Join(res.TablesSQL, " ")},
			{"carrier account rate, segments/s", fmt.Sprint(res.AccountTPS)},
		}},
		Table{Title: "Engine starts (seconds from the process start)", Columns: []string{"start", "ready s", "first submit_sm s", "segments/s", "accepted", "0x58 (strict carrier)", "numbers that sent", "each number's first submit s: first / median / last", "RSS max MiB", "VmHWM MiB"}, Rows: rows},
	)
	if len(res.Starts) > 0 && res.Starts[0].Dispatch != nil {
		names := slices.Sorted(maps.Keys(res.Starts[0].Dispatch))
		t := Table{Title: "Engine's dispatcher at the end of each window (switchboard_dispatch_total)", Columns: []string{"event"}}
		for _, st := range res.Starts {
			t.Columns = append(t.Columns, st.Name)
		}
		for _, n := range names {
			row := []string{n}
			for _, st := range res.Starts {
				row = append(row, fmt.Sprint(st.Dispatch[n]))
			}
			t.Rows = append(t.Rows, row)
		}
		rep.Tables = append(rep.Tables, t)
	}
	rss := Chart{ID: "rss", Title: "Engine RSS", Kind: "line", XLabel: "seconds since the process started", YLabel: "MiB"}
	sent := Chart{ID: "sent", Title: "Segments accepted by the carrier", Kind: "line", XLabel: "seconds since the process started", YLabel: "segments/s"}
	for i, st := range res.Starts {
		pts := make([][2]float64, len(st.RSS))
		for k, p := range st.RSS {
			pts[k] = [2]float64{p[0], round3(p[1] / (1 << 20))}
		}
		rss.Series = append(rss.Series, Series{Name: st.Name, Points: pts, Group: i})
		sent.Series = append(sent.Series, Series{Name: st.Name, Points: st.SentSeries, Group: i})
	}
	rss.Series = append(rss.Series, Series{Name: "goal 1 GiB", Points: [][2]float64{{0, 1024}, {r.p.Duration.Seconds() + 10, 1024}}, Dashed: true, Group: 9})
	rep.Charts = append(rep.Charts, rss, sent)

	rep.check("SQL-loaded rows have the API's shape", len(res.ShapeDiff) == 0, "%d shapes on one side only: %s", len(res.ShapeDiff), strings.Join(first(res.ShapeDiff, 4), "; "))
	rep.check("SQL-connected numbers have the API's shape", len(res.ConnectionShapeDiff) == 0, "%d shapes on one side only: %s", len(res.ConnectionShapeDiff), strings.Join(res.ConnectionShapeDiff, "; "))
	rep.check("SQL load writes the tables the API writes", slices.Equal(res.TablesAPI, res.TablesSQL) || res.Messages == res.Sample,
		"API: %v, SQL: %v", res.TablesAPI, res.TablesSQL)
	rep.check("the whole backlog queued before the engine started", res.QueuedBeforeStart == int64(res.Messages), "%d of %d", res.QueuedBeforeStart, res.Messages)
	for _, st := range res.Starts {
		rep.check(st.Name+": sending", st.Accepted > 0, "%d segments accepted in %s", st.Accepted, r.p.Duration)
		rep.check(st.Name+": no refusal by the strict carrier", st.Throttled == 0, "%d submit_sm answered 0x58", st.Throttled)
	}
	rep.check("engine RSS ≤ 1 GiB (issue 15)", res.RSSMax > 0 && res.HWM <= backlogRSSGoal, "RSS max %.0f MiB, VmHWM %.0f MiB, %d messages queued", mib(res.RSSMax), mib(res.HWM), res.Messages)
	if len(res.Starts) == 2 {
		rs := res.Starts[1].FirstSubmitSeconds
		rep.check("restart → sending again ≤ 10 s (issue 15)", rs <= backlogRestartGoal.Seconds(), "%.3f s from the process start to the first submit_sm", rs)
	}
	rep.Notes = append(rep.Notes,
		"Numbers are made through POST /admin/v1/numbers; the first 10 are connected through PUT /v1/sms/number and the others by SQL as ConnectNumber does (compared), which is quicker than thousands of calls.",
		"The backlog was loaded while no engine could send: the loader engine's carrier pointed at a closed port (no bind, so its dispatcher claimed nothing).",
		fmt.Sprintf("The API sample (%d messages) and the SQL load's first 200 threads are compared column by column (values where Enqueue fixes them, else NULL or not) and by Enqueue's bookkeeping (only heads have due_at, out_seq = count).", res.Sample),
		"Times are from the process start (fork/exec) to /readyz 200 and to the simulator's first submit_sm; the restart follows a SIGKILL of the first start, with the same instance id.",
		"RSS is VmRSS sampled every second from /proc; VmHWM is the kernel's peak.",
		fmt.Sprintf("The carrier is strict, as in the fairness scenario: at most %g segments/s from each number and %g from the account in any sliding second; a number's first submit is its first segment in the simulator's message log after the process start.", r.p.NumberRate, res.AccountTPS))
	rep.Results = res
}

// badField is a parameter error naming its field, as Check's are.
func badField(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}
