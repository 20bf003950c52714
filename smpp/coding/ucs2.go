package coding

import (
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendUCS2 appends s as UTF-16 big-endian to dst, characters beyond the
// Basic Multilingual Plane as surrogate pairs (two units, four octets).
// Text that is not valid UTF-8 is an [*EncodeError]; the returned slice is
// then dst. It allocates only when dst lacks capacity.
func AppendUCS2(dst []byte, s string) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, 2*len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, 0, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return dst[:start], encodeError(UCS2, s, i)
		}
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			dst = append(dst, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
		} else {
			dst = append(dst, byte(r>>8), byte(r))
		}
		i += size
	}
	return dst, nil
}

// DecodeUCS2 returns the text of UTF-16 big-endian octets (see [AppendDecodeUCS2]).
func DecodeUCS2(b []byte) (string, error) {
	return Decode(b, UCS2)
}

// AppendDecodeUCS2 appends the UTF-8 text of UTF-16 big-endian octets to dst.
// An odd number of octets or an unpaired surrogate is a [*DecodeError]; the
// returned slice is then dst.
func AppendDecodeUCS2(dst, b []byte) ([]byte, error) {
	return appendDecodeUCS2(dst, b, false)
}

func appendDecodeUCS2(dst, b []byte, replace bool) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, len(b)/2)
	for i := 0; i < len(b); i += 2 {
		if i+1 == len(b) {
			if !replace {
				return dst[:start], &DecodeError{Encoding: UCS2, Offset: i, Reason: "odd number of octets"}
			}
			dst = utf8.AppendRune(dst, utf8.RuneError)
			break
		}
		u := rune(b[i])<<8 | rune(b[i+1])
		switch {
		case u < utf8.RuneSelf:
			dst = append(dst, byte(u))
			continue
		case u < 0xD800 || u > 0xDFFF:
		case u < 0xDC00 && i+3 < len(b):
			lo := rune(b[i+2])<<8 | rune(b[i+3])
			if lo >= 0xDC00 && lo <= 0xDFFF {
				u = utf16.DecodeRune(u, lo)
				i += 2
				break
			}
			fallthrough
		default:
			if !replace {
				return dst[:start], &DecodeError{Encoding: UCS2, Offset: i, Reason: "unpaired surrogate 0x" + hex2(b[i]) + hex2(b[i+1])}
			}
			u = utf8.RuneError
		}
		dst = utf8.AppendRune(dst, u)
	}
	return dst, nil
}
