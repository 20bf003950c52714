package coding

import (
	"fmt"
	"iter"
)

// Information element identifiers this package reads (3GPP TS 23.040
// §9.2.3.24).
const (
	IEIConcat8  = 0x00 // concatenated message, 8-bit reference: RR TT SS
	IEIPorts8   = 0x04 // application port addressing, 8-bit: dst, src
	IEIPorts16  = 0x05 // application port addressing, 16-bit: dst(2), src(2)
	IEIConcat16 = 0x08 // concatenated message, 16-bit reference: RH RL TT SS
)

// UDH is a parsed User Data Header: a view of the information elements of a
// message, valid as long as the message's bytes. The zero value is a header
// with no elements.
type UDH struct {
	ies []byte // the elements, after the length octet; already checked
}

// IE is one information element of a UDH. Data is a view into the message.
type IE struct {
	ID   byte
	Data []byte
}

// ParseUDH reads the User Data Header at the start of sm, the short_message
// (or message_payload) of a PDU whose esm_class has UDHI (0x40) set. It
// returns the header and the payload after it, both views into sm.
//
// The first octet (UDHL) is the length of the rest of the header. A header
// that runs past sm, or an element that runs past the header, is an error
// wrapping [ErrMalformedUDH]. ParseUDH never panics and does not allocate
// unless it fails.
func ParseUDH(sm []byte) (UDH, []byte, error) {
	if len(sm) == 0 {
		return UDH{}, nil, fmt.Errorf("%w: empty message", ErrMalformedUDH)
	}
	n := int(sm[0])
	if 1+n > len(sm) {
		return UDH{}, nil, fmt.Errorf("%w: header length %d exceeds the %d octets after it", ErrMalformedUDH, n, len(sm)-1)
	}
	ies := sm[1 : 1+n]
	for i := 0; i < len(ies); {
		if i+2 > len(ies) {
			return UDH{}, nil, fmt.Errorf("%w: element at octet %d cut short", ErrMalformedUDH, 1+i)
		}
		l := int(ies[i+1])
		if i+2+l > len(ies) {
			return UDH{}, nil, fmt.Errorf("%w: element 0x%02x at octet %d has length %d, past the header", ErrMalformedUDH, ies[i], 1+i, l)
		}
		i += 2 + l
	}
	return UDH{ies: ies}, sm[1+n:], nil
}

// Len returns the header's size in octets, its length octet included (0 for
// the zero UDH). Use [FillBits](Len()) for packed GSM7 after it.
func (h UDH) Len() int {
	if h.ies == nil {
		return 0
	}
	return 1 + len(h.ies)
}

// All yields the header's elements in order.
func (h UDH) All() iter.Seq[IE] {
	return func(yield func(IE) bool) {
		for i := 0; i+2 <= len(h.ies); {
			l := int(h.ies[i+1])
			if i+2+l > len(h.ies) {
				return
			}
			if !yield(IE{ID: h.ies[i], Data: h.ies[i+2 : i+2+l]}) {
				return
			}
			i += 2 + l
		}
	}
}

// Lookup returns the data of element id. An element that occurs more than
// once counts by its last occurrence, as 3GPP TS 23.040 §9.2.3.24 asks.
func (h UDH) Lookup(id byte) ([]byte, bool) {
	var data []byte
	found := false
	for i := 0; i+2 <= len(h.ies); {
		l := int(h.ies[i+1])
		if i+2+l > len(h.ies) {
			break
		}
		if h.ies[i] == id {
			data, found = h.ies[i+2:i+2+l], true
		}
		i += 2 + l
	}
	return data, found
}

// Concat returns the concatenation element: IEI 0x00 (8-bit reference) or
// 0x08 (16-bit reference), the last one when there are several. ok is false
// when there is none, when its length is wrong, or when total is 0 or seq is
// not in 1..total (such parts cannot be reassembled).
func (h UDH) Concat() (ref uint16, total, seq uint8, ok bool) {
	var last IE
	found := false
	for ie := range h.All() {
		if ie.ID == IEIConcat8 || ie.ID == IEIConcat16 {
			last, found = ie, true
		}
	}
	if !found {
		return 0, 0, 0, false
	}
	d := last.Data
	switch {
	case last.ID == IEIConcat8 && len(d) == 3:
		ref, total, seq = uint16(d[0]), d[1], d[2]
	case last.ID == IEIConcat16 && len(d) == 4:
		ref, total, seq = uint16(d[0])<<8|uint16(d[1]), d[2], d[3]
	default:
		return 0, 0, 0, false
	}
	if total == 0 || seq == 0 || seq > total {
		return 0, 0, 0, false
	}
	return ref, total, seq, true
}

// Ports returns the application port addressing element: IEI 0x04 (8-bit
// ports) or 0x05 (16-bit ports), the last one when there are several. ok is
// false when there is none or its length is wrong.
func (h UDH) Ports() (dst, src uint16, ok bool) {
	var last IE
	found := false
	for ie := range h.All() {
		if ie.ID == IEIPorts8 || ie.ID == IEIPorts16 {
			last, found = ie, true
		}
	}
	d := last.Data
	switch {
	case !found:
	case last.ID == IEIPorts8 && len(d) == 2:
		return uint16(d[0]), uint16(d[1]), true
	case last.ID == IEIPorts16 && len(d) == 4:
		return uint16(d[0])<<8 | uint16(d[1]), uint16(d[2])<<8 | uint16(d[3]), true
	}
	return 0, 0, false
}
