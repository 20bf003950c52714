package coding_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func TestAppendGSM7(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []byte
	}{
		{"empty", "", []byte{}},
		{"ascii", "Hi 5!", []byte{0x48, 0x69, 0x20, 0x35, 0x21}},
		{"at is zero", "a@b", []byte{
			0x61,
			0x00, // '@'
			0x62,
		}},
		{"not ascii", "@£$¥_¤", []byte{
			0x00, // '@'
			0x01, // '£'
			0x02, // '$'
			0x03, // '¥'
			0x11, // '_'
			0x24, // '¤' (not '$')
		}},
		{"latin letters", "èéùìòÇØøÅåÆæßÉÄÖÑÜ§¿äöñüà¡", []byte{
			0x04, 0x05, 0x06, 0x07, 0x08, // è é ù ì ò
			0x09,       // Ç (capital, as in the ETSI table)
			0x0B, 0x0C, // Ø ø
			0x0E, 0x0F, // Å å
			0x1C, 0x1D, 0x1E, 0x1F, // Æ æ ß É
			0x5B, 0x5C, 0x5D, 0x5E, 0x5F, // Ä Ö Ñ Ü §
			0x60,                         // ¿
			0x7B, 0x7C, 0x7D, 0x7E, 0x7F, // ä ö ñ ü à
			0x40, // ¡
		}},
		{"greek", "ΔΦΓΛΩΠΨΣΘΞ", []byte{0x10, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A}},
		{"line ends", "a\r\nb", []byte{0x61, 0x0D, 0x0A, 0x62}},
		{"extension table", "\f^{}\\[~]|€", []byte{
			0x1B, 0x0A, // form feed
			0x1B, 0x14, // ^
			0x1B, 0x28, // {
			0x1B, 0x29, // }
			0x1B, 0x2F, // \
			0x1B, 0x3C, // [
			0x1B, 0x3D, // ~
			0x1B, 0x3E, // ]
			0x1B, 0x40, // |
			0x1B, 0x65, // €
		}},
		{"euro price", "€5", []byte{0x1B, 0x65, 0x35}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{0xAA}
			got, err := coding.AppendGSM7(prefix, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[1:], tt.want) || got[0] != 0xAA {
				t.Fatalf("AppendGSM7(%q) = % x, want aa % x", tt.in, got, tt.want)
			}
			n, ok := coding.GSM7Len(tt.in)
			if !ok || n != len(tt.want) {
				t.Errorf("GSM7Len = %d, %v; want %d, true", n, ok, len(tt.want))
			}
			back, err := coding.DecodeGSM7(tt.want)
			if err != nil || back != tt.in {
				t.Errorf("DecodeGSM7 = %q, %v; want %q", back, err, tt.in)
			}
			if coding.Choose(tt.in) != coding.GSM7 {
				t.Errorf("Choose(%q) = %s", tt.in, coding.Choose(tt.in))
			}
		})
	}
}

// TestGSM7Table decodes every septet and escape pair and encodes the text back.
func TestGSM7Table(t *testing.T) {
	t.Parallel()
	seen := map[rune]bool{}
	for c := range 0x80 {
		if c == 0x1B {
			continue
		}
		s, err := coding.DecodeGSM7([]byte{byte(c)})
		if err != nil || utf8.RuneCountInString(s) != 1 {
			t.Fatalf("septet %#x decodes to %q, %v", c, s, err)
		}
		r, _ := utf8.DecodeRuneInString(s)
		if seen[r] {
			t.Errorf("septet %#x: %q decoded twice", c, r)
		}
		seen[r] = true
		enc, err := coding.AppendGSM7(nil, s)
		if err != nil || !bytes.Equal(enc, []byte{byte(c)}) {
			t.Errorf("%q encodes to % x, %v; want %02x", s, enc, err, c)
		}
	}
	if len(seen) != 127 {
		t.Errorf("%d characters in the default alphabet, want 127", len(seen))
	}
	ext := 0
	for c := range 0x80 {
		s, err := coding.DecodeGSM7([]byte{0x1B, byte(c)})
		if err != nil {
			t.Fatalf("1b %02x: %v", c, err)
		}
		enc, _ := coding.AppendGSM7(nil, s)
		if len(enc) == 2 {
			ext++
			if enc[1] != byte(c) {
				t.Errorf("1b %02x decodes to %q which encodes to % x", c, s, enc)
			}
		}
	}
	if ext != 10 {
		t.Errorf("%d extension characters, want 10", ext)
	}
}

func TestAppendGSM7Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		offset  int
		char    rune
		invalid bool
	}{
		{"small c cedilla", "façade", 2, 'ç', false},
		{"cjk", "ok 中", 3, '中', false},
		{"tab", "a\tb", 1, '\t', false},
		{"nul is not @", "\x00", 0, 0, false},
		{"escape control", "\x1b", 0, 0x1B, false},
		{"grave accent", "`", 0, '`', false},
		{"emoji", "hi 😀", 3, '😀', false},
		{"replacement char itself", "\uFFFD", 0, utf8.RuneError, false},
		{"invalid utf8", "ab\xff", 2, utf8.RuneError, true},
		{"stray continuation", "\x80", 0, utf8.RuneError, true},
		{"truncated sequence", "é\xc3", 2, utf8.RuneError, true},
		{"surrogate in utf8", "\xed\xa0\x80", 0, utf8.RuneError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := coding.AppendGSM7(dst, tt.in)
			var ee *coding.EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("AppendGSM7(%q) error %v, want *EncodeError", tt.in, err)
			}
			if ee.Offset != tt.offset || ee.Char != tt.char || ee.InvalidUTF8 != tt.invalid || ee.Encoding != coding.GSM7 {
				t.Errorf("error %+v, want offset %d char %q invalid %v", ee, tt.offset, tt.char, tt.invalid)
			}
			want := coding.ErrUnencodable
			if tt.invalid {
				want = coding.ErrInvalidUTF8
			}
			if !errors.Is(err, want) {
				t.Errorf("error %v is not %v", err, want)
			}
			if string(got) != "keep" {
				t.Errorf("dst became %q", got)
			}
			if _, ok := coding.GSM7Len(tt.in); ok {
				t.Error("GSM7Len says it fits")
			}
			if _, err := coding.Count(tt.in, coding.GSM7, coding.UDH8); !errors.Is(err, want) {
				t.Errorf("Count error %v, want %v", err, want)
			}
			if coding.Choose(tt.in) != coding.UCS2 {
				t.Errorf("Choose(%q) = %s, want UCS2", tt.in, coding.Choose(tt.in))
			}
		})
	}
}

func TestDecodeGSM7(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want string
		err  string // substring of the error; "" for none
		repl string // AppendDecodeReplace result; want when ""
	}{
		{"empty", nil, "", "", ""},
		{"at not terminator", []byte{0x00, 0x00, 0x41}, "@@A", "", ""},
		{"euro", []byte{0x1B, 0x65}, "€", "", ""},
		{"undefined escape gives base", []byte{0x1B, 0x41}, "A", "", ""},          // 23.038 §6.2.1.1
		{"undefined escape of at", []byte{0x1B, 0x00}, "@", "", ""},               // base character
		{"CR2 gives base CR", []byte{0x1B, 0x0D}, "\r", "", ""},                   // reserved code
		{"double escape is space", []byte{0x1B, 0x1B, 0x41}, " A", "", ""},        // reserved for another table
		{"escape run", []byte{0x1B, 0x1B, 0x1B, 0x65}, " €", "", ""},              // pairs from the left
		{"dangling escape", []byte{0x41, 0x1B}, "", "octet 1: escape", "A\uFFFD"}, // cut pair
		{"high octet", []byte{0x41, 0x80, 0x42}, "", "octet 1: octet 0x80", "A\uFFFDB"},
		{"high octet after escape", []byte{0x1B, 0xE5}, "", "octet 1: octet 0xe5", "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := coding.DecodeGSM7(tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("DecodeGSM7(% x) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
			} else {
				var de *coding.DecodeError
				if !errors.As(err, &de) || !errors.Is(err, coding.ErrMalformed) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("DecodeGSM7(% x) error %v, want %q", tt.in, err, tt.err)
				}
				if out, _ := coding.AppendDecodeGSM7([]byte("x"), tt.in); string(out) != "x" {
					t.Errorf("dst became %q on error", out)
				}
			}
			repl := tt.repl
			if repl == "" {
				repl = tt.want
			}
			if r := coding.AppendDecodeReplace(nil, tt.in, coding.GSM7); string(r) != repl {
				t.Errorf("AppendDecodeReplace = %q, want %q", r, repl)
			}
		})
	}
}

func TestGSM7Len(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		fits bool
	}{
		{"", 0, true},
		{"abc", 3, true},
		{"€", 2, true},
		{"a{b}", 6, true},
		{"@£¤", 3, true},
		{strings.Repeat("€", 80), 160, true},
		{"abç", 2, false}, // counted up to the first misfit
	}
	for _, tt := range tests {
		if n, ok := coding.GSM7Len(tt.in); n != tt.n || ok != tt.fits {
			t.Errorf("GSM7Len(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.fits)
		}
	}
}

func TestPackSeptets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		septets []byte
		fill    int
		want    []byte
	}{
		// "hellohello", the example of 3GPP TS 23.038 §6.1.2.1.1.
		{"hellohello", []byte("hellohello"), 0, []byte{0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37}},
		{"one septet", []byte{0x7F}, 0, []byte{0x7F}},
		{"eight septets fill seven octets", []byte{1, 2, 3, 4, 5, 6, 7, 8}, 0, []byte{
			0x01, // s0=1 in bits 0-6, bit 0 of s1=2 (0)
			0xC1, // s1>>1 = 1, s2=3 in bits 6-7
			0x80, // s2>>2 = 0, s3=4 <<5
			0x50, // s3>>3 = 0, s4=5 <<4
			0x30, // s4>>4 = 0, s5=6 <<3
			0x1C, // s5>>5 = 0, s6=7 <<2
			0x10, // s6>>6 = 0, s7=8 <<1
		}},
		// After a 6-octet UDH: 1 fill bit, so "A" (0x41) starts at bit 1.
		{"one fill bit", []byte{0x41}, 1, []byte{0x82}},
		{"six fill bits", []byte{0x7F}, 6, []byte{0xC0, 0x1F}},
		{"empty", nil, 3, []byte{}},
		{"high bit ignored", []byte{0xFF}, 0, []byte{0x7F}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := coding.PackSeptets([]byte{0xAA}, tt.septets, tt.fill)
			if !bytes.Equal(got[1:], tt.want) || got[0] != 0xAA {
				t.Fatalf("PackSeptets = % x, want aa % x", got, tt.want)
			}
			if len(tt.septets) > 0 && len(tt.want) != coding.PackedLen(len(tt.septets), tt.fill) {
				t.Errorf("PackedLen = %d", coding.PackedLen(len(tt.septets), tt.fill))
			}
			back, err := coding.UnpackSeptets(nil, tt.want, len(tt.septets), tt.fill)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.septets {
				if back[i] != tt.septets[i]&0x7F {
					t.Fatalf("UnpackSeptets = % x, want % x", back, tt.septets)
				}
			}
		})
	}
}

func TestPackRoundTrip(t *testing.T) {
	t.Parallel()
	for fill := range 7 {
		for n := range 40 {
			septets := make([]byte, n)
			for i := range septets {
				septets[i] = byte(i*37+fill) & 0x7F
			}
			packed := coding.PackSeptets(nil, septets, fill)
			if len(packed) != coding.PackedLen(n, fill) && n > 0 {
				t.Fatalf("fill %d n %d: %d octets", fill, n, len(packed))
			}
			if n > 0 && fill > 0 && packed[0]&(1<<fill-1) != 0 {
				t.Fatalf("fill %d: fill bits not zero: %08b", fill, packed[0])
			}
			got, err := coding.UnpackSeptets(nil, packed, n, fill)
			if err != nil || !bytes.Equal(got, septets) {
				t.Fatalf("fill %d n %d: % x, %v; want % x", fill, n, got, err, septets)
			}
		}
	}
}

func TestUnpackSeptetsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		packed  []byte
		n, fill int
	}{
		{[]byte{0xE8}, 2, 0},       // 8 bits hold 1 septet
		{[]byte{0xE8, 0x32}, 2, 3}, // 16 bits - 3 fill hold 1
		{nil, 1, 0},
		{[]byte{0}, -1, 0},
		{[]byte{0}, 0, 7},
		{[]byte{0}, 0, -1},
	} {
		if _, err := coding.UnpackSeptets(nil, tc.packed, tc.n, tc.fill); !errors.Is(err, coding.ErrMalformed) {
			t.Errorf("UnpackSeptets(% x, %d, %d) error %v", tc.packed, tc.n, tc.fill, err)
		}
	}
}

func TestPackSeptetsPanicsOnBadFill(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("no panic for fillBits 7")
		}
	}()
	coding.PackSeptets(nil, []byte{1}, 7)
}

func TestFillBits(t *testing.T) {
	t.Parallel()
	for udh, want := range map[int]int{0: 0, 6: 1, 7: 0, 5: 2, 12: 2, 140: 0} {
		if got := coding.FillBits(udh); got != want {
			t.Errorf("FillBits(%d) = %d, want %d", udh, got, want)
		}
	}
}
