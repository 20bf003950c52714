package inbox_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

func mo(from, to, body string) inbox.Inbound {
	return inbox.Inbound{Carrier: "carrier-a", From: from, To: to, Body: body, Encoding: "gsm7"}
}

func TestInboundRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, ded := e.ready("a", inbox.Dedicated)
	b := e.workspace("b", true)
	c := e.workspace("c", true)
	shared := e.shared("carrier-a")
	e.connect(a, shared)
	e.connect(b, shared)
	e.connect(c, shared)

	// Dedicated: the owner, even with no thread yet and the number disabled.
	ok(t, e.s.DisableNumber(e.ctx, a, ded.ID))
	r := e.inbound(mo(contact(1), ded.E164, "hi"))[0]
	if r.Workspace != a || r.Message == 0 || r.Thread == 0 || r.Unrouted != 0 {
		t.Fatalf("dedicated: %+v", r)
	}
	m := e.message(a, r.Message)
	if m.Direction != inbox.DirectionIn || m.Status != inbox.StatusReceived || m.From != contact(1) || m.To != ded.E164 ||
		m.Body != "hi" || m.ReceivedAt.IsZero() {
		t.Fatalf("stored %+v", m)
	}
	th, err := e.s.GetThread(e.ctx, a, r.Thread)
	ok(t, err)
	if th.UnreadCount != 1 || th.Contact != contact(1) {
		t.Fatalf("thread %+v", th)
	}
	ok(t, e.s.MarkThreadRead(e.ctx, a, r.Thread))

	// Shared: nobody wrote → unrouted.
	r = e.inbound(mo(contact(2), shared.E164, "who?"))[0]
	if r.Unrouted == 0 || r.Message != 0 || r.Workspace != 0 {
		t.Fatalf("shared, no writer: %+v", r)
	}
	// Shared: the most recent writer from that number to that contact.
	e.send(msg(b, contact(2), "from b"))
	e.send(msg(c, contact(2), "from c"))
	if r = e.inbound(mo(contact(2), shared.E164, "reply"))[0]; r.Workspace != c {
		t.Fatalf("routed to %d, want c=%d", r.Workspace, c)
	}
	e.send(msg(b, contact(2), "b again"))
	if r = e.inbound(mo(contact(2), shared.E164, "reply 2"))[0]; r.Workspace != b {
		t.Fatalf("routed to %d, want b=%d", r.Workspace, b)
	}
	// Writing to that contact from another number does not count.
	ok(t, e.s.EnableNumber(e.ctx, a, ded.ID))
	fromDed := msg(a, contact(2), "a from its dedicated number")
	fromDed.From = ded.E164
	e.send(fromDed)
	if r = e.inbound(mo(contact(2), shared.E164, "reply 3"))[0]; r.Workspace != b {
		t.Fatalf("routed to %d, want b=%d", r.Workspace, b)
	}
	// Unknown and retired numbers → unrouted.
	ok(t, e.s.RetireNumber(e.ctx, ded.ID))
	res := e.inbound(mo(contact(1), ded.E164, "after retire"), mo(contact(1), "+12125559999", "unknown"), mo("ACME", "12345", "short code"))
	for i, r := range res {
		if r.Unrouted == 0 || r.Message != 0 {
			t.Fatalf("unrouted %d: %+v", i, r)
		}
	}
	list, next, err := e.s.ListUnrouted(e.ctx, inbox.Page{Limit: 10})
	ok(t, err)
	if len(list) != 4 || next != "" {
		t.Fatalf("unrouted list %d next %q", len(list), next)
	}
	reasons := map[string]int{}
	for _, u := range list {
		reasons[u.Reason]++
	}
	if reasons["no_writer"] != 1 || reasons["unknown_number"] != 3 {
		t.Fatalf("reasons %v", reasons)
	}
}

func TestInboundConcurrentFirstMessagesMakeOneThread(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	const writers = 12
	var wg sync.WaitGroup
	threads := make([]inbox.ThreadID, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := e.s.AppendInbound(e.ctx, []inbox.Inbound{mo(contact(5), n.E164, fmt.Sprint("msg ", i))})
			if err != nil {
				t.Error(err)
				return
			}
			threads[i] = res[0].Thread
		}()
	}
	close(start)
	wg.Wait()
	for _, th := range threads {
		if th != threads[0] || th == 0 {
			t.Fatalf("threads %v", threads)
		}
	}
	if got := e.count(`SELECT count(*) FROM threads`); got != 1 {
		t.Fatalf("%d threads", got)
	}
	th, err := e.s.GetThread(e.ctx, ws, threads[0])
	ok(t, err)
	if th.UnreadCount != writers {
		t.Fatalf("unread %d", th.UnreadCount)
	}
	// The same in one batch.
	res := e.inbound(mo(contact(6), n.E164, "1"), mo(contact(6), n.E164, "2"))
	if res[0].Thread != res[1].Thread || res[0].Message >= res[1].Message {
		t.Fatalf("batch %+v", res)
	}
}

func TestInboundOptOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	other, on := e.ready("other", inbox.Dedicated)
	send := func(w inbox.WorkspaceID) error {
		t.Helper()
		res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(w, contact(1), "promo")})
		ok(t, err)
		return res[0].Err
	}
	ok(t, send(ws))
	r := e.inbound(mo(contact(1), n.E164, " Stop "))[0]
	if r.Keyword != inbox.KeywordOptOut || r.Message == 0 {
		t.Fatalf("stop: %+v", r)
	}
	wantCode(t, send(ws), inbox.CodeRecipientOptedOut)
	ok(t, send(other)) // opt-out is per workspace
	// The STOP is in the thread.
	msgs, _, err := e.s.ListMessages(e.ctx, ws, r.Thread, inbox.Page{})
	ok(t, err)
	if len(msgs) != 2 || msgs[1].Body != " Stop " {
		t.Fatalf("thread %+v", msgs)
	}
	// Not a whole-message keyword: nothing changes.
	e.inbound(mo(contact(1), n.E164, "start the engines"))
	wantCode(t, send(ws), inbox.CodeRecipientOptedOut)
	e.inbound(mo(contact(1), n.E164, "unstop"))
	ok(t, send(ws))
	// In one batch, the last keyword wins.
	e.inbound(mo(contact(1), n.E164, "STOP"), mo(contact(1), n.E164, "yes"), mo(contact(1), n.E164, "quit"))
	wantCode(t, send(ws), inbox.CodeRecipientOptedOut)
	e.inbound(mo(contact(1), n.E164, "END"), mo(contact(1), n.E164, "START"))
	ok(t, send(ws))
	_ = on
	// An unrouted STOP changes nobody.
	if r := e.inbound(mo(contact(1), "+12125559998", "STOP"))[0]; r.Unrouted == 0 || r.Keyword != inbox.KeywordNone {
		t.Fatalf("unrouted stop: %+v", r)
	}
	ok(t, send(ws))
}

func TestInboundPartsReassembly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	key := inbox.PartSetKey{Carrier: "carrier-a", Source: contact(1), Destination: n.E164, Reference: 42, Total: 3}
	part := func(seq int, s string) inbox.InboundPart {
		return inbox.InboundPart{PartSetKey: key, Seq: seq, Payload: []byte(s), Coding: 8}
	}
	store := func(ps ...inbox.InboundPart) []*inbox.PartSet {
		t.Helper()
		out, err := e.s.StoreInboundParts(e.ctx, ps)
		ok(t, err)
		return out
	}
	if out := store(part(3, "c")); out[0] != nil {
		t.Fatal("complete after one part")
	}
	if out := store(part(1, "a"), part(1, "a")); out[0] != nil || out[1] != nil {
		t.Fatal("complete after two parts")
	}
	out := store(part(2, "b"))
	set := out[0]
	if set == nil || !set.Complete || set.TimedOut || len(set.Parts) != 3 ||
		string(set.Parts[0].Payload)+string(set.Parts[1].Payload)+string(set.Parts[2].Payload) != "abc" || set.Parts[1].Coding != 8 {
		t.Fatalf("set %+v", set)
	}
	// Redelivered part of a complete set that was not yet stored: returned again.
	if again := store(part(2, "b")); again[0] == nil {
		t.Fatal("redelivery of the last part did not return the set")
	}
	in := mo(contact(1), n.E164, "abc")
	in.Segments, in.Parts = 3, &set.Key
	r := e.inbound(in, in)
	if r[0].Message == 0 || r[0].Duplicate || !r[1].Duplicate || r[1].Message != 0 {
		t.Fatalf("append: %+v", r)
	}
	if r := e.inbound(in)[0]; !r.Duplicate || r.Message != 0 {
		t.Fatalf("second append of one set: %+v", r)
	}
	if got := e.count(`SELECT count(*) FROM inbound_parts`) + e.count(`SELECT count(*) FROM inbound_part_sets`); got != 0 {
		t.Fatalf("%d part rows left", got)
	}
	if m := e.message(ws, r[0].Message); m.Segments != 3 {
		t.Fatalf("segments %d", m.Segments)
	}
	_, err := e.s.StoreInboundParts(e.ctx, []inbox.InboundPart{{PartSetKey: key, Seq: 4, Payload: []byte("x")}})
	wantCode(t, err, inbox.CodeInvalidArgument)
}

func TestInboundPartsAcrossProcesses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	const sets, total = 40, 4
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		complete = map[inbox.PartSetKey]int{}
		stored   = map[inbox.PartSetKey]int{}
	)
	// Every part stored alone, from its own goroutine ("bind"), all at once;
	// whoever sees a complete set appends it, as the router would.
	start := make(chan struct{})
	for s := range sets {
		for seq := 1; seq <= total; seq++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				key := inbox.PartSetKey{Carrier: "carrier-a", Source: contact(s), Destination: n.E164, Reference: s, Total: total}
				out, err := e.s.StoreInboundParts(e.ctx, []inbox.InboundPart{{PartSetKey: key, Seq: seq, Payload: []byte{byte('0' + seq)}}})
				if err != nil {
					t.Error(err)
					return
				}
				if out[0] == nil {
					return
				}
				mu.Lock()
				complete[key]++
				mu.Unlock()
				body := ""
				for _, p := range out[0].Parts {
					body += string(p.Payload)
				}
				in := mo(contact(s), n.E164, body)
				in.Parts = &out[0].Key
				res, err := e.s.AppendInbound(e.ctx, []inbox.Inbound{in})
				if err != nil {
					t.Error(err)
					return
				}
				if res[0].Message != 0 {
					mu.Lock()
					stored[key]++
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if len(complete) != sets {
		t.Fatalf("%d of %d sets seen complete", len(complete), sets)
	}
	for k, c := range stored {
		if c != 1 {
			t.Fatalf("set %+v stored %d times", k, c)
		}
	}
	if len(stored) != sets {
		t.Fatalf("%d sets stored", len(stored))
	}
	if got := e.count(`SELECT count(*) FROM messages WHERE workspace_id = $1 AND body = '1234'`, ws); got != sets {
		t.Fatalf("%d whole messages", got)
	}
}

func TestInboundPartsSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, n := e.ready("w", inbox.Dedicated)
	key := inbox.PartSetKey{Carrier: "carrier-a", Source: contact(1), Destination: n.E164, Reference: 7, Total: 3}
	_, err := e.s.StoreInboundParts(e.ctx, []inbox.InboundPart{{PartSetKey: key, Seq: 1, Payload: []byte("a")}, {PartSetKey: key, Seq: 3, Payload: []byte("c")}})
	ok(t, err)
	if sets, err := e.s.SweepInboundParts(e.ctx, time.Hour, 10); err != nil || len(sets) != 0 {
		t.Fatalf("young set swept: %v %v", sets, err)
	}
	sets, err := e.s.SweepInboundParts(e.ctx, 0, 10)
	ok(t, err)
	if len(sets) != 1 || !sets[0].TimedOut || sets[0].Complete || !sets[0].Parts[1].Missing || sets[0].Parts[1].Payload != nil ||
		string(sets[0].Parts[2].Payload) != "c" {
		t.Fatalf("swept %+v", sets)
	}
	// Kept and flagged until stored: a later sweep returns it again.
	if again, _ := e.s.SweepInboundParts(e.ctx, 0, 10); len(again) != 1 {
		t.Fatal("flagged set not returned again")
	}
	in := mo(contact(1), n.E164, "a…c")
	in.Parts = &sets[0].Key
	if r := e.inbound(in)[0]; r.Message == 0 {
		t.Fatalf("partial append %+v", r)
	}
	if again, _ := e.s.SweepInboundParts(e.ctx, 0, 10); len(again) != 0 {
		t.Fatal("stored set swept again")
	}
}
