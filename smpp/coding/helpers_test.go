package coding_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// udhFor returns the concatenation UDH the method puts before part seq of total.
func udhFor(m coding.Method, ref uint16, total, seq int) []byte {
	switch m {
	case coding.UDH8:
		return []byte{0x05, 0x00, 0x03, byte(ref), byte(total), byte(seq)}
	case coding.UDH16:
		return []byte{0x06, 0x08, 0x04, byte(ref >> 8), byte(ref), byte(total), byte(seq)}
	}
	return nil
}

// firstAtom returns the size in octets of the first character of encoded data.
func firstAtom(data []byte, enc coding.Encoding) int {
	switch {
	case len(data) == 0:
		return 0
	case enc == coding.GSM7 && data[0] == 0x1B:
		return 2
	case enc == coding.UCS2 && data[0]&0xFC == 0xD8:
		return 4
	case enc == coding.UCS2:
		return 2
	}
	return 1
}

// checkParts checks everything a split of s must satisfy and reports the
// problems as test errors: each part's UDH and values, that every part is
// within its limit and as full as possible, that each part decodes alone,
// that the parts joined decode to s, and that Count agrees.
func checkParts(t testing.TB, s string, enc coding.Encoding, m coding.Method, ref uint16, parts []coding.Part) {
	t.Helper()
	info, err := coding.Count(s, enc, m)
	if err != nil {
		t.Fatalf("Count(%s, %s): %v", enc, m, err)
	}
	if m == coding.Payload {
		if len(parts) != 1 {
			t.Fatalf("Payload gave %d parts", len(parts))
		}
	} else if len(parts) != info.Segments {
		t.Errorf("%s/%s: %d parts, Count says %d segments", enc, m, len(parts), info.Segments)
	}
	single, capUnits := coding.Capacity(enc, m)
	us := 1
	if enc == coding.UCS2 {
		us = 2
	}
	var all []byte
	var joined strings.Builder
	for i, p := range parts {
		total, seq := len(parts), i+1
		if int(p.Total) != total || int(p.Seq) != seq {
			t.Errorf("part %d: Seq/Total %d/%d, want %d/%d", i, p.Seq, p.Total, seq, total)
		}
		if !bytes.Equal(p.Message, append(append([]byte(nil), p.UDH()...), p.Data()...)) {
			t.Errorf("part %d: Message is not UDH+Data", i)
		}
		if total == 1 {
			if p.UDHLen != 0 || p.Ref != 0 {
				t.Errorf("single part has UDHLen %d Ref %d", p.UDHLen, p.Ref)
			}
			if m != coding.Payload && len(p.Data()) > single*us {
				t.Errorf("single part holds %d octets, limit %d", len(p.Data()), single*us)
			}
		} else {
			if want := udhFor(m, ref, total, seq); !bytes.Equal(p.UDH(), want) {
				t.Errorf("part %d: UDH % x, want % x", i, p.UDH(), want)
			}
			if p.Ref != ref {
				t.Errorf("part %d: Ref %d, want %d", i, p.Ref, ref)
			}
			if len(p.Data()) > capUnits*us {
				t.Errorf("part %d: %d octets of text, limit %d", i, len(p.Data()), capUnits*us)
			}
			if len(p.UDH()) > 0 {
				h, payload, err := coding.ParseUDH(p.Message)
				r, tt, sq, ok := h.Concat()
				if err != nil || !ok || r != ref || int(tt) != total || int(sq) != seq || !bytes.Equal(payload, p.Data()) {
					t.Errorf("part %d: ParseUDH gives %d/%d/%d ok=%v err=%v", i, r, tt, sq, ok, err)
				}
			}
			if seq < total { // as full as possible: the next character would not fit
				next := parts[i+1].Data()
				if len(p.Data())+firstAtom(next, enc) <= capUnits*us {
					t.Errorf("part %d: %d octets, but the next part's first character (%d octets) would fit", i, len(p.Data()), firstAtom(next, enc))
				}
			}
		}
		txt, err := coding.Decode(p.Data(), enc)
		if err != nil {
			t.Errorf("part %d does not decode alone: %v (% x)", i, err, p.Data())
		}
		joined.WriteString(txt)
		all = append(all, p.Data()...)
	}
	if got := joined.String(); got != s {
		t.Errorf("%s/%s: parts decode to %q…, want %q… (%d vs %d bytes)", enc, m, trunc(got), trunc(s), len(got), len(s))
	}
	if enc != coding.Binary {
		if got, err := coding.Decode(all, enc); err != nil || got != s {
			t.Errorf("%s/%s: joined data decodes to %q, %v", enc, m, trunc(got), err)
		}
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}
