package inbox

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Feed shares the reads of the change feed among the readers of one
// process: the event streams of GET /v1/events and the endpoints of the
// webhook deliverer each keep their own cursor and call Changes as they
// would Store.Changes, and the readers of one workspace that are at (or
// near) the end of its feed are served from one read of the database, its
// changes kept in memory with one Memo each, so that what readers build
// from a change (an event's JSON) is built once.
//
// Per workspace, a Feed keeps a window: every change of the feed between
// two positions, as the reads that fetched them saw it, in feed order, at
// most FeedOptions.Window of them. A call whose cursor is inside the
// window is answered from it, and reads the database after the window's
// end (extending it, one read at a time, shared by the calls that wait for
// it) only when the window cannot fill the page and something may have
// been committed since its last read. That is known from the wake-ups the
// readers wait on (events.Hub.Changed): a read takes the wake-up channel
// before it starts, and while that channel is open no change has been
// committed since that anyone told (the hub also closes it at each poll,
// every second). A call whose cursor is before the window (a reader
// catching up, or resuming from an old cursor) reads the database itself,
// exactly as Store.Changes.
//
// Guarantees. The changes a call returns are those Store.Changes would
// have returned at the time of the read that fetched them: in feed order,
// none skipped, each after the cursor. A change served from the window may
// be older than a direct read would show (the message changed again
// since): its later change comes after it in the feed, as it would for a
// reader that had read at that time, so a reader never sees an object's
// state go backwards. When a call returns fewer changes than its limit,
// nothing more could be read at the time of a read that began after the
// reader last took the wake-up channel, or the channel it took is closed:
// so a reader that takes the channel before calling and waits on it
// after, as with Store.Changes, misses nothing and waits no longer.
//
// A Feed is safe for concurrent use. The changes it returns share their
// Memo (and the strings they hold) with other readers: callers must not
// modify them.
type Feed struct {
	store   *Store
	changed func() <-chan struct{}
	opts    FeedOptions

	mu    sync.Mutex
	tails map[WorkspaceID]*feedTail
	swept time.Time
	stats FeedStats
}

// FeedOptions configure a Feed; zero values take the defaults.
type FeedOptions struct {
	// Window is the most changes kept per workspace (DefaultFeedWindow). A
	// reader that falls further behind the end of the feed reads the
	// database itself until it catches up.
	Window int
	// Read is the page size of the shared reads (MaxPageSize), or the
	// caller's limit when larger.
	Read int
	// Idle: a workspace whose feed nobody read for this long is forgotten
	// (DefaultFeedIdle).
	Idle time.Duration
}

// Defaults of FeedOptions.
const (
	DefaultFeedWindow = 20 * MaxPageSize
	DefaultFeedIdle   = time.Minute
)

// NewFeed returns a Feed over the store's change feed. changed returns the
// channel closed at the next wake-up of the feed's readers
// (events.Hub.Changed); it must close each channel it returns within a
// bounded time (the hub polls every second).
func (s *Store) NewFeed(changed func() <-chan struct{}, opts FeedOptions) *Feed {
	if opts.Window <= 0 {
		opts.Window = DefaultFeedWindow
	}
	if opts.Read <= 0 || opts.Read > MaxPageSize {
		opts.Read = MaxPageSize
	}
	if opts.Window < opts.Read {
		opts.Window = opts.Read
	}
	if opts.Idle <= 0 {
		opts.Idle = DefaultFeedIdle
	}
	return &Feed{store: s, changed: changed, opts: opts, tails: map[WorkspaceID]*feedTail{}}
}

// FeedStats are a Feed's counters.
type FeedStats struct {
	Calls   int64 // calls of Changes
	Shared  int64 // reads of the database extending a window
	Direct  int64 // reads of the database for a reader behind its window
	Served  int64 // changes returned
	Windows int   // workspaces with a window now
}

// feedTail is one workspace's window.
type feedTail struct {
	// The window holds every change after base up to end (the last of
	// changes, or a position past it up to which the feed was found
	// empty), in feed order, as its reads saw them.
	valid                 bool // base is set
	base, end             feedKey
	baseCursor, endCursor string
	changes               []Change
	keys                  []feedKey // the changes' positions
	// first numbers changes[0] among all the window ever held; latest is,
	// per object (kind and id), the number of its last change in the
	// window: an earlier one is superseded, as the feed skips it.
	first  uint64
	latest map[objectKey]uint64
	// gen is the wake-up channel taken before the last read began, full
	// whether that read returned a whole page.
	gen  <-chan struct{}
	full bool
	// reading is the read in flight, seq counts the reads begun.
	reading *feedRead
	seq     uint64
	used    time.Time
}

type feedRead struct {
	seq  uint64
	done chan struct{}
	err  error
}

// objectKey names the object a change is about: a message or a request.
type objectKey struct {
	kind ChangeKind
	id   int64
}

func (k feedKey) object() objectKey { return objectKey{k.kind, k.id} }

// after returns up to limit changes of the window after k (inside it),
// leaving out those superseded by a later change of the same object in the
// window: as Store.Changes would at the time of the window's last read,
// each object appears once, at its latest change.
func (t *feedTail) after(k feedKey, limit int) []Change {
	i := sort.Search(len(t.keys), func(i int) bool { return t.keys[i].compare(k) > 0 })
	var out []Change
	for j := i; j < len(t.changes) && len(out) < limit; j++ {
		if t.latest[t.keys[j].object()] != t.first+uint64(j) {
			if out == nil {
				out = make([]Change, 0, min(limit, len(t.changes)-i))
				out = append(out, t.changes[i:j]...)
			}
			continue
		}
		if out != nil {
			out = append(out, t.changes[j])
		} else if j-i+1 == limit || j == len(t.changes)-1 {
			return t.changes[i : j+1 : j+1] // nothing superseded: no copy
		}
	}
	return out
}

// Changes returns a workspace's changes after the cursor after, at most
// limit, as Store.Changes does (see Feed for what is shared).
func (f *Feed) Changes(ctx context.Context, ws WorkspaceID, after string, limit int) ([]Change, error) {
	k, err := parseFeedKey(after)
	if err != nil {
		return nil, err
	}
	limit = changesLimit(limit)
	f.mu.Lock()
	f.stats.Calls++
	t := f.tail(ws)
	entry := t.seq // reads numbered above began after this call
	fresh, extended := false, false
	for {
		if r := t.reading; r != nil {
			f.mu.Unlock()
			select {
			case <-r.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if r.err != nil {
				// Another reader's read failed (perhaps its context
				// ended): read for this one alone.
				return f.direct(ctx, ws, after, limit)
			}
			f.mu.Lock()
			fresh = fresh || r.seq > entry
			continue
		}
		switch {
		case t.valid && k.compare(t.base) >= 0 && k.compare(t.end) <= 0:
			out := t.after(k, limit)
			// Enough, or the end of the feed as of a read that began
			// after this call (or since which nothing was committed).
			if len(out) == limit || !t.full && (fresh || isOpen(t.gen)) {
				f.stats.Served += int64(len(out))
				f.mu.Unlock()
				return out, nil
			}
			// Stale, or more to read: extend the window.
		case t.valid && k.compare(t.base) < 0:
			f.mu.Unlock()
			return f.direct(ctx, ws, after, limit)
		case t.valid && !extended:
			// Ahead of the window: extend it, once.
		case t.valid && !t.full:
			// Still ahead after a read that began after this call and
			// found the feed's end: the feed holds nothing between the
			// window's end and this reader's cursor (every transaction
			// before a change a reader was given, or before the horizon a
			// cursor was taken at, had ended before this read).
			t.end, t.endCursor = k, after
			continue
		default:
			// No window yet, or far ahead of it: start one at this
			// reader.
			t.base, t.baseCursor, t.end, t.endCursor = k, after, k, after
			t.changes, t.keys, t.valid = nil, nil, true
			t.latest = map[objectKey]uint64{}
		}
		extended = true
		if err := f.extend(ctx, ws, t, max(f.opts.Read, limit)); err != nil {
			f.mu.Unlock()
			return nil, err
		}
		fresh = true
	}
}

// extend reads up to n changes of the feed after the window's end and
// appends them. It is called with f.mu held, which it releases during the
// read.
func (f *Feed) extend(ctx context.Context, ws WorkspaceID, t *feedTail, n int) error {
	t.seq++
	r := &feedRead{seq: t.seq, done: make(chan struct{})}
	t.reading = r
	gen := f.changed()
	from := t.endCursor
	f.stats.Shared++
	f.mu.Unlock()
	cs, err := f.store.Changes(ctx, ws, from, n)
	f.mu.Lock()
	t.reading, r.err = nil, err
	close(r.done)
	if err != nil {
		return err
	}
	keys := make([]feedKey, len(cs))
	for i := range cs {
		if keys[i], err = parseFeedKey(cs[i].Cursor); err != nil {
			return err
		}
		cs[i].Memo = &Memo{}
	}
	for i, key := range keys {
		t.latest[key.object()] = t.first + uint64(len(t.changes)+i)
	}
	t.changes, t.keys = append(t.changes, cs...), append(t.keys, keys...)
	if n := len(cs); n > 0 {
		t.end, t.endCursor = keys[n-1], cs[n-1].Cursor
	}
	t.gen, t.full = gen, len(cs) == n
	if over := len(t.changes) - f.opts.Window; over > 0 {
		// Slices handed out keep the changes they hold: the window only
		// drops its reference (append copies what is left when it grows).
		for j, key := range t.keys[:over] {
			if t.latest[key.object()] == t.first+uint64(j) {
				delete(t.latest, key.object())
			}
		}
		t.base, t.baseCursor = t.keys[over-1], t.changes[over-1].Cursor
		t.changes, t.keys = t.changes[over:], t.keys[over:]
		t.first += uint64(over)
	}
	return nil
}

// direct reads the feed for one reader.
func (f *Feed) direct(ctx context.Context, ws WorkspaceID, after string, limit int) ([]Change, error) {
	f.mu.Lock()
	f.stats.Direct++
	f.mu.Unlock()
	cs, err := f.store.Changes(ctx, ws, after, limit)
	f.mu.Lock()
	f.stats.Served += int64(len(cs))
	f.mu.Unlock()
	return cs, err
}

// tail returns the workspace's window, and forgets those idle for
// FeedOptions.Idle. Called with f.mu held.
func (f *Feed) tail(ws WorkspaceID) *feedTail {
	now := time.Now()
	if now.Sub(f.swept) > f.opts.Idle {
		for id, t := range f.tails {
			if t.reading == nil && now.Sub(t.used) > f.opts.Idle {
				delete(f.tails, id)
			}
		}
		f.swept = now
	}
	t := f.tails[ws]
	if t == nil {
		t = &feedTail{}
		f.tails[ws] = t
	}
	t.used = now
	return t
}

// Stats returns the Feed's counters.
func (f *Feed) Stats() FeedStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Windows = len(f.tails)
	return s
}

func isOpen(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// Memo holds what the readers of a Feed build from one change, an event's
// JSON for instance, so that it is built once in the process however many
// readers send it. A nil Memo (a change read with Store.Changes) builds
// every time. It is safe for concurrent use.
type Memo struct {
	mu   sync.Mutex
	vals map[string]*memoVal
}

type memoVal struct {
	once sync.Once
	v    any
}

// Get returns the value built for key, calling build the first time (once
// however many callers ask at once). Each key must always be built the
// same way: the value is shared by every reader of the change.
func (m *Memo) Get(key string, build func() any) any {
	if m == nil {
		return build()
	}
	m.mu.Lock()
	if m.vals == nil {
		m.vals = map[string]*memoVal{}
	}
	v := m.vals[key]
	if v == nil {
		v = &memoVal{}
		m.vals[key] = v
	}
	m.mu.Unlock()
	v.once.Do(func() { v.v = build() })
	return v.v
}
