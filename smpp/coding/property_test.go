package coding_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// alphabets the random texts draw from: plain GSM, GSM with many extension
// characters, Latin-1, and anything (UCS2 with surrogate pairs).
var alphabets = [][]string{
	{"a", "Z", "0", " ", ".", "@", "£", "¤", "$", "_", "\n", "\r", "Δ", "é", "Ç", "Ø"},
	{"a", " ", "€", "[", "]", "{", "}", "~", "^", "|", "\\", "\f", "@"},
	{"a", " ", "é", "ÿ", "ç", "£", "¤", "\x00", "¬", "Å"},
	{"a", " ", "ж", "中", "😀", "🇫🇷", "€", "@", "ç", "\uFFFD", "\U0010FFFF", "é"},
}

func randomText(rng *rand.Rand) string {
	alpha := alphabets[rng.IntN(len(alphabets))]
	// Mostly plain letters, so that both the boundaries and the wide
	// characters near them are hit; lengths up to a few parts.
	n := rng.IntN(720)
	wide := rng.IntN(100)
	var b strings.Builder
	for range n {
		if rng.IntN(100) < wide {
			b.WriteString(alpha[rng.IntN(len(alpha))])
		} else {
			b.WriteString(alpha[0])
		}
	}
	return b.String()
}

// TestSplitProperty splits random texts in every encoding that can carry
// them, with every method, and checks with checkParts: round trip, part
// limits, greedy filling, UDH values and Count's segments == parts.
func TestSplitProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(0x5eed, 0xc0d1))
	iterations := 1500
	if testing.Short() {
		iterations = 200
	}
	var sp coding.Splitter
	for range iterations {
		s := randomText(rng)
		if _, fits := coding.GSM7Len(s); (coding.Choose(s) == coding.GSM7) != fits {
			t.Fatalf("Choose(%q) = %s, GSM7Len fits = %v", s, coding.Choose(s), fits)
		}
		for _, enc := range []coding.Encoding{coding.GSM7, coding.UCS2, coding.Latin1, coding.Binary} {
			if _, err := coding.Append(nil, s, enc); err != nil {
				if _, cerr := coding.Count(s, enc, coding.UDH8); cerr == nil {
					t.Fatalf("%s: Append fails (%v) but Count does not", enc, err)
				}
				continue
			}
			for _, m := range []coding.Method{coding.UDH8, coding.UDH16, coding.SAR, coding.Payload} {
				ref := uint16(rng.IntN(65536))
				if m == coding.UDH8 {
					ref &= 0xFF
				}
				parts, err := sp.Split(s, enc, m, ref)
				if err != nil {
					t.Fatalf("Split(%q, %s, %s): %v", s, enc, m, err)
				}
				checkParts(t, s, enc, m, ref, parts)
				if t.Failed() {
					t.Fatalf("failed on %s/%s %q", enc, m, s)
				}
			}
		}
	}
}
