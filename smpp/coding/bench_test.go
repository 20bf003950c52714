package coding_test

import (
	"testing"

	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// The benchmark texts: 100 and 400 GSM characters with a few extension
// characters, and 200 UCS2 characters with emoji (surrogate pairs).
var (
	gsm100 = runes("Your code is 123456 @ £1/msg. Bring €5 {room 2}! ", 100)
	gsm400 = runes("Meet at 5pm @ Café [room 2]; bring €10. ", 400)
	ucs200 = runes("Привет мир 😀 ", 200)
)

// runes repeats s and cuts the result to n characters.
func runes(s string, n int) string {
	r := []rune(rep(s, n))
	return string(r[:n])
}

// TestAllocs checks that the hot paths do not allocate once buffers exist.
// It runs without t.Parallel, as testing.AllocsPerRun requires.
func TestAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	var sp coding.Splitter
	var rs coding.RefSource
	sm := []byte{0x05, 0x00, 0x03, 0xCC, 0x03, 0x01, 0x48, 0x69}
	septets, _ := coding.AppendGSM7(nil, gsm100)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Choose+Count+AppendGSM7", func() {
			enc := coding.Choose(gsm100)
			_, _ = coding.Count(gsm100, enc, coding.UDH8)
			buf, _ = coding.AppendGSM7(buf[:0], gsm100)
		}},
		{"AppendUCS2", func() { buf, _ = coding.AppendUCS2(buf[:0], ucs200) }},
		{"Splitter.Split GSM7", func() { _, _ = sp.Split(gsm400, coding.GSM7, coding.UDH8, 1) }},
		{"Splitter.Split UCS2", func() { _, _ = sp.Split(ucs200, coding.UCS2, coding.UDH16, 1) }},
		{"AppendDecodeGSM7", func() { buf, _ = coding.AppendDecodeGSM7(buf[:0], septets) }},
		{"ParseUDH+Concat", func() {
			h, _, _ := coding.ParseUDH(sm)
			h.Concat()
		}},
		{"RefSource.Next", func() { rs.Next("+447700900123", coding.UDH8) }},
		{"ReplaceUnencodable unchanged", func() { _, _ = coding.ReplaceUnencodable(gsm400, coding.GSM7, '?') }},
		{"DecodeGSM7 short (the string only)", func() { _, _ = coding.DecodeGSM7(septets) }},
	} {
		tc.f() // warm up reusable storage
		want := 0.0
		if tc.name == "DecodeGSM7 short (the string only)" {
			want = 1
		}
		if n := testing.AllocsPerRun(100, tc.f); n != want {
			t.Errorf("%s: %v allocations, want %v", tc.name, n, want)
		}
	}
}

func BenchmarkChooseCountAppendGSM7(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(gsm100)))
	b.ReportAllocs()
	for b.Loop() {
		enc := coding.Choose(gsm100)
		if _, err := coding.Count(gsm100, enc, coding.UDH8); err != nil {
			b.Fatal(err)
		}
		buf, _ = coding.AppendGSM7(buf[:0], gsm100)
	}
}

func BenchmarkSplitGSM7(b *testing.B) {
	var sp coding.Splitter
	b.SetBytes(int64(len(gsm400)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sp.Split(gsm400, coding.GSM7, coding.UDH8, 42); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitUCS2(b *testing.B) {
	var sp coding.Splitter
	b.SetBytes(int64(len(ucs200)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sp.Split(ucs200, coding.UCS2, coding.UDH8, 42); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGSM7(b *testing.B) {
	septets, _ := coding.AppendGSM7(nil, gsm400)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(septets)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = coding.AppendDecodeGSM7(buf[:0], septets)
	}
}

func BenchmarkParseUDHConcat(b *testing.B) {
	sm := []byte{0x05, 0x00, 0x03, 0xCC, 0x03, 0x01, 0x48, 0x69}
	b.ReportAllocs()
	for b.Loop() {
		h, _, _ := coding.ParseUDH(sm)
		h.Concat()
	}
}

func BenchmarkRefSourceNext(b *testing.B) {
	var rs coding.RefSource
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rs.Next("+447700900123", coding.UDH8)
		}
	})
}
