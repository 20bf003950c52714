package bench

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses: fields count
	// from the last ')'. Fields 14–17 are utime, stime, cutime, cstime;
	// 22 the start time.
	line := "123 (my (proc) x) S 1 123 123 0 -1 4194304 4913 86255 1 9 6 10 989 277 20 0 1 0 23732 224559104 8137 18446744073709551615 0 0 0 0\n"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{ppid: 1, utime: 6, stime: 10, cutime: 989, cstime: 277, started: 23732}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	for _, bad := range []string{
		"",
		"123 my proc S 1 2 3",              // no ')'
		"123 (x) S 1 123 123 0 -1 4194304", // too short
		"123 (x) S 1 123 123 0 -1 0 0 0 0 0 zz 10 0 0 20 0 1 0 23732", // utime not a number
	} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestProcessCPURises reads this process's own /proc/<pid>/stat and
// getrusage around some busy work.
func TestProcessCPURises(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	st0, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self0, err := selfCPU()
	if err != nil {
		t.Fatal(err)
	}
	machine0, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	busy(t, self0, 200*time.Millisecond)
	st1, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self1, _ := selfCPU()
	machine1, _ := machineCPU()

	proc := ticksToDuration(st1.utime + st1.stime - st0.utime - st0.stime)
	self := self1 - self0
	machine := machine1 - machine0
	t.Logf("/proc %v, getrusage %v, machine %v", proc, self, machine)
	if proc < 150*time.Millisecond {
		t.Errorf("after 200 ms of busy work: /proc %v, getrusage %v", proc, self)
	}
	// Both count the same process (ticks of 10 ms).
	if d := proc - self; d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Errorf("/proc says %v, getrusage %v", proc, self)
	}
	// The machine's busy time holds this process's.
	if machine < self-50*time.Millisecond {
		t.Errorf("machine busy %v < this process %v", machine, self)
	}
	// As a "postmaster", this process and its children (none) are at
	// least this process.
	all, err := postgresCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if all < ticksToDuration(st1.utime+st1.stime) {
		t.Errorf("process and children %v < process %v", all, ticksToDuration(st1.utime+st1.stime))
	}
}

// busy spins until this process has used d of CPU since from
// (getrusage), however busy the machine is; 30 s at most.
func busy(t *testing.T, from, d time.Duration) {
	x := 0
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		for i := 0; i < 100000; i++ {
			x += i * i
		}
		if now, _ := selfCPU(); now-from >= d {
			sink = x
			return
		}
	}
	t.Fatalf("not %v of CPU in 30 s", d)
}

var sink int

func TestParseRedisCPU(t *testing.T) {
	info := "# CPU\r\nused_cpu_sys:0.350447\r\nused_cpu_user:0.679351\r\nused_cpu_sys_children:0.100000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:0.354711\r\n"
	d, err := parseRedisCPU(info)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1129798 * time.Microsecond; d != want {
		t.Errorf("got %v, want %v", d, want)
	}
	if _, err := parseRedisCPU("# CPU\r\n"); err == nil {
		t.Error("no error without the fields")
	}
}

func TestCommandStats(t *testing.T) {
	before := parseCommandStats("# Commandstats\r\ncmdstat_get:calls=45,usec=310,usec_per_call=6.89,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_config|resetstat:calls=1,usec=210,usec_per_call=210.00,rejected_calls=0,failed_calls=0\r\n")
	if (before["get"] != cmdStat{45, 310}) || (before["config|resetstat"] != cmdStat{1, 210}) {
		t.Fatalf("%+v", before)
	}
	after := map[string]cmdStat{"get": {145, 1310}, "config|resetstat": {1, 210}, "evalsha": {50, 5000}, "set": {10, 100}}
	cmds, all, na := diffCommandStats(before, after, 2, 50)
	if na != "" {
		t.Fatal(na)
	}
	want := []RedisCommand{
		{Command: "evalsha", Calls: 50, TotalMS: 5, MeanUS: 100, CallsPerMessage: 1},
		{Command: "get", Calls: 100, TotalMS: 1, MeanUS: 10, CallsPerMessage: 2},
	}
	if len(cmds) != 2 || cmds[0] != want[0] || cmds[1] != want[1] {
		t.Errorf("got %+v, want %+v", cmds, want)
	}
	if (*all != RedisCommand{Command: "all commands", Calls: 160, TotalMS: 6.1, MeanUS: 38.125, CallsPerMessage: 3.2}) {
		t.Errorf("all: %+v", *all)
	}
	// Someone reset the statistics meanwhile.
	if _, _, na := diffCommandStats(after, before, 5, 50); na == "" {
		t.Error("a reset went unnoticed")
	}
}

func TestShortQuery(t *testing.T) {
	if got := shortQuery("SELECT a,\n\t b   FROM  t", 120); got != "SELECT a, b FROM t" {
		t.Errorf("%q", got)
	}
	if got := shortQuery("SELECT é FROM t", 8); got != "SELECT é" {
		t.Errorf("%q", got)
	}
}

// TestCPUAgainstAnEngineNotStarted: with --engine the bench knows neither
// the engine's processes nor its servers; those figures are n/a, with the
// reason, and null in report.json.
func TestCPUAgainstAnEngineNotStarted(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	ctx := context.Background()
	m := startCPU(ctx, &engineRun{})
	busy(t, m.bench.v0, 20*time.Millisecond)
	m.stop(ctx)
	rep := &Report{}
	m.report(rep, 100, "msg")
	c := rep.CPU
	for name, f := range map[string]CPUFigure{"postgresql": c.PostgreSQL, "postgresql_run_backends": c.PostgreSQLRun, "redis": c.Redis, "engine": c.Engine} {
		if f.Seconds != nil || f.MicrosPerMessage != nil || !strings.Contains(f.NA, "--engine") {
			t.Errorf("%s: %+v", name, f)
		}
	}
	if c.Bench.Seconds == nil || *c.Bench.Seconds < 0.02 || *c.Bench.MicrosPerMessage < 200 || c.Machine.Seconds == nil {
		t.Errorf("bench %+v, machine %+v", c.Bench, c.Machine)
	}
	if c.StatementsNA == "" || c.RedisNA == "" {
		t.Errorf("statements n/a %q, Redis commands n/a %q", c.StatementsNA, c.RedisNA)
	}
	if len(rep.Tables) != 1 || rep.Tables[0].Rows[0][1] != "n/a" {
		t.Errorf("tables %+v", rep.Tables)
	}
	if _, ok := rep.Metric("CPU PostgreSQL"); ok {
		t.Error("a headline number for PostgreSQL")
	}
	if _, ok := rep.Metric("CPU bench"); !ok {
		t.Error("no headline number for the bench")
	}
	js, err := json.Marshal(rep.CPU)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"postgresql":{"cpu_s":null,"us_per_message":null,"cores":null`) {
		t.Errorf("%s", js)
	}
}
