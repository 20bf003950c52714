package counter

import (
	"strings"
	"testing"
)

func TestConsoleCount(t *testing.T) {
	for _, c := range []struct {
		text                   string
		enc                    string
		units, segs, free, per int
		tooLong                bool
	}{
		{"", "gsm7", 0, 1, 160, 160, false},
		{"hello", "gsm7", 5, 1, 155, 160, false},
		{strings.Repeat("a", 161), "gsm7", 161, 2, 153*2 - 161, 153, false},
		{strings.Repeat("€", 80), "gsm7", 160, 1, 0, 160, false},
		{"😀", "ucs2", 2, 1, 68, 70, false},
		{strings.Repeat("ж", 71), "ucs2", 71, 2, 67*2 - 71, 67, false},
		{strings.Repeat("a", 153*10), "gsm7", 1530, 10, 0, 153, false},
		{strings.Repeat("a", 153*10+1), "gsm7", 1531, 11, 152, 153, true},
		{strings.Repeat("a", 153*300), "gsm7", 153 * 300, 300, 0, 153, true}, // past 255 parts: still counted
	} {
		r := Count(c.text, false)
		if r.Err != "" || r.Encoding != c.enc || r.Units != c.units || r.Segments != c.segs || r.Free != c.free || r.PerSegment != c.per || r.TooLong != c.tooLong {
			t.Errorf("Count(%.12q…) = %+v", c.text, r)
		}
		// GSM text and emoji text are the same with smart encoding.
		if s := Count(c.text, true); s != r {
			t.Errorf("Count(%.12q…, smart) = %+v; without: %+v", c.text, s, r)
		}
	}
}

// TestConsoleCountSmart: with smart encoding the counter reports the text
// as sent, the segments it costs and what the substitution saved.
func TestConsoleCountSmart(t *testing.T) {
	quote := strings.Repeat("a", 80) + "’" + strings.Repeat("b", 79)
	off := Count(quote, false)
	if off.Encoding != "ucs2" || off.Segments != 3 || off.SmartApplied || off.Text != quote {
		t.Fatalf("off: %+v", off)
	}
	on := Count(quote, true)
	if on.Encoding != "gsm7" || on.Segments != 1 || !on.SmartApplied || on.Replaced != 1 || on.SegmentsSaved != 2 ||
		on.Units != 160 || on.Free != 0 || on.PerSegment != 160 || on.Text != strings.Replace(quote, "’", "'", 1) {
		t.Fatalf("on: %+v", on)
	}
	// An emoji keeps the text as written.
	if r := Count("It’s 😀", true); r.Encoding != "ucs2" || r.SmartApplied || r.Text != "It’s 😀" {
		t.Fatalf("emoji: %+v", r)
	}
	// Too long as written, within the limit once substituted.
	long := strings.Repeat("’", 67*11)
	if r := Count(long, false); !r.TooLong {
		t.Fatalf("long, off: %+v", r)
	}
	if r := Count(long, true); r.TooLong || r.Segments != 5 || r.SegmentsSaved != 6 {
		t.Fatalf("long, on: %+v", r)
	}
}
