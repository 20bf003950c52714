package coding

import (
	"slices"
	"unicode/utf8"
)

// esc is the GSM 03.38 escape to the extension table.
const esc = 0x1B

// gsmBase is the GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1),
// indexed by septet. 0x1B, the escape, is handled apart (-1 here). 0x09 is the capital
// C with cedilla as in the ETSI table (some older mappings use the small one).
var gsmBase = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', // 0x00
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', -1, 'Æ', 'æ', 'ß', 'É', // 0x10
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', // 0x20
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', // 0x30
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', // 0x40
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', // 0x50
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', // 0x60
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', // 0x70
}

// gsmExt is the extension table (3GPP TS 23.038 §6.2.1.1): the character
// sent as 0x1B followed by the index. Zero entries are undefined codes.
var gsmExt = [128]rune{
	0x0A: '\f',
	0x14: '^',
	0x28: '{',
	0x29: '}',
	0x2F: '\\',
	0x3C: '[',
	0x3D: '~',
	0x3E: ']',
	0x40: '|',
	0x65: '€',
}

// Encoder table entries: 0 means not representable; otherwise the low byte
// is the septet (or the extension code when encEsc is set).
const (
	encOK  = 0x100
	encEsc = 0x200
)

var (
	// gsmASCII is gsmEncLatin for the octets of a UTF-8 string: 0 from
	// 0x80 up, where octets are parts of longer sequences. An entry e with
	// e>>8 == 1 is a plain septet, the fast path.
	gsmASCII    [256]uint16
	gsmEncLatin [256]uint16               // runes U+0000..U+00FF
	gsmEncGreek [0x3A9 - 0x393 + 1]uint16 // runes U+0393 (Γ)..U+03A9 (Ω)
	gsmEncEuro  uint16                    // U+20AC
)

func init() {
	for c, r := range gsmBase {
		if c != esc {
			setGSMEnc(r, uint16(c)|encOK)
		}
	}
	for c, r := range gsmExt {
		if r != 0 {
			setGSMEnc(r, uint16(c)|encOK|encEsc)
		}
	}
	copy(gsmASCII[:utf8.RuneSelf], gsmEncLatin[:utf8.RuneSelf])
}

func setGSMEnc(r rune, v uint16) {
	switch {
	case r < 0x100:
		gsmEncLatin[r] = v
	case r >= 0x393 && r <= 0x3A9:
		gsmEncGreek[r-0x393] = v
	case r == '€':
		gsmEncEuro = v
	default:
		panic("coding: GSM table rune outside the encoder tables")
	}
}

// gsmEncode returns the encoder table entry of r (0 when r has none).
func gsmEncode(r rune) uint16 {
	switch {
	case r >= 0 && r < 0x100:
		return gsmEncLatin[r]
	case r >= 0x393 && r <= 0x3A9:
		return gsmEncGreek[r-0x393]
	case r == '€':
		return gsmEncEuro
	}
	return 0
}

// AppendGSM7 appends s as unpacked GSM 7-bit septets, one per octet, to dst:
// the form SMPP carries under the GSM default data_coding. Characters of the
// extension table become 0x1B followed by their code. '@' becomes 0x00.
//
// Text that is not valid UTF-8 or holds a character outside the alphabet is
// an [*EncodeError]; the returned slice is then dst, its contents past
// len(dst) unspecified. It allocates only when dst lacks capacity.
func AppendGSM7(dst []byte, s string) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, len(s))
	for i := 0; i < len(s); {
		e := gsmASCII[s[i]]
		if e>>8 == 1 {
			dst = append(dst, byte(e))
			i++
			continue
		}
		at := i
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size > 1 {
				e = gsmEncode(r)
			}
			i += size
		}
		if e == 0 {
			return dst[:start], encodeError(GSM7, s, at)
		}
		if e&encEsc != 0 {
			dst = append(dst, esc, byte(e))
		} else {
			dst = append(dst, byte(e))
		}
	}
	return dst, nil
}

// GSM7Len reports whether every character of s is in the GSM 7-bit default
// alphabet or its extension table, and how many septets s needs (extension
// characters count 2). Invalid UTF-8 gives ok == false.
func GSM7Len(s string) (septets int, ok bool) {
	n, _, bad := gsm7Scan(s)
	return n, bad < 0
}

// gsm7Scan returns the septets and characters of s, and the offset of the
// first character GSM7 cannot represent or invalid UTF-8 (-1 if none); the
// counts then cover s up to that offset.
func gsm7Scan(s string) (septets, chars, bad int) {
	for i := 0; i < len(s); chars++ {
		e := gsmASCII[s[i]]
		if e>>8 == 1 {
			septets++
			i++
			continue
		}
		at := i
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size > 1 {
				e = gsmEncode(r)
			}
			i += size
		}
		if e == 0 {
			return septets, chars, at
		}
		septets += 1 + int(e>>9&1)
	}
	return septets, chars, -1
}

// DecodeGSM7 returns the text of unpacked GSM 7-bit septets (see [AppendDecodeGSM7]).
func DecodeGSM7(septets []byte) (string, error) {
	return Decode(septets, GSM7)
}

// AppendDecodeGSM7 appends the UTF-8 text of unpacked GSM 7-bit septets (one
// per octet) to dst. 0x00 is '@': the input is never treated as a C string.
//
// As 3GPP TS 23.038 §6.2.1.1 asks, an escape followed by a code the extension
// table does not define gives the default alphabet's character for that code,
// and an escape followed by a second escape (reserved for a further table)
// gives a space. An octet above 0x7F, or an escape at the very end, is a
// [*DecodeError]; the returned slice is then dst.
func AppendDecodeGSM7(dst, septets []byte) ([]byte, error) {
	return appendDecodeGSM7(dst, septets, false)
}

// appendDecodeGSM7 decodes b; with replace set, malformed septets become
// U+FFFD and the error is always nil.
func appendDecodeGSM7(dst, b []byte, replace bool) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < utf8.RuneSelf && gsmBase[c] == rune(c) {
			dst = append(dst, c) // ASCII coincides: letters, digits, most punctuation
			continue
		}
		var r rune
		switch {
		case c > 0x7F:
			if !replace {
				return dst[:start], &DecodeError{Encoding: GSM7, Offset: i, Reason: "octet 0x" + hex2(c) + " is not a septet"}
			}
			r = utf8.RuneError
		case c != esc:
			r = gsmBase[c]
		case i+1 == len(b):
			if !replace {
				return dst[:start], &DecodeError{Encoding: GSM7, Offset: i, Reason: "escape 0x1B at the end"}
			}
			r = utf8.RuneError
		default:
			i++
			n := b[i]
			switch {
			case n > 0x7F:
				if !replace {
					return dst[:start], &DecodeError{Encoding: GSM7, Offset: i, Reason: "octet 0x" + hex2(n) + " is not a septet"}
				}
				r = utf8.RuneError
			case n == esc:
				r = ' '
			case gsmExt[n] != 0:
				r = gsmExt[n]
			default:
				r = gsmBase[n]
			}
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, nil
}

// trailingEscapes returns the length of the run of 0x1B octets that ends b,
// not looking before b[from].
func trailingEscapes(b []byte, from int) int {
	n := 0
	for i := len(b) - 1; i >= from && b[i] == esc; i-- {
		n++
	}
	return n
}

const hexDigits = "0123456789abcdef"

func hex2(c byte) string { return string([]byte{hexDigits[c>>4], hexDigits[c&15]}) }

// FillBits returns the number of fill bits between a UDH of udhLen octets
// (including its length octet) and the first packed septet, so that the
// septets start on a septet boundary (3GPP TS 23.040 §9.2.3.24): 1 after the
// 6-octet concatenation header, 0 after the 7-octet one, 0 with no UDH.
func FillBits(udhLen int) int {
	return (7 - udhLen*8%7) % 7
}

// PackedLen returns the octets that n septets need when packed after
// fillBits fill bits.
func PackedLen(n, fillBits int) int {
	return (fillBits + 7*n + 7) / 8
}

// PackSeptets appends septets packed 7 bits each, least significant bit
// first (3GPP TS 23.038 §6.1.2.1.1), to dst, after fillBits zero bits
// (0..6, see [FillBits]); it appends [PackedLen](len(septets), fillBits)
// octets. Only the low 7 bits of each septet are used. Spare bits at the end
// are zero, so when they number 7 a receiver that does not know the septet
// count may read an extra '@'. It panics if fillBits is outside 0..6.
func PackSeptets(dst, septets []byte, fillBits int) []byte {
	if fillBits < 0 || fillBits > 6 {
		panic("coding: PackSeptets: fillBits outside 0..6")
	}
	if len(septets) == 0 {
		return dst
	}
	start := len(dst)
	total := PackedLen(len(septets), fillBits)
	dst = slices.Grow(dst, total)[:start+total]
	out := dst[start:]
	clear(out)
	bit := fillBits
	for _, s := range septets {
		v := uint16(s&0x7F) << (bit & 7)
		k := bit >> 3
		out[k] |= byte(v)
		if hi := byte(v >> 8); hi != 0 {
			out[k+1] |= hi
		}
		bit += 7
	}
	return dst
}

// UnpackSeptets appends n septets, unpacked one per octet, read from packed
// after fillBits fill bits (0..6), to dst. packed must hold at least
// [PackedLen](n, fillBits) octets; octets beyond are ignored. A short input,
// a negative n or fillBits outside 0..6 is a [*DecodeError] (dst returned).
func UnpackSeptets(dst, packed []byte, n, fillBits int) ([]byte, error) {
	if fillBits < 0 || fillBits > 6 {
		return dst, &DecodeError{Encoding: GSM7, Reason: "fill bits outside 0..6"}
	}
	if n < 0 || n > (len(packed)*8-fillBits)/7 {
		return dst, &DecodeError{Encoding: GSM7, Offset: len(packed), Reason: "packed data too short for the septet count"}
	}
	dst = slices.Grow(dst, n)
	bit := fillBits
	for range n {
		k := bit >> 3
		v := uint16(packed[k])
		if k+1 < len(packed) {
			v |= uint16(packed[k+1]) << 8
		}
		dst = append(dst, byte(v>>(bit&7))&0x7F)
		bit += 7
	}
	return dst, nil
}
