package coding_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// cat joins byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// n copies of octet c.
func n(c byte, count int) []byte { return bytes.Repeat([]byte{c}, count) }

func TestSplitBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		enc  coding.Encoding
		m    coding.Method
		ref  uint16
		want [][]byte // each part's Message
	}{
		{"gsm 160 single, no udh", rep("a", 160), coding.GSM7, coding.UDH8, 0x42, [][]byte{
			n(0x61, 160),
		}},
		{"gsm 161 udh8", rep("a", 161), coding.GSM7, coding.UDH8, 0x42, [][]byte{
			cat([]byte{0x05, 0x00, 0x03, 0x42, 0x02, 0x01}, n(0x61, 153)), // UDHL 5, IEI 00, len 3, ref, total 2, seq 1
			cat([]byte{0x05, 0x00, 0x03, 0x42, 0x02, 0x02}, n(0x61, 8)),
		}},
		{"gsm 161 udh16", rep("a", 161), coding.GSM7, coding.UDH16, 0x1234, [][]byte{
			cat([]byte{0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01}, n(0x61, 152)), // UDHL 6, IEI 08, len 4, ref BE, total, seq
			cat([]byte{0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02}, n(0x61, 9)),
		}},
		{"gsm 161 sar: text only", rep("a", 161), coding.GSM7, coding.SAR, 0xBEEF, [][]byte{
			n(0x61, 153),
			n(0x61, 8),
		}},
		{"gsm 161 payload: whole", rep("a", 161), coding.GSM7, coding.Payload, 0, [][]byte{
			n(0x61, 161),
		}},
		{"euro moves whole to part 2", rep("a", 152) + "€" + rep("b", 10), coding.GSM7, coding.UDH8, 7, [][]byte{
			cat([]byte{0x05, 0x00, 0x03, 0x07, 0x02, 0x01}, n(0x61, 152)), // 152 septets: the pair would not fit
			cat([]byte{0x05, 0x00, 0x03, 0x07, 0x02, 0x02}, []byte{0x1B, 0x65}, n(0x62, 10)),
		}},
		{"euro ends part 1", rep("a", 151) + "€" + rep("b", 10), coding.GSM7, coding.UDH8, 7, [][]byte{
			cat([]byte{0x05, 0x00, 0x03, 0x07, 0x02, 0x01}, n(0x61, 151), []byte{0x1B, 0x65}), // exactly 153
			cat([]byte{0x05, 0x00, 0x03, 0x07, 0x02, 0x02}, n(0x62, 10)),
		}},
		{"at pound currency", rep("@£¤", 54), coding.GSM7, coding.UDH8, 1, [][]byte{
			cat([]byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x01}, bytes.Repeat([]byte{0x00, 0x01, 0x24}, 51)), // @ £ ¤
			cat([]byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x02}, bytes.Repeat([]byte{0x00, 0x01, 0x24}, 3)),
		}},
		{"emoji moves whole to part 2", rep("a", 66) + "😀" + rep("b", 5), coding.UCS2, coding.UDH8, 0xFF, [][]byte{
			cat([]byte{0x05, 0x00, 0x03, 0xFF, 0x02, 0x01}, bytes.Repeat([]byte{0x00, 0x61}, 66)), // 66 units
			cat([]byte{0x05, 0x00, 0x03, 0xFF, 0x02, 0x02},
				[]byte{0xD8, 0x3D, 0xDE, 0x00}, // 😀 as a surrogate pair
				bytes.Repeat([]byte{0x00, 0x62}, 5)),
		}},
		{"emoji ends part 1 udh16", rep("a", 64) + "😀" + rep("b", 5), coding.UCS2, coding.UDH16, 0xABCD, [][]byte{
			cat([]byte{0x06, 0x08, 0x04, 0xAB, 0xCD, 0x02, 0x01}, bytes.Repeat([]byte{0x00, 0x61}, 64), []byte{0xD8, 0x3D, 0xDE, 0x00}),
			cat([]byte{0x06, 0x08, 0x04, 0xAB, 0xCD, 0x02, 0x02}, bytes.Repeat([]byte{0x00, 0x62}, 5)),
		}},
		{"emoji at 66 udh16", rep("a", 65) + "😀" + rep("b", 5), coding.UCS2, coding.UDH16, 0xABCD, [][]byte{
			cat([]byte{0x06, 0x08, 0x04, 0xAB, 0xCD, 0x02, 0x01}, bytes.Repeat([]byte{0x00, 0x61}, 65)),
			cat([]byte{0x06, 0x08, 0x04, 0xAB, 0xCD, 0x02, 0x02}, []byte{0xD8, 0x3D, 0xDE, 0x00}, bytes.Repeat([]byte{0x00, 0x62}, 5)),
		}},
		{"latin1 141", rep("é", 141), coding.Latin1, coding.UDH8, 3, [][]byte{
			cat([]byte{0x05, 0x00, 0x03, 0x03, 0x02, 0x01}, n(0xE9, 134)),
			cat([]byte{0x05, 0x00, 0x03, 0x03, 0x02, 0x02}, n(0xE9, 7)),
		}},
		{"empty text is one empty part", "", coding.GSM7, coding.UDH8, 0, [][]byte{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sp coding.Splitter
			parts, err := sp.Split(tt.s, tt.enc, tt.m, tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != len(tt.want) {
				t.Fatalf("%d parts, want %d", len(parts), len(tt.want))
			}
			for i, p := range parts {
				if !bytes.Equal(p.Message, tt.want[i]) {
					t.Errorf("part %d:\n got % x\nwant % x", i+1, p.Message, tt.want[i])
				}
			}
			checkParts(t, tt.s, tt.enc, tt.m, tt.ref, parts)
			if tt.m == coding.SAR && len(parts) > 1 && (parts[0].Ref != tt.ref || parts[1].Seq != 2 || parts[1].Total != 2) {
				t.Errorf("SAR values %+v", parts[1])
			}
		})
	}
}

// TestSplitEscapeAtBoundary puts each extension character at the last place
// of part 1, where its pair does not fit, and just before it, where it does.
func TestSplitEscapeAtBoundary(t *testing.T) {
	t.Parallel()
	for _, ch := range []string{"€", "[", "]", "{", "}", "~", "^", "|", "\\", "\f"} {
		for _, m := range []coding.Method{coding.UDH8, coding.UDH16, coding.SAR} {
			_, capUnits := coding.Capacity(coding.GSM7, m)
			code, _ := coding.AppendGSM7(nil, ch)
			for _, before := range []int{capUnits - 1, capUnits - 2} {
				t.Run(fmt.Sprintf("%q/%s/%d", ch, m, before), func(t *testing.T) {
					s := rep("a", before) + ch + rep("z", 20)
					parts, err := coding.Split(s, coding.GSM7, m, 9)
					if err != nil {
						t.Fatal(err)
					}
					if len(parts) != 2 {
						t.Fatalf("%d parts", len(parts))
					}
					d1, d2 := parts[0].Data(), parts[1].Data()
					if before == capUnits-1 {
						if len(d1) != capUnits-1 || !bytes.HasPrefix(d2, code) {
							t.Errorf("pair not moved whole: part 1 has %d septets ending % x, part 2 starts % x", len(d1), d1[len(d1)-2:], d2[:2])
						}
					} else if len(d1) != capUnits || !bytes.HasSuffix(d1, code) {
						t.Errorf("part 1 should end with the pair: %d septets ending % x", len(d1), d1[len(d1)-2:])
					}
					checkParts(t, s, coding.GSM7, m, 9, parts)
				})
			}
		}
	}
}

// TestSplitBoundaries checks round trips at the exact sizes where the part
// count changes.
func TestSplitBoundaries(t *testing.T) {
	t.Parallel()
	type tc struct {
		enc   coding.Encoding
		m     coding.Method
		unit  string
		count int
		parts int
	}
	var tests []tc
	for _, m := range []coding.Method{coding.UDH8, coding.SAR, coding.Payload} {
		payload := func(n int) int {
			if m == coding.Payload {
				return 1
			}
			return n
		}
		tests = append(tests,
			tc{coding.GSM7, m, "a", 160, 1}, tc{coding.GSM7, m, "a", 161, payload(2)},
			tc{coding.GSM7, m, "a", 306, payload(2)}, tc{coding.GSM7, m, "a", 307, payload(3)},
			tc{coding.GSM7, m, "@", 161, payload(2)}, tc{coding.GSM7, m, "£", 306, payload(2)},
			tc{coding.GSM7, m, "¤", 307, payload(3)},
			tc{coding.UCS2, m, "ж", 70, 1}, tc{coding.UCS2, m, "ж", 71, payload(2)},
			tc{coding.UCS2, m, "ж", 134, payload(2)}, tc{coding.UCS2, m, "ж", 135, payload(3)},
			tc{coding.Latin1, m, "ÿ", 140, 1}, tc{coding.Latin1, m, "ÿ", 141, payload(2)},
			tc{coding.Latin1, m, "ÿ", 268, payload(2)}, tc{coding.Latin1, m, "ÿ", 269, payload(3)},
		)
	}
	tests = append(tests,
		tc{coding.GSM7, coding.UDH16, "a", 161, 2}, tc{coding.GSM7, coding.UDH16, "a", 304, 2},
		tc{coding.GSM7, coding.UDH16, "a", 305, 3},
		tc{coding.UCS2, coding.UDH16, "ж", 132, 2}, tc{coding.UCS2, coding.UDH16, "ж", 133, 3},
		tc{coding.Latin1, coding.UDH16, "a", 266, 2}, tc{coding.Latin1, coding.UDH16, "a", 267, 3},
		tc{coding.GSM7, coding.UDH8, "a", 255 * 153, 255},
		tc{coding.UCS2, coding.UDH16, "😀", 255 * 33, 255},
	)
	var sp coding.Splitter // reused across cases on purpose
	for _, tt := range tests {
		s := rep(tt.unit, tt.count)
		parts, err := sp.Split(s, tt.enc, tt.m, 200)
		if err != nil {
			t.Fatalf("%s/%s %d×%q: %v", tt.enc, tt.m, tt.count, tt.unit, err)
		}
		if len(parts) != tt.parts {
			t.Errorf("%s/%s %d×%q: %d parts, want %d", tt.enc, tt.m, tt.count, tt.unit, len(parts), tt.parts)
		}
		checkParts(t, s, tt.enc, tt.m, 200, parts)
	}
}

func TestSplitErrors(t *testing.T) {
	t.Parallel()
	var sp coding.Splitter
	tests := []struct {
		name string
		s    string
		enc  coding.Encoding
		m    coding.Method
		ref  uint16
		want error
	}{
		{"udh8 ref above 255", "x", coding.GSM7, coding.UDH8, 256, coding.ErrBadArgument},
		{"bad encoding", "x", coding.Encoding(4), coding.UDH8, 0, coding.ErrBadArgument},
		{"bad method", "x", coding.GSM7, coding.Method(4), 0, coding.ErrBadArgument},
		{"not gsm", "façade", coding.GSM7, coding.UDH8, 0, coding.ErrUnencodable},
		{"not latin1", "€", coding.Latin1, coding.SAR, 0, coding.ErrUnencodable},
		{"invalid utf8", "\xc3(", coding.UCS2, coding.UDH16, 0, coding.ErrInvalidUTF8},
		{"256 parts", rep("a", 255*153+1), coding.GSM7, coding.UDH8, 0, coding.ErrTooManyParts},
	}
	for _, tt := range tests {
		parts, err := sp.Split(tt.s, tt.enc, tt.m, tt.ref)
		if !errors.Is(err, tt.want) || parts != nil {
			t.Errorf("%s: %d parts, %v; want %v", tt.name, len(parts), err, tt.want)
		}
	}
	// A 16-bit reference is fine for UDH16 and SAR.
	for _, m := range []coding.Method{coding.UDH16, coding.SAR} {
		if _, err := sp.Split(rep("a", 200), coding.GSM7, m, 0xFFFF); err != nil {
			t.Errorf("%s ref 0xFFFF: %v", m, err)
		}
	}
}

func TestSplitEncoded(t *testing.T) {
	t.Parallel()
	var sp coding.Splitter
	bin := make([]byte, 300)
	for i := range bin {
		bin[i] = byte(i)
	}
	parts, err := sp.SplitEncoded(bin, coding.Binary, coding.UDH8, 5)
	if err != nil || len(parts) != 3 {
		t.Fatalf("binary: %d parts, %v", len(parts), err)
	}
	for i, want := range [][]byte{bin[:134], bin[134:268], bin[268:]} {
		if !bytes.Equal(parts[i].Data(), want) || !bytes.Equal(parts[i].UDH(), []byte{0x05, 0x00, 0x03, 0x05, 0x03, byte(i + 1)}) {
			t.Errorf("binary part %d: % x", i, parts[i].Message[:8])
		}
	}
	checkParts(t, string(bin), coding.Binary, coding.UDH8, 5, parts)

	// Escape runs from other encoders: 1B 1B is one character (a space).
	data := cat(n(0x61, 151), []byte{0x1B, 0x1B, 0x1B, 0x65}, n(0x62, 10))
	parts, err = sp.SplitEncoded(data, coding.GSM7, coding.UDH8, 5)
	if err != nil || len(parts) != 2 {
		t.Fatalf("escape run: %d parts, %v", len(parts), err)
	}
	if want := cat(n(0x61, 151), []byte{0x1B, 0x1B}); !bytes.Equal(parts[0].Data(), want) {
		t.Errorf("escape run part 1 ends % x", parts[0].Data()[148:])
	}
	if want := cat([]byte{0x1B, 0x65}, n(0x62, 10)); !bytes.Equal(parts[1].Data(), want) {
		t.Errorf("escape run part 2 = % x", parts[1].Data())
	}
	data = cat(n(0x61, 150), []byte{0x1B, 0x1B, 0x1B, 0x65}, n(0x62, 10))
	parts, _ = sp.SplitEncoded(data, coding.GSM7, coding.UDH8, 5)
	if want := cat(n(0x61, 150), []byte{0x1B, 0x1B}); !bytes.Equal(parts[0].Data(), want) {
		t.Errorf("escape run at 150: part 1 ends % x", parts[0].Data()[148:])
	}

	// The input may be a part of the same Splitter.
	long, _ := sp.Split(rep("x", 400), coding.GSM7, coding.UDH8, 1)
	again, err := sp.SplitEncoded(long[0].Data(), coding.GSM7, coding.UDH8, 2)
	if err != nil || len(again) != 1 || !bytes.Equal(again[0].Message, n('x', 153)) {
		t.Errorf("aliasing: %d parts, %v", len(again), err)
	}

	for _, tc := range []struct {
		name string
		data []byte
		enc  coding.Encoding
	}{
		{"high octet", []byte{0x61, 0x80}, coding.GSM7},
		{"trailing escape", []byte{0x61, 0x1B}, coding.GSM7},
		{"odd escapes", []byte{0x1B, 0x1B, 0x1B}, coding.GSM7},
		{"odd ucs2", []byte{0x00, 0x61, 0x00}, coding.UCS2},
		{"lone high", []byte{0xD8, 0x3D, 0x00, 0x61}, coding.UCS2},
		{"lone low", []byte{0xDE, 0x00}, coding.UCS2},
	} {
		if _, err := sp.SplitEncoded(tc.data, tc.enc, coding.UDH8, 0); !errors.Is(err, coding.ErrMalformed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestSplitterReuse(t *testing.T) {
	t.Parallel()
	var sp coding.Splitter
	for i, s := range []string{rep("a", 400), "short", rep("€", 200), rep("b", 161)} {
		parts, err := sp.Split(s, coding.GSM7, coding.UDH16, uint16(i))
		if err != nil {
			t.Fatal(err)
		}
		checkParts(t, s, coding.GSM7, coding.UDH16, uint16(i), parts)
		if len(parts) > 1 {
			// Appending to one part never overwrites the next.
			next := append([]byte(nil), parts[1].Message...)
			_ = append(parts[0].Message, 0xEE, 0xEE)
			if !bytes.Equal(parts[1].Message, next) {
				t.Fatal("appending to part 1 changed part 2")
			}
		}
	}
}

func TestSplitFuncOwnsBytes(t *testing.T) {
	t.Parallel()
	a, _ := coding.Split(rep("a", 200), coding.GSM7, coding.UDH8, 1)
	b, _ := coding.Split(rep("b", 200), coding.GSM7, coding.UDH8, 2)
	if a[0].Data()[0] != 'a' || b[0].Data()[0] != 'b' {
		t.Error("Split results share storage")
	}
}
