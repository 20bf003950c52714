package coding

import (
	"strconv"
	"unicode/utf8"
)

// Method is how a message too long for one part is sent. The zero value is
// UDH8.
type Method uint8

const (
	// UDH8 sends parts that start with the 6-octet concatenation UDH with an
	// 8-bit reference: 05 00 03 RR TT SS (3GPP TS 23.040 §9.2.3.24.1).
	UDH8 Method = iota
	// UDH16 sends parts that start with the 7-octet UDH with a 16-bit
	// reference: 06 08 04 RH RL TT SS (3GPP TS 23.040 §9.2.3.24.8).
	UDH16
	// SAR sends parts without a UDH; their reference, total and sequence go
	// in the sar_msg_ref_num, sar_total_segments and sar_segment_seqnum TLVs
	// (SMPP 3.4 §5.3.2.22–24) and the SMSC builds the 6-octet UDH.
	SAR
	// Payload sends the whole message in message_payload (SMPP 3.4
	// §5.3.2.32); the SMSC splits it and bills it as UDH8 parts.
	Payload
)

// String returns the method's name, such as "UDH8".
func (m Method) String() string {
	switch m {
	case UDH8:
		return "UDH8"
	case UDH16:
		return "UDH16"
	case SAR:
		return "SAR"
	case Payload:
		return "Payload"
	}
	return "Method(" + strconv.Itoa(int(m)) + ")"
}

func (m Method) valid() bool { return m <= Payload }

// udhLen returns the octets of the concatenation UDH a part of m carries
// when the message is concatenated (0 for SAR and Payload).
func (m Method) udhLen() int {
	switch m {
	case UDH8:
		return 6
	case UDH16:
		return 7
	}
	return 0
}

// MaxParts is the most parts a concatenated message can have.
const MaxParts = 255

// Capacity returns how many units (septets, UTF-16 code units or octets) of
// enc one message holds when it is not concatenated (single: 160, 70, 140)
// and how many each part of a concatenated message holds with method m
// (part: 153, 67, 134 for UDH8, SAR and Payload; 152, 66, 133 for UDH16).
// It returns zeros for an invalid enc or m.
func Capacity(enc Encoding, m Method) (single, part int) {
	if !enc.valid() || !m.valid() {
		return 0, 0
	}
	udh := 6
	if m == UDH16 {
		udh = 7
	}
	switch enc {
	case GSM7:
		return 160, (140 - udh) * 8 / 7
	case UCS2:
		return 70, (140 - udh) / 2
	}
	return 140, 140 - udh
}

// Info is what [Count] reports about a text.
type Info struct {
	Encoding Encoding
	// Units is the text's length in septets (GSM7, extension characters
	// count 2), UTF-16 code units (UCS2, a surrogate pair counts 2) or
	// octets (Latin1, Binary).
	Units int
	// Chars is the number of characters (Unicode code points; octets for
	// Binary).
	Chars int
	// Segments is the number of parts a carrier bills: 1 when Units fits a
	// single message (an empty text is 1 too), else the number of
	// concatenated parts. It equals the number of parts Split makes, except
	// for Payload, which Split sends whole and the carrier bills as UDH8.
	Segments int
	// Free is how many units the last segment has left. A two-unit
	// character (escape pair, surrogate pair) needs Free >= 2.
	Free int
}

// Count returns the units, characters and billed segments of s encoded in
// enc and sent with method m. Escape pairs and surrogate pairs are never
// split across segments, so segments are filled greedily rather than
// computed by division. It does not allocate.
//
// Text enc cannot represent is an [*EncodeError]. Text that needs more than
// [MaxParts] segments returns the full Info and an error wrapping
// [ErrTooManyParts].
func Count(s string, enc Encoding, m Method) (Info, error) {
	single, part := Capacity(enc, m)
	if single == 0 {
		if !m.valid() {
			return Info{}, &argError{"method " + m.String()}
		}
		return Info{}, badEncoding(enc)
	}
	info := Info{Encoding: enc}
	segs, used := 1, 0 // the greedy fill of concatenated parts
	switch enc {
	case GSM7:
		units, chars, bad := gsm7Scan(s)
		if bad >= 0 {
			return Info{}, encodeError(GSM7, s, bad)
		}
		info.Units, info.Chars = units, chars
		if units > single {
			segs, used = gsm7Fill(s, part)
		}
	case UCS2:
		units, chars, bad := ucs2Scan(s)
		if bad >= 0 {
			return Info{}, encodeError(UCS2, s, bad)
		}
		info.Units, info.Chars = units, chars
		if units > single {
			segs, used = ucs2Fill(s, part)
		}
	case Latin1:
		for i := 0; i < len(s); {
			if s[i] < utf8.RuneSelf {
				i++
			} else {
				r, size := utf8.DecodeRuneInString(s[i:])
				if r > 0xFF || r == utf8.RuneError {
					return Info{}, encodeError(Latin1, s, i)
				}
				i += size
			}
			info.Units++
		}
		info.Chars = info.Units
		segs, used = fill(info.Units, part)
	case Binary:
		info.Units = len(s)
		info.Chars = len(s)
		segs, used = fill(info.Units, part)
	}
	if info.Units <= single {
		info.Segments, info.Free = 1, single-info.Units
		return info, nil
	}
	info.Segments, info.Free = segs, part-used
	if segs > MaxParts {
		return info, tooManyParts(segs)
	}
	return info, nil
}

// gsm7Fill returns the parts and the septets in the last part when the GSM7
// text s (already checked) fills parts of size part, escape pairs whole.
func gsm7Fill(s string, part int) (segs, used int) {
	segs = 1
	for i := 0; i < len(s); {
		c := s[i]
		var e uint16
		if c < utf8.RuneSelf {
			e = gsmEncLatin[c]
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			e = gsmEncode(r)
			i += size
		}
		cost := 1 + int(e>>9&1)
		if used+cost > part {
			segs++
			used = 0
		}
		used += cost
	}
	return segs, used
}

// ucs2Scan returns the UTF-16 units and characters of s, and the offset of
// the first invalid UTF-8 sequence (-1 if none).
func ucs2Scan(s string) (units, chars, bad int) {
	for i := 0; i < len(s); chars++ {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			units++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return units, chars, i
		}
		units++
		if r > 0xFFFF {
			units++ // a surrogate pair
		}
		i += size
	}
	return units, chars, -1
}

// ucs2Fill returns the parts and the units in the last part when the valid
// UTF-8 text s fills UCS2 parts of size part, surrogate pairs whole.
func ucs2Fill(s string, part int) (segs, used int) {
	segs = 1
	for i := 0; i < len(s); {
		cost := 1
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r > 0xFFFF {
				cost = 2
			}
			i += size
		}
		if used+cost > part {
			segs++
			used = 0
		}
		used += cost
	}
	return segs, used
}

// fill returns the parts and the units in the last part when n one-unit
// characters fill parts of size part.
func fill(n, part int) (segs, last int) {
	if n == 0 {
		return 1, 0
	}
	segs = (n + part - 1) / part
	return segs, n - (segs-1)*part
}

func tooManyParts(n int) error {
	return &partsError{n}
}

type partsError struct{ n int }

func (e *partsError) Error() string {
	return "coding: message needs " + strconv.Itoa(e.n) + " parts, more than 255"
}
func (e *partsError) Unwrap() error { return ErrTooManyParts }
