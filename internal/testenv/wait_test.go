package testenv_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as testing.T's does, without failing the real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// recordFatal runs wait on a goroutine of its own with a fatalRecorder and
// returns what it passed to Fatalf ("" when it returned normally).
func recordFatal(t *testing.T, wait func(tb testing.TB)) string {
	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(f)
	}()
	<-done
	return f.msg
}

// Wait returns once cond holds, having slept between the calls, and does
// not call diag.
func TestWaitReturnsWhenCondHolds(t *testing.T) {
	t.Parallel()
	calls, diags := 0, 0
	start := time.Now()
	msg := recordFatal(t, func(tb testing.TB) {
		testenv.Wait(tb, 10*time.Second, "the third call", func() bool {
			calls++
			return calls == 3
		}, func() string { diags++; return "" })
	})
	if msg != "" {
		t.Fatalf("Wait failed: %s", msg)
	}
	if calls != 3 || diags != 0 {
		t.Fatalf("cond called %d times, diag %d times; want 3 and 0", calls, diags)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("three calls in %v: Wait did not sleep 20 ms between them", d)
	}
}

// Wait fails after the timeout, naming what it waited for and the
// diagnostic, which it calls once, after the last call of cond.
func TestWaitTimesOut(t *testing.T) {
	t.Parallel()
	calls, diags := 0, 0
	start := time.Now()
	msg := recordFatal(t, func(tb testing.TB) {
		testenv.Wait(tb, 100*time.Millisecond, "the flag", func() bool {
			calls++
			return false
		}, func() string { diags++; return fmt.Sprintf("%d calls", calls) })
	})
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("failed after %v, before the 100 ms timeout", d)
	}
	if want := fmt.Sprintf("timed out after 100ms waiting for the flag: %d calls", calls); msg != want || calls < 2 || diags != 1 {
		t.Fatalf("Fatalf(%q) after %d calls of cond and %d of diag; want %q, at least 2 and 1", msg, calls, diags, want)
	}
	// Without a diagnostic the message ends with what it waited for.
	msg = recordFatal(t, func(tb testing.TB) {
		testenv.Wait(tb, 30*time.Millisecond, "the flag", func() bool { return false }, nil)
	})
	if want := "timed out after 30ms waiting for the flag"; msg != want {
		t.Fatalf("Fatalf(%q), want %q", msg, want)
	}
}
