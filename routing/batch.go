package routing

import (
	"context"
	"sync"
	"time"
)

// batcher groups calls from many goroutines into batch calls: group commit.
// Each of its flushers takes one waiting item, then every item already
// waiting (up to max), and makes one call for them all; so a lone item goes
// at once, and under load the batches grow while the flushers are busy.
// Callers wait for their own item's result. Safe for concurrent use.
type batcher[T, R any] struct {
	flush  func(ctx context.Context, items []T) ([]R, error)
	in     chan *batchItem[T, R]
	max    int
	linger time.Duration // how long a flusher waits for more items after the first
	wg     sync.WaitGroup
}

type batchItem[T, R any] struct {
	item T
	res  R
	err  error
	done chan struct{}
}

// newBatcher starts flushers goroutines; stop them with close. After the
// first item of a batch a flusher waits up to linger for more: a store call
// costs a commit and a plan whatever its size, so under load a millisecond
// spent gathering saves far more than it costs; when idle it adds at most
// linger to one item's wait.
func newBatcher[T, R any](flushers, max int, linger time.Duration, flush func(context.Context, []T) ([]R, error)) *batcher[T, R] {
	b := &batcher[T, R]{flush: flush, in: make(chan *batchItem[T, R], max*flushers), max: max, linger: linger}
	for i := 0; i < flushers; i++ {
		b.wg.Add(1)
		go b.run()
	}
	return b
}

// do submits one item and waits for its result. When ctx ends first the
// item may still be flushed; do then returns ctx.Err().
func (b *batcher[T, R]) do(ctx context.Context, item T) (R, error) {
	it := &batchItem[T, R]{item: item, done: make(chan struct{})}
	var zero R
	select {
	case b.in <- it:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case <-it.done:
		return it.res, it.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func (b *batcher[T, R]) run() {
	defer b.wg.Done()
	batch := make([]*batchItem[T, R], 0, b.max)
	items := make([]T, 0, b.max)
	var timer *time.Timer
	for first := range b.in {
		batch = append(batch[:0], first)
		var deadline <-chan time.Time
		if b.linger > 0 {
			if timer == nil {
				timer = time.NewTimer(b.linger)
			} else {
				timer.Reset(b.linger)
			}
			deadline = timer.C
		}
	more:
		for len(batch) < b.max {
			select {
			case it, ok := <-b.in:
				if !ok {
					break more
				}
				batch = append(batch, it)
				continue
			default:
			}
			if deadline == nil {
				break
			}
			select {
			case it, ok := <-b.in:
				if !ok {
					break more
				}
				batch = append(batch, it)
			case <-deadline:
				deadline = nil
				break more
			}
		}
		if deadline != nil && !timer.Stop() {
			<-timer.C
		}
		items = items[:0]
		for _, it := range batch {
			items = append(items, it.item)
		}
		res, err := b.flush(context.Background(), items)
		for i, it := range batch {
			if err != nil {
				it.err = err
			} else if i < len(res) {
				it.res = res[i]
			}
			close(it.done)
		}
	}
}

// close stops the flushers after the items already submitted are flushed.
// No do may be called after or during close.
func (b *batcher[T, R]) close() {
	close(b.in)
	b.wg.Wait()
}
