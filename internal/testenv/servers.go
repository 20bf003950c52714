package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RedisServer is a private redis-server process on a port of its own, for
// tests that stop and start Redis without disturbing anyone else. It keeps
// nothing on disk. Its methods are not safe for concurrent use.
type RedisServer struct {
	Addr string // host:port it listens on

	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

// StartRedisServer starts a private redis-server and stops it when the test
// ends. It fails the test when redis-server is not installed.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("testenv: redis-server is not installed (scripts/services.sh up installs it): %v", err)
	}
	port := FreePort(t)
	s := &RedisServer{t: t, port: port, dir: t.TempDir(), Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL returns the redis:// URL of the server.
func (s *RedisServer) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts the server (again) on its port and waits until it accepts
// connections. Starting a running server does nothing.
func (s *RedisServer) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testenv: start redis-server: %v", err)
	}
	s.cmd = cmd
	if err := waitDial(s.Addr, 10*time.Second); err != nil {
		s.t.Fatalf("testenv: redis-server on %s: %v", s.Addr, err)
	}
}

// Stop kills the server (SIGKILL, as a crash would) and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *RedisServer) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func waitDial(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %v: %w", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PostgresServer is a private PostgreSQL cluster on a port of its own, for
// tests that stop and start the database. Its methods are not safe for
// concurrent use.
type PostgresServer struct {
	Port int

	t      testing.TB
	dir    string
	bindir string
	asUser []string // runuser prefix when running as root
}

// StartPostgresServer creates a private cluster (initdb, trust auth, fsync
// on) and starts it; it is stopped and removed when the test ends.
func StartPostgresServer(t testing.TB) *PostgresServer {
	t.Helper()
	bindirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var bindir string
	for _, d := range bindirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			bindir = d
		}
	}
	if bindir == "" {
		t.Fatalf("testenv: PostgreSQL server binaries not found (scripts/services.sh up installs them)")
	}
	dir, err := os.MkdirTemp("", "sbtest-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &PostgresServer{t: t, dir: dir, bindir: bindir, Port: FreePort(t)}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		os.Chmod(dir, 0o777)
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("testenv: chown postgres %s: %v %s", dir, err, out)
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := s.cmd(filepath.Join(bindir, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	return s
}

func (s *PostgresServer) cmd(name string, args ...string) *exec.Cmd {
	all := append(append(append([]string(nil), s.asUser...), name), args...)
	return exec.Command(all[0], all[1:]...)
}

// URL returns the URL of database name on the server.
func (s *PostgresServer) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name)
}

// Start starts the server and waits until it accepts connections.
func (s *PostgresServer) Start() {
	s.t.Helper()
	out, err := s.cmd(filepath.Join(s.bindir, "pg_ctl"), "-D", filepath.Join(s.dir, "data"), "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", s.Port, s.dir), "start").CombinedOutput()
	if err != nil {
		s.t.Fatalf("testenv: pg_ctl start: %v\n%s", err, out)
	}
	if err := waitDial(fmt.Sprintf("127.0.0.1:%d", s.Port), 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
}

// Stop stops the server at once (immediate mode, as a crash would: the next
// start replays the WAL). Stopping a stopped server does nothing.
func (s *PostgresServer) Stop() {
	s.cmd(filepath.Join(s.bindir, "pg_ctl"), "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop").Run()
}
