package testenv_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

func TestNewDatabaseIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := testenv.NewDatabase(t), testenv.NewDatabase(t)
	if a == b {
		t.Fatalf("two calls gave the same database %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database b sees a's table")
	}
}

func TestRedisPrefixCleanedUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var c *redis.Client
	var prefix string
	t.Run("write", func(t *testing.T) {
		cl, p := testenv.Redis(t)
		prefix = p
		if err := cl.Set(ctx, p+"k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	c, _ = testenv.Redis(t)
	if n, err := c.Exists(ctx, prefix+"k").Result(); err != nil || n != 0 {
		t.Fatalf("key under %q survived its test: n=%d err=%v", prefix, n, err)
	}
}

func TestPrivateRedisStopStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testenv.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("ping answered after Stop")
	}
	s.Start()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
}
