package smscsim_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

func TestParseDist(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, str string
		max     time.Duration
		err     string
	}{
		{in: "", str: "0"},
		{in: "0", str: "0s"},
		{in: "10ms", str: "10ms", max: 10 * time.Millisecond},
		{in: "5ms..20ms", str: "5ms..20ms", max: 20 * time.Millisecond},
		{in: "80%:10ms, 15%:100ms, 5%:1s", str: "80%:10ms,15%:100ms,5%:1s", max: time.Second},
		{in: "50:1ms,50:2ms..4ms", str: "50%:1ms,50%:2ms..4ms", max: 4 * time.Millisecond},
		{in: "80%:10ms,15%:100ms", err: "add up to 95%"},
		{in: "10ms,20ms", err: "needs a weight"},
		{in: "-5ms", err: "negative"},
		{in: "5 parsecs", err: "not a duration"},
		{in: "20ms..5ms", err: "ends before"},
		{in: "x%:1s", err: "not a positive percentage"},
		{in: "50%:1s", err: "single component weighs 100%"},
	} {
		d, err := smscsim.ParseDist(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseDist(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || d.String() != tc.str || d.Max() != tc.max {
			t.Errorf("ParseDist(%q) = %q max %v, %v; want %q max %v", tc.in, d, d.Max(), err, tc.str, tc.max)
		}
	}
}

// TestDistSample: a long-tailed mix gives its components in proportion,
// and uniform components stay in their range.
func TestDistSample(t *testing.T) {
	t.Parallel()
	d, err := smscsim.ParseDist("80%:10ms,15%:100ms..200ms,5%:1s")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100_000
	var fast, mid, slow int
	for range n {
		v := time.Duration(d.Sample(r))
		switch {
		case v == 10*time.Millisecond:
			fast++
		case v >= 100*time.Millisecond && v < 200*time.Millisecond:
			mid++
		case v == time.Second:
			slow++
		default:
			t.Fatalf("sample %v outside the mix", v)
		}
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"10ms", float64(fast) / n, .80}, {"100ms..200ms", float64(mid) / n, .15}, {"1s", float64(slow) / n, .05}} {
		if math.Abs(c.got-c.want) > 0.01 {
			t.Errorf("%s: %.3f of samples, want %.2f", c.name, c.got, c.want)
		}
	}
}

func TestParseOutcomes(t *testing.T) {
	t.Parallel()
	o, err := smscsim.ParseOutcomes("DELIVRD:90, UNDELIV/034:5, EXPIRED:3, REJECTD:2")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	counts := map[smscsim.Outcome]int{}
	for range 100_000 {
		counts[o.Sample(r)]++
	}
	want := map[smscsim.Outcome]float64{
		{State: smpp.StateDelivered}:              .90,
		{State: smpp.StateUndeliverable, Err: 34}: .05,
		{State: smpp.StateExpired, Err: 1}:        .03,
		{State: smpp.StateRejected, Err: 6}:       .02,
	}
	if len(counts) != len(want) {
		t.Fatalf("outcomes %v", counts)
	}
	for oc, f := range want {
		if got := float64(counts[oc]) / 100_000; math.Abs(got-f) > 0.01 {
			t.Errorf("%+v: %.3f, want %.2f", oc, got, f)
		}
	}
	for _, bad := range []string{"DELIVRD:90", "NOPE:100", "UNDELIV/x:100", "DELIVRD:50,UNDELIV", "UNDELIV/1000:100"} {
		if _, err := smscsim.ParseOutcomes(bad); err == nil {
			t.Errorf("ParseOutcomes(%q) succeeded", bad)
		}
	}
	if o, err := smscsim.ParseOutcomes("rejectd"); err != nil || o.Sample(r) != (smscsim.Outcome{State: smpp.StateRejected, Err: 6}) {
		t.Errorf("a single stat without weight: %v", err)
	}
}

func TestParseFailures(t *testing.T) {
	t.Parallel()
	f, err := smscsim.ParseFailures("0x58:10%, ESME_RMSGQFUL:5%, 8:1%")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	counts := map[smpp.Status]int{}
	for range 100_000 {
		if st, ok := f.Sample(r); ok {
			counts[st]++
		} else {
			counts[smpp.StatusOK]++
		}
	}
	for st, want := range map[smpp.Status]float64{smpp.StatusTHROTTLED: .10, smpp.StatusMSGQFUL: .05, smpp.StatusSYSERR: .01, smpp.StatusOK: .84} {
		if got := float64(counts[st]) / 100_000; math.Abs(got-want) > 0.01 {
			t.Errorf("%v: %.3f, want %.2f", st, got, want)
		}
	}
	for _, bad := range []string{"0x58", "0:10%", "0x58:60%,0x14:50%", "NOPE:1%", "0x58:x"} {
		if _, err := smscsim.ParseFailures(bad); err == nil {
			t.Errorf("ParseFailures(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]smpp.Status{"0x58": 0x58, "88": 0x58, "ESME_RTHROTTLED": 0x58, "throttled": 0x58, "RMSGQFUL": 0x14} {
		if st, err := smscsim.ParseStatus(in); err != nil || st != want {
			t.Errorf("ParseStatus(%q) = %v, %v", in, st, err)
		}
	}
}

func TestIDFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    uint64
		want string
	}{
		{"", 255, "255"},
		{"decimal:10", 255, "0000000255"},
		{"hex", 0xB8BE19, "b8be19"},
		{"HEX", 0xB8BE19, "B8BE19"},
		{"HEX:8", 0xB8BE19, "00B8BE19"},
		{"hex:2", 0xABCDEF, "abcdef"}, // wider than the width: not cut
	} {
		f, err := smscsim.ParseIDFormat(tc.in)
		if err != nil {
			t.Fatalf("ParseIDFormat(%q): %v", tc.in, err)
		}
		if got := f.Format(tc.n); got != tc.want {
			t.Errorf("%q.Format(%d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if back, ok := f.Parse(tc.want); !ok || back != tc.n {
			t.Errorf("%q.Parse(%q) = %d %v", tc.in, tc.want, back, ok)
		}
	}
	for _, bad := range []string{"base64", "hex:0", "hex:65", "hex:x"} {
		if _, err := smscsim.ParseIDFormat(bad); err == nil {
			t.Errorf("ParseIDFormat(%q) succeeded", bad)
		}
	}
}
