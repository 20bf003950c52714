package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/switchboard-sms/switchboard/inbox/events"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

func newHub(t *testing.T, pool *pgxpool.Pool, cfg events.Config) *events.Hub {
	t.Helper()
	cfg.Pool = pool
	cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	h, err := events.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// waitListening waits until a hub's listener is up and the wake-up it sends
// on coming up has reached the readers, so a Changed taken afterwards is
// closed only by a later wake-up (the hubs in these tests poll hourly or
// not at all before then).
func waitListening(t *testing.T, h *events.Hub) {
	t.Helper()
	testenv.Eventually(t, "the listener to come up and wake the readers", func() bool {
		st := h.Stats()
		return st.Listening && st.Wakeups >= 1
	})
}

// TestNotifyWakesOtherProcesses: a Notify in one process wakes the readers
// of another (its own hub on its own pool) at once, far sooner than the poll.
func TestNotifyWakesOtherProcesses(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	slowPoll := events.Config{PollInterval: time.Hour}
	a := newHub(t, testenv.OpenPool(t, url, 0), slowPoll)
	b := newHub(t, testenv.OpenPool(t, url, 0), slowPoll)
	waitListening(t, b)
	var worst time.Duration
	for range 5 {
		// Real time: past b's 50 ms wake interval, so the delay measured
		// is the notification's alone.
		time.Sleep(60 * time.Millisecond)
		ch := b.Changed()
		start := time.Now()
		a.Notify()
		select {
		case <-ch:
			worst = max(worst, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("no wake-up; stats %+v / %+v", a.Stats(), b.Stats())
		}
	}
	t.Logf("worst notify → wake-up: %v", worst)
	if st := b.Stats(); st.Notifications < 5 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNotifyCoalesces: a burst of Notify calls sends a handful of
// notifications, not one each.
func TestNotifyCoalesces(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	a := newHub(t, testenv.OpenPool(t, url, 0), events.Config{NotifyInterval: 50 * time.Millisecond})
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond {
		a.Notify()
		time.Sleep(100 * time.Microsecond) // a burst spread over real time, across several intervals
	}
	// On a busy machine the first pg_notify may take a while: wait for it,
	// then for the interval's worth of stragglers. What matters is the
	// upper bound: thousands of Notify calls made a handful of notifications.
	testenv.Eventually(t, "the first notification", func() bool { return a.Stats().Sent > 0 })
	time.Sleep(150 * time.Millisecond) // real time: a straggler is sent one interval late
	if sent := a.Stats().Sent; sent < 1 || sent > 7 {
		t.Fatalf("%d notifications for a 200 ms burst at a 50 ms interval", sent)
	}
}

// TestPollWakesWithoutNotifications: readers are woken every PollInterval
// even when nothing notifies.
func TestPollWakesWithoutNotifications(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	h := newHub(t, testenv.OpenPool(t, url, 0), events.Config{PollInterval: 100 * time.Millisecond})
	for range 3 {
		select {
		case <-h.Changed():
		case <-time.After(2 * time.Second):
			t.Fatal("no poll wake-up")
		}
	}
}

// TestListenerReconnects: when the listening connection is killed, the
// hub reconnects, wakes its readers (notifications may have been missed)
// and receives notifications again.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	pool := testenv.OpenPool(t, url, 0)
	h := newHub(t, pool, events.Config{PollInterval: time.Hour, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	waitListening(t, h)
	ch := h.Changed()
	// Kill the listener's backend (the one that ran LISTEN).
	ctx := context.Background()
	tag, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("terminate: %v %v", tag, err)
	}
	select {
	case <-ch: // woken by the reconnect
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up after the reconnect; stats %+v", h.Stats())
	}
	// Listening again, and the reconnect's wake-up (the second) has reached
	// the readers: the next Changed is closed only by the notification.
	testenv.Eventually(t, "the reconnect and its wake-up", func() bool {
		st := h.Stats()
		return st.Reconnects >= 1 && st.Listening && st.Wakeups >= 2
	})
	ch = h.Changed()
	if _, err := pool.Exec(ctx, `SELECT pg_notify('sb_changes', '')`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no notification after the reconnect: %+v", h.Stats())
	}
}

// TestIdleCheck: a quiet listener pings its connection and keeps working.
func TestIdleCheck(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	pool := testenv.OpenPool(t, url, 0)
	h := newHub(t, pool, events.Config{PollInterval: time.Hour, IdleCheck: 30 * time.Millisecond})
	waitListening(t, h)
	time.Sleep(200 * time.Millisecond) // real time: several 30 ms idle checks (pings) go by
	ch := h.Changed()
	if _, err := pool.Exec(context.Background(), `SELECT pg_notify('sb_changes', '')`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no notification after idle checks: %+v", h.Stats())
	}
	if st := h.Stats(); st.Reconnects != 0 || !st.Listening {
		t.Fatalf("idle checks broke the listener: %+v", st)
	}
}

// TestDatabaseDown: a hub over a database that does not answer keeps
// polling, and Notify never blocks.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	h := newHub(t, pool, events.Config{PollInterval: 50 * time.Millisecond})
	start := time.Now()
	for range 1000 {
		h.Notify()
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("Notify blocked %v", d)
	}
	select {
	case <-h.Changed():
	case <-time.After(2 * time.Second):
		t.Fatal("no poll wake-up")
	}
	if h.Stats().Listening {
		t.Fatal("listening to nothing")
	}
}
