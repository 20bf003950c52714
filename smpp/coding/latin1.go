package coding

import (
	"slices"
	"unicode/utf8"
)

// AppendLatin1 appends s as ISO-8859-1, one octet per character, to dst.
// A character above U+00FF, or text that is not valid UTF-8, is an
// [*EncodeError]; the returned slice is then dst.
func AppendLatin1(dst []byte, s string) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r > 0xFF || r == utf8.RuneError {
			return dst[:start], encodeError(Latin1, s, i)
		}
		dst = append(dst, byte(r))
		i += size
	}
	return dst, nil
}

// DecodeLatin1 returns the text of ISO-8859-1 octets; every octet is a character.
func DecodeLatin1(b []byte) string {
	var buf [256]byte
	return string(AppendDecodeLatin1(buf[:0], b))
}

// AppendDecodeLatin1 appends the UTF-8 text of ISO-8859-1 octets to dst.
func AppendDecodeLatin1(dst, b []byte) []byte {
	dst = slices.Grow(dst, len(b))
	for _, c := range b {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
		} else {
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
		}
	}
	return dst
}
