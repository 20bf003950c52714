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

// TestClaimReadsOnlyWhatItTakes: a claim reads the due heads of the numbers
// it walks only until it has what it takes (and one more, for where the
// next claim starts), not perNumber of every walked number. Here 20
// numbers have 30 heads each; a claim of 5 with perNumber 30 used to read
// all 600 entries of messages_ready to pick 5 (its scan was materialized
// whole before the pick).
func TestClaimReadsOnlyWhatItTakes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const numbers, heads, take = 20, 30, 5
	for i := range numbers {
		ws, _ := e.ready(fmt.Sprint("w", i), inbox.Dedicated)
		var reqs []inbox.OutboundRequest
		for c := range heads {
			reqs = append(reqs, msg(ws, contact(c), "campaign"))
		}
		e.send(reqs...)
	}
	conn, err := e.pool.Acquire(e.ctx)
	ok(t, err)
	defer conn.Release()
	for _, q := range inbox.ClaimPlan {
		_, err := conn.Exec(e.ctx, q)
		ok(t, err)
	}
	defer conn.Exec(e.ctx, "ROLLBACK")
	// The statement's parameters, as ClaimLimited passes them.
	args := []string{"'explain'", strconv.Itoa(take), strconv.FormatInt(time.Minute.Microseconds(), 10),
		strconv.FormatInt(time.Hour.Microseconds(), 10), "'{}'::text[]", strconv.Itoa(heads),
		strconv.Itoa(inbox.ClaimWalk(take, heads)), "0"}
	sql := inbox.ClaimSQL
	for i := len(args); i >= 1; i-- {
		sql = strings.ReplaceAll(sql, "$"+strconv.Itoa(i), args[i-1])
	}
	lines := explainLines(t, conn, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+sql)
	scanned := regexp.MustCompile(`Index (?:Only )?Scan using messages_ready .*rows=(\d+) loops=(\d+)`)
	read := 0
	for _, l := range lines {
		if m := scanned.FindStringSubmatch(l); m != nil {
			r, _ := strconv.Atoi(m[1])
			n, _ := strconv.Atoi(m[2])
			read += r * n
		}
	}
	t.Logf("the claim of %d read %d entries of messages_ready", take, read)
	// The walk reads one entry per number it visits; the scan about
	// take+1 heads. Reading every walked number's heads would be 600.
	if read == 0 || read > 4*(take+1) {
		t.Fatalf("the claim of %d read %d entries of messages_ready (want 1..%d):\n%s",
			take, read, 4*(take+1), strings.Join(lines, "\n"))
	}
}
