package inbox_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// TestClaimReadsOnlyWhatItTakes: a claim reads messages_ready only for what
// it takes. The candidates are read until the claim has what it takes
// (and one more, for where the next claim starts), not perNumber of every
// walked number: with 20 numbers of 30 heads each, a claim of 5 used to
// read all 600 heads first (its scan was materialized whole). And the walk
// probes each number once: with 40 numbers of one head each, a claim of 40
// used to probe each step's next number four to eight times (the probe, a
// scalar subquery, was copied into every expression that named it).
func TestClaimReadsOnlyWhatItTakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		numbers, heads, take int
		most                 int // entries of messages_ready read, at most
	}{
		{numbers: 20, heads: 30, take: 5, most: 4 * (5 + 1)},
		{numbers: 40, heads: 1, take: 40, most: 2*40 + 8},
	} {
		t.Run(fmt.Sprintf("%d numbers × %d heads, claim %d", tc.numbers, tc.heads, tc.take), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			for i := range tc.numbers {
				ws, _ := e.ready(fmt.Sprint("w", i), inbox.Dedicated)
				var reqs []inbox.OutboundRequest
				for c := range tc.heads {
					reqs = append(reqs, msg(ws, contact(c), "campaign"))
				}
				e.send(reqs...)
			}
			read, claimed, plan := explainClaim(t, e, tc.take, tc.heads)
			t.Logf("the claim of %d read %d entries of messages_ready", claimed, read)
			if claimed != tc.take {
				t.Fatalf("claimed %d, want %d:\n%s", claimed, tc.take, plan)
			}
			if read > tc.most {
				t.Fatalf("the claim of %d read %d entries of messages_ready (want at most %d):\n%s",
					tc.take, read, tc.most, plan)
			}
		})
	}
}

// explainClaim runs the claim statement under EXPLAIN ANALYZE, with the
// parameters ClaimLimited passes, in a transaction it rolls back, and
// returns the entries of messages_ready its index scans returned (rows ×
// loops), the rows it claimed and the plan.
func explainClaim(t *testing.T, e *env, take, perNumber int) (read, claimed int, plan string) {
	t.Helper()
	conn, err := e.pool.Acquire(e.ctx)
	ok(t, err)
	defer conn.Release()
	for _, q := range inbox.ClaimPlan {
		_, err := conn.Exec(e.ctx, q)
		ok(t, err)
	}
	defer conn.Exec(e.ctx, "ROLLBACK")
	args := []string{"'explain'", strconv.Itoa(take), strconv.FormatInt(time.Minute.Microseconds(), 10),
		strconv.FormatInt(time.Hour.Microseconds(), 10), "'{}'::text[]", strconv.Itoa(perNumber),
		strconv.Itoa(inbox.ClaimWalk(take, perNumber)), "0"}
	sql := inbox.ClaimSQL
	for i := len(args); i >= 1; i-- {
		sql = strings.ReplaceAll(sql, "$"+strconv.Itoa(i), args[i-1])
	}
	lines := explainLines(t, conn, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+sql)
	scanned := regexp.MustCompile(`Index (?:Only )?Scan using messages_ready .*rows=(\d+) loops=(\d+)`)
	updated := regexp.MustCompile(`Update on messages .*rows=(\d+) loops=1`)
	for i, l := range lines {
		if m := scanned.FindStringSubmatch(l); m != nil {
			r, _ := strconv.Atoi(m[1])
			n, _ := strconv.Atoi(m[2])
			read += r * n
		}
		// The claimed CTE's update (the one returning the claimed rows).
		if m := updated.FindStringSubmatch(l); m != nil && i > 0 && strings.Contains(lines[i-1], "CTE claimed") {
			claimed, _ = strconv.Atoi(m[1])
		}
	}
	return read, claimed, strings.Join(lines, "\n")
}

// TestClaimMovesPastHeldPicks: a claim whose every pick another claimer
// holds (here a transaction holding the first number's heads, as a
// concurrent claim from the same cursor does) claims the next number's
// heads instead of nothing.
func TestClaimMovesPastHeldPicks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var first inbox.Number
	for i := range 2 {
		ws, n := e.ready(fmt.Sprint("w", i), inbox.Dedicated)
		if i == 0 {
			first = n
		}
		var reqs []inbox.OutboundRequest
		for c := range 10 {
			reqs = append(reqs, msg(ws, contact(c), "campaign"))
		}
		e.send(reqs...)
	}
	tx, err := e.pool.Begin(e.ctx)
	ok(t, err)
	defer tx.Rollback(e.ctx)
	tag, err := tx.Exec(e.ctx, `SELECT 1 FROM messages WHERE number_id = $1 FOR NO KEY UPDATE`, int64(first.ID))
	ok(t, err)
	if tag.RowsAffected() != 10 {
		t.Fatalf("held %d of the first number's messages, want 10", tag.RowsAffected())
	}
	c, err := e.s.ClaimLimited(e.ctx, "second", 5, time.Minute, nil, 10)
	ok(t, err)
	if len(c) != 5 {
		t.Fatalf("claimed %d, want 5 of the second number's", len(c))
	}
	for _, m := range c {
		if m.From == first.E164 {
			t.Fatalf("claimed %d of the held number", m.ID)
		}
	}
}
