package inbox_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// wakes stands for events.Hub: Changed returns a channel that fire closes.
type wakes struct {
	mu sync.Mutex
	ch chan struct{}
}

func newWakes() *wakes { return &wakes{ch: make(chan struct{})} }

func (w *wakes) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *wakes) fire() {
	w.mu.Lock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

// feedRead reads f after cursor until it holds n changes.
func (e *env) feedRead(f *inbox.Feed, ws inbox.WorkspaceID, after string, limit, n int) ([]inbox.Change, string) {
	e.t.Helper()
	var all []inbox.Change
	testenv.Wait(e.t, 15*time.Second, fmt.Sprintf("%d changes of the feed", n), func() bool {
		for len(all) < n { // pages that are not empty are read at once
			cs, err := f.Changes(e.ctx, ws, after, limit)
			ok(e.t, err)
			if len(cs) == 0 {
				return false
			}
			all, after = append(all, cs...), cs[len(cs)-1].Cursor
		}
		return true
	}, func() string {
		return fmt.Sprintf("feed: %d of %d changes after 15 s: %s; %s", len(all), n, describe(all), e.horizonHolders())
	})
	return all, after
}

// TestFeedSharesReads: readers at the end of the feed are served by one
// read of the database until a wake-up says something was committed, the
// changes they get are Store.Changes', and a reader behind the window reads
// the database itself.
func TestFeedSharesReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	w := newWakes()
	f := e.s.NewFeed(w.Changed, inbox.FeedOptions{})
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)
	for i := range 3 {
		e.send(msg(ws, contact(i), fmt.Sprintf("m%d", i)))
	}
	w.fire()
	want, _ := e.changesN(ws, start, 3)

	got, cur := e.feedRead(f, ws, start, 100, 3)
	if describe(got) != describe(want) {
		t.Fatalf("feed %s, store %s", describe(got), describe(want))
	}
	reads := f.Stats().Shared
	// Three readers more at the same point, with other page sizes: no
	// wake-up since the last read, so nothing new to read.
	for _, limit := range []int{1, 2, 500} {
		again, err := f.Changes(e.ctx, ws, start, limit)
		ok(t, err)
		if describe(again) != describe(want[:min(limit, 3)]) {
			t.Fatalf("limit %d: %s", limit, describe(again))
		}
		if again[0].Memo == nil || again[0].Memo != got[0].Memo {
			t.Fatalf("limit %d: the change's Memo is not shared", limit)
		}
		tail, err := f.Changes(e.ctx, ws, cur, limit)
		ok(t, err)
		if len(tail) != 0 {
			t.Fatalf("after the end: %s", describe(tail))
		}
	}
	if s := f.Stats(); s.Shared != reads || s.Direct != 0 {
		t.Fatalf("stats %+v: readers at the end read the database (%d reads before)", s, reads)
	}

	// A wake-up: the next reader at the end reads, once for all.
	e.send(msg(ws, contact(9), "m9"))
	w.fire()
	next, cur2 := e.feedRead(f, ws, cur, 100, 1)
	if len(next) != 1 || next[0].Body != "m9" {
		t.Fatalf("after the wake-up: %s", describe(next))
	}
	reads = f.Stats().Shared
	again, err := f.Changes(e.ctx, ws, cur, 100)
	ok(t, err)
	if describe(again) != describe(next) || f.Stats().Shared != reads {
		t.Fatalf("second reader: %s, stats %+v (%d reads before)", describe(again), f.Stats(), reads)
	}
	tail, err := f.Changes(e.ctx, ws, cur2, 100)
	ok(t, err)
	if len(tail) != 0 {
		t.Fatalf("after the end: %s", describe(tail))
	}

	// A message that changed again since a reader's cursor shows once, at
	// its latest change, as Store.Changes shows it: the window holds both
	// changes, and gives the earlier one only to a reader that asked
	// before the later one was read.
	claimed := e.claim("d", 1, time.Minute)
	w.fire()
	sending, _ := e.feedRead(f, ws, cur2, 100, 1)
	if len(claimed) != 1 || describe(sending) != fmt.Sprintf("%d out sending \"m0\"; ", claimed[0].ID) {
		t.Fatalf("after the claim: %s", describe(sending))
	}
	fromStart, err := f.Changes(e.ctx, ws, start, 100)
	ok(t, err)
	storeNow, err := e.s.Changes(e.ctx, ws, start, 100)
	ok(t, err)
	if describe(fromStart) != describe(storeNow) || len(fromStart) != 4 {
		t.Fatalf("from the window's start: %s, the store has %s", describe(fromStart), describe(storeNow))
	}

	// From the start of the feed (before the window): a read of its own,
	// the same as the store's.
	all, err := f.Changes(e.ctx, ws, "", 100)
	ok(t, err)
	direct, err := e.s.Changes(e.ctx, ws, "", 100)
	ok(t, err)
	if describe(all) != describe(direct) || f.Stats().Direct != 1 || all[0].Memo != nil {
		t.Fatalf("from the start: %s, store %s, stats %+v", describe(all), describe(direct), f.Stats())
	}

	_, err = f.Changes(e.ctx, ws, "garbage!", 0)
	wantCode(t, err, inbox.CodeInvalidCursor)
}

// TestFeedConcurrentReaders: readers with different page sizes, some
// starting late, read one workspace's feed through a Feed with a small
// window while messages are sent, submitted and delivered. Each sees every
// message at its final status, in feed order, and no message's status
// ever goes backwards.
func TestFeedConcurrentReaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, _ := e.ready("w", inbox.Dedicated)
	w := newWakes()
	f := e.s.NewFeed(w.Changed, inbox.FeedOptions{Read: 7, Window: 20})
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)
	const rounds, per = 8, 6
	total := rounds * per

	rank := map[inbox.Status]int{inbox.StatusQueued: 1, inbox.StatusSending: 2, inbox.StatusSubmitted: 3, inbox.StatusDelivered: 4}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	var done atomic.Int64
	errs := make(chan error, 16)
	reader := func(name string, limit int, delay time.Duration) {
		time.Sleep(delay)
		after := start
		seen := map[inbox.MessageID]int{}
		delivered := 0
		for delivered < total {
			wake := w.Changed()
			cs, err := f.Changes(ctx, ws, after, limit)
			if err != nil {
				errs <- fmt.Errorf("%s: %v", name, err)
				return
			}
			for _, c := range cs {
				if inbox.CompareCursors(c.Cursor, after) <= 0 {
					errs <- fmt.Errorf("%s: change %s not after %s", name, c.Cursor, after)
					return
				}
				after = c.Cursor
				r := rank[c.Status]
				if r < seen[c.Message] {
					errs <- fmt.Errorf("%s: message %d went back to %s", name, c.Message, c.Status)
					return
				}
				if r == 4 && seen[c.Message] != 4 {
					delivered++
				}
				seen[c.Message] = r
			}
			if len(cs) < limit {
				select {
				case <-wake:
				case <-ctx.Done():
					errs <- fmt.Errorf("%s: %d of %d messages delivered", name, delivered, total)
					return
				}
			}
		}
		done.Add(1)
	}
	limits := []int{1, 3, 7, 50, 500, 2}
	var wg sync.WaitGroup
	for i, limit := range limits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reader(fmt.Sprintf("reader %d (limit %d)", i, limit), limit, time.Duration(i%3)*150*time.Millisecond)
		}()
	}
	// The hub's poll.
	stopPoll := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.fire()
			case <-stopPoll:
				return
			}
		}
	}()
	defer close(stopPoll)

	for r := range rounds {
		var reqs []inbox.OutboundRequest
		for i := range per {
			reqs = append(reqs, msg(ws, contact(r*per+i), "hello"))
		}
		e.send(reqs...)
		w.fire()
		claimed := e.claim("d", per, time.Minute)
		w.fire()
		var subs []inbox.SubmitResult
		var rcpts []inbox.Receipt
		for _, c := range claimed {
			id := fmt.Sprintf("c%d", c.ID)
			subs = append(subs, okSeg(c.ID, 0, id))
			rcpts = append(rcpts, rcpt(id, inbox.ReceiptDelivered))
		}
		e.record(subs...)
		w.fire()
		e.receipts(rcpts...)
		w.fire()
		if len(claimed) != per {
			t.Fatalf("round %d: claimed %d of %d", r, len(claimed), per)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if done.Load() != int64(len(limits)) {
		t.Fatalf("%d of %d readers done", done.Load(), len(limits))
	}
	s := f.Stats()
	t.Logf("feed stats %+v", s)
	if s.Shared+s.Direct >= s.Calls {
		t.Fatalf("stats %+v: every call read the database", s)
	}
}

func TestMemo(t *testing.T) {
	t.Parallel()
	var m inbox.Memo
	var builds atomic.Int64
	build := func() any { builds.Add(1); return "v" }
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v := m.Get("k", build); v != "v" {
				t.Errorf("got %v", v)
			}
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("built %d times", n)
	}
	if m.Get("other", func() any { return 2 }) != 2 {
		t.Fatal("second key")
	}
	var nilMemo *inbox.Memo
	nilMemo.Get("k", build)
	nilMemo.Get("k", build)
	if n := builds.Load(); n != 3 {
		t.Fatalf("a nil Memo built %d times in all, want 3", n)
	}
}
