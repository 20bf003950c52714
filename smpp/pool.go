package smpp

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Pool holds the binds to one carrier account and gives each submit to the
// bound session with the most free window; receivers (BindReceiver) are
// held but never submit. Sessions are added and removed while it is in use
// (Add, Remove), e.g. a transceiver, or a transmitter and receiver pair, at
// a time. It is safe for concurrent use; its zero value is an empty pool.
type Pool struct {
	mu      sync.Mutex // serialises Add and Remove
	members atomic.Pointer[poolMembers]
}

// poolMembers is an immutable snapshot of a pool's sessions.
type poolMembers struct {
	tx  []*Session // sessions that submit
	all []*Session
}

func (p *Pool) load() *poolMembers {
	if m := p.members.Load(); m != nil {
		return m
	}
	return &poolMembers{}
}

// Add puts sessions in the pool.
func (p *Pool) Add(ss ...*Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.load()
	m := &poolMembers{tx: append([]*Session(nil), old.tx...), all: append([]*Session(nil), old.all...)}
	for _, s := range ss {
		m.all = append(m.all, s)
		if s.cfg.Type != BindReceiver {
			m.tx = append(m.tx, s)
		}
	}
	p.members.Store(m)
}

// Remove takes a session out of the pool (it does not close it) and reports
// whether it was there.
func (p *Pool) Remove(s *Session) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.load()
	m := &poolMembers{}
	found := false
	for _, x := range old.all {
		if x == s {
			found = true
			continue
		}
		m.all = append(m.all, x)
		if x.cfg.Type != BindReceiver {
			m.tx = append(m.tx, x)
		}
	}
	p.members.Store(m)
	return found
}

// Sessions returns every session of the pool, in the order they were added.
func (p *Pool) Sessions() []*Session { return append([]*Session(nil), p.load().all...) }

// pick returns the bound submitting session with the most free window, or
// nil when none is bound.
func (p *Pool) pick() *Session {
	var best *Session
	bestFree := -1
	for _, s := range p.load().tx {
		if !s.Bound() {
			continue
		}
		if f := s.win.free(); f > bestFree {
			best, bestFree = s, f
		}
	}
	return best
}

// FreeWindow returns the free window summed over bound submitting sessions.
func (p *Pool) FreeWindow() int {
	n := 0
	for _, s := range p.load().tx {
		n += s.FreeWindow()
	}
	return n
}

// Bound returns how many submitting sessions are bound.
func (p *Pool) Bound() int {
	n := 0
	for _, s := range p.load().tx {
		if s.Bound() {
			n++
		}
	}
	return n
}

// Submit sends p on the bound session with the most free window (see
// Session.Submit). With no session bound it fails with ErrNotBound at once,
// so the caller can requeue; WaitBound waits for one.
func (p *Pool) Submit(ctx context.Context, m *SubmitSM) (SubmitResult, error) {
	for tries := 0; ; tries++ {
		s := p.pick()
		if s == nil {
			return SubmitResult{}, ErrNotBound
		}
		r, err := s.Submit(ctx, m)
		// The session lost its bind between pick and send: nothing was
		// written, so another session may take it.
		if errors.Is(err, ErrNotBound) && tries < len(p.load().tx) {
			continue
		}
		return r, err
	}
}

// SubmitAsync sends m on the bound session with the most free window (see
// Session.SubmitAsync).
func (p *Pool) SubmitAsync(ctx context.Context, m *SubmitSM, done func(SubmitResult, error)) error {
	for tries := 0; ; tries++ {
		s := p.pick()
		if s == nil {
			return ErrNotBound
		}
		err := s.SubmitAsync(ctx, m, done)
		if errors.Is(err, ErrNotBound) && tries < len(p.load().tx) {
			continue
		}
		return err
	}
}

// WaitBound waits until at least one submitting session is bound, or every
// one is refused or closed, or ctx ends.
func (p *Pool) WaitBound(ctx context.Context) error {
	tx := p.load().tx
	if len(tx) == 0 {
		return ErrClosed
	}
	type res struct{ err error }
	ch := make(chan res, len(tx))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, s := range tx {
		go func(s *Session) { ch <- res{s.WaitBound(ctx)} }(s)
	}
	var last error
	for range tx {
		r := <-ch
		if r.err == nil {
			return nil
		}
		last = r.err
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return last
}

// Close closes every session, concurrently, within ctx.
func (p *Pool) Close(ctx context.Context) error {
	all := p.load().all
	errs := make(chan error, len(all))
	for _, s := range all {
		go func(s *Session) { errs <- s.Close(ctx) }(s)
	}
	var first error
	for range all {
		if err := <-errs; err != nil && first == nil && !errors.Is(err, ErrClosed) {
			first = err
		}
	}
	return first
}
