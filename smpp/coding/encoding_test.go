package coding_test

import (
	"errors"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func TestEncodeErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := coding.AppendGSM7(nil, "ab中")
	if got, want := err.Error(), `coding: '中' (U+4E2D) at byte 2 cannot be encoded in GSM7`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = coding.AppendUCS2(nil, "a\xff")
	if got, want := err.Error(), "coding: invalid UTF-8 at byte 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReplaceUnencodable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		enc  coding.Encoding
		repl rune
		want string
	}{
		{"façade 中\t", coding.GSM7, '?', "fa?ade ??"},
		{"all fine €", coding.GSM7, '?', "all fine €"},
		{"bad\xffutf8", coding.UCS2, '\uFFFD', "bad\uFFFDutf8"},
		{"€uro", coding.Latin1, '¤', "¤uro"},
		{"x\xff", coding.Binary, '?', "x\xff"},
	}
	for _, tt := range tests {
		got, err := coding.ReplaceUnencodable(tt.in, tt.enc, tt.repl)
		if err != nil || got != tt.want {
			t.Errorf("ReplaceUnencodable(%q, %s) = %q, %v; want %q", tt.in, tt.enc, got, err, tt.want)
		}
		if _, err := coding.Append(nil, got, tt.enc); err != nil {
			t.Errorf("result %q does not encode: %v", got, err)
		}
	}
	if _, err := coding.ReplaceUnencodable("x", coding.GSM7, 'ç'); !errors.Is(err, coding.ErrUnencodable) {
		t.Errorf("unencodable replacement: %v", err)
	}
}

func TestEncodingStrings(t *testing.T) {
	t.Parallel()
	for v, want := range map[coding.Encoding]string{coding.GSM7: "GSM7", coding.UCS2: "UCS2", coding.Latin1: "Latin1", coding.Binary: "Binary", 9: "Encoding(9)"} {
		if v.String() != want {
			t.Errorf("%d: %q", v, v.String())
		}
	}
	for v, want := range map[coding.Method]string{coding.UDH8: "UDH8", coding.UDH16: "UDH16", coding.SAR: "SAR", coding.Payload: "Payload", 7: "Method(7)"} {
		if v.String() != want {
			t.Errorf("%d: %q", v, v.String())
		}
	}
	var zeroE coding.Encoding
	var zeroM coding.Method
	if zeroE != coding.GSM7 || zeroM != coding.UDH8 {
		t.Error("zero values are not GSM7 and UDH8")
	}
}

func TestInvalidEncoding(t *testing.T) {
	t.Parallel()
	bad := coding.Encoding(9)
	if _, err := coding.Append(nil, "a", bad); !errors.Is(err, coding.ErrBadArgument) {
		t.Errorf("Append: %v", err)
	}
	if _, err := coding.Decode([]byte("a"), bad); !errors.Is(err, coding.ErrBadArgument) {
		t.Errorf("Decode: %v", err)
	}
	if _, err := coding.Count("a", bad, coding.UDH8); !errors.Is(err, coding.ErrBadArgument) {
		t.Errorf("Count: %v", err)
	}
	if _, err := coding.Count("a", coding.GSM7, coding.Method(9)); !errors.Is(err, coding.ErrBadArgument) {
		t.Errorf("Count method: %v", err)
	}
	if got := coding.AppendDecodeReplace([]byte("x"), []byte("a"), bad); string(got) != "x" {
		t.Errorf("AppendDecodeReplace: %q", got)
	}
}
