package inbox_test

import (
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestQueueStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q, err := e.s.QueueStats(e.ctx)
	if err != nil || q.Pending != 0 || q.Oldest != 0 {
		t.Fatalf("empty queue: %+v %v", q, err)
	}
	ws, _ := e.ready("acme", inbox.Dedicated)
	for _, text := range []string{"one", "two"} {
		r := msg(ws, contact(1), text)
		r.Segments = 2
		e.send(r)
	}
	time.Sleep(10 * time.Millisecond)
	q, err = e.s.QueueStats(e.ctx)
	if err != nil || q.Pending != 2 || q.Segments != 4 || q.Oldest < 10*time.Millisecond {
		t.Fatalf("queue: %+v %v", q, err)
	}
}

// TestQueueByNumber: each number's count, segments and oldest age, oldest
// first, bounded by the limit; sent messages leave it.
func TestQueueByNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if qs, err := e.s.QueueByNumber(e.ctx, 10); err != nil || len(qs) != 0 {
		t.Fatalf("empty queue: %+v %v", qs, err)
	}
	wsA, a := e.ready("acme", inbox.Dedicated)
	wsB, b := e.ready("bravo", inbox.Shared)
	old := msg(wsA, contact(1), "old")
	old.Segments = 3
	e.send(old)
	time.Sleep(20 * time.Millisecond)
	e.send(msg(wsA, contact(2), "new"), msg(wsB, contact(3), "b"))
	qs, err := e.s.QueueByNumber(e.ctx, 10)
	if err != nil || len(qs) != 2 {
		t.Fatalf("two numbers: %+v %v", qs, err)
	}
	if q := qs[0]; q.Number != a.E164 || q.Carrier != "carrier-a" || q.RateClass != a.RateClass || q.Pending != 2 || q.Segments != 4 || q.Oldest < 20*time.Millisecond {
		t.Errorf("first (oldest) %+v, want %s with 2 messages, 4 segments, at least 20ms old", q, a.E164)
	}
	if q := qs[1]; q.Number != b.E164 || q.Pending != 1 || q.Segments != 1 || q.Oldest >= qs[0].Oldest {
		t.Errorf("second %+v, want %s with 1 message, younger than the first", q, b.E164)
	}
	if qs, err := e.s.QueueByNumber(e.ctx, 1); err != nil || len(qs) != 1 || qs[0].Number != a.E164 {
		t.Errorf("limit 1: %+v %v, want only %s", qs, err, a.E164)
	}
	// Submitted messages are no longer pending.
	for _, m := range e.claim("o", 10, time.Minute) {
		if m.From == b.E164 {
			e.record(inbox.SubmitResult{Message: m.ID, Segment: 0, Parts: 1, Outcome: inbox.SubmitOK, CarrierMessageID: "x1"})
		}
	}
	if qs, err := e.s.QueueByNumber(e.ctx, 10); err != nil || len(qs) != 1 || qs[0].Number != a.E164 {
		t.Errorf("after b's message was submitted: %+v %v, want only %s", qs, err, a.E164)
	}
}

// TestClaimQueuedAt: a claimed message says when it entered the queue: its
// acceptance, or, when it was scheduled, its release (the engine's latency
// metric counts from there, not from the hours it waited for its time).
func TestClaimQueuedAt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("acme", inbox.Dedicated)
	e.send(msg(ws, contact(1), "now"))
	later := msg(ws, contact(2), "later")
	later.SendAt = time.Now().Add(300 * time.Millisecond)
	e.send(later)
	time.Sleep(400 * time.Millisecond)
	if _, err := e.s.ReleaseScheduled(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]inbox.ClaimedMessage{}
	for _, m := range e.claim("o", 10, time.Minute) {
		got[m.Body] = m
	}
	if m := got["now"]; m.QueuedAt.IsZero() || m.QueuedAt.Sub(m.CreatedAt).Abs() > 50*time.Millisecond {
		t.Errorf("a message sent now: queued %v, created %v; want the same time", m.QueuedAt, m.CreatedAt)
	}
	if m := got["later"]; m.QueuedAt.Sub(m.CreatedAt) < 300*time.Millisecond {
		t.Errorf("a scheduled message: queued %v, created %v; want its release, 300 ms or more after", m.QueuedAt, m.CreatedAt)
	}
}
