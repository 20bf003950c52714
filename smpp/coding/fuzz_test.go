package coding_test

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// The seed corpora are in testdata/fuzz/<Name>/; these f.Add seeds repeat
// the main ones so a plain `go test` covers them even without the files.

func FuzzParseUDH(f *testing.F) {
	f.Add([]byte{0x05, 0x00, 0x03, 0xCC, 0x03, 0x01, 0x48, 0x69})                                     // 8-bit concat + "Hi"
	f.Add([]byte{0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02, 0x00, 0x41})                               // 16-bit concat + UCS2 "A"
	f.Add([]byte{0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x01, 0x01, 0x06}) // WAP push
	f.Add([]byte{0x05, 0x00, 0x03, 0x01, 0x02})                                                       // cut short
	f.Fuzz(func(t *testing.T, sm []byte) {
		h, payload, err := coding.ParseUDH(sm)
		if err != nil {
			if h.Len() != 0 || payload != nil {
				t.Fatalf("error %v with header %d and payload", err, h.Len())
			}
			return
		}
		if h.Len()+len(payload) != len(sm) || h.Len() != int(sm[0])+1 {
			t.Fatalf("header %d + payload %d != %d", h.Len(), len(payload), len(sm))
		}
		size := 1
		for ie := range h.All() {
			size += 2 + len(ie.Data)
			if d, ok := h.Lookup(ie.ID); !ok || len(d) > 255 {
				t.Fatalf("Lookup(%#x) failed", ie.ID)
			}
		}
		if size != h.Len() {
			t.Fatalf("elements cover %d octets, header has %d", size, h.Len())
		}
		if _, total, seq, ok := h.Concat(); ok && (total == 0 || seq == 0 || seq > total) {
			t.Fatalf("Concat ok with total %d seq %d", total, seq)
		}
		h.Ports()
	})
}

func FuzzDecodeGSM7(f *testing.F) {
	f.Add([]byte("Hello"))
	f.Add([]byte{0x00, 0x01, 0x24, 0x1B, 0x65})       // @ £ ¤ €
	f.Add([]byte{0x1B, 0x1B, 0x1B, 0x41, 0x1B})       // escape run, dangling escape
	f.Add([]byte{0x41, 0x80, 0xFF})                   // not septets
	f.Add([]byte{0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97}) // packed "hello", mistaken for unpacked
	f.Fuzz(func(t *testing.T, b []byte) {
		repl := coding.AppendDecodeReplace(nil, b, coding.GSM7)
		if !utf8.Valid(repl) {
			t.Fatalf("AppendDecodeReplace gives invalid UTF-8 %q", repl)
		}
		s, err := coding.DecodeGSM7(b)
		if err != nil {
			return
		}
		if s != string(repl) {
			t.Fatalf("strict %q and replacing %q decoders differ", s, repl)
		}
		if n, ok := coding.GSM7Len(s); !ok || n > len(b) {
			t.Fatalf("decoded %q does not fit GSM7 again (%d septets from %d)", s, n, len(b))
		}
		back, err := coding.AppendGSM7(nil, s)
		if err != nil {
			t.Fatalf("decoded %q does not encode: %v", s, err)
		}
		// Without escapes the coding is one to one.
		if bytes.IndexByte(b, 0x1B) < 0 && !bytes.Equal(back, b) {
			t.Fatalf("% x decodes to %q which encodes to % x", b, s, back)
		}
		// Packing is lossless.
		for fill := range 7 {
			packed := coding.PackSeptets(nil, b, fill)
			un, err := coding.UnpackSeptets(nil, packed, len(b), fill)
			if err != nil || !bytes.Equal(un, b) {
				t.Fatalf("pack/unpack with %d fill bits: % x, %v", fill, un, err)
			}
		}
	})
}

// FuzzSplit splits any text in any encoding that can carry it and checks the
// parts as the property test does.
func FuzzSplit(f *testing.F) {
	f.Add(rep("a", 152)+"€b", byte(0), byte(0), uint16(7))
	f.Add(rep("a", 66)+"😀b"+rep("c", 10), byte(1), byte(1), uint16(0x1234))
	f.Add(rep("é", 141), byte(2), byte(2), uint16(3))
	f.Add("\xff\x00"+rep("x", 300), byte(3), byte(3), uint16(0))
	var sp coding.Splitter
	f.Fuzz(func(t *testing.T, s string, encB, mB byte, ref uint16) {
		enc, m := coding.Encoding(encB%4), coding.Method(mB%4)
		if m == coding.UDH8 {
			ref &= 0xFF
		}
		parts, err := sp.Split(s, enc, m, ref)
		_, cerr := coding.Count(s, enc, m)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Split error %v, Count error %v", err, cerr)
		}
		if err != nil {
			return
		}
		checkParts(t, s, enc, m, ref, parts)
	})
}
