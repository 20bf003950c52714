package inbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// sent is one message of a RecentSending test: from a number, by a
// workspace, accepted createdAgo and submitted submittedAgo (before the
// times are set), or still queued when submittedAgo is negative.
type sent struct {
	ws                       inbox.WorkspaceID
	from                     inbox.Number
	segments                 int
	createdAgo, submittedAgo time.Duration
}

// playSent queues the messages, submits those that are not to stay queued
// as the dispatcher would, then sets their times relative to now.
func (e *env) playSent(msgs []sent) {
	e.t.Helper()
	var reqs []inbox.OutboundRequest
	var queued []int
	for i, m := range msgs {
		r := msg(m.ws, contact(5000+i), "hi")
		r.From, r.Segments = m.from.E164, m.segments
		if m.submittedAgo < 0 {
			queued = append(queued, i)
			continue
		}
		reqs = append(reqs, r)
	}
	res := e.send(reqs...)
	claimed := e.claim("t", len(reqs), time.Minute)
	if len(claimed) != len(reqs) {
		e.t.Fatalf("claimed %d of %d", len(claimed), len(reqs))
	}
	var rs []inbox.SubmitResult
	for _, c := range claimed {
		for seg := range c.Segments {
			rs = append(rs, inbox.SubmitResult{Message: c.ID, Segment: seg, Outcome: inbox.SubmitOK, CarrierMessageID: fmt.Sprint(c.ID, "-", seg)})
		}
	}
	e.record(rs...)
	ids := make([]inbox.MessageID, len(msgs))
	j := 0
	for i, m := range msgs {
		if m.submittedAgo >= 0 {
			ids[i] = res[j].ID
			j++
		}
	}
	for _, i := range queued {
		r := msg(msgs[i].ws, contact(5000+i), "hi")
		r.From, r.Segments = msgs[i].from.E164, msgs[i].segments
		ids[i] = e.send(r)[0].ID
	}
	var id []int64
	var created, submitted []int64
	for i, m := range msgs {
		id = append(id, int64(ids[i]))
		created = append(created, m.createdAgo.Microseconds())
		if m.submittedAgo < 0 {
			submitted = append(submitted, -1)
		} else {
			submitted = append(submitted, m.submittedAgo.Microseconds())
		}
	}
	e.exec(`UPDATE messages m SET created_at = now() - t.c * interval '1 microsecond',
	            submitted_at = CASE WHEN t.s >= 0 THEN now() - t.s * interval '1 microsecond' END
	        FROM unnest($1::int8[], $2::int8[], $3::int8[]) AS t(id, c, s) WHERE m.id = t.id`, id, created, submitted)
}

// TestRecentSending: the backlog of a workspace on a number and the
// segments its number, and every number of the number's carrier account,
// submitted during it and during the window, whoever sent them; other
// carriers' and older submissions not counted.
func TestRecentSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workspace("w", true)
	x := e.workspace("x", true)
	y := e.workspace("y", true)
	z := e.workspace("z", true)
	n1 := e.shared("carrier-a") // w's and x's
	e.connect(w, n1)
	e.connect(x, n1)
	n2 := e.dedicated(y, "carrier-a")
	e.connect(y, n2)
	n3 := e.dedicated(w, "carrier-a")
	e.connect(w, n3)
	n4 := e.dedicated(z, "carrier-b")
	e.connect(z, n4)
	s := time.Second
	e.playSent([]sent{
		// w on n1: late ones make the backlog [-60 s (clipped), -50 s],
		// [-30 s, -25 s] and [-4 s, now] (queued): 19 s.
		{w, n1, 1, 90 * s, 50 * s},
		{w, n1, 1, 30 * s, 25 * s},
		{w, n1, 2, 20500 * time.Millisecond, 20 * s}, // waited 0.5 s: not late
		{w, n1, 1, 3 * time.Hour, 2 * time.Hour},     // before the window
		{w, n1, 3, 4 * s, -1},                        // queued
		// x on n1: in the backlog (-28 s, -2 s), in the window only (-10 s).
		{x, n1, 2, 28500 * time.Millisecond, 28 * s},
		{x, n1, 1, 10100 * time.Millisecond, 10 * s},
		{x, n1, 1, 2100 * time.Millisecond, 2 * s},
		// y on n2, same account: in the backlog, in the window, before it.
		{y, n2, 3, 27100 * time.Millisecond, 27 * s},
		{y, n2, 1, 15100 * time.Millisecond, 15 * s},
		{y, n2, 4, 2 * time.Hour, 2 * time.Hour},
		// w on n3, same account: in n1's backlog, not late itself.
		{w, n3, 1, 1100 * time.Millisecond, 1 * s},
		// z on n4, another account.
		{z, n4, 5, 26100 * time.Millisecond, 26 * s},
	})
	got, err := e.s.RecentSending(e.ctx, w, []inbox.NumberID{n1.ID, n3.ID, n4.ID, 987654}, time.Minute, 2*time.Second)
	ok(t, err)
	if len(got) != 4 {
		t.Fatalf("%d results", len(got))
	}
	// The window slides between setting the times and reading them: the
	// clipped stretch shrinks as much as the queued one grows.
	if b := got[0].Backlog; b < 18900*time.Millisecond || b > 19100*time.Millisecond {
		t.Fatalf("n1 backlog %v, want 19 s", b)
	}
	got[0].Backlog = 0
	want := []inbox.RecentSending{
		{Number: n1.ID, Carrier: "carrier-a", NumberSegments: 1 + 1 + 2 + 1, OwnSegments: 2, AccountSegments: 5 + 3 + 1, AccountNumbers: 3,
			WindowNumberSegments: 1 + 1 + 2 + 2 + 1 + 1, WindowOwnSegments: 4, WindowAccountSegments: 8 + 4 + 1, WindowAccountNumbers: 3},
		{Number: n3.ID, Carrier: "carrier-a", WindowNumberSegments: 1, WindowOwnSegments: 1, WindowAccountSegments: 13, WindowAccountNumbers: 3},
		{Number: n4.ID, Carrier: "carrier-b", WindowNumberSegments: 5, WindowAccountSegments: 5, WindowAccountNumbers: 1},
		{Number: 987654},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("number %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// x's backlog on n1 is its own (none of its messages waited 2 s): the
	// counts over the window are the same.
	got, err = e.s.RecentSending(e.ctx, x, []inbox.NumberID{n1.ID}, time.Minute, 2*time.Second)
	ok(t, err)
	if r := got[0]; r.Backlog != 0 || r.NumberSegments != 0 || r.WindowNumberSegments != 8 || r.WindowOwnSegments != 4 || r.WindowAccountSegments != 13 {
		t.Fatalf("x on n1: %+v", r)
	}
	// A retired number of the account still counts within the window.
	e.exec(`UPDATE numbers SET status = 'retired', retired_at = now() WHERE id = $1`, n2.ID)
	got, err = e.s.RecentSending(e.ctx, w, []inbox.NumberID{n1.ID}, time.Minute, 2*time.Second)
	ok(t, err)
	if r := got[0]; r.AccountSegments != 9 || r.WindowAccountSegments != 13 {
		t.Fatalf("after n2 retired: %+v", r)
	}
	if _, err := e.s.RecentSending(e.ctx, w, []inbox.NumberID{n1.ID}, 0, time.Second); err == nil {
		t.Fatal("a zero window was accepted")
	}
	if r, err := e.s.RecentSending(e.ctx, w, nil, time.Minute, time.Second); r != nil || err != nil {
		t.Fatalf("no numbers: %v %v", r, err)
	}
}
