package smscsim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

func TestParseScript(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want smscsim.Script
		err  string
	}{
		{in: "{}", want: smscsim.Script{}},
		{in: "{submit:{status:0x58}}", want: smscsim.Script{Status: smpp.StatusTHROTTLED, HasStatus: true}},
		{in: `{"submit":{"status":"ESME_RMSGQFUL","after":"2s"}}`, want: smscsim.Script{Status: smpp.StatusMSGQFUL, HasStatus: true, After: 2 * time.Second, HasAfter: true}},
		{in: "{submit:{status:0x58},receipt:{stat:UNDELIV,after:5s}}", want: smscsim.Script{
			Status: smpp.StatusTHROTTLED, HasStatus: true,
			Receipt: true, Stat: smpp.StateUndeliverable, HasStat: true, ReceiptAfter: 5 * time.Second, HasReceiptAfter: true}},
		{in: " { receipt : { stat : rejectd , err : 34 , first : true } } ", want: smscsim.Script{
			Receipt: true, Stat: smpp.StateRejected, HasStat: true, Err: 34, HasErr: true, First: true}},
		{in: "{submit:{drop:true},receipt:{none:true}}", want: smscsim.Script{Drop: true, Receipt: true, NoReceipt: true}},
		{in: "{submit:{status:0x58}", err: "want ',' or '}', the script ends"},
		{in: "{submit:{status:0x58}} trailing", err: "text after the closing"},
		{in: "{submit:{speed:fast}}", err: `unknown key "speed"`},
		{in: "{mo:{}}", err: `unknown section "mo"`},
		{in: "{submit:{status:NOPE}}", err: "submit.status"},
		{in: "{receipt:{after:-1s}}", err: "negative"},
		{in: "{receipt:{err:1000}}", err: "receipt.err"},
		{in: "{submit:{status:1,status:2}}", err: "given twice"},
		{in: "{submit:{status:{}}}", err: "got an object"},
		{in: `{submit:{status:"0x58}}`, err: "unterminated"},
		{in: "hello", err: "want '{'"},
	} {
		got, err := smscsim.ParseScript(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseScript(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseScript(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzFaultScript: ParseScript never panics, and what it accepts is
// well-formed: statuses of a parsed script round-trip through their text.
// Seeds are in testdata/fuzz/FuzzFaultScript.
func FuzzFaultScript(f *testing.F) {
	f.Add("{submit:{status:0x58},receipt:{stat:UNDELIV,after:5s}}")
	f.Add(`{"receipt":{"first":"true","err":"7"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := smscsim.ParseScript(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fault script") && !strings.Contains(err.Error(), "longer than") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if !strings.Contains(s, "{") || !strings.Contains(s, "}") {
			t.Fatalf("accepted %q without braces", s)
		}
		if sc.After < 0 || sc.ReceiptAfter < 0 || sc.Err < 0 || sc.Err > 999 {
			t.Fatalf("out-of-range values from %q: %+v", s, sc)
		}
	})
}
