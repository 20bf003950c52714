package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The CPU split of an engine scenario's measured phase: what PostgreSQL,
// Redis, the engine processes and the bench itself spent, sampled at the
// start and the end of the phase.
//
//   - PostgreSQL: the postmaster (PID from <data_directory>/postmaster.pid)
//     and its children, utime+stime+cutime+cstime from /proc (the
//     postmaster's cutime/cstime hold the backends that exited). Only when
//     that file is on this machine and belongs to the server the bench is
//     connected to. And, as the server may be shared, the backends
//     connected to the run's database alone (pg_stat_activity).
//   - Redis: INFO cpu, used_cpu_{sys,user}{,_children}.
//   - Engine: utime+stime of the processes the bench started.
//   - Bench: getrusage(RUSAGE_SELF), the in-process simulator included.
//   - Machine: every core's busy time from /proc/stat, for what the rest
//     of the machine did meanwhile.

// mark starts the meter's own queries, so that the run's statements
// (pg_stat_statements) leave them out.
const mark = "/* smppbench cpu */ "

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on Linux.
const userHZ = 100

// CPUSplit is the CPU time spent during a scenario's measured phase, by
// process (report.json "cpu").
type CPUSplit struct {
	WallSeconds float64 `json:"wall_s"`
	// Messages is what the per-message figures divide by; Per says what
	// they are ("delivered msg", "MO in thread").
	Messages   int64     `json:"messages"`
	Per        string    `json:"per"`
	PostgreSQL CPUFigure `json:"postgresql"`
	// PostgreSQLRun is the backends connected to the run's database: the
	// engine's work without other databases' (nor the server's background
	// processes, nor backends that exited during the run).
	PostgreSQLRun CPUFigure `json:"postgresql_run_backends"`
	Redis         CPUFigure `json:"redis"`
	Engine        CPUFigure `json:"engine"`
	Bench         CPUFigure `json:"bench"`
	Machine       CPUFigure `json:"machine"`
	// Statements are the run's database's top statements by total
	// execution time (pg_stat_statements, reset for that database at the
	// start); StatementsAll sums every statement of that database.
	Statements    []PGStatement `json:"pg_statements,omitempty"`
	StatementsAll *PGStatement  `json:"pg_statements_all,omitempty"`
	StatementsNA  string        `json:"pg_statements_na,omitempty"`
	// RedisCommands are Redis's top commands by time (INFO commandstats,
	// the end minus the start; server-wide), RedisAll every command.
	RedisCommands []RedisCommand `json:"redis_commands,omitempty"`
	RedisAll      *RedisCommand  `json:"redis_commands_all,omitempty"`
	RedisNA       string         `json:"redis_commands_na,omitempty"`
}

// CPUFigure is one process group's CPU time; the numbers are null and NA
// says why when it was not measured.
type CPUFigure struct {
	Seconds *float64 `json:"cpu_s"`
	// MicrosPerMessage is Seconds in µs per CPUSplit.Messages.
	MicrosPerMessage *float64 `json:"us_per_message"`
	// Cores is Seconds / CPUSplit.WallSeconds: cores kept busy.
	Cores  *float64 `json:"cores"`
	Source string   `json:"source"`
	NA     string   `json:"na,omitempty"`
}

// PGStatement is one pg_stat_statements entry over the measured phase.
type PGStatement struct {
	Calls           int64   `json:"calls"`
	TotalMS         float64 `json:"total_ms"`
	Rows            int64   `json:"rows"`
	MeanUS          float64 `json:"mean_us"`
	CallsPerMessage float64 `json:"calls_per_message"`
	Query           string  `json:"query"` // whitespace collapsed, first 120 characters
}

// RedisCommand is one INFO commandstats entry over the measured phase.
type RedisCommand struct {
	Command         string  `json:"command"`
	Calls           int64   `json:"calls"`
	TotalMS         float64 `json:"total_ms"`
	MeanUS          float64 `json:"mean_us"`
	CallsPerMessage float64 `json:"calls_per_message"`
}

// cpuPart is one process group being measured.
type cpuPart struct {
	source string
	na     string // why it is not measured; when set, read is not called
	read   func(context.Context) (time.Duration, error)
	v0, v1 time.Duration
}

func (p *cpuPart) sample(ctx context.Context, v *time.Duration) {
	if p.na != "" {
		return
	}
	d, err := p.read(ctx)
	if err != nil {
		p.na = err.Error()
		return
	}
	*v = d
}

// cpuMeter samples CPU time at the start (startCPU) and the end (stop) of
// a measured phase. It is not safe for concurrent use.
// figure is the part's CPU between its two samples: in seconds, per
// message of n, and in cores over wall.
func (p *cpuPart) figure(n int64, wall time.Duration) CPUFigure {
	f := CPUFigure{Source: p.source, NA: p.na}
	if f.NA == "" && p.v1 < p.v0 {
		f.NA = "the counter went backwards (the process restarted?)"
	}
	if f.NA != "" {
		return f
	}
	sec := (p.v1 - p.v0).Seconds()
	f.Seconds = ptr(round3(sec))
	if n > 0 {
		f.MicrosPerMessage = ptr(round3(sec * 1e6 / float64(n)))
	}
	if wall > 0 {
		f.Cores = ptr(round3(sec / wall.Seconds()))
	}
	return f
}

type cpuMeter struct {
	pg, pgRun, redis, engine, bench, machine cpuPart
	t0, t1                                   time.Time

	pgConn  *pgx.Conn
	dbOID   uint32
	stmts   bool   // pg_stat_statements usable and reset
	stmtsNA string // why not
	rdb     *redis.Client
	cmds0   map[string]cmdStat
	cmds1   map[string]cmdStat
	cmdsNA  string
	split   CPUSplit
	prof    *engineProfile // the engine's CPU profile, when asked for
}

// startCPU prepares the samplers for e and takes the first sample. It
// never fails: what cannot be measured is n/a in the report.
func startCPU(ctx context.Context, e *engineRun) *cpuMeter {
	m := &cpuMeter{}
	m.bench = cpuPart{source: "getrusage(RUSAGE_SELF) of the bench, the in-process simulator included", read: func(context.Context) (time.Duration, error) { return selfCPU() }}
	m.machine = cpuPart{source: "/proc/stat: busy time of all cores (every process on the machine)", read: func(context.Context) (time.Duration, error) { return machineCPU() }}
	m.startEngine(e)
	m.startPG(ctx, e.dbURL)
	m.startRedis(ctx, e.redisURL)
	m.t0 = time.Now()
	for _, p := range m.parts() {
		p.sample(ctx, &p.v0)
	}
	m.prof = startProfile(ctx, e.pprof, e.profile, e.profileOut)
	return m
}

func (m *cpuMeter) parts() []*cpuPart {
	return []*cpuPart{&m.pg, &m.pgRun, &m.redis, &m.engine, &m.bench, &m.machine}
}

func (m *cpuMeter) startEngine(e *engineRun) {
	m.engine.source = "/proc/<pid>/stat utime+stime of the switchboard processes the bench started"
	if len(e.procs) == 0 {
		m.engine.na = "an engine the bench did not start (--engine)"
		return
	}
	var pids []int
	for _, p := range e.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	m.engine.source = fmt.Sprintf("/proc/<pid>/stat utime+stime of the %d switchboard process(es) the bench started", len(pids))
	m.engine.read = func(context.Context) (time.Duration, error) {
		var ticks int64
		for _, pid := range pids {
			st, err := readProcStat(pid)
			if err != nil {
				return 0, fmt.Errorf("engine process %d: %w", pid, err)
			}
			ticks += st.utime + st.stime
		}
		return ticksToDuration(ticks), nil
	}
}

// startPG finds the server's postmaster on this machine and resets
// pg_stat_statements for the run's database.
func (m *cpuMeter) startPG(ctx context.Context, dbURL string) {
	m.pg.source = "/proc: postmaster (<data_directory>/postmaster.pid) and its children, utime+stime+cutime+cstime"
	m.pgRun.source = "/proc: utime+stime of the backends on the run's database (pg_stat_activity) at the end, less theirs at the start; those that exited meanwhile are missed"
	m.stmtsNA = "not measured"
	na := func(why string) { m.pg.na, m.pgRun.na = why, why }
	if dbURL == "" {
		na("an engine the bench did not start (--engine): its PostgreSQL is unknown")
		m.stmtsNA = m.pg.na
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, dbURL)
	if err != nil {
		na("connecting: " + err.Error())
		m.stmtsNA = m.pg.na
		return
	}
	m.pgConn = c
	if err := c.QueryRow(cctx, "SELECT oid FROM pg_database WHERE datname = current_database()").Scan(&m.dbOID); err != nil {
		na("reading the database's oid: " + err.Error())
	} else if pid, err := findPostmaster(cctx, c); err != nil {
		na(err.Error())
	} else {
		m.pg.source = fmt.Sprintf("/proc: postmaster %d (<data_directory>/postmaster.pid) and its children, utime+stime+cutime+cstime", pid)
		m.pg.read = func(context.Context) (time.Duration, error) { return postgresCPU(pid) }
		m.pgRun.read = m.runBackendsCPU(pid)
	}
	// pg_stat_statements, when the server has it loaded: its entries of
	// this database only are reset (pg_stat_statements_reset(userid,
	// dbid, queryid), PostgreSQL 12 and later), so other databases' users
	// keep theirs.
	if _, err := c.Exec(cctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		m.stmtsNA = "pg_stat_statements not available: " + err.Error()
		return
	}
	if _, err := c.Exec(cctx, mark+"SELECT pg_stat_statements_reset(0::oid, $1::oid, 0::bigint)", m.dbOID); err != nil {
		m.stmtsNA = "pg_stat_statements not available: " + err.Error()
		return
	}
	m.stmts, m.stmtsNA = true, ""
}

// findPostmaster returns the PID of the postmaster of the server c is
// connected to, when it runs on this machine: <data_directory>/
// postmaster.pid is readable here, its start time (line 3) is the
// server's pg_postmaster_start_time(), and the backend serving c is, in
// this machine's /proc, a child of that PID.
func findPostmaster(ctx context.Context, c *pgx.Conn) (int, error) {
	var dir string
	if err := c.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return 0, fmt.Errorf("SHOW data_directory: %w", err)
	}
	var started float64
	var backend int
	if err := c.QueryRow(ctx, "SELECT extract(epoch FROM pg_postmaster_start_time())::float8, pg_backend_pid()").Scan(&started, &backend); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(dir + "/postmaster.pid")
	if err != nil {
		return 0, fmt.Errorf("the server is not on this machine or its data directory is not readable: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 3 {
		return 0, fmt.Errorf("%s/postmaster.pid: too short", dir)
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	at, err2 := strconv.ParseFloat(strings.TrimSpace(lines[2]), 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, fmt.Errorf("%s/postmaster.pid: unexpected contents", dir)
	}
	if math.Abs(at-started) > 2 {
		return 0, fmt.Errorf("%s/postmaster.pid belongs to another server than the one connected to", dir)
	}
	st, err := readProcStat(backend)
	if err != nil || st.ppid != pid {
		return 0, fmt.Errorf("the server's processes are not visible in this machine's /proc (another host or container)")
	}
	return pid, nil
}

// runBackendsCPU returns a reader of the CPU time the backends on the
// run's database (but the meter's own) used since its first call: 0 at
// the first call. A backend is known by its PID and start time, so a
// reused PID is a new backend.
func (m *cpuMeter) runBackendsCPU(postmaster int) func(context.Context) (time.Duration, error) {
	type backend struct{ pid, started int64 }
	var first map[backend]int64 // ticks at the first call; nil before it
	return func(ctx context.Context) (time.Duration, error) {
		rows, _ := m.pgConn.Query(ctx, mark+"SELECT pid FROM pg_stat_activity WHERE datid = $1 AND pid <> pg_backend_pid()", m.dbOID)
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return 0, fmt.Errorf("pg_stat_activity: %w", err)
		}
		now := map[backend]int64{}
		for _, pid := range pids {
			st, err := readProcStat(int(pid))
			if err != nil || st.ppid != postmaster {
				continue // exited
			}
			now[backend{int64(pid), st.started}] = st.utime + st.stime + st.cutime + st.cstime
		}
		if first == nil {
			first = now
			return 0, nil
		}
		var ticks int64
		for b, t := range now {
			ticks += t - first[b] // 0 for a backend that started since
		}
		return ticksToDuration(ticks), nil
	}
}

func (m *cpuMeter) startRedis(ctx context.Context, redisURL string) {
	m.redis.source = "INFO cpu: used_cpu_sys + used_cpu_user (+ _children)"
	m.cmdsNA = "not measured"
	if redisURL == "" {
		m.redis.na = "an engine the bench did not start (--engine): its Redis is unknown"
		m.cmdsNA = m.redis.na
		return
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		m.redis.na = err.Error()
		m.cmdsNA = m.redis.na
		return
	}
	m.rdb = redis.NewClient(opt)
	m.redis.read = func(ctx context.Context) (time.Duration, error) {
		s, err := m.rdb.Info(ctx, "cpu").Result()
		if err != nil {
			return 0, fmt.Errorf("INFO cpu: %w", err)
		}
		return parseRedisCPU(s)
	}
	if m.cmds0, err = m.commandStats(ctx); err != nil {
		m.cmdsNA = err.Error()
	} else {
		m.cmdsNA = ""
	}
}

func (m *cpuMeter) commandStats(ctx context.Context) (map[string]cmdStat, error) {
	s, err := m.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	return parseCommandStats(s), nil
}

// stop takes the second sample and reads the statement statistics.
func (m *cpuMeter) stop(ctx context.Context) {
	m.t1 = time.Now()
	for _, p := range m.parts() {
		p.sample(ctx, &p.v1)
	}
	if m.pgConn != nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if m.stmts {
			m.readStatements(cctx)
		}
		m.pgConn.Close(cctx)
		cancel()
	}
	if m.rdb != nil {
		if m.cmdsNA == "" {
			var err error
			if m.cmds1, err = m.commandStats(ctx); err != nil {
				m.cmdsNA = err.Error()
			}
		}
		m.rdb.Close()
	}
}

func (m *cpuMeter) readStatements(ctx context.Context) {
	const cols = "calls::int8, total_exec_time::float8, rows::int8"
	rows, err := m.pgConn.Query(ctx, mark+`SELECT `+cols+`, query FROM pg_stat_statements
		WHERE dbid = $1 AND query NOT LIKE '`+mark+`%' ORDER BY total_exec_time DESC LIMIT 10`, m.dbOID)
	if err != nil {
		m.stmtsNA = "reading pg_stat_statements: " + err.Error()
		return
	}
	for rows.Next() {
		var s PGStatement
		var q string
		if err := rows.Scan(&s.Calls, &s.TotalMS, &s.Rows, &q); err != nil {
			m.stmtsNA = "reading pg_stat_statements: " + err.Error()
			return
		}
		s.Query = shortQuery(q, 120)
		m.split.Statements = append(m.split.Statements, s)
	}
	if err := rows.Err(); err != nil {
		m.stmtsNA = "reading pg_stat_statements: " + err.Error()
		return
	}
	all := PGStatement{Query: "all statements of the run's database"}
	err = m.pgConn.QueryRow(ctx, mark+`SELECT coalesce(sum(calls), 0)::int8, coalesce(sum(total_exec_time), 0)::float8, coalesce(sum(rows), 0)::int8
		FROM pg_stat_statements WHERE dbid = $1 AND query NOT LIKE '`+mark+`%'`, m.dbOID).Scan(&all.Calls, &all.TotalMS, &all.Rows)
	if err != nil {
		m.stmtsNA = "reading pg_stat_statements: " + err.Error()
		return
	}
	m.split.StatementsAll = &all
}

// report fills rep.CPU and adds the split's tables and headline numbers:
// n messages of what per names ("delivered msg") were handled.
func (m *cpuMeter) report(rep *Report, n int64, per string) {
	s := &m.split
	s.WallSeconds = round3(m.t1.Sub(m.t0).Seconds())
	s.Messages, s.Per = n, per
	wall := m.t1.Sub(m.t0)
	fig := func(p *cpuPart) CPUFigure { return p.figure(n, wall) }
	s.PostgreSQL, s.PostgreSQLRun, s.Redis = fig(&m.pg), fig(&m.pgRun), fig(&m.redis)
	s.Engine, s.Bench, s.Machine = fig(&m.engine), fig(&m.bench), fig(&m.machine)
	for i := range s.Statements {
		s.Statements[i].finish(n)
	}
	if s.StatementsAll != nil {
		s.StatementsAll.finish(n)
	}
	s.StatementsNA = m.stmtsNA
	if m.cmdsNA == "" {
		s.RedisCommands, s.RedisAll, m.cmdsNA = diffCommandStats(m.cmds0, m.cmds1, 5, n)
	}
	s.RedisNA = m.cmdsNA
	rep.CPU = s

	unit := "µs/" + per
	t := Table{Title: fmt.Sprintf("CPU during the measured run (%s s wall, %d × %s)", formatNum(s.WallSeconds), n, per),
		Columns: []string{"", "CPU s", "µs/" + per, "cores busy", "measured by"}}
	for _, r := range []struct {
		name, metric string
		f            CPUFigure
	}{
		{"PostgreSQL (whole server)", "CPU PostgreSQL", s.PostgreSQL},
		{"↳ backends on the run's database", "CPU PostgreSQL run backends", s.PostgreSQLRun},
		{"Redis (whole server)", "CPU Redis", s.Redis},
		{"engine", "CPU engine", s.Engine},
		{"bench (with the simulator)", "CPU bench", s.Bench},
		{"whole machine", "", s.Machine},
	} {
		rep.cpuRow(&t, r.name, r.metric, r.f, unit)
	}
	rep.Tables = append(rep.Tables, t)

	if s.StatementsNA != "" {
		rep.Notes = append(rep.Notes, "PostgreSQL statements: "+s.StatementsNA)
	} else {
		st := Table{Title: "PostgreSQL statements (pg_stat_statements, the run's database, top 10 by total time)",
			Columns: []string{"calls", "calls/" + per, "total ms", "rows", "mean µs", "query"}}
		for _, q := range append(slices.Clip(s.Statements), *s.StatementsAll) {
			st.Rows = append(st.Rows, []string{strconv.FormatInt(q.Calls, 10), formatNum(q.CallsPerMessage), formatNum(q.TotalMS),
				strconv.FormatInt(q.Rows, 10), formatNum(q.MeanUS), q.Query})
		}
		rep.Tables = append(rep.Tables, st)
	}
	if s.RedisNA != "" {
		rep.Notes = append(rep.Notes, "Redis commands: "+s.RedisNA)
	} else {
		rt := Table{Title: "Redis commands (INFO commandstats, whole server, top 5 by time)",
			Columns: []string{"command", "calls", "calls/" + per, "total ms", "mean µs"}}
		for _, c := range append(slices.Clip(s.RedisCommands), *s.RedisAll) {
			rt.Rows = append(rt.Rows, []string{c.Command, strconv.FormatInt(c.Calls, 10), formatNum(c.CallsPerMessage), formatNum(c.TotalMS), formatNum(c.MeanUS)})
		}
		rep.Tables = append(rep.Tables, rt)
	}
	m.prof.wait(rep)
	rep.Notes = append(rep.Notes, "CPU: sampled at the start and the end of the measured run. PostgreSQL and Redis are whole servers, so "+
		"they include whatever else used them meanwhile; the whole-machine row shows how busy the machine was. "+
		"Statement times are time inside the server (waits included), not CPU; Redis counts the commands a script calls as well as the script.")
}

func (s *PGStatement) finish(n int64) {
	if s.Calls > 0 {
		s.MeanUS = round3(s.TotalMS * 1000 / float64(s.Calls))
	}
	s.TotalMS = round3(s.TotalMS)
	if n > 0 {
		s.CallsPerMessage = round3(float64(s.Calls) / float64(n))
	}
}

func ptr[T any](v T) *T { return &v }

func cell(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return formatNum(*v)
}

// shortQuery collapses a query's whitespace and keeps its first n
// characters.
func shortQuery(q string, n int) string {
	q = strings.Join(strings.Fields(q), " ")
	if r := []rune(q); len(r) > n {
		return string(r[:n])
	}
	return q
}

// procStat is what the CPU split reads of /proc/<pid>/stat; times are in
// clock ticks (1/userHZ s).
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
	started                      int64 // since boot
}

// parseProcStat parses a /proc/<pid>/stat line. The command name (field
// 2) is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'. See proc_pid_stat(5).
func parseProcStat(line string) (procStat, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return procStat{}, errors.New("stat: no ')'")
	}
	// f[0] is field 3 (state): field k is f[k-3].
	f := strings.Fields(line[i+1:])
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("stat: %d fields after the command", len(f))
	}
	var st procStat
	var err error
	num := func(k int) int64 {
		v, e := strconv.ParseInt(f[k-3], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("stat field %d: %w", k, e)
		}
		return v
	}
	st.ppid = int(num(4))
	st.utime, st.stime, st.cutime, st.cstime = num(14), num(15), num(16), num(17)
	st.started = num(22)
	return st, err
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

func ticksToDuration(t int64) time.Duration { return time.Duration(t) * (time.Second / userHZ) }

// postgresCPU is the CPU time of the postmaster pid and its children,
// with the children it has reaped (cutime, cstime). A backend that exits
// between the two reads is missed (never counted twice).
func postgresCPU(pid int) (time.Duration, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, fmt.Errorf("postmaster %d: %w", pid, err)
	}
	ticks := st.utime + st.stime + st.cutime + st.cstime
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		st, err := readProcStat(child)
		if err != nil || st.ppid != pid {
			continue // gone, or not ours
		}
		ticks += st.utime + st.stime + st.cutime + st.cstime
	}
	return ticksToDuration(ticks), nil
}

func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// machineCPU is the busy time of every core: the first line of
// /proc/stat less idle and iowait (guest time is already in user).
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy int64
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i != 3 && i != 4 && i != 7 { // idle, iowait, steal: not this machine's work
			busy += v
		}
	}
	return ticksToDuration(busy), nil
}

// parseRedisCPU sums used_cpu_sys, used_cpu_user and their _children of
// INFO cpu.
func parseRedisCPU(info string) (time.Duration, error) {
	var sum float64
	found := 0
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu %s: %w", k, err)
			}
			sum += f
			found++
		}
	}
	if found < 2 {
		return 0, errors.New("INFO cpu: no used_cpu_sys/used_cpu_user")
	}
	return time.Duration(sum * float64(time.Second)), nil
}

// cmdStat is one command's INFO commandstats counters.
type cmdStat struct{ calls, usec int64 }

// parseCommandStats parses INFO commandstats lines such as
// "cmdstat_get:calls=45,usec=310,usec_per_call=6.89,...".
func parseCommandStats(info string) map[string]cmdStat {
	out := map[string]cmdStat{}
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(k, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		var c cmdStat
		for _, kv := range strings.Split(v, ",") {
			key, val, _ := strings.Cut(kv, "=")
			switch key {
			case "calls":
				c.calls, _ = strconv.ParseInt(val, 10, 64)
			case "usec":
				c.usec, _ = strconv.ParseInt(val, 10, 64)
			}
		}
		out[name] = c
	}
	return out
}

// diffCommandStats is what each command did between two INFO
// commandstats: the top n by time, and all of them. The server's
// statistics are not reset (CONFIG RESETSTAT would reset everyone's);
// when someone else reset them meanwhile, na says so.
func diffCommandStats(before, after map[string]cmdStat, top int, msgs int64) (cmds []RedisCommand, all *RedisCommand, na string) {
	all = &RedisCommand{Command: "all commands"}
	var usecAll int64
	for name, a := range after {
		b := before[name]
		c := cmdStat{a.calls - b.calls, a.usec - b.usec}
		if c.calls < 0 || c.usec < 0 {
			return nil, nil, "the server's statistics were reset during the run (CONFIG RESETSTAT)"
		}
		if c.calls == 0 {
			continue
		}
		all.Calls += c.calls
		usecAll += c.usec
		cmds = append(cmds, redisCommand(name, c, msgs))
	}
	slices.SortFunc(cmds, func(x, y RedisCommand) int {
		if x.TotalMS != y.TotalMS {
			if x.TotalMS > y.TotalMS {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Command, y.Command)
	})
	if len(cmds) > top {
		cmds = cmds[:top]
	}
	*all = redisCommand(all.Command, cmdStat{all.Calls, usecAll}, msgs)
	return cmds, all, ""
}

func redisCommand(name string, c cmdStat, msgs int64) RedisCommand {
	r := RedisCommand{Command: name, Calls: c.calls, TotalMS: round3(float64(c.usec) / 1000)}
	if c.calls > 0 {
		r.MeanUS = round3(float64(c.usec) / float64(c.calls))
	}
	if msgs > 0 {
		r.CallsPerMessage = round3(float64(c.calls) / float64(msgs))
	}
	return r
}

// cpuRow adds a row of the CPU table t for figure f (n/a and why, when it
// could not be measured) and, when metric is not "", f per message as a
// headline metric in unit.
func (rep *Report) cpuRow(t *Table, name, metric string, f CPUFigure, unit string) {
	if f.Seconds == nil {
		t.Rows = append(t.Rows, []string{name, "n/a", "n/a", "n/a", f.NA})
		return
	}
	t.Rows = append(t.Rows, []string{name, cell(f.Seconds), cell(f.MicrosPerMessage), cell(f.Cores), f.Source})
	if metric != "" && f.MicrosPerMessage != nil {
		rep.metric(metric, *f.MicrosPerMessage, unit)
	}
}
