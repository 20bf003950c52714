package inbox_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// TestBatchStatementsUseIndexes: the batch statements' generic plans, made
// on a new, empty database (the worst statistics a connection can plan
// with, and the plans are kept for the connection's life), reach the
// tables only through indexes, so a small batch costs the same when the
// tables have grown to millions of rows. Without the generic plan's
// enable_seqscan = off, receipts and submit results scan messages and
// segments whole (planFor). Batches past GenericPlanRows are planned per
// call instead.
func TestBatchStatementsUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 2)
	ok(t, inbox.Migrate(ctx, pool))
	conn, err := pool.Acquire(ctx)
	ok(t, err)
	defer conn.Release()

	if p := inbox.PlanFor(inbox.GenericPlanRows + 1); !strings.Contains(strings.Join(p, ";"), "force_custom_plan") {
		t.Errorf("a batch of %d is not planned per call: %q", inbox.GenericPlanRows+1, p)
	}
	plan := inbox.PlanFor(inbox.GenericPlanRows)
	if plan[0] != "BEGIN" || !strings.Contains(strings.Join(plan, ";"), "force_generic_plan") {
		t.Fatalf("a batch of %d does not run on the generic plan: %q", inbox.GenericPlanRows, plan)
	}
	names := make([]string, 0, len(inbox.BatchStatements))
	for name := range inbox.BatchStatements {
		names = append(names, name)
	}
	sort.Strings(names)
	param := regexp.MustCompile(`\$(\d+)`)
	seq := regexp.MustCompile(`Seq Scan on (?:\w+\.)?(\w+)`)
	for _, name := range names {
		sql := inbox.BatchStatements[name]
		n := 0
		for _, m := range param.FindAllStringSubmatch(sql, -1) {
			k, _ := strconv.Atoi(m[1])
			n = max(n, k)
		}
		nulls := strings.TrimSuffix(strings.Repeat("NULL,", n), ",")
		for _, q := range plan {
			_, err := conn.Exec(ctx, q)
			ok(t, err)
		}
		_, err := conn.Exec(ctx, "PREPARE batch AS "+sql)
		ok(t, err)
		text := explainLines(t, conn, fmt.Sprintf("EXPLAIN (VERBOSE) EXECUTE batch (%s)", nulls))
		for _, q := range []string{"ROLLBACK", "DEALLOCATE batch"} {
			_, err := conn.Exec(ctx, q)
			ok(t, err)
		}
		whole := strings.Join(text, "\n")
		if !strings.Contains(whole, "$1") {
			t.Errorf("%s: not a generic plan (no parameter in it):\n%s", name, whole)
		}
		for _, m := range seq.FindAllStringSubmatch(whole, -1) {
			t.Errorf("%s: scans %s whole on its generic plan:\n%s", name, m[1], whole)
		}
	}
}

// explainLines runs an EXPLAIN statement (text format) on conn and returns
// the plan's lines.
func explainLines(t testing.TB, conn *pgxpool.Conn, query string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	ok(t, err)
	var text []string
	for rows.Next() {
		var l string
		ok(t, rows.Scan(&l))
		text = append(text, l)
	}
	ok(t, rows.Err())
	return text
}
