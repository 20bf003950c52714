package smpp

import (
	"context"
	"sync"
	"sync/atomic"
)

// window bounds a session's outstanding requests: a send takes a slot
// (acquire), its completion gives it back (release). Its size may change
// while requests are outstanding (resize): a larger window serves waiters at
// once; a smaller one takes no slot until the outstanding requests have
// fallen below the new size, so the peer never sees more than the size in
// force when a request was written, and nothing outstanding is cut short.
//
// Taking and giving back a slot are lock-free while nobody waits; waiters
// are served in the order they came. It is safe for concurrent use.
type window struct {
	used  atomic.Int32 // slots taken
	size  atomic.Int32 // the bound
	nwait atomic.Int32 // len(waiters), readable without the lock

	mu      sync.Mutex
	waiters []chan struct{} // FIFO; each closed when granted its slot
}

func newWindow(size int) *window {
	w := &window{}
	w.size.Store(int32(size))
	return w
}

// inUse is how many slots are taken; it may exceed Size for a while after a
// shrink.
func (w *window) inUse() int { return int(w.used.Load()) }

// Size is the bound in force.
func (w *window) Size() int { return int(w.size.Load()) }

// free is how many slots may be taken now without waiting (0 while a shrink
// waits for outstanding requests).
func (w *window) free() int { return max(int(w.size.Load()-w.used.Load()), 0) }

// take takes a slot if one is free.
func (w *window) take() bool {
	for {
		u := w.used.Load()
		if u >= w.size.Load() {
			return false
		}
		if w.used.CompareAndSwap(u, u+1) {
			return true
		}
	}
}

// acquire takes a slot, waiting for one until ctx ends or stop is closed
// (then it returns ctx.Err() or ErrClosed and holds no slot).
func (w *window) acquire(ctx context.Context, stop <-chan struct{}) error {
	if w.nwait.Load() == 0 && w.take() {
		return nil
	}
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiters = append(w.waiters, ch)
	w.nwait.Store(int32(len(w.waiters)))
	// A release that came before nwait was set did not look at the
	// waiters: serve them (this one included) now.
	w.grantLocked()
	w.mu.Unlock()
	var err error
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = ErrClosed
	}
	w.mu.Lock()
	for i, x := range w.waiters {
		if x == ch {
			w.waiters = append(w.waiters[:i], w.waiters[i+1:]...)
			w.nwait.Store(int32(len(w.waiters)))
			w.mu.Unlock()
			return err
		}
	}
	w.mu.Unlock()
	// Granted meanwhile: give the slot back to the next waiter.
	w.release()
	return err
}

// release gives a slot back.
func (w *window) release() {
	w.used.Add(-1)
	if w.nwait.Load() > 0 {
		w.mu.Lock()
		w.grantLocked()
		w.mu.Unlock()
	}
}

// resize sets the bound; see window.
func (w *window) resize(size int) {
	w.size.Store(int32(size))
	w.mu.Lock()
	w.grantLocked()
	w.mu.Unlock()
}

// grantLocked hands free slots to the waiters, oldest first.
func (w *window) grantLocked() {
	for len(w.waiters) > 0 && w.take() {
		close(w.waiters[0])
		w.waiters[0] = nil
		w.waiters = w.waiters[1:]
	}
	w.nwait.Store(int32(len(w.waiters)))
}
