package inbox_test

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-sms/switchboard/inbox"
)

// FuzzNormalizeKeyword feeds arbitrary inbound bodies (outside input: any
// contact can text anything) to the keyword matching. Nothing may panic;
// the compared form is valid UTF-8, at most MaxKeywordLength bytes, holds
// no space, punctuation or letter with an upper case of its own, and normalizing it again
// changes nothing; a workspace's Match agrees with the defaults when it
// has every language and no custom keyword.
func FuzzNormalizeKeyword(f *testing.F) {
	for _, s := range []string{"STOP", " Stop! ", "Arrêt", "ARRÊTER.", "pomoč", "\u200bbaja\ufeff", "stop all",
		"Opt-out", "\xff\xfeSTOP", "ǅ", "ß", "İ", "ΐ", "stop 🙏", "", "a very long message that is certainly no keyword at all, more than 64 bytes"} {
		f.Add(s)
	}
	all := inbox.DefaultKeywordSettings()
	f.Fuzz(func(t *testing.T, body string) {
		n := inbox.NormalizeKeyword(body)
		if !utf8.ValidString(n) || len(n) > inbox.MaxKeywordLength {
			t.Fatalf("NormalizeKeyword(%q) = %q", body, n)
		}
		for _, r := range n {
			if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.ToUpper(r) != r {
				t.Fatalf("NormalizeKeyword(%q) = %q keeps %q", body, n, r)
			}
		}
		if again := inbox.NormalizeKeyword(n); again != n {
			t.Fatalf("NormalizeKeyword(%q) = %q, and again %q", body, n, again)
		}
		if k, _ := all.Match(body); k != inbox.ParseKeyword(body) {
			t.Fatalf("Match(%q) = %v, ParseKeyword %v", body, k, inbox.ParseKeyword(body))
		}
	})
}
