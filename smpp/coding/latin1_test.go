package coding_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func TestLatin1(t *testing.T) {
	t.Parallel()
	got, err := coding.AppendLatin1(nil, "café ÿ£¤\x00")
	want := []byte{
		0x63, 0x61, 0x66, 0xE9, // café
		0x20, // space
		0xFF, // ÿ
		0xA3, // £
		0xA4, // ¤
		0x00, // NUL
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("AppendLatin1 = % x, %v; want % x", got, err, want)
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	s := coding.DecodeLatin1(all)
	back, err := coding.AppendLatin1(nil, s)
	if err != nil || !bytes.Equal(back, all) {
		t.Fatalf("all 256 octets: % x, %v", back, err)
	}
	for _, tc := range []struct {
		in      string
		offset  int
		invalid bool
	}{
		{"price €5", 6, false},
		{"Ωmega", 0, false},
		{"a\xe9", 1, true}, // Latin-1 octets are not UTF-8 input
		{"\uFFFD", 0, false},
	} {
		got, err := coding.AppendLatin1([]byte("keep"), tc.in)
		var ee *coding.EncodeError
		if !errors.As(err, &ee) || ee.Offset != tc.offset || ee.InvalidUTF8 != tc.invalid || string(got) != "keep" {
			t.Errorf("AppendLatin1(%q) = %q, %+v", tc.in, got, err)
		}
	}
}
