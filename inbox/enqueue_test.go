package inbox_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestEnqueueRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Shared)
	noAddon := e.workspace("no addon", false)
	noNumber := e.workspace("no number", true)
	disabled, dn := e.ready("disabled", inbox.Dedicated)
	ok(t, e.s.DisableNumber(e.ctx, disabled, dn.ID))
	e.exec(`INSERT INTO contacts (workspace_id, contact, opted_out) VALUES ($1, $2, true)`, ws, contact(99))

	long := msg(ws, contact(1), strings.Repeat("x", 1600))
	long.Segments = 11
	ten := msg(ws, contact(1), strings.Repeat("x", 1530))
	ten.Segments = 10
	noBody := msg(ws, contact(1), "")
	noEnc := msg(ws, contact(1), "x")
	noEnc.Encoding = ""
	zeroSegs := msg(ws, contact(1), "x")
	zeroSegs.Segments = 0
	fromOther := msg(ws, contact(1), "x")
	fromOther.From = dn.E164
	fromMine := msg(ws, contact(1), "x")
	fromMine.From = n.E164
	tooLongNoAddon := msg(noAddon, contact(1), "x")
	tooLongNoAddon.Segments = 11

	cases := []struct {
		name string
		req  inbox.OutboundRequest
		code inbox.Code
	}{
		{"ok", msg(ws, contact(1), "hello"), ""},
		{"formatted recipient", msg(ws, "+1 (646) 200-0002", "hello"), ""},
		{"ten segments", ten, ""},
		{"explicit from", fromMine, ""},
		{"no add-on", msg(noAddon, contact(1), "x"), inbox.CodeSMSAddonRequired},
		{"add-on before length", tooLongNoAddon, inbox.CodeSMSAddonRequired},
		{"no number", msg(noNumber, contact(1), "x"), inbox.CodeNoNumberConnected},
		{"from not connected", fromOther, inbox.CodeNoNumberConnected},
		{"disabled", msg(disabled, contact(1), "x"), inbox.CodeNumberDisabled},
		{"opted out", msg(ws, contact(99), "x"), inbox.CodeRecipientOptedOut},
		{"invalid recipient", msg(ws, "12345", "x"), inbox.CodeInvalidRecipient},
		{"not a number plan", msg(ws, "+15550100123", "x"), inbox.CodeInvalidRecipient},
		{"no plus", msg(ws, "16462000001", "x"), inbox.CodeInvalidRecipient},
		{"too long", long, inbox.CodeMessageTooLong},
		{"empty body", noBody, inbox.CodeInvalidArgument},
		{"no encoding", noEnc, inbox.CodeInvalidArgument},
		{"zero segments", zeroSegs, inbox.CodeInvalidArgument},
		{"unknown workspace", msg(777777, contact(1), "x"), inbox.CodeNotFound},
	}
	reqs := make([]inbox.OutboundRequest, len(cases))
	for i, c := range cases {
		reqs[i] = c.req
	}
	// All in one batch: refusals do not affect the other items.
	res, err := e.s.Enqueue(e.ctx, reqs)
	ok(t, err)
	accepted := 0
	for i, c := range cases {
		if c.code == "" {
			if res[i].Err != nil || res[i].ID == 0 || res[i].Thread == 0 || res[i].Duplicate {
				t.Errorf("%s: %+v", c.name, res[i])
			}
			accepted++
			continue
		}
		if got := inbox.ErrorCode(res[i].Err); got != c.code {
			t.Errorf("%s: code %q (%v), want %q", c.name, got, res[i].Err, c.code)
		}
		if res[i].ID != 0 {
			t.Errorf("%s: refused but has id %d", c.name, res[i].ID)
		}
	}
	if got := e.count(`SELECT count(*) FROM messages`); got != accepted {
		t.Fatalf("%d messages stored, want %d", got, accepted)
	}
	m := e.message(ws, res[1].ID)
	if m.To != contact(2) || m.From != n.E164 || m.Status != inbox.StatusQueued || m.Direction != inbox.DirectionOut ||
		m.Encoding != "gsm7" || m.Segments != 1 || m.QueuedAt.IsZero() {
		t.Fatalf("stored %+v", m)
	}
	if e.message(ws, res[2].ID).Segments != 10 {
		t.Fatal("segments not stored")
	}
	// Each case also alone, so the precedence does not depend on batching.
	for _, c := range cases {
		res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{c.req})
		ok(t, err)
		if got := inbox.ErrorCode(res[0].Err); got != c.code {
			t.Errorf("%s alone: code %q, want %q", c.name, got, c.code)
		}
	}
}

func TestEnqueueIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	other, _ := e.ready("other", inbox.Shared)
	r := msg(ws, contact(1), "once")
	r.IdempotencyKey = "key-1"
	first := e.send(r)[0]
	if first.Duplicate {
		t.Fatal("first is a duplicate")
	}
	again := e.send(r)[0]
	if !again.Duplicate || again.ID != first.ID || again.Thread != first.Thread {
		t.Fatalf("retry: %+v, first %+v", again, first)
	}
	// A duplicate is returned even when the request would now be refused.
	ok(t, e.s.SetSMSAddon(e.ctx, ws, false))
	res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{r})
	ok(t, err)
	if res[0].Err != nil || res[0].ID != first.ID {
		t.Fatalf("retry after add-on off: %+v", res[0])
	}
	ok(t, e.s.SetSMSAddon(e.ctx, ws, true))
	// Same key twice in one batch; same key in another workspace is another message.
	r2 := msg(ws, contact(2), "batch")
	r2.IdempotencyKey = "key-2"
	o := msg(other, contact(2), "other")
	o.IdempotencyKey = "key-2"
	res = e.send(r2, r2, o)
	if res[0].Duplicate || !res[1].Duplicate || res[0].ID != res[1].ID || res[2].ID == res[0].ID || res[2].Duplicate {
		t.Fatalf("batch: %+v", res)
	}
	// Concurrent calls with one key: one message.
	r3 := msg(ws, contact(3), "race")
	r3.IdempotencyKey = "key-3"
	var wg sync.WaitGroup
	ids := make([]inbox.MessageID, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{r3})
			if err != nil || res[0].Err != nil {
				t.Errorf("concurrent enqueue: %v %v", err, res[0].Err)
				return
			}
			ids[i] = res[0].ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == 0 {
			t.Fatalf("concurrent ids %v", ids)
		}
	}
	if got := e.count(`SELECT count(*) FROM messages WHERE idempotency_key = 'key-3'`); got != 1 {
		t.Fatalf("%d messages for key-3", got)
	}
}

func TestEnqueueThreadsAndOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Shared)
	res := e.send(msg(ws, contact(1), "a"), msg(ws, contact(2), "b"), msg(ws, contact(1), "c"))
	if res[0].Thread != res[2].Thread || res[0].Thread == res[1].Thread {
		t.Fatalf("threads %+v", res)
	}
	if !(res[0].ID < res[1].ID && res[1].ID < res[2].ID) {
		t.Fatalf("ids not in batch order: %+v", res)
	}
	th, err := e.s.GetThread(e.ctx, ws, res[0].Thread)
	ok(t, err)
	if th.Channel != inbox.ChannelSMS || th.Contact != contact(1) || th.Number != n.E164 || th.NumberID != n.ID ||
		th.LastOutboundAt.IsZero() || th.UnreadCount != 0 {
		t.Fatalf("thread %+v", th)
	}
	// The same contact written in another format is the same thread.
	again := e.send(msg(ws, "+1 646 200 0001", "d"))
	if again[0].Thread != res[0].Thread {
		t.Fatal("formatted recipient opened another thread")
	}
}

func TestEnqueueStickySender(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, nums := e.pool3()
	// Spread: new contacts land on several numbers.
	var reqs []inbox.OutboundRequest
	for i := range 60 {
		reqs = append(reqs, msg(ws, contact(i), "hi"))
	}
	res := e.send(reqs...)
	from := map[int]string{}
	used := map[string]int{}
	for i, r := range res {
		from[i] = e.message(ws, r.ID).From
		used[from[i]]++
	}
	if len(used) < 2 {
		t.Fatalf("60 new contacts all sent from %v", used)
	}
	// Sticky: a contact keeps its number.
	for i := range 60 {
		r := e.send(msg(ws, contact(i), "again"))[0]
		if got := e.message(ws, r.ID).From; got != from[i] {
			t.Fatalf("contact %d moved from %s to %s", i, from[i], got)
		}
	}
	// From overrides stickiness; a disabled sticky number falls back to another.
	var other inbox.Number
	for _, n := range nums {
		if n.E164 != from[0] {
			other = n
			break
		}
	}
	r := msg(ws, contact(0), "explicit")
	r.From = other.E164
	if got := e.message(ws, e.send(r)[0].ID).From; got != other.E164 {
		t.Fatalf("explicit From ignored: %s", got)
	}
	for _, n := range nums {
		if n.E164 == from[1] {
			ok(t, e.s.DisableNumber(e.ctx, ws, n.ID))
		}
	}
	if got := e.message(ws, e.send(msg(ws, contact(1), "fallback"))[0].ID).From; got == from[1] {
		t.Fatal("sent from a disabled number")
	}
	// Explicitly from the disabled number: refused.
	r = msg(ws, contact(1), "x")
	r.From = from[1]
	res2, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{r})
	ok(t, err)
	wantCode(t, res2[0].Err, inbox.CodeNumberDisabled)
}

func TestEnqueueBigBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Shared)
	var reqs []inbox.OutboundRequest
	for i := range 1000 {
		r := msg(ws, contact(i%300), fmt.Sprint("m", i))
		r.IdempotencyKey = fmt.Sprint("k", i)
		reqs = append(reqs, r)
	}
	e.send(reqs...)
	if got := e.count(`SELECT count(*) FROM messages`); got != 1000 {
		t.Fatalf("%d messages", got)
	}
	if got := e.count(`SELECT count(*) FROM threads`); got != 300 {
		t.Fatalf("%d threads", got)
	}
}

// New contacts go to the least loaded number, also in a batch whose other
// items are sticky (load is counted only for the items that need it).
func TestEnqueueLeastLoaded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, nums := e.pool3()
	busy := nums[0]
	var reqs []inbox.OutboundRequest
	for i := range 30 { // 30 pending on busy: load bucket 3
		r := msg(ws, contact(i), "backlog")
		r.From = busy.E164
		reqs = append(reqs, r)
	}
	e.send(reqs...)
	// One batch: a known contact of busy (sticky), and 40 new ones.
	reqs = []inbox.OutboundRequest{msg(ws, contact(0), "sticky")}
	for i := range 40 {
		reqs = append(reqs, msg(ws, contact(1000+i), "new"))
	}
	res := e.send(reqs...)
	if got := e.message(ws, res[0].ID).From; got != busy.E164 {
		t.Fatalf("the known contact moved from %s to %s", busy.E164, got)
	}
	used := map[string]int{}
	for _, r := range res[1:] {
		used[e.message(ws, r.ID).From]++
	}
	if used[busy.E164] != 0 || used[nums[1].E164] == 0 || used[nums[2].E164] == 0 {
		t.Fatalf("new contacts went to %v; %s is the busy one", used, busy.E164)
	}
}

// pool3 is a workspace with the add-on and three connected dedicated
// numbers (so sticky and least-loaded sender choice apply).
func (e *env) pool3() (inbox.WorkspaceID, []inbox.Number) {
	e.t.Helper()
	ws := e.workspace("tenant", true)
	var nums []inbox.Number
	for range 3 {
		n := e.dedicated(ws, "c")
		e.connect(ws, n)
		nums = append(nums, n)
	}
	return ws, nums
}
