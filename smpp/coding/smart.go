package coding

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Smart encoding: Unicode look-alikes of GSM 7-bit characters (curly
// quotes, dashes, the ellipsis, Unicode spaces, bullets, fullwidth ASCII
// forms and the like), which word processors and phone keyboards slip into
// text, turn a GSM7 text into a UCS2 one and so cut each part from 160 to 70
// characters. [Substitute] replaces them; [Prepare] decides whether a
// message is sent substituted. The table is documented, with its sources, in
// docs/encoding.md, and a test keeps the two the same.

// Lookalike is one entry of the substitution table.
type Lookalike struct {
	Char rune   // the character replaced; never in the GSM 7-bit alphabet
	To   string // its replacement: GSM 7-bit characters, or "" (dropped)
	Name string // the character's Unicode name, lower case
}

// lookalikes is the substitution table, sorted by Char, without the
// fullwidth forms U+FF01..U+FF5E, which map by offset (see fullwidth).
// Characters that carry meaning (letters of any script, accented letters
// the GSM alphabet lacks, emoji, symbols such as © or ½) are not in it, nor
// are the zero-width joiners, which shape scripts and emoji.
var lookalikes = []Lookalike{
	{'\t', " ", "character tabulation"},
	{'`', "'", "grave accent"},
	{'\u00A0', " ", "no-break space"},
	{'\u00AB', `"`, "left-pointing double angle quotation mark"},
	{'\u00AD', "", "soft hyphen"},
	{'\u00B4', "'", "acute accent"},
	{'\u00BB', `"`, "right-pointing double angle quotation mark"},
	{'\u02B9', "'", "modifier letter prime"},
	{'\u02BA', `"`, "modifier letter double prime"},
	{'\u02BB', "'", "modifier letter turned comma"},
	{'\u02BC', "'", "modifier letter apostrophe"},
	{'\u02BD', "'", "modifier letter reversed comma"},
	{'\u02C2', "<", "modifier letter left arrowhead"},
	{'\u02C3', ">", "modifier letter right arrowhead"},
	{'\u02C4', "^", "modifier letter up arrowhead"},
	{'\u02C6', "^", "modifier letter circumflex accent"},
	{'\u02C8', "'", "modifier letter vertical line"},
	{'\u02CA', "'", "modifier letter acute accent"},
	{'\u02CB', "'", "modifier letter grave accent"},
	{'\u02DC', "~", "small tilde"},
	{'\u02EE', `"`, "modifier letter double apostrophe"},
	{'\u2000', " ", "en quad"},
	{'\u2001', " ", "em quad"},
	{'\u2002', " ", "en space"},
	{'\u2003', " ", "em space"},
	{'\u2004', " ", "three-per-em space"},
	{'\u2005', " ", "four-per-em space"},
	{'\u2006', " ", "six-per-em space"},
	{'\u2007', " ", "figure space"},
	{'\u2008', " ", "punctuation space"},
	{'\u2009', " ", "thin space"},
	{'\u200A', " ", "hair space"},
	{'\u200B', "", "zero width space"},
	{'\u2010', "-", "hyphen"},
	{'\u2011', "-", "non-breaking hyphen"},
	{'\u2012', "-", "figure dash"},
	{'\u2013', "-", "en dash"},
	{'\u2014', "-", "em dash"},
	{'\u2015', "-", "horizontal bar"},
	{'\u2018', "'", "left single quotation mark"},
	{'\u2019', "'", "right single quotation mark"},
	{'\u201A', "'", "single low-9 quotation mark"},
	{'\u201B', "'", "single high-reversed-9 quotation mark"},
	{'\u201C', `"`, "left double quotation mark"},
	{'\u201D', `"`, "right double quotation mark"},
	{'\u201E', `"`, "double low-9 quotation mark"},
	{'\u201F', `"`, "double high-reversed-9 quotation mark"},
	{'\u2022', "-", "bullet"},
	{'\u2023', "-", "triangular bullet"},
	{'\u2024', ".", "one dot leader"},
	{'\u2025', "..", "two dot leader"},
	{'\u2026', "...", "horizontal ellipsis"},
	{'\u2028', "\n", "line separator"},
	{'\u2029', "\n", "paragraph separator"},
	{'\u202F', " ", "narrow no-break space"},
	{'\u2032', "'", "prime"},
	{'\u2033', `"`, "double prime"},
	{'\u2035', "'", "reversed prime"},
	{'\u2039', "<", "single left-pointing angle quotation mark"},
	{'\u203A', ">", "single right-pointing angle quotation mark"},
	{'\u2043', "-", "hyphen bullet"},
	{'\u2044', "/", "fraction slash"},
	{'\u205F', " ", "medium mathematical space"},
	{'\u2060', "", "word joiner"},
	{'\u2212', "-", "minus sign"},
	{'\u2215', "/", "division slash"},
	{'\u2216', `\`, "set minus"},
	{'\u2217', "*", "asterisk operator"},
	{'\u2223', "|", "divides"},
	{'\u275B', "'", "heavy single turned comma quotation mark ornament"},
	{'\u275C', "'", "heavy single comma quotation mark ornament"},
	{'\u275D', `"`, "heavy double turned comma quotation mark ornament"},
	{'\u275E', `"`, "heavy double comma quotation mark ornament"},
	{'\u3000', " ", "ideographic space"},
	{'\u301D', `"`, "reversed double prime quotation mark"},
	{'\u301E', `"`, "double prime quotation mark"},
	{'\u301F', `"`, "low double prime quotation mark"},
	{'\uFE58', "-", "small em dash"},
	{'\uFE63', "-", "small hyphen-minus"},
	{'\uFEFF', "", "zero width no-break space"},
	{'\uFFE1', "£", "fullwidth pound sign"},
	{'\uFFE5', "¥", "fullwidth yen sign"},
}

// The fullwidth forms of ASCII, U+FF01..U+FF5E, are the ASCII characters
// U+0021..U+007E shifted by fullwidthOffset; all of them are GSM 7-bit
// characters (some from the extension table) except the grave accent, whose
// fullwidth form U+FF40 becomes an apostrophe as U+0060 does.
const (
	fullwidthFirst  = 0xFF01
	fullwidthLast   = 0xFF5E
	fullwidthOffset = 0xFEE0
)

// Lookalikes returns the substitution table of [Substitute], sorted by
// character, the fullwidth forms U+FF01..U+FF5E included. The slice is the
// caller's.
func Lookalikes() []Lookalike {
	out := make([]Lookalike, 0, len(lookalikes)+fullwidthLast-fullwidthFirst+1)
	out = append(out, lookalikes...)
	for r := rune(fullwidthFirst); r <= fullwidthLast; r++ {
		to, _ := lookalike(r)
		out = append(out, Lookalike{Char: r, To: to, Name: "fullwidth form of U+" + hex4(r-fullwidthOffset)})
	}
	slices.SortFunc(out, func(a, b Lookalike) int { return int(a.Char - b.Char) })
	return out
}

func hex4(r rune) string {
	return string([]byte{hexDigits[r>>12&15], hexDigits[r>>8&15], hexDigits[r>>4&15], hexDigits[r&15]})
}

// lookalike returns the replacement of r, a character outside the GSM
// 7-bit alphabet, and whether the table has one.
func lookalike(r rune) (string, bool) {
	if r >= fullwidthFirst && r <= fullwidthLast {
		if r == 0xFF40 {
			return "'", true
		}
		return asciiStrings[r-fullwidthOffset], true
	}
	if r < 0 || r > 0xFFFF {
		return "", false
	}
	if page := lookalikePages[r>>8]; page != nil {
		if i := page[r&0xFF]; i != 0 {
			return lookalikes[i-1].To, true
		}
	}
	return "", false
}

// lookalikePages indexes lookalikes by character, for a lookup in two
// loads: lookalikePages[r>>8][r&0xFF] is the entry's index + 1, 0 for none.
// Only the few 256-character pages the table touches are allocated.
var lookalikePages [256]*[256]uint8

func init() {
	if len(lookalikes) > 255 {
		panic("coding: the look-alike table outgrew its uint8 index")
	}
	for i, l := range lookalikes {
		if l.Char > 0xFFFF {
			panic("coding: look-alike outside the BMP")
		}
		p := lookalikePages[l.Char>>8]
		if p == nil {
			p = new([256]uint8)
			lookalikePages[l.Char>>8] = p
		}
		p[l.Char&0xFF] = uint8(i + 1)
	}
}

// asciiStrings holds a one-character string per ASCII character, so that
// a fullwidth replacement does not allocate.
var asciiStrings [utf8.RuneSelf]string

func init() {
	for c := range asciiStrings {
		asciiStrings[c] = string(rune(c))
	}
}

// Substitute replaces the look-alikes of GSM 7-bit characters in s (the
// table of [Lookalikes]) when that makes the whole text GSM7, and returns
// the result and how many characters it replaced.
//
// Its contract: either every character of the result is in the GSM 7-bit
// alphabet or its extension table, and the result is s with each table
// character replaced by its table entry (the other characters unchanged and
// in order), n >= 1; or the result is s itself, n == 0. The latter when s
// is already GSM7 (nothing to replace), is not valid UTF-8, or holds a
// character that is neither GSM7 nor in the table — an emoji, a letter of a
// non-Latin script, an accented letter the GSM alphabet lacks: such text
// stays as it is and goes as UCS2, look-alikes included, because replacing
// some of them would save nothing.
//
// Text of GSM7 characters only is returned at the cost of one scan, without
// allocating; otherwise the result is allocated once.
func Substitute(s string) (string, int) {
	_, _, bad := gsm7Scan(s)
	if bad < 0 {
		return s, 0
	}
	// A first pass checks that every other character has a replacement
	// and sizes the result, so nothing is built for text that stays UCS2.
	size, n := bad, 0
	for i := bad; i < len(s); {
		c := s[i]
		if gsmASCII[c]>>8 == 1 {
			size++
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			return s, 0
		}
		if gsmEncode(r) != 0 {
			size += w
		} else if to, ok := lookalike(r); ok {
			size += len(to)
			n++
		} else {
			return s, 0
		}
		i += w
	}
	var out strings.Builder
	out.Grow(size)
	out.WriteString(s[:bad])
	last := bad // s[last:i] is not yet copied
	for i := bad; i < len(s); {
		if gsmASCII[s[i]]>>8 == 1 {
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if gsmEncode(r) != 0 {
			i += w
			continue
		}
		to, _ := lookalike(r)
		out.WriteString(s[last:i])
		out.WriteString(to)
		i += w
		last = i
	}
	out.WriteString(s[last:])
	return out.String(), n
}

// Prepared is how a text is sent: the text, its encoding and its count.
type Prepared struct {
	// Text is the text as sent: the input, or its substitution.
	Text string
	// Info is Text's count, in Info.Encoding.
	Info
	// Replaced is how many look-alikes were replaced; 0 when Text is the
	// input.
	Replaced int
	// SegmentsSaved is how many fewer segments Text costs than the input
	// would (0 when Text is the input).
	SegmentsSaved int
}

// Prepare decides how s is sent with method m, as the engine bills it: in
// GSM7 when every character allows ([Choose]), else UCS2; and, with smart
// set, with its look-alikes replaced ([Substitute]) when that makes it GSM7
// and costs no more segments than sending it as it is. (Replacing "…" by
// "..." can cost more: 70 ellipses are one UCS2 segment, 210 septets two.)
//
// The errors are [Count]'s: text that is not valid UTF-8 is an
// [*EncodeError]; text of more than [MaxParts] segments returns the full
// Prepared and an error wrapping [ErrTooManyParts]. It allocates only for
// a substituted text.
func Prepare(s string, m Method, smart bool) (Prepared, error) {
	enc := Choose(s)
	info, err := Count(s, enc, m)
	p := Prepared{Text: s, Info: info}
	if !smart || enc == GSM7 || (err != nil && !isTooMany(err)) {
		return p, err
	}
	sub, n := Substitute(s)
	if n == 0 {
		return p, err
	}
	subInfo, subErr := Count(sub, GSM7, m)
	if subErr != nil && !isTooMany(subErr) {
		return p, err // cannot happen: Substitute returns GSM7 text
	}
	if subInfo.Segments > info.Segments {
		return p, err
	}
	return Prepared{Text: sub, Info: subInfo, Replaced: n, SegmentsSaved: info.Segments - subInfo.Segments}, subErr
}

func isTooMany(err error) bool {
	_, ok := err.(*partsError)
	return ok
}
