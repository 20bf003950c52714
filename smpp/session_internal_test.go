package smpp

import (
	"testing"
	"time"
)

func TestSequenceWraps(t *testing.T) {
	var s Session
	s.seq.Store(MaxSequence - 2)
	got := []uint32{s.nextSeq(), s.nextSeq(), s.nextSeq(), s.nextSeq()}
	want := []uint32{MaxSequence - 1, MaxSequence, 1, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sequence %v, want %v", got, want)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{2, time.Millisecond, time.Second, time.Minute} {
		for i := 0; i < 1000; i++ {
			j := jitter(d)
			if j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v, outside [%v, %v]", d, j, d/2, d)
			}
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h histogram
	for i := 0; i < 90; i++ {
		h.observe(80 * time.Microsecond) // bucket (50µs, 100µs]
	}
	for i := 0; i < 10; i++ {
		h.observe(30 * time.Millisecond) // bucket (25.6ms, 51.2ms]
	}
	s := h.snapshot()
	if s.Count != 100 {
		t.Fatal(s.Count)
	}
	if p50 := s.Quantile(0.5); p50 <= 50*time.Microsecond || p50 > 100*time.Microsecond {
		t.Fatalf("p50 %v", p50)
	}
	if p99 := s.Quantile(0.99); p99 <= 25*time.Millisecond || p99 > 52*time.Millisecond {
		t.Fatalf("p99 %v", p99)
	}
}

// pairOf finds the source and destination addresses of every PDU the
// SMSC sends on its own, and reads no further than a truncated body.
func TestPairOf(t *testing.T) {
	src := Address{TON: 1, NPI: 1, Addr: []byte("447700900001")}
	dst := Address{TON: 1, NPI: 1, Addr: []byte("15550001111")}
	want := "447700900001\x00\x01\x0115550001111"
	for _, p := range []SMSCPDU{
		&DeliverSM{ServiceType: []byte("CMT"), Source: src, Dest: dst, ShortMessage: []byte("hi")},
		&DataSM{Source: src, Dest: dst},
		&AlertNotification{Source: src, ESME: dst},
	} {
		body, err := p.AppendBody(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(pairOf(p.CommandID(), body)); got != want {
			t.Errorf("%v: pair %q, want %q", p.CommandID(), got, want)
		}
		for n := range body {
			if got := pairOf(p.CommandID(), body[:n]); len(got) > n {
				t.Fatalf("%v cut to %d bytes: pair of %d bytes", p.CommandID(), n, len(got))
			}
		}
	}
	// Another destination from the same source is another pair.
	a, _ := (&DeliverSM{Source: src, Dest: dst}).AppendBody(nil)
	b, _ := (&DeliverSM{Source: src, Dest: Address{TON: 1, NPI: 1, Addr: []byte("15550002222")}}).AppendBody(nil)
	if string(pairOf(DeliverSMID, a)) == string(pairOf(DeliverSMID, b)) {
		t.Fatal("two destinations of one source give one pair")
	}
}
