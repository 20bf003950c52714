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
		r := Count(c.text)
		if r.Err != "" || r.Encoding != c.enc || r.Units != c.units || r.Segments != c.segs || r.Free != c.free || r.PerSegment != c.per || r.TooLong != c.tooLong {
			t.Errorf("Count(%.12q…) = %+v", c.text, r)
		}
	}
}
