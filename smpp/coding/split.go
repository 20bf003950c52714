package coding

import (
	"slices"
	"strconv"
)

// Part is one short message of a split text.
//
// Message is what the smpp layer sends: in short_message, or in
// message_payload for the Payload method. It is the UDH (UDHLen octets, when
// UDHLen > 0) followed by the encoded text. When UDHLen > 0 the submit must
// set esm_class UDHI (0x40). When the method is SAR and Total > 1, Ref, Total
// and Seq go in sar_msg_ref_num, sar_total_segments and sar_segment_seqnum.
// Total == 1 means the message is not concatenated: no UDH, no SAR TLVs.
//
// Message points into the storage of the [Splitter] that made it and is
// valid until that Splitter's next Split; its capacity ends with the part,
// so appending to it never overwrites the next part.
type Part struct {
	Message []byte
	UDHLen  int
	// Ref is the concatenation reference (0 when Total == 1). It fits 8
	// bits for UDH8.
	Ref uint16
	// Seq is this part's number, 1..Total.
	Seq uint8
	// Total is the number of parts, 1..255.
	Total uint8
}

// UDH returns the part's User Data Header, length octet included (empty
// when it has none).
func (p Part) UDH() []byte { return p.Message[:p.UDHLen] }

// Data returns the part's encoded text: Message without the UDH.
func (p Part) Data() []byte { return p.Message[p.UDHLen:] }

// Splitter splits messages into parts, reusing its storage from one Split
// to the next, so that once warmed up splitting does not allocate.
//
// The zero value is ready to use. A Splitter is not safe for concurrent use;
// the parts it returns, and their bytes, belong to it and are valid until
// its next Split or SplitEncoded call. Copy what must outlive that.
type Splitter struct {
	text  []byte // the whole encoded text
	buf   []byte // the parts' bytes, UDHs included
	parts []Part
}

// Split encodes s in enc and splits it for method m with concatenation
// reference ref (see [RefSource]).
//
// A text that fits one message (160 septets, 70 UTF-16 units, 140 octets)
// gives one Part with no UDH, whatever the method. Otherwise, for UDH8 and
// UDH16 each part is the concatenation UDH (05 00 03 RR TT SS or
// 06 08 04 RH RL TT SS) followed by up to 153/67/134 (UDH8) or 152/66/133
// (UDH16) units of text; for SAR each part is up to 153/67/134 units of text
// alone. Parts are filled as full as possible, but an escape pair (0x1B and
// its code) or a UTF-16 surrogate pair is never cut: it moves whole into the
// next part. Payload gives one Part with the whole text, for message_payload.
// Each part's Data decodes on its own, and joined in order they decode to s.
//
// Errors: an [*EncodeError] when enc cannot represent s; [ErrTooManyParts]
// when more than 255 parts are needed (for Payload: billed); [ErrBadArgument]
// for an invalid enc or m, or a ref above 255 with UDH8. The number of parts
// always equals Count(s, enc, m).Segments, except for Payload.
func (sp *Splitter) Split(s string, enc Encoding, m Method, ref uint16) ([]Part, error) {
	if err := checkArgs(enc, m, ref); err != nil {
		return nil, err
	}
	var err error
	sp.text, err = Append(sp.text[:0], s, enc)
	if err != nil {
		return nil, err
	}
	return sp.split(enc, m, ref)
}

// SplitEncoded is Split for text already encoded in enc: unpacked septets
// for GSM7, UTF-16BE for UCS2, octets for Latin1 and Binary. GSM7 data must
// be septets (0x00–0x7F) with no escape at the end, UCS2 data an even number
// of octets with paired surrogates, else the error is a [*DecodeError].
// data is copied first, so it may be a previous part of this Splitter.
func (sp *Splitter) SplitEncoded(data []byte, enc Encoding, m Method, ref uint16) ([]Part, error) {
	if err := checkArgs(enc, m, ref); err != nil {
		return nil, err
	}
	if err := validEncoded(data, enc); err != nil {
		return nil, err
	}
	sp.text = append(sp.text[:0], data...)
	return sp.split(enc, m, ref)
}

// Split splits s with a new [Splitter]; see [Splitter.Split]. The parts own
// their bytes. Use a Splitter kept between calls to avoid the allocations.
func Split(s string, enc Encoding, m Method, ref uint16) ([]Part, error) {
	var sp Splitter
	return sp.Split(s, enc, m, ref)
}

func checkArgs(enc Encoding, m Method, ref uint16) error {
	switch {
	case !enc.valid():
		return badEncoding(enc)
	case !m.valid():
		return &argError{"method " + m.String()}
	case m == UDH8 && ref > 0xFF:
		return &argError{"reference " + strconv.Itoa(int(ref)) + " for UDH8 (8-bit)"}
	}
	return nil
}

func validEncoded(b []byte, enc Encoding) error {
	switch enc {
	case GSM7:
		for i, c := range b {
			if c > 0x7F {
				return &DecodeError{Encoding: GSM7, Offset: i, Reason: "octet 0x" + hex2(c) + " is not a septet"}
			}
		}
		if trailingEscapes(b, 0)%2 == 1 {
			return &DecodeError{Encoding: GSM7, Offset: len(b) - 1, Reason: "escape 0x1B at the end"}
		}
	case UCS2:
		if len(b)%2 == 1 {
			return &DecodeError{Encoding: UCS2, Offset: len(b) - 1, Reason: "odd number of octets"}
		}
		for i := 0; i < len(b); i += 2 {
			u := uint16(b[i])<<8 | uint16(b[i+1])
			switch {
			case u < 0xD800 || u > 0xDFFF:
			case u < 0xDC00 && i+3 < len(b) && b[i+2]&0xFC == 0xDC:
				i += 2
			default:
				return &DecodeError{Encoding: UCS2, Offset: i, Reason: "unpaired surrogate 0x" + hex2(b[i]) + hex2(b[i+1])}
			}
		}
	}
	return nil
}

// unitSize returns the octets per unit of enc.
func unitSize(enc Encoding) int {
	if enc == UCS2 {
		return 2
	}
	return 1
}

// cut returns where the part of text that starts at start and may run to
// end (end < len(text)) must end, so that no escape or surrogate pair is cut.
func cut(text []byte, enc Encoding, start, end int) int {
	switch enc {
	case GSM7:
		// Every octet that is not 0x1B ends a character, so the run of
		// escapes before end starts on a character boundary: an odd run
		// means end would fall inside a pair.
		if trailingEscapes(text[:end], start)%2 == 1 {
			return end - 1
		}
	case UCS2:
		if text[end-2]&0xFC == 0xD8 { // high surrogate
			return end - 2
		}
	}
	return end
}

// countParts returns the number of parts of part units each that the text
// fills.
func countParts(text []byte, enc Encoding, part int) int {
	size := part * unitSize(enc)
	n := 0
	for start := 0; ; n++ {
		end := start + size
		if end >= len(text) {
			return n + 1
		}
		start = cut(text, enc, start, end)
	}
}

func (sp *Splitter) split(enc Encoding, m Method, ref uint16) ([]Part, error) {
	text := sp.text
	single, part := Capacity(enc, m)
	us := unitSize(enc)
	total := 1
	if len(text) > single*us {
		total = countParts(text, enc, part)
		if total > MaxParts {
			return nil, tooManyParts(total)
		}
		if m == Payload {
			total = 1
		}
	}
	sp.parts = sp.parts[:0]
	if total == 1 {
		sp.buf = append(sp.buf[:0], text...)
		sp.parts = append(sp.parts, Part{Message: sp.buf[:len(text):len(text)], Seq: 1, Total: 1})
		return sp.parts, nil
	}
	udh := m.udhLen()
	sp.buf = slices.Grow(sp.buf[:0], len(text)+total*udh) // no reallocation below
	size := part * us
	start := 0
	for seq := 1; seq <= total; seq++ {
		end := len(text)
		if seq < total {
			end = cut(text, enc, start, start+size)
		}
		off := len(sp.buf)
		switch m {
		case UDH8:
			sp.buf = append(sp.buf, 0x05, 0x00, 0x03, byte(ref), byte(total), byte(seq))
		case UDH16:
			sp.buf = append(sp.buf, 0x06, 0x08, 0x04, byte(ref>>8), byte(ref), byte(total), byte(seq))
		}
		sp.buf = append(sp.buf, text[start:end]...)
		sp.parts = append(sp.parts, Part{
			Message: sp.buf[off:len(sp.buf):len(sp.buf)],
			UDHLen:  udh,
			Ref:     ref,
			Seq:     uint8(seq),
			Total:   uint8(total),
		})
		start = end
	}
	return sp.parts, nil
}
