package inbox_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// schemaOf describes tables, columns, constraints and indexes, for comparing
// a migrated-up database with a fresh one.
func schemaOf(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL
		SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
		UNION ALL
		SELECT 'con ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE connamespace = 'public'::regnamespace
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		b.WriteString(s + "\n")
	}
	ok(t, rows.Err())
	return b.String()
}

func TestMigrateFromEveryVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if inbox.LatestVersion() < 2 {
		t.Fatalf("only %d migrations", inbox.LatestVersion())
	}
	fresh := testenv.OpenPool(t, testenv.NewDatabase(t), 2)
	ok(t, inbox.Migrate(ctx, fresh))
	want := schemaOf(t, fresh)
	if !strings.Contains(want, "messages_ready") {
		t.Fatal("schema lacks the claim index")
	}
	for v := 0; v <= inbox.LatestVersion(); v++ {
		pool := testenv.OpenPool(t, testenv.NewDatabase(t), 2)
		ok(t, inbox.MigrateTo(ctx, pool, v))
		got, err := inbox.SchemaVersion(ctx, pool)
		ok(t, err)
		if got != v {
			t.Fatalf("after MigrateTo(%d): version %d", v, got)
		}
		if v >= 1 {
			// Data written at an earlier version survives the later migrations.
			_, err := pool.Exec(ctx, `INSERT INTO workspaces (name, sms_addon) VALUES ('old', true)`)
			ok(t, err)
		}
		ok(t, inbox.Migrate(ctx, pool))
		ok(t, inbox.Migrate(ctx, pool)) // a second run is a no-op
		got, err = inbox.SchemaVersion(ctx, pool)
		ok(t, err)
		if got != inbox.LatestVersion() {
			t.Fatalf("from %d: version %d, want %d", v, got, inbox.LatestVersion())
		}
		if s := schemaOf(t, pool); s != want {
			t.Fatalf("from version %d the schema differs from a fresh one:\n%s\nwant\n%s", v, s, want)
		}
		var n int
		ok(t, pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n))
		if n != inbox.LatestVersion() {
			t.Fatalf("from %d: %d rows in schema_migrations", v, n)
		}
	}
	if err := inbox.MigrateTo(ctx, fresh, inbox.LatestVersion()+1); inbox.ErrorCode(err) != inbox.CodeInvalidArgument {
		t.Fatalf("MigrateTo past the latest: %v", err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 8)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = inbox.Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		ok(t, err)
	}
	v, err := inbox.SchemaVersion(ctx, pool)
	ok(t, err)
	if v != inbox.LatestVersion() {
		t.Fatalf("version %d", v)
	}
}

// TestMigrateChangeFeed: messages written before the change feed existed
// (version 3) survive 0004 and stay out of the feed; what is written after
// is in it.
func TestMigrateChangeFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 4)
	ok(t, inbox.MigrateTo(ctx, pool, 3))
	var ws, num, old int64
	ok(t, pool.QueryRow(ctx, `INSERT INTO workspaces (name, sms_addon) VALUES ('old', true) RETURNING id`).Scan(&ws))
	ok(t, pool.QueryRow(ctx, `INSERT INTO numbers (e164, kind, rate_class, carrier, workspace_id)
		VALUES ('+14155550100', 'dedicated', 'dedicated', 'c', $1) RETURNING id`, ws).Scan(&num))
	_, err := pool.Exec(ctx, `INSERT INTO number_connections (workspace_id, number_id) VALUES ($1, $2)`, ws, num)
	ok(t, err)
	ok(t, pool.QueryRow(ctx, `
		WITH t AS (INSERT INTO threads (workspace_id, number_id, contact, last_message_at) VALUES ($1, $2, '+16465550100', now()) RETURNING id)
		INSERT INTO messages (workspace_id, thread_id, number_id, contact, direction, body, encoding, segments, status, received_at)
		SELECT $1, t.id, $2, '+16465550100', 'in', 'before the feed', 'gsm7', 1, 'received', now() FROM t
		RETURNING id`, ws, num).Scan(&old))

	ok(t, inbox.Migrate(ctx, pool))
	s := inbox.New(pool, inbox.Options{})
	m, err := s.GetMessage(ctx, inbox.WorkspaceID(ws), inbox.MessageID(old))
	ok(t, err)
	if m.Body != "before the feed" {
		t.Fatalf("old message %+v", m)
	}
	res, err := s.AppendInbound(ctx, []inbox.Inbound{{Carrier: "c", From: "+16465550100", To: "+14155550100", Body: "after", Encoding: "gsm7"}})
	ok(t, err)
	e := &env{t: t, ctx: ctx, s: s, pool: pool}
	cs, _ := e.changesN(inbox.WorkspaceID(ws), "", 1)
	if len(cs) != 1 || cs[0].Message != res[0].Message {
		t.Fatalf("feed after the upgrade: %s", describe(cs))
	}
}
