package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// binaries builds the demo, the engine and the simulator once for the
// tests of this file.
var binaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "demo-test-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/switchboard", "../../cmd/smscsim", ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err, string(out)}
	}
	return dir, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

var pidsLine = regexp.MustCompile(`engine pid (\d+), simulator pid (\d+)`)

// startKept runs the demo with --keep under a shell (`sh -c 'demo & wait'`,
// so that the test can kill its parent) and returns the shell, the demo's
// pid and the engine's and simulator's once the demo says it keeps them
// running.
func startKept(t *testing.T) (shell *exec.Cmd, demo, engine, sim int) {
	t.Helper()
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.UniqueName("demo_")
	t.Cleanup(func() { dropDemoData(name) })
	shell = exec.Command("sh", "-c", `"$0" "$@" & echo "demo pid $!"; wait`,
		filepath.Join(dir, "demo"), "--bin", dir, "--keep", "--db-name", name, "--redis-prefix", name+":")
	shell.Env = append(os.Environ(), "DATABASE_URL="+testenv.DatabaseURL(), "REDIS_URL="+testenv.RedisURL())
	out, err := shell.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	shell.Stderr = os.Stderr
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range []int{demo, engine, sim} {
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		shell.Process.Kill()
		shell.Wait()
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(3 * time.Minute)
	var seen []string
	for engine == 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the demo ended before saying it keeps running:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			if p, ok := strings.CutPrefix(line, "demo pid "); ok {
				demo, _ = strconv.Atoi(p)
			}
			if m := pidsLine.FindStringSubmatch(line); m != nil {
				engine, _ = strconv.Atoi(m[1])
				sim, _ = strconv.Atoi(m[2])
			}
		case <-timeout:
			t.Fatalf("the demo did not say it keeps running within 3 minutes:\n%s", strings.Join(seen, "\n"))
		}
	}
	go func() {
		for range lines { // drain
		}
	}()
	if demo == 0 || !alive(engine) || !alive(sim) {
		t.Fatalf("demo %d, engine %d (alive %v), simulator %d (alive %v)", demo, engine, alive(engine), sim, alive(sim))
	}
	return shell, demo, engine, sim
}

// dropDemoData removes the database and the Redis keys a demo run made.
func dropDemoData(name string) {
	ctx := context.Background()
	if c, err := pgx.Connect(ctx, testenv.DatabaseURL()); err == nil {
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		c.Close(ctx)
	}
	if opt, err := redis.ParseURL(testenv.RedisURL()); err == nil {
		r := redis.NewClient(opt)
		testenv.DeleteKeys(ctx, r, name+":")
		r.Close()
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting to be reaped counts as exited).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitGone(t *testing.T, what string, pids ...int) {
	t.Helper()
	testenv.Eventually(t, what, func() bool {
		for _, p := range pids {
			if alive(p) {
				return false
			}
		}
		return true
	})
}

// TestDemoStopsChildrenOnSignal: `make demo DEMO_KEEP=1` stopped by SIGTERM
// or SIGINT stops the engine and the simulator it started.
func TestDemoStopsChildrenOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the whole demo")
	}
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			_, demo, engine, sim := startKept(t)
			syscall.Kill(demo, sig)
			waitGone(t, "the demo, the engine and the simulator end after "+sig.String()+" to the demo", demo, engine, sim)
		})
	}
}

// TestDemoStopsChildrenWhenParentDies: the demo's parent killed outright
// (make or the shell that ran it), then the demo itself killed outright:
// the engine and the simulator end either way.
func TestDemoStopsChildrenWhenParentDies(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the whole demo")
	}
	t.Parallel()
	t.Run("parent killed", func(t *testing.T) {
		shell, demo, engine, sim := startKept(t)
		shell.Process.Kill()
		waitGone(t, "the demo, the engine and the simulator end after the demo's parent was killed", demo, engine, sim)
	})
	t.Run("demo killed", func(t *testing.T) {
		_, demo, engine, sim := startKept(t)
		syscall.Kill(demo, syscall.SIGKILL)
		waitGone(t, "the engine and the simulator end after the demo was killed", engine, sim)
	})
}
