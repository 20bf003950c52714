package smpp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
)

func TestRelativeTime(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "000000000001000R"},
		{90 * time.Minute, "000000013000000R"},
		{10 * time.Hour, "000000100000000R"},
		{1500 * time.Millisecond, "000000000002000R"}, // rounded up: never ends early
		{26*time.Hour + 3*time.Minute + 4*time.Second, "000001020304000R"},
	} {
		got, err := smpp.RelativeTime(c.d)
		if err != nil || string(got) != c.want {
			t.Errorf("RelativeTime(%v) = %q, %v; want %q", c.d, got, err, c.want)
		}
	}
	for _, d := range []time.Duration{0, -time.Second, 100 * 24 * time.Hour} {
		if _, err := smpp.RelativeTime(d); !errors.Is(err, smpp.ErrBadTime) {
			t.Errorf("RelativeTime(%v): %v, want ErrBadTime", d, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 2, 28, 22, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"000000013000000R", now.Add(90 * time.Minute)},
		{"000001000000000R", now.Add(24 * time.Hour)},
		{"010100000000000R", time.Date(2025, 3, 28, 22, 0, 0, 0, time.UTC)},
		// 2024-02-29 10:20:30.4 at UTC+1 (04 quarter hours ahead).
		{"240229102030404+", time.Date(2024, 2, 29, 9, 20, 30, 4e8, time.UTC)},
		// At UTC-5 (20 quarter hours behind).
		{"991231235959020-", time.Date(2000, 1, 1, 4, 59, 59, 0, time.UTC)},
		{"370101000000000+", time.Date(2037, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := smpp.ParseTime([]byte(c.in), now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		"0000000130000R",   // short
		"000000013000100R", // relative with tenths
		"000000013000001R", // relative with an offset
		"240230102030404+", // 30 February
		"241301000000000+", // month 13
		"240229246030404+", // hour 24
		"240229102030449+", // offset 49 quarter hours
		"24022910203040X+", // not a digit
		"240229102030404*", // no sign
		"2402291020304041", // no sign
	} {
		if _, err := smpp.ParseTime([]byte(in), now); !errors.Is(err, smpp.ErrBadTime) {
			t.Errorf("ParseTime(%q): %v, want ErrBadTime", in, err)
		}
	}
}

// FuzzParseTime: ParseTime never panics, fails only with ErrBadTime, and a
// relative time of days, hours, minutes and seconds written back by
// RelativeTime is the same instant. Seeds: both forms, good and bad.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"", "000000013000000R", "000001020304000R", "240229102030404+",
		"991231235959020-", "000000013000100R", "240230102030404+", "9999999999999999", "00000000000000R"} {
		f.Add([]byte(s))
	}
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := smpp.ParseTime(b, now)
		if err != nil {
			if !errors.Is(err, smpp.ErrBadTime) {
				t.Fatalf("ParseTime(%q): unexpected error %v", b, err)
			}
			return
		}
		if len(b) != 16 || b[15] != 'R' || string(b[:4]) != "0000" || !got.After(now) {
			return
		}
		back, err := smpp.RelativeTime(got.Sub(now))
		if err != nil {
			t.Fatalf("RelativeTime(%v) of %q: %v", got.Sub(now), b, err)
		}
		again, err := smpp.ParseTime(back, now)
		if err != nil || !again.Equal(got) {
			t.Fatalf("%q → %v → %q → %v, %v", b, got, back, again, err)
		}
	})
}
