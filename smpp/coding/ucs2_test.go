package coding_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func TestAppendUCS2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []byte
	}{
		{"empty", "", []byte{}},
		{"ascii", "Hi", []byte{0x00, 0x48, 0x00, 0x69}},
		{"latin and euro", "é€", []byte{
			0x00, 0xE9, // é
			0x20, 0xAC, // €
		}},
		{"cjk", "中文", []byte{0x4E, 0x2D, 0x65, 0x87}},
		{"emoji is a surrogate pair", "😀", []byte{
			0xD8, 0x3D, // high surrogate
			0xDE, 0x00, // low surrogate
		}},
		{"nul", "\x00", []byte{0x00, 0x00}},
		{"replacement char itself", "\uFFFD", []byte{0xFF, 0xFD}},
		{"last plane", "\U0010FFFF", []byte{0xDB, 0xFF, 0xDF, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := coding.AppendUCS2([]byte{0xAA}, tt.in)
			if err != nil || !bytes.Equal(got[1:], tt.want) || got[0] != 0xAA {
				t.Fatalf("AppendUCS2(%q) = % x, %v; want aa % x", tt.in, got, err, tt.want)
			}
			back, err := coding.DecodeUCS2(tt.want)
			if err != nil || back != tt.in {
				t.Errorf("DecodeUCS2 = %q, %v; want %q", back, err, tt.in)
			}
		})
	}
}

func TestAppendUCS2InvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"\xff", "ab\xc3", "\xed\xb0\x80" /* a UTF-8-encoded low surrogate */} {
		got, err := coding.AppendUCS2([]byte("keep"), in)
		var ee *coding.EncodeError
		if !errors.As(err, &ee) || !ee.InvalidUTF8 || !errors.Is(err, coding.ErrInvalidUTF8) || string(got) != "keep" {
			t.Errorf("AppendUCS2(%q) = %q, %v", in, got, err)
		}
		if _, err := coding.Count(in, coding.UCS2, coding.UDH8); !errors.Is(err, coding.ErrInvalidUTF8) {
			t.Errorf("Count(%q) error %v", in, err)
		}
	}
}

func TestDecodeUCS2Malformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		err  string
		repl string
	}{
		{"odd length", []byte{0x00, 0x41, 0x00}, "octet 2: odd", "A\uFFFD"},
		{"lone high at end", []byte{0x00, 0x41, 0xD8, 0x3D}, "octet 2: unpaired surrogate 0xd83d", "A\uFFFD"},
		{"lone low", []byte{0xDE, 0x00, 0x00, 0x41}, "octet 0: unpaired surrogate 0xde00", "\uFFFDA"},
		{"high then letter", []byte{0xD8, 0x3D, 0x00, 0x41}, "octet 0: unpaired", "\uFFFDA"},
		{"two highs", []byte{0xD8, 0x3D, 0xD8, 0x3D, 0xDE, 0x00}, "octet 0: unpaired", "\uFFFD😀"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := coding.DecodeUCS2(tt.in)
			if !errors.Is(err, coding.ErrMalformed) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("DecodeUCS2(% x) error %v, want %q", tt.in, err, tt.err)
			}
			if got := coding.AppendDecodeReplace(nil, tt.in, coding.UCS2); string(got) != tt.repl {
				t.Errorf("AppendDecodeReplace = %q, want %q", got, tt.repl)
			}
		})
	}
}
