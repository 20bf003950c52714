package webhook_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/webhook"
)

func TestBackoffNext(t *testing.T) {
	t.Parallel()
	b := webhook.Backoff{Min: 5 * time.Second, Max: time.Hour, For: 24 * time.Hour, RetryAfterMax: 6 * time.Hour}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for attempts, base := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 5: 80 * time.Second, 12: time.Hour, 200: time.Hour} {
		for range 50 {
			d := b.Next(t0, t0, attempts, 0).Sub(t0)
			if d < base/2 || d > base {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempts, d, base/2, base)
			}
		}
	}
	// Jitter: not every delay is the same.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.Next(t0, t0, 6, 0).Sub(t0)] = true
	}
	if len(seen) < 5 {
		t.Fatalf("delays %v: no jitter", seen)
	}
	// Retry-After is honoured when longer, capped by RetryAfterMax.
	if d := b.Next(t0, t0, 1, 10*time.Minute).Sub(t0); d != 10*time.Minute {
		t.Fatalf("Retry-After 10m: next in %v", d)
	}
	if d := b.Next(t0, t0, 1, 48*time.Hour).Sub(t0); d != 6*time.Hour {
		t.Fatalf("Retry-After 48h: next in %v", d)
	}
	// The last attempt is at the end of the window; after it, give up.
	late := t0.Add(24*time.Hour - time.Minute)
	if n := b.Next(t0, late, 30, 0); !n.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("near the end: next %v", n)
	}
	if n := b.Next(t0, t0.Add(24*time.Hour), 31, 0); !n.IsZero() {
		t.Fatalf("at the end: next %v, want give up", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":     0,
		"120":  2 * time.Minute,
		" 7 ":  7 * time.Second,
		"-5":   0,
		"1.5":  0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		"99999999999999999999":                            0,
	} {
		if got := webhook.ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

// FuzzRetryAfter: the header comes from the receiver; any value gives a
// delay of zero or more, never a panic.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Wed, 21 Oct 2015 07:28:00 GMT", "", "-1", "1e9", "4294967295", "Mon, 02 Jan 2006 15:04:05 MST"} {
		f.Add(s)
	}
	now := time.Now()
	b := webhook.Backoff{Min: time.Second, Max: time.Hour, For: 24 * time.Hour, RetryAfterMax: 6 * time.Hour}
	f.Fuzz(func(t *testing.T, v string) {
		d := webhook.ParseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
		if n := b.Next(now, now, 3, d); n.Before(now) || n.After(now.Add(24*time.Hour)) {
			t.Fatalf("Next with %v: %v", d, n)
		}
	})
}
