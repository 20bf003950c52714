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
