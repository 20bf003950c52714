package coding_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

var rep = strings.Repeat

func TestCapacity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		enc          coding.Encoding
		m            coding.Method
		single, part int
	}{
		{coding.GSM7, coding.UDH8, 160, 153},
		{coding.GSM7, coding.SAR, 160, 153},
		{coding.GSM7, coding.Payload, 160, 153},
		{coding.GSM7, coding.UDH16, 160, 152},
		{coding.UCS2, coding.UDH8, 70, 67},
		{coding.UCS2, coding.UDH16, 70, 66},
		{coding.Latin1, coding.UDH8, 140, 134},
		{coding.Binary, coding.SAR, 140, 134},
		{coding.Binary, coding.UDH16, 140, 133},
		{coding.Encoding(7), coding.UDH8, 0, 0},
		{coding.GSM7, coding.Method(7), 0, 0},
	}
	for _, tt := range tests {
		if s, p := coding.Capacity(tt.enc, tt.m); s != tt.single || p != tt.part {
			t.Errorf("Capacity(%s, %s) = %d, %d; want %d, %d", tt.enc, tt.m, s, p, tt.single, tt.part)
		}
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	const (
		g, u, l, b = coding.GSM7, coding.UCS2, coding.Latin1, coding.Binary
		u8, u16    = coding.UDH8, coding.UDH16
	)
	tests := []struct {
		name                     string
		s                        string
		enc                      coding.Encoding
		m                        coding.Method
		units, chars, segs, free int
	}{
		{"gsm empty", "", g, u8, 0, 0, 1, 160},
		{"gsm 160", rep("a", 160), g, u8, 160, 160, 1, 0},
		{"gsm 161", rep("a", 161), g, u8, 161, 161, 2, 145},
		{"gsm 153x2", rep("a", 306), g, u8, 306, 306, 2, 0},
		{"gsm 153x2+1", rep("a", 307), g, u8, 307, 307, 3, 152},
		{"gsm 161 sar", rep("a", 161), g, coding.SAR, 161, 161, 2, 145},
		{"gsm 161 payload", rep("a", 161), g, coding.Payload, 161, 161, 2, 145},
		{"gsm 161 udh16", rep("a", 161), g, u16, 161, 161, 2, 143},
		{"gsm 152x2 udh16", rep("a", 304), g, u16, 304, 304, 2, 0},
		{"gsm 152x2+1 udh16", rep("a", 305), g, u16, 305, 305, 3, 151},
		{"gsm not ascii", "@£¤", g, u8, 3, 3, 1, 157},
		{"euro 80 fits", rep("€", 80), g, u8, 160, 80, 1, 0},
		{"euro 81", rep("€", 81), g, u8, 162, 81, 2, 143},                           // 76 € (152) + 5 € (10)
		{"euro at 153", rep("a", 152) + "€" + rep("a", 8), g, u8, 162, 161, 2, 143}, // € moves to part 2
		{"euro ends part", rep("a", 151) + "€" + rep("a", 8), g, u8, 161, 160, 2, 145},
		{"euro at 161", rep("a", 159) + "€", g, u8, 161, 160, 2, 145},
		{"brace at 152 udh16", rep("a", 151) + "{" + "a", g, u16, 154, 153, 1, 6},
		{"gsm 255 parts", rep("a", 255*153), g, u8, 255 * 153, 255 * 153, 255, 0},
		{"ucs2 70", rep("ж", 70), u, u8, 70, 70, 1, 0},
		{"ucs2 71", rep("ж", 71), u, u8, 71, 71, 2, 63},
		{"ucs2 67x2", rep("ж", 134), u, u8, 134, 134, 2, 0},
		{"ucs2 67x2+1", rep("ж", 135), u, u8, 135, 135, 3, 66},
		{"ucs2 66x2 udh16", rep("ж", 132), u, u16, 132, 132, 2, 0},
		{"ucs2 66x2+1 udh16", rep("ж", 133), u, u16, 133, 133, 3, 65},
		{"ucs2 ascii", "hello", u, u8, 5, 5, 1, 65},
		{"emoji 35 fit", rep("😀", 35), u, u8, 70, 35, 1, 0},
		{"emoji 36", rep("😀", 36), u, u8, 72, 36, 2, 61}, // 33 (66 units) + 3
		{"emoji at 67", rep("a", 66) + "😀" + rep("b", 4), u, u8, 72, 71, 2, 61},
		{"latin1 140", rep("é", 140), l, u8, 140, 140, 1, 0},
		{"latin1 141", rep("é", 141), l, u8, 141, 141, 2, 127},
		{"latin1 134x2", rep("a", 268), l, u8, 268, 268, 2, 0},
		{"latin1 134x2+1", rep("a", 269), l, u8, 269, 269, 3, 133},
		{"latin1 133x2 udh16", rep("a", 266), l, u16, 266, 266, 2, 0},
		{"latin1 133x2+1 udh16", rep("a", 267), l, u16, 267, 267, 3, 132},
		{"latin1 empty", "", l, u8, 0, 0, 1, 140},
		{"binary 140", rep("\xff", 140), b, u8, 140, 140, 1, 0},
		{"binary 141", rep("\xff", 141), b, u8, 141, 141, 2, 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := coding.Count(tt.s, tt.enc, tt.m)
			want := coding.Info{Encoding: tt.enc, Units: tt.units, Chars: tt.chars, Segments: tt.segs, Free: tt.free}
			if err != nil || got != want {
				t.Fatalf("Count = %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

func TestCountTooManyParts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s   string
		enc coding.Encoding
		m   coding.Method
	}{
		{rep("a", 255*153+1), coding.GSM7, coding.UDH8},
		{rep("a", 255*153+1), coding.GSM7, coding.Payload},
		{rep("a", 255*152+1), coding.GSM7, coding.UDH16},
		{rep("ж", 255*67+1), coding.UCS2, coding.SAR},
		{rep("a", 255*134+1), coding.Latin1, coding.UDH8},
	} {
		info, err := coding.Count(tc.s, tc.enc, tc.m)
		if !errors.Is(err, coding.ErrTooManyParts) || info.Segments != 256 {
			t.Errorf("%s/%s %d units: %+v, %v", tc.enc, tc.m, len(tc.s), info, err)
		}
		var sp coding.Splitter
		if parts, err := sp.Split(tc.s, tc.enc, tc.m, 1); !errors.Is(err, coding.ErrTooManyParts) || parts != nil {
			t.Errorf("Split %s/%s: %d parts, %v", tc.enc, tc.m, len(parts), err)
		}
	}
}
