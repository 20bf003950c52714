package coding_test

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// wantLookalikes is the substitution table written out by hand, character
// by character, apart from the fullwidth forms (TestSubstituteFullwidth).
// The package's table must be exactly this: a character added or changed
// there needs its line here.
var wantLookalikes = map[rune]string{
	// Spaces (Unicode Zs, and the tab GSM lacks) become a space.
	'\t': " ", '\u00A0': " ", '\u2000': " ", '\u2001': " ", '\u2002': " ", '\u2003': " ",
	'\u2004': " ", '\u2005': " ", '\u2006': " ", '\u2007': " ", '\u2008': " ", '\u2009': " ",
	'\u200A': " ", '\u202F': " ", '\u205F': " ", '\u3000': " ",
	// Line and paragraph separators become a line feed.
	'\u2028': "\n", '\u2029': "\n",
	// Invisible characters are dropped.
	'\u00AD': "", '\u200B': "", '\u2060': "", '\uFEFF': "",
	// Single quotes, apostrophes, primes and accents used as apostrophes.
	'`': "'", '\u00B4': "'", '\u02B9': "'", '\u02BB': "'", '\u02BC': "'", '\u02BD': "'",
	'\u02C8': "'", '\u02CA': "'", '\u02CB': "'", '\u2018': "'", '\u2019': "'", '\u201A': "'",
	'\u201B': "'", '\u2032': "'", '\u2035': "'", '\u275B': "'", '\u275C': "'",
	// Double quotes and double primes.
	'\u00AB': `"`, '\u00BB': `"`, '\u02BA': `"`, '\u02EE': `"`, '\u201C': `"`, '\u201D': `"`,
	'\u201E': `"`, '\u201F': `"`, '\u2033': `"`, '\u275D': `"`, '\u275E': `"`, '\u301D': `"`,
	'\u301E': `"`, '\u301F': `"`,
	// Single angle quotation marks and arrowheads.
	'\u2039': "<", '\u203A': ">", '\u02C2': "<", '\u02C3': ">", '\u02C4': "^", '\u02C6': "^",
	// Hyphens, dashes, the minus sign, bullets.
	'\u2010': "-", '\u2011': "-", '\u2012': "-", '\u2013': "-", '\u2014': "-", '\u2015': "-",
	'\u2212': "-", '\uFE58': "-", '\uFE63': "-", '\u2022': "-", '\u2023': "-", '\u2043': "-",
	// Leaders and the ellipsis.
	'\u2024': ".", '\u2025': "..", '\u2026': "...",
	// Mathematical look-alikes of ASCII symbols.
	'\u2044': "/", '\u2215': "/", '\u2216': `\`, '\u2217': "*", '\u2223': "|", '\u02DC': "~",
	// Fullwidth currency signs GSM has.
	'\uFFE1': "£", '\uFFE5': "¥",
}

func TestSubstituteEveryEntry(t *testing.T) {
	t.Parallel()
	table := map[rune]string{}
	for _, l := range coding.Lookalikes() {
		if l.Char >= 0xFF01 && l.Char <= 0xFF5E {
			continue
		}
		table[l.Char] = l.To
		if want, ok := wantLookalikes[l.Char]; !ok || want != l.To {
			t.Errorf("the table maps U+%04X (%s) to %q; this test expects %q (listed: %v)", l.Char, l.Name, l.To, want, ok)
		}
	}
	for r, to := range wantLookalikes {
		if _, ok := table[r]; !ok {
			t.Errorf("U+%04X → %q is missing from the table", r, to)
		}
		c := string(r)
		if _, ok := coding.GSM7Len(c); ok {
			t.Errorf("U+%04X is a GSM 7-bit character: it needs no substitute", r)
		}
		if _, ok := coding.GSM7Len(to); !ok {
			t.Errorf("U+%04X → %q: the replacement is not GSM 7-bit", r, to)
		}
		// Alone, inside GSM text, repeated, and next to an extension character.
		for _, tc := range []struct{ in, want string }{
			{c, to},
			{"a" + c + "b", "a" + to + "b"},
			{c + "Ä" + c + c, to + "Ä" + to + to},
			{"€" + c + "[", "€" + to + "["},
		} {
			got, n := coding.Substitute(tc.in)
			if got != tc.want || n != strings.Count(tc.in, c) {
				t.Errorf("Substitute(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, strings.Count(tc.in, c))
			}
		}
	}
}

// TestSubstituteFullwidth checks the fullwidth forms of ASCII against their
// Unicode compatibility mapping (NFKC), and the grave accent's against the
// table's apostrophe.
func TestSubstituteFullwidth(t *testing.T) {
	t.Parallel()
	n := 0
	for _, l := range coding.Lookalikes() {
		if l.Char < 0xFF01 || l.Char > 0xFF5E {
			continue
		}
		n++
		want := norm.NFKC.String(string(l.Char))
		if want == "`" {
			want = "'"
		}
		got, k := coding.Substitute(string(l.Char))
		if l.To != want || got != want || k != 1 {
			t.Errorf("U+%04X: table %q, Substitute %q (%d); want %q", l.Char, l.To, got, k, want)
		}
	}
	if n != 0xFF5E-0xFF01+1 {
		t.Fatalf("the table has %d fullwidth forms, want all %d", n, 0xFF5E-0xFF01+1)
	}
	if got, n := coding.Substitute("ＳＡＬＥ　５０％　ｏｆｆ！"); got != "SALE 50% off!" || n != 13 {
		t.Fatalf("fullwidth text: %q, %d", got, n)
	}
}

// TestSubstituteKeepsMeaning is the contract: a character that carries
// meaning keeps the whole text as it is (and UCS2), look-alikes included.
func TestSubstituteKeepsMeaning(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"It’s done 😀",          // emoji
		"“Привет” — мир",       // Cyrillic
		"ça va… à bientôt",     // ç and ô: accented letters GSM lacks
		"Price: ½ – 3™",        // symbols that mean something
		"“שלום”",               // Hebrew
		"a\u200Db’",            // a zero width joiner is not dropped
		"curly ’ then \uFFFD",  // the replacement character itself
		"invalid \xff UTF-8 ’", // not UTF-8: unchanged, never repaired
		"“quoted”\x07",         // a control character GSM lacks
	} {
		got, n := coding.Substitute(s)
		if got != s || n != 0 {
			t.Errorf("Substitute(%q) = %q, %d; want it unchanged", s, got, n)
		}
	}
	// GSM text is returned as it is, without a copy.
	for _, s := range []string{"", "plain ASCII", "Café {€5} @ Ωmega"} {
		got, n := coding.Substitute(s)
		if n != 0 || unsafe.StringData(got) != unsafe.StringData(s) {
			t.Errorf("Substitute(%q) = %q, %d: not the input itself", s, got, n)
		}
	}
	if got, n := coding.Substitute("“Hello” — it’s ready… ＯＫ\u00A0?"); got != `"Hello" - it's ready... OK ?` || n != 8 {
		t.Fatalf("mixed: %q, %d", got, n)
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	quote160 := strings.Repeat("a", 80) + "’" + strings.Repeat("b", 79) // 160 characters
	for _, c := range []struct {
		name     string
		in       string
		smart    bool
		text     string
		enc      coding.Encoding
		segs     int
		replaced int
		saved    int
	}{
		{"one curly quote costs two segments", quote160, false, quote160, coding.UCS2, 3, 0, 0},
		{"smart: one segment", quote160, true, strings.Replace(quote160, "’", "'", 1), coding.GSM7, 1, 1, 2},
		{"smart, no gain: still substituted", "It’s ok", true, "It's ok", coding.GSM7, 1, 1, 0},
		{"GSM text is left alone", "plain", true, "plain", coding.GSM7, 1, 0, 0},
		{"an emoji keeps UCS2", "It’s 😀", true, "It’s 😀", coding.UCS2, 1, 0, 0},
		// 70 ellipses are one UCS2 segment but 210 septets, two GSM7 ones.
		{"never more segments", strings.Repeat("…", 70), true, strings.Repeat("…", 70), coding.UCS2, 1, 0, 0},
		{"same segments: substituted", strings.Repeat("…", 51), true, strings.Repeat("...", 51), coding.GSM7, 1, 51, 0},
	} {
		p, err := coding.Prepare(c.in, coding.UDH8, c.smart)
		if err != nil || p.Text != c.text || p.Encoding != c.enc || p.Segments != c.segs || p.Replaced != c.replaced || p.SegmentsSaved != c.saved {
			t.Errorf("%s: Prepare = %q %v %d segments, replaced %d, saved %d, %v", c.name, p.Text, p.Encoding, p.Segments, p.Replaced, p.SegmentsSaved, err)
		}
		info, _ := coding.Count(p.Text, p.Encoding, coding.UDH8)
		if info != p.Info {
			t.Errorf("%s: Info %+v, Count says %+v", c.name, p.Info, info)
		}
	}
	// Past 255 parts as UCS2, within them once substituted.
	long := strings.Repeat("’", 67*255+1)
	if p, err := coding.Prepare(long, coding.UDH8, false); !errors.Is(err, coding.ErrTooManyParts) || p.Segments != 256 {
		t.Fatalf("UCS2 past 255 parts: %d, %v", p.Segments, err)
	}
	if p, err := coding.Prepare(long, coding.UDH8, true); err != nil || p.Encoding != coding.GSM7 || p.Segments != 112 || p.SegmentsSaved != 256-112 {
		t.Fatalf("substituted: %v %d segments, saved %d, %v", p.Encoding, p.Segments, p.SegmentsSaved, err)
	}
	if _, err := coding.Prepare("bad \xff ’", coding.UDH8, true); !errors.Is(err, coding.ErrInvalidUTF8) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
}

// TestEncodingDocListsTable keeps docs/encoding.md true: its table lists
// every entry, with the same replacement, and nothing else.
func TestEncodingDocListsTable(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/encoding.md")
	if err != nil {
		t.Fatal(err)
	}
	// Rows: | U+2019 | ’ | right single quotation mark | `'` |, the last
	// column in backquotes or a word (space, line feed, nothing); the
	// fullwidth forms as one row of a range, | U+FF01–U+FF5E | ….
	row := regexp.MustCompile("(?m)^\\| U\\+([0-9A-F]{4,5})(?:–U\\+([0-9A-F]{4,5}))? \\| .*? \\| ([^|]+|`\\\\\\|`) \\|$")
	words := map[string]string{"space": " ", "line feed": "\n", "nothing": ""}
	documented := map[rune]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		from, _ := strconv.ParseUint(m[1], 16, 32)
		if m[2] != "" { // a range: the fullwidth forms, ASCII by offset
			last, _ := strconv.ParseUint(m[2], 16, 32)
			for r := rune(from); r <= rune(last); r++ {
				documented[r] = "fullwidth"
			}
			continue
		}
		to, ok := words[m[3]]
		if c := m[3]; len(c) >= 3 && c[0] == '`' && c[len(c)-1] == '`' {
			to, ok = strings.ReplaceAll(c[1:len(c)-1], `\|`, "|"), true
		}
		if !ok {
			t.Errorf("docs/encoding.md: U+%s: cannot read the replacement %q", m[1], m[3])
		}
		documented[rune(from)] = to
	}
	for _, l := range coding.Lookalikes() {
		got, ok := documented[l.Char]
		switch {
		case !ok:
			t.Errorf("docs/encoding.md does not list U+%04X (%s)", l.Char, l.Name)
		case got == "fullwidth":
			if l.To != norm.NFKC.String(string(l.Char)) && l.Char != 0xFF40 {
				t.Errorf("U+%04X is in the documented fullwidth range but maps to %q", l.Char, l.To)
			}
		case got != l.To:
			t.Errorf("docs/encoding.md maps U+%04X to %q, the table to %q", l.Char, got, l.To)
		}
		delete(documented, l.Char)
	}
	for r := range documented {
		t.Errorf("docs/encoding.md lists U+%04X, which the table does not have", r)
	}
}

func TestSubstituteAllocs(t *testing.T) {
	var sink string
	if n := testing.AllocsPerRun(100, func() { sink, _ = coding.Substitute(gsm400) }); n != 0 {
		t.Fatalf("Substitute of GSM text: %v allocations, want 0", n)
	}
	curly := strings.Repeat("It’s “fine” — ok. ", 8)
	if n := testing.AllocsPerRun(100, func() { sink, _ = coding.Substitute(curly) }); n != 1 {
		t.Fatalf("Substitute of curly text: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { sink, _ = coding.Substitute(ucs200) }); n != 0 {
		t.Fatalf("Substitute of UCS2 text: %v allocations, want 0", n)
	}
	_ = sink
}

// FuzzSubstitute checks the contract on any input: the result is either
// the input unchanged, or valid GSM7 text made of the input's GSM
// characters, in order, with each other character replaced by its table
// entry. And smart encoding never costs more segments.
func FuzzSubstitute(f *testing.F) {
	f.Add("It’s “fine” — ok…")
	f.Add("It’s 😀")
	f.Add("ＳＡＬＥ　５０％")
	f.Add("a\u00ADb\u200Bc\uFEFF")
	f.Add("bad \xff ’")
	f.Add(strings.Repeat("…", 70))
	table := map[rune]string{}
	for _, l := range coding.Lookalikes() {
		table[l.Char] = l.To
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, n := coding.Substitute(s)
		var want strings.Builder
		replaced, unknown := 0, false
		for _, r := range s {
			if _, ok := coding.GSM7Len(string(r)); ok && r != utf8.RuneError {
				want.WriteRune(r)
			} else if to, ok := table[r]; ok {
				want.WriteString(to)
				replaced++
			} else {
				unknown = true
			}
		}
		switch {
		case n == 0:
			if got != s {
				t.Fatalf("Substitute(%q) = %q with n = 0", s, got)
			}
			if utf8.ValidString(s) && !unknown && replaced > 0 {
				t.Fatalf("Substitute(%q) replaced nothing, but every character has a substitute", s)
			}
		default:
			if unknown || !utf8.ValidString(s) {
				t.Fatalf("Substitute(%q) = %q: replaced %d in text that must stay as it is", s, got, n)
			}
			if _, ok := coding.GSM7Len(got); !ok {
				t.Fatalf("Substitute(%q) = %q is not GSM7", s, got)
			}
			if got != want.String() || n != replaced {
				t.Fatalf("Substitute(%q) = %q, %d; want %q, %d", s, got, n, want.String(), replaced)
			}
		}
		plain, perr := coding.Prepare(s, coding.UDH8, false)
		smart, serr := coding.Prepare(s, coding.UDH8, true)
		if perr == nil && (serr != nil || smart.Segments > plain.Segments || smart.SegmentsSaved != plain.Segments-smart.Segments) {
			t.Fatalf("Prepare(%q): %d segments plain, %d smart (saved %d), %v", s, plain.Segments, smart.Segments, smart.SegmentsSaved, serr)
		}
		if smart.Replaced > 0 && smart.Text != got {
			t.Fatalf("Prepare(%q) sends %q, Substitute gives %q", s, smart.Text, got)
		}
	})
}

// BenchmarkSubstitute measures the substitution on the texts the API sees:
// ASCII (no work past one scan), GSM text with extension characters, text
// with curly quotes and dashes (substituted), and UCS2 text (given up at
// its first Cyrillic letter).
//
//	go test -run '^$' -bench 'Substitute|Prepare' -benchmem ./smpp/coding/
func BenchmarkSubstitute(b *testing.B) {
	curly := runes("It’s “fine” — see you at 5… ", 160)
	for _, c := range []struct{ name, s string }{
		{"ascii160", runes("Your code is 123456. Do not share it with anyone. ", 160)},
		{"gsm400", gsm400},
		{"curly160", curly},
		{"ucs200", ucs200},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				coding.Substitute(c.s)
			}
		})
	}
}

// BenchmarkPrepare is what the API runs per message, smart encoding off and on.
func BenchmarkPrepare(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"ascii160", runes("Your code is 123456. Do not share it with anyone. ", 160)},
		{"curly160", runes("It’s “fine” — see you at 5… ", 160)},
		{"ucs200", ucs200},
	} {
		for _, smart := range []bool{false, true} {
			b.Run(c.name+"/smart="+strconv.FormatBool(smart), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					coding.Prepare(c.s, coding.UDH8, smart)
				}
			})
		}
	}
}
