package coding_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func TestParseUDH(t *testing.T) {
	t.Parallel()
	type concat struct {
		ref        uint16
		total, seq uint8
		ok         bool
	}
	type ports struct {
		dst, src uint16
		ok       bool
	}
	tests := []struct {
		name    string
		sm      []byte
		len     int
		ies     []coding.IE
		payload []byte
		concat  concat
		ports   ports
	}{
		{"8-bit concat", []byte{
			0x05,       // UDHL
			0x00, 0x03, // IEI concat 8-bit, length 3
			0xCC, 0x03, 0x01, // ref 0xCC, 3 parts, part 1
			0x48, 0x69, // "Hi"
		}, 6, []coding.IE{{ID: 0x00, Data: []byte{0xCC, 0x03, 0x01}}}, []byte("Hi"), concat{0xCC, 3, 1, true}, ports{}},
		{"16-bit concat", []byte{
			0x06,       // UDHL
			0x08, 0x04, // IEI concat 16-bit, length 4
			0x12, 0x34, 0x02, 0x02, // ref 0x1234, 2 parts, part 2
			0x00, 0x41, // UCS2 "A"
		}, 7, []coding.IE{{ID: 0x08, Data: []byte{0x12, 0x34, 0x02, 0x02}}}, []byte{0x00, 0x41}, concat{0x1234, 2, 2, true}, ports{}},
		{"wap push ports and concat", []byte{
			0x0B,       // UDHL 11
			0x05, 0x04, // IEI ports 16-bit, length 4
			0x0B, 0x84, 0x23, 0xF0, // dst 2948 (WAP push), src 9200
			0x00, 0x03, 0x07, 0x02, 0x01, // concat ref 7, 2 parts, part 1
			0x01, 0x06, // WSP
		}, 12, []coding.IE{
			{ID: 0x05, Data: []byte{0x0B, 0x84, 0x23, 0xF0}},
			{ID: 0x00, Data: []byte{0x07, 0x02, 0x01}},
		}, []byte{0x01, 0x06}, concat{7, 2, 1, true}, ports{2948, 9200, true}},
		{"8-bit ports", []byte{
			0x04,       // UDHL
			0x04, 0x02, // IEI ports 8-bit, length 2
			0xF5, 0xF6, // dst 245, src 246
		}, 5, []coding.IE{{ID: 0x04, Data: []byte{0xF5, 0xF6}}}, []byte{}, concat{}, ports{245, 246, true}},
		{"empty header", []byte{0x00, 0x41}, 1, nil, []byte{0x41}, concat{}, ports{}},
		{"zero-length element", []byte{0x02, 0x70, 0x00, 0x41}, 3, []coding.IE{{ID: 0x70, Data: []byte{}}}, []byte{0x41}, concat{}, ports{}},
		{"last concat wins", []byte{
			0x0A,
			0x00, 0x03, 0x01, 0x02, 0x01, // ref 1
			0x00, 0x03, 0x09, 0x03, 0x03, // ref 9: this one counts
		}, 11, []coding.IE{{ID: 0, Data: []byte{1, 2, 1}}, {ID: 0, Data: []byte{9, 3, 3}}}, []byte{}, concat{9, 3, 3, true}, ports{}},
		{"seq zero", []byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x00}, 6, []coding.IE{{ID: 0, Data: []byte{1, 2, 0}}}, []byte{}, concat{}, ports{}},
		{"seq above total", []byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x03}, 6, []coding.IE{{ID: 0, Data: []byte{1, 2, 3}}}, []byte{}, concat{}, ports{}},
		{"total zero", []byte{0x05, 0x00, 0x03, 0x01, 0x00, 0x00}, 6, []coding.IE{{ID: 0, Data: []byte{1, 0, 0}}}, []byte{}, concat{}, ports{}},
		{"concat wrong length", []byte{0x06, 0x00, 0x04, 0x01, 0x02, 0x01, 0x01}, 7, []coding.IE{{ID: 0, Data: []byte{1, 2, 1, 1}}}, []byte{}, concat{}, ports{}},
		{"ports wrong length", []byte{0x03, 0x05, 0x01, 0x01}, 4, []coding.IE{{ID: 5, Data: []byte{1}}}, []byte{}, concat{}, ports{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := coding.ParseUDH(tt.sm)
			if err != nil {
				t.Fatal(err)
			}
			if h.Len() != tt.len || !bytes.Equal(payload, tt.payload) {
				t.Errorf("Len %d payload % x; want %d, % x", h.Len(), payload, tt.len, tt.payload)
			}
			got := slices.Collect(h.All())
			if !slices.EqualFunc(got, tt.ies, func(a, b coding.IE) bool { return a.ID == b.ID && bytes.Equal(a.Data, b.Data) }) {
				t.Errorf("elements %v, want %v", got, tt.ies)
			}
			var c concat
			c.ref, c.total, c.seq, c.ok = h.Concat()
			if c != tt.concat {
				t.Errorf("Concat = %+v, want %+v", c, tt.concat)
			}
			var p ports
			p.dst, p.src, p.ok = h.Ports()
			if p != tt.ports {
				t.Errorf("Ports = %+v, want %+v", p, tt.ports)
			}
			if len(tt.ies) > 0 {
				last := tt.ies[len(tt.ies)-1]
				if d, ok := h.Lookup(last.ID); !ok || !bytes.Equal(d, last.Data) {
					t.Errorf("Lookup(%#x) = % x, %v", last.ID, d, ok)
				}
			}
			if _, ok := h.Lookup(0x7F); ok {
				t.Error("Lookup found an absent element")
			}
		})
	}
}

func TestParseUDHMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sm   []byte
	}{
		{"empty", nil},
		{"udhl past message", []byte{0x05, 0x00, 0x03, 0x01, 0x02}},         // 4 octets after UDHL 5
		{"udhl 255 alone", []byte{0xFF}},                                    // header claims 255 octets
		{"element header cut", []byte{0x01, 0x00, 0x41}},                    // one octet of element
		{"element past header", []byte{0x04, 0x00, 0x03, 0x01, 0x02, 0x01}}, // IEDL 3, 2 left in header
		{"second element past header", []byte{0x07, 0x70, 0x00, 0x00, 0x04, 0x01, 0x02, 0x01, 0x41}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := coding.ParseUDH(tt.sm)
			if !errors.Is(err, coding.ErrMalformedUDH) {
				t.Fatalf("error %v, want ErrMalformedUDH", err)
			}
			if h.Len() != 0 || payload != nil {
				t.Errorf("got header %d, payload % x with the error", h.Len(), payload)
			}
		})
	}
	var zero coding.UDH
	if _, _, _, ok := zero.Concat(); ok || zero.Len() != 0 {
		t.Error("zero UDH has a concat element")
	}
}
