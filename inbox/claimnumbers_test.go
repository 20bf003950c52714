package inbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// ClaimNumbers takes up to each number's Max, a thread's head only, from
// the numbers asked for and no other, whatever order they were queued in.
func TestClaimNumbersTakesEachNumbersShare(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wsA, a := e.ready("a", inbox.Dedicated)
	wsB, b := e.ready("b", inbox.Dedicated)
	wsC, c := e.ready("c", inbox.Dedicated)
	var reqs []inbox.OutboundRequest
	for i := range 30 { // a's backlog, queued first
		reqs = append(reqs, msg(wsA, contact(i), "campaign a"))
	}
	b1 := len(reqs)
	reqs = append(reqs, msg(wsB, contact(1), "b 1"), msg(wsB, contact(1), "b 2"), msg(wsB, contact(2), "b 3"))
	reqs = append(reqs, msg(wsC, contact(1), "c"))
	res := e.send(reqs...)

	got, err := e.s.ClaimNumbers(e.ctx, "d", time.Minute, []inbox.NumberClaim{{Number: a.E164, Max: 4}, {Number: b.E164, Max: 10}, {Number: "+15550000000", Max: 5}})
	ok(t, err)
	per := map[string][]inbox.MessageID{}
	for _, m := range got {
		per[m.From] = append(per[m.From], m.ID)
	}
	if len(per[a.E164]) != 4 || per[a.E164][0] != res[0].ID {
		t.Fatalf("a: claimed %v, want its 4 oldest from %d", per[a.E164], res[0].ID)
	}
	// b's second message waits behind its thread's head.
	if fmt.Sprint(per[b.E164]) != fmt.Sprint([]inbox.MessageID{res[b1].ID, res[b1+2].ID}) {
		t.Fatalf("b: claimed %v, want the heads %d and %d", per[b.E164], res[b1].ID, res[b1+2].ID)
	}
	if len(per[c.E164]) != 0 || len(per) != 2 {
		t.Fatalf("claimed from numbers not asked for: %v", per)
	}
	// Claimed messages are leased: asked again, a gives its next 4 and b
	// nothing (its heads are in flight).
	got, err = e.s.ClaimNumbers(e.ctx, "d2", time.Minute, []inbox.NumberClaim{{Number: a.E164, Max: 4}, {Number: b.E164, Max: 4}, {Number: a.E164, Max: 1}})
	ok(t, err)
	if len(got) != 4 || got[0].From != a.E164 || got[0].ID != res[4].ID {
		t.Fatalf("second claim: %d messages (%v)", len(got), ids(got))
	}
	// A disabled number gives nothing, and its messages leave the queue.
	ok(t, e.s.DisableNumber(e.ctx, wsC, c.ID))
	got, err = e.s.ClaimNumbers(e.ctx, "d", time.Minute, []inbox.NumberClaim{{Number: c.E164, Max: 4}})
	ok(t, err)
	if len(got) != 0 {
		t.Fatalf("claimed %v from a disabled number", ids(got))
	}
	if got, err := e.s.ClaimNumbers(e.ctx, "d", time.Minute, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty claim: %v %v", got, err)
	}
	_, err = e.s.ClaimNumbers(e.ctx, "d", time.Minute, []inbox.NumberClaim{{Number: a.E164, Max: -1}})
	wantCode(t, err, inbox.CodeInvalidArgument)
	_, err = e.s.ClaimNumbers(e.ctx, "", time.Minute, []inbox.NumberClaim{{Number: a.E164, Max: 1}})
	wantCode(t, err, inbox.CodeInvalidArgument)
}

// A number whose due messages are all behind heads in flight costs a
// bounded read, and a number behind it in the same claim still gets its
// messages.
func TestClaimNumbersBoundedBehindHeadsInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wsA, a := e.ready("a", inbox.Dedicated)
	wsB, b := e.ready("b", inbox.Dedicated)
	var reqs []inbox.OutboundRequest
	for i := range 50 { // one thread of 50: only its head is claimable
		reqs = append(reqs, msg(wsA, contact(1), fmt.Sprint("a ", i)))
	}
	reqs = append(reqs, msg(wsB, contact(1), "b"))
	e.send(reqs...)
	got, err := e.s.ClaimNumbers(e.ctx, "d", time.Minute, []inbox.NumberClaim{{Number: a.E164, Max: 1}})
	ok(t, err)
	if len(got) != 1 {
		t.Fatalf("claimed %d, want a's head", len(got))
	}
	got, err = e.s.ClaimNumbers(e.ctx, "d", time.Minute, []inbox.NumberClaim{{Number: a.E164, Max: 5}, {Number: b.E164, Max: 5}})
	ok(t, err)
	if len(got) != 1 || got[0].From != b.E164 {
		t.Fatalf("claimed %v, want b's one message", ids(got))
	}
	// The heads queued behind a thread's later messages fill the claim.
	reqs = reqs[:0]
	for i := range 5 {
		reqs = append(reqs, msg(wsB, contact(2), fmt.Sprint("b thread ", i)))
	}
	reqs = append(reqs, msg(wsB, contact(3), "b 3"), msg(wsB, contact(4), "b 4"))
	e.send(reqs...)
	got, err = e.s.ClaimNumbers(e.ctx, "d", time.Minute, []inbox.NumberClaim{{Number: b.E164, Max: 3}})
	ok(t, err)
	if len(got) != 3 {
		t.Fatalf("claimed %v, want 3 heads of b", ids(got))
	}
}

// DueNumbers lists the numbers with pending messages (not held), a page at
// a time in id order, with their earliest due time.
func TestDueNumbersPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type wn struct {
		ws inbox.WorkspaceID
		n  inbox.Number
	}
	var all []wn
	for i := range 5 {
		ws, n := e.ready(fmt.Sprint("w", i), inbox.Dedicated)
		all = append(all, wn{ws, n})
	}
	before := time.Now().Add(-time.Second)
	for _, x := range all[:4] {
		e.send(msg(x.ws, contact(1), "1"), msg(x.ws, contact(2), "2"))
	}
	// all[4] has nothing queued; all[3] is disabled (its queue is held);
	// all[2]'s messages are all claimed (due at their lease end).
	ok(t, e.s.DisableNumber(e.ctx, all[3].ws, all[3].n.ID))
	_, err := e.s.ClaimNumbers(e.ctx, "d", time.Hour, []inbox.NumberClaim{{Number: all[2].n.E164, Max: 10}})
	ok(t, err)

	var seen []inbox.DueNumber
	var after int64
	for pages := 0; ; pages++ {
		p, err := e.s.DueNumbers(e.ctx, after, 1)
		ok(t, err)
		if len(p) == 0 {
			break
		}
		if pages > 10 {
			t.Fatal("DueNumbers does not end")
		}
		seen = append(seen, p...)
		after = p[len(p)-1].ID
	}
	// Other tests' numbers share the database: keep ours.
	mine := map[string]inbox.DueNumber{}
	for _, d := range seen {
		for _, x := range all {
			if d.Number == x.n.E164 {
				mine[d.Number] = d
			}
		}
	}
	for i, x := range all {
		d, listed := mine[x.n.E164]
		switch i {
		case 0, 1:
			if !listed || d.Carrier != "carrier-a" || d.RateClass == "" || d.DueAt.Before(before) || d.DueAt.After(time.Now()) {
				t.Fatalf("number %d: listed %v as %+v", i, listed, d)
			}
		case 2:
			if !listed || d.DueAt.Before(time.Now().Add(50*time.Minute)) {
				t.Fatalf("claimed number: listed %v as %+v, want due at its lease end", listed, d)
			}
		default:
			if listed {
				t.Fatalf("number %d (nothing claimable) listed: %+v", i, d)
			}
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].ID <= seen[i-1].ID {
			t.Fatalf("not in id order: %v", seen)
		}
	}
	_, err = e.s.DueNumbers(e.ctx, 0, 0)
	wantCode(t, err, inbox.CodeInvalidArgument)
}
