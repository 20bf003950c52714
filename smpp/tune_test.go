package smpp_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// TestTuneWindow: a grown window takes waiting requests at once; a shrunk
// one takes nothing new until the outstanding requests have fallen below
// it, and fails or drops none of them.
func TestTuneWindow(t *testing.T) {
	checkNoLeaks(t)
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, nil) // window 10
	waitBound(t, s)
	srv.Hold()
	var wg sync.WaitGroup
	var failed atomic.Int64
	submit := func(n int) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Submit(context.Background(), msg("447700900001")); err != nil {
					failed.Add(1)
				}
			}()
		}
	}
	submit(16)
	testenv.Eventually(t, "10 submits outstanding", func() bool { return srv.Stats().Submits == 10 })
	if err := s.Tune(smpp.Tuning{Window: 4}); err != nil {
		t.Fatal(err)
	}
	if got := s.FreeWindow(); got != 0 {
		t.Fatalf("free window after shrinking below the outstanding requests: %d, want 0", got)
	}
	if st := s.Stats(); st.Window != 4 || st.InFlight != 10 {
		t.Fatalf("stats after shrink: window %d in flight %d, want 4 and 10", st.Window, st.InFlight)
	}
	if err := s.Tune(smpp.Tuning{Window: 16}); err != nil {
		t.Fatal(err)
	}
	// At once: well before the held requests' 5 s response timeout frees
	// their slots.
	testenv.Wait(t, 2*time.Second, "16 submits", func() bool { return srv.Stats().Submits == 16 }, func() string {
		return fmt.Sprintf("the grown window did not take the 6 waiting submits (%d submits)", srv.Stats().Submits)
	})
	if s.Config().Window != 16 {
		t.Fatalf("Config().Window = %d, want 16", s.Config().Window)
	}

	// Shrink to 4 with 16 outstanding, then let answers flow with a
	// latency: whenever a request reaches the SMSC (after the 16 were
	// answered), the session holds at most 4 slots, that request's
	// included.
	if err := s.Tune(smpp.Tuning{Window: 4}); err != nil {
		t.Fatal(err)
	}
	var maxOut atomic.Int64
	srv.SetResponder(func(*smpp.SubmitSM) smpp.Status {
		out := int64(s.InFlight())
		for {
			m := maxOut.Load()
			if out <= m || maxOut.CompareAndSwap(m, out) {
				break
			}
		}
		return smpp.StatusOK
	})
	submit(1) // waits: 16 outstanding, window 4
	// Real time: a submit wrongly let through would arrive now.
	time.Sleep(50 * time.Millisecond)
	if got := srv.Stats().Submits; got != 16 {
		t.Fatalf("a submit went out while 16 were outstanding on a window of 4 (%d submits)", got)
	}
	srv.SetLatency(5 * time.Millisecond)
	srv.Release()
	var more sync.WaitGroup
	for range 40 {
		more.Add(1)
		go func() {
			defer more.Done()
			if _, err := s.Submit(context.Background(), msg("447700900002")); err != nil {
				failed.Add(1)
			}
		}()
	}
	more.Wait()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d submits failed across the window changes", failed.Load())
	}
	if got := srv.Stats().SubmitsOK; got != 57 {
		t.Fatalf("SMSC accepted %d submits, want 57", got)
	}
	if m := maxOut.Load(); m > 4 || m < 1 {
		t.Fatalf("after shrinking to 4, up to %d submits were outstanding at the SMSC", m)
	}
}

// TestTuneRejectsBadWindow: an out-of-range window changes nothing.
func TestTuneRejectsBadWindow(t *testing.T) {
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, nil)
	if err := s.Tune(smpp.Tuning{Window: smpp.MaxWindow + 1}); err == nil {
		t.Fatal("Tune accepted a window above MaxWindow")
	}
	if s.Config().Window != 10 {
		t.Fatalf("window changed to %d by a refused Tune", s.Config().Window)
	}
}

// TestTuneTimers: a new response timeout applies to requests written after.
func TestTuneTimers(t *testing.T) {
	srv := smpptest.Start(t, smpptest.Config{})
	s := newSession(t, srv, nil) // response timeout 5s
	waitBound(t, s)
	if err := s.Tune(smpp.Tuning{Window: 10, ResponseTimeout: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	srv.Hold()
	defer srv.Release()
	start := time.Now()
	_, err := s.Submit(context.Background(), msg("447700900003"))
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("submit after tuning the response timeout to 100ms: err %v after %v", err, time.Since(start))
	}
	if s.Config().ResponseTimeout != 100*time.Millisecond {
		t.Fatalf("Config().ResponseTimeout = %v", s.Config().ResponseTimeout)
	}
}
