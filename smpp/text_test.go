package smpp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

func TestSetPartAndUserDataRoundTrip(t *testing.T) {
	t.Parallel()
	text := string(bytes.Repeat([]byte("€uro "), 70)) // 350 chars, euro escapes: 3 parts of GSM7
	for _, m := range []coding.Method{coding.UDH8, coding.UDH16, coding.SAR, coding.Payload} {
		parts, err := coding.Split(text, coding.GSM7, m, 0x42)
		if err != nil {
			t.Fatal(err)
		}
		var joined []byte
		for _, part := range parts {
			p := smpp.DeliverSM{DataCoding: smpp.DataCoding(coding.GSM7, 1)}
			smpp.SetPart((*smpp.SubmitSM)(&p), part, m)
			wire, err := smpp.AppendPDU(nil, &p, 0, 1)
			if err != nil {
				t.Fatalf("%v: %v", m, err)
			}
			var d smpp.DeliverSM
			if err := d.Decode(wire[smpp.HeaderLen:]); err != nil {
				t.Fatal(err)
			}
			data, c, isPart, err := smpp.UserData(d.ESMClass, d.Payload(), d.TLVs)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) > 1 && m != coding.Payload {
				if !isPart || c.Total != uint8(len(parts)) || c.Seq != part.Seq || c.Ref != 0x42 {
					t.Fatalf("%v: concat %+v part %v", m, c, isPart)
				}
			}
			if smpp.EncodingOf(d.DataCoding, 1) != coding.GSM7 {
				t.Fatalf("data_coding %d not read as GSM", d.DataCoding)
			}
			joined = append(joined, data...)
		}
		got, err := coding.DecodeGSM7(joined)
		if err != nil || got != text {
			t.Fatalf("%v: reassembled %q, %v", m, got, err)
		}
	}
}

func TestDataCodingPerCarrier(t *testing.T) {
	t.Parallel()
	if smpp.DataCoding(coding.GSM7, 0) != 0 || smpp.DataCoding(coding.GSM7, 1) != 1 || smpp.DataCoding(coding.UCS2, 1) != 8 {
		t.Fatal("data_coding mapping")
	}
	for _, tc := range []struct {
		dc, def uint8
		want    coding.Encoding
	}{{0, 1, coding.GSM7}, {1, 1, coding.GSM7}, {1, 0, coding.Latin1}, {8, 0, coding.UCS2}, {3, 0, coding.Latin1}, {0xF0, 0, coding.GSM7}, {0xF4, 0, coding.Binary}, {4, 0, coding.Binary}} {
		if got := smpp.EncodingOf(tc.dc, tc.def); got != tc.want {
			t.Errorf("EncodingOf(%#x, %d) = %v, want %v", tc.dc, tc.def, got, tc.want)
		}
	}
}

func TestParseReceipt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		id    string
		state smpp.MessageState
		done  string
		text  string
	}{
		{"id:0123456789 sub:001 dlvrd:001 submit date:2611251200 done date:2611251201 stat:DELIVRD err:000 text:Hello there", "0123456789", smpp.StateDelivered, "2611251201", "Hello there"},
		{"ID:B8BE19 SUB:1 DLVRD:0 SUBMIT DATE:261125120000 DONE DATE:261125120500 STAT:UNDELIV ERR:34 Text:x", "B8BE19", smpp.StateUndeliverable, "261125120500", "x"},
		{"id:7 stat:REJECTD", "7", smpp.StateRejected, "", ""},
		{"stat:EXPIRED err:1 id:abc-def", "abc-def", smpp.StateExpired, "", ""},
		{"id:9 submit date:20261125120000 done date:20261125120001 stat:ACKED err:0", "9", smpp.StateEnroute, "20261125120001", ""},
	} {
		r, err := smpp.ParseReceipt([]byte(tc.in))
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		st, ok := r.State()
		if string(r.ID) != tc.id || !ok || st != tc.state || string(r.DoneDate) != tc.done || string(r.Text) != tc.text {
			t.Errorf("%q: id %q state %v/%v done %q text %q", tc.in, r.ID, st, ok, r.DoneDate, r.Text)
		}
	}
	if _, err := smpp.ParseReceipt([]byte("hello, this is a reply")); err != smpp.ErrNotReceipt {
		t.Fatalf("plain text parsed as a receipt: %v", err)
	}
	if r, _ := smpp.ParseReceipt([]byte("id:1 stat:WHATEVER")); func() bool { _, ok := r.State(); return ok }() {
		t.Fatal("unknown stat word accepted")
	}
}

func TestReceiptDates(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 11, 25, 12, 34, 0, 0, time.UTC)
	for _, in := range []string{"2611251234", "261125123400", "20261125123400"} {
		got, err := smpp.ParseReceiptDate([]byte(in))
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if got, _ := smpp.ParseReceiptDate([]byte("9901010000")); got.Year() != 1999 {
		t.Errorf("pivot: %v", got)
	}
	for _, bad := range []string{"", "26112512", "2613251234", "26112512a4", "2611253299"} {
		if _, err := smpp.ParseReceiptDate([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	sub := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	txt := smpp.AppendReceiptText(nil, "00ab", smpp.StateDelivered, 0, sub, sub.Add(time.Minute), []byte("a long message text beyond twenty"))
	r, err := smpp.ParseReceipt(txt)
	if err != nil || string(r.ID) != "00ab" || string(r.Stat) != "DELIVRD" || string(r.Text) != "a long message text " || string(r.DoneDate) != "2611251201" {
		t.Fatalf("%s → %+v %v", txt, r, err)
	}
}

// FuzzParseReceipt: the receipt parser never panics and its views stay
// inside the input.
func FuzzParseReceipt(f *testing.F) {
	f.Add([]byte("id:0123456789 sub:001 dlvrd:001 submit date:2611251200 done date:2611251201 stat:DELIVRD err:000 text:Hello"))
	f.Add([]byte("ID:1 STAT:UNDELIV text:"))
	f.Add([]byte("id:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := smpp.ParseReceipt(b)
		if err != nil {
			return
		}
		r.State()
		smpp.ParseReceiptDate(r.DoneDate)
		smpp.ParseReceiptDate(r.SubmitDate)
		for _, f := range [][]byte{r.ID, r.Stat, r.Text, r.Err} {
			if len(f) > len(b) {
				t.Fatal("field longer than the input")
			}
		}
	})
}
