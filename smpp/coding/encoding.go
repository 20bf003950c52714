package coding

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Encoding is a text coding SMPP can carry. The zero value is GSM7.
type Encoding uint8

const (
	// GSM7 is the GSM 03.38 default alphabet with its extension table, as
	// unpacked septets (one per octet).
	GSM7 Encoding = iota
	// UCS2 is UTF-16 big-endian, with surrogate pairs beyond the BMP.
	UCS2
	// Latin1 is ISO-8859-1, one octet per character.
	Latin1
	// Binary is 8-bit data passed through unchanged; a string holds the octets.
	Binary
)

// String returns the encoding's name, such as "GSM7".
func (e Encoding) String() string {
	switch e {
	case GSM7:
		return "GSM7"
	case UCS2:
		return "UCS2"
	case Latin1:
		return "Latin1"
	case Binary:
		return "Binary"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

func (e Encoding) valid() bool { return e <= Binary }

// Errors, to be matched with errors.Is. The errors returned carry more detail
// ([*EncodeError], [*DecodeError]) and wrap one of these.
var (
	// ErrInvalidUTF8 means the text to encode is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("coding: invalid UTF-8")
	// ErrUnencodable means the text holds a character the encoding lacks.
	ErrUnencodable = errors.New("coding: character not representable")
	// ErrMalformed means encoded input (septets, UTF-16) is not well formed.
	ErrMalformed = errors.New("coding: malformed input")
	// ErrMalformedUDH means a User Data Header runs past its message or an
	// information element runs past its header.
	ErrMalformedUDH = errors.New("coding: malformed UDH")
	// ErrTooManyParts means the message needs more than 255 parts.
	ErrTooManyParts = errors.New("coding: message needs more than 255 parts")
	// ErrBadArgument means an Encoding or Method value out of range, or a
	// reference that does not fit the method's reference field.
	ErrBadArgument = errors.New("coding: invalid argument")
)

// EncodeError reports text that cannot be encoded.
type EncodeError struct {
	Encoding Encoding
	// Offset is the byte offset of the offending character in the input.
	Offset int
	// Char is the character; utf8.RuneError when InvalidUTF8 is set.
	Char rune
	// InvalidUTF8 is set when the input is not valid UTF-8 at Offset.
	InvalidUTF8 bool
}

func (e *EncodeError) Error() string {
	if e.InvalidUTF8 {
		return "coding: invalid UTF-8 at byte " + strconv.Itoa(e.Offset)
	}
	return fmt.Sprintf("coding: %q (U+%04X) at byte %d cannot be encoded in %s", e.Char, e.Char, e.Offset, e.Encoding)
}

// Unwrap returns ErrInvalidUTF8 or ErrUnencodable.
func (e *EncodeError) Unwrap() error {
	if e.InvalidUTF8 {
		return ErrInvalidUTF8
	}
	return ErrUnencodable
}

// encodeError builds the error for s[i:], whose first character enc lacks.
func encodeError(enc Encoding, s string, i int) error {
	r, size := utf8.DecodeRuneInString(s[i:])
	return &EncodeError{Encoding: enc, Offset: i, Char: r, InvalidUTF8: r == utf8.RuneError && size <= 1}
}

// DecodeError reports encoded input that is not well formed.
type DecodeError struct {
	Encoding Encoding
	// Offset is the octet offset of the problem in the input.
	Offset int
	// Reason says what is wrong, such as "octet 0x80 is not a septet".
	Reason string
}

func (e *DecodeError) Error() string {
	return "coding: malformed " + e.Encoding.String() + " at octet " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap returns ErrMalformed.
func (e *DecodeError) Unwrap() error { return ErrMalformed }

// Append appends s encoded in enc to dst. For Binary the string's octets are
// copied as they are. On error the returned slice is dst (its contents past
// len(dst) unspecified) and the error is an [*EncodeError].
func Append(dst []byte, s string, enc Encoding) ([]byte, error) {
	switch enc {
	case GSM7:
		return AppendGSM7(dst, s)
	case UCS2:
		return AppendUCS2(dst, s)
	case Latin1:
		return AppendLatin1(dst, s)
	case Binary:
		return append(dst, s...), nil
	}
	return dst, badEncoding(enc)
}

// AppendDecode appends the UTF-8 text of b, encoded in enc, to dst. For Binary
// the octets are copied as they are (the result need not be UTF-8). On error
// the returned slice is dst and the error is a [*DecodeError].
func AppendDecode(dst, b []byte, enc Encoding) ([]byte, error) {
	switch enc {
	case GSM7:
		return AppendDecodeGSM7(dst, b)
	case UCS2:
		return AppendDecodeUCS2(dst, b)
	case Latin1:
		return AppendDecodeLatin1(dst, b), nil
	case Binary:
		return append(dst, b...), nil
	}
	return dst, badEncoding(enc)
}

// Decode returns the text of b, encoded in enc, as a string (see [AppendDecode]).
func Decode(b []byte, enc Encoding) (string, error) {
	var buf [256]byte
	out, err := AppendDecode(buf[:0], b, enc)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// AppendDecodeReplace is [AppendDecode] that never fails: each malformed
// unit (an octet above 0x7F or a dangling escape in GSM7, an odd final octet
// or an unpaired surrogate in UCS2) becomes U+FFFD. Use it for inbound text
// that must be kept whatever the peer sent. An invalid enc appends nothing.
func AppendDecodeReplace(dst, b []byte, enc Encoding) []byte {
	switch enc {
	case GSM7:
		dst, _ = appendDecodeGSM7(dst, b, true)
		return dst
	case UCS2:
		dst, _ = appendDecodeUCS2(dst, b, true)
		return dst
	case Latin1:
		return AppendDecodeLatin1(dst, b)
	case Binary:
		return append(dst, b...)
	}
	return dst
}

// Choose returns GSM7 when every character of s is in the GSM 7-bit default
// alphabet or its extension table, else UCS2. Text that is not valid UTF-8
// gives UCS2, whose encoder then reports the error.
func Choose(s string) Encoding {
	if _, ok := GSM7Len(s); ok {
		return GSM7
	}
	return UCS2
}

// ReplaceUnencodable returns s with every character enc cannot represent,
// and every invalid UTF-8 sequence, replaced by repl. It returns s itself
// (no allocation) when nothing needs replacing. repl must be representable
// in enc, else the error is an [*EncodeError]. For Binary it returns s.
func ReplaceUnencodable(s string, enc Encoding, repl rune) (string, error) {
	if !enc.valid() {
		return s, badEncoding(enc)
	}
	if enc == Binary {
		return s, nil
	}
	rs := string(repl)
	if !utf8.ValidRune(repl) || !encodable(repl, enc) {
		return s, &EncodeError{Encoding: enc, Char: repl, InvalidUTF8: !utf8.ValidRune(repl)}
	}
	var out []byte
	last := 0 // s[last:i] not yet copied to out
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r != utf8.RuneError || size > 1) && encodable(r, enc) {
			i += size
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(s)+len(rs))
		}
		out = append(out, s[last:i]...)
		out = append(out, rs...)
		i += size
		last = i
	}
	if out == nil {
		return s, nil
	}
	return string(append(out, s[last:]...)), nil
}

func encodable(r rune, enc Encoding) bool {
	switch enc {
	case GSM7:
		return gsmEncode(r) != 0
	case UCS2:
		return utf8.ValidRune(r)
	case Latin1:
		return r >= 0 && r <= 0xFF
	}
	return true
}

func badEncoding(enc Encoding) error {
	return &argError{"encoding " + enc.String()}
}

type argError struct{ what string }

func (e *argError) Error() string { return "coding: invalid " + e.what }
func (e *argError) Unwrap() error { return ErrBadArgument }
