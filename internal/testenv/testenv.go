// Package testenv gives tests isolated pieces of the real PostgreSQL and Redis
// servers the project runs against (no mocks): a fresh database per call, a
// unique Redis key prefix per call, and private server processes on ports of
// their own for tests that stop and start a server.
//
// Where the servers are: DATABASE_URL and REDIS_URL when set, else
// postgres://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379/0 (what
// scripts/services.sh brings up). When a server does not answer, the helpers
// fail the test with a message naming `scripts/services.sh up`; they never skip.
//
// The engine's end-to-end tests (package engine in-process, cmd/switchboard
// with processes of the binary) share the rest: a carrier simulator of their
// own (StartSim, ReadSimLog), a seeded workspace and a message's status in the
// inbox, calls to the HTTP API, Eventually, and the rows of the `make faults`
// table.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// DefaultDatabaseURL and DefaultRedisURL are used when the environment names none.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// DatabaseURL returns DATABASE_URL, or DefaultDatabaseURL.
func DatabaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// RedisURL returns REDIS_URL, or DefaultRedisURL.
func RedisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// UniqueName returns prefix followed by 12 random hex digits: a name no other
// test, package or run will pick.
func UniqueName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return prefix + hex.EncodeToString(b[:])
}

// NewDatabase creates an empty database on the server of DatabaseURL and
// returns its URL; the database is dropped when the test ends. Each call gets
// its own database, so packages and tests can run in parallel.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := DatabaseURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s does not answer (run `scripts/services.sh up`): %v", redact(admin), err)
	}
	defer conn.Close(ctx)
	name := UniqueName("sbtest_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testenv: DATABASE_URL %q: %v", redact(admin), err)
	}
	u.Path = "/" + name
	return u.String()
}

// Redis returns a client for REDIS_URL and a key prefix unique to this call
// (ending in ':'). Keys under the prefix are deleted and the client closed
// when the test ends. Tests must put every key they write under the prefix.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testenv: REDIS_URL %q: %v", RedisURL(), err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("testenv: Redis at %s does not answer (run `scripts/services.sh up`): %v", opt.Addr, err)
	}
	prefix := UniqueName("sbtest:") + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		DeleteKeys(ctx, c, prefix)
		c.Close()
	})
	return c, prefix
}

// DeleteKeys deletes every key that starts with prefix (SCAN, not KEYS).
func DeleteKeys(ctx context.Context, c redis.UniversalClient, prefix string) {
	iter := c.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`, `\`, `\\`)
	return r.Replace(s)
}

// redact hides a password in a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Getenv returns an environment variable (for test knobs such as scales).
func Getenv(k string) string { return os.Getenv(k) }
