package smpp_test

import (
	"bytes"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp"
)

// text100 is 100 GSM 7-bit characters as unpacked septets (what SMPP carries
// under data_coding 0); for GSM's basic ASCII subset they equal the ASCII bytes.
var text100 = bytes.Repeat([]byte("Hello 0123"), 10)

func benchSubmit() *smpp.SubmitSM {
	return &smpp.SubmitSM{
		Source:             smpp.Address{TON: smpp.TONAlphanumeric, NPI: 0, Addr: []byte("MyBrand")},
		Dest:               smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte("447700900123")},
		RegisteredDelivery: smpp.RegisteredDeliveryFinal,
		ShortMessage:       text100,
	}
}

// BenchmarkEncodeSubmitSM: a 100-character GSM7 submit_sm appended into a
// reused buffer (issue 2 budget: ≤ 150 ns, 0 allocs).
func BenchmarkEncodeSubmitSM(b *testing.B) {
	p := benchSubmit()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		buf, err = smpp.AppendPDU(buf[:0], p, 0, uint32(i))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

var submitResp = func() []byte {
	b, _ := smpp.AppendPDU(nil, &smpp.SubmitSMResp{MessageID: []byte("5f2a9c01-7b3e-4e8a")}, 0, 42)
	return b
}()

// BenchmarkParseSubmitSMResp: header and body of a submit_sm_resp (budget ≤ 50 ns, 0 allocs).
func BenchmarkParseSubmitSMResp(b *testing.B) {
	var dec smpp.Decoder
	b.ReportAllocs()
	for b.Loop() {
		h, err := smpp.ParseHeader(submitResp)
		if err != nil {
			b.Fatal(err)
		}
		p, err := dec.Decode(h, submitResp[smpp.HeaderLen:h.Length])
		if err != nil || len(p.(*smpp.SubmitSMResp).MessageID) == 0 {
			b.Fatal(err)
		}
	}
}

var receipt = func() []byte {
	text := []byte("id:0A1B2C3D4E sub:001 dlvrd:001 submit date:2611251200 done date:2611251201 stat:DELIVRD err:000 text:Hello 0123Hello 0123")
	var tl smpp.TLVs
	tl = smpp.AppendTLV(tl, smpp.TagReceiptedMessageID, []byte("0A1B2C3D4E\x00"))
	tl = smpp.AppendTLV(tl, smpp.TagMessageState, []byte{byte(smpp.StateDelivered)})
	tl = smpp.AppendTLV(tl, smpp.TagNetworkErrorCode, []byte{3, 0, 0})
	b, _ := smpp.AppendPDU(nil, &smpp.DeliverSM{
		Source:   smpp.Address{TON: 1, NPI: 1, Addr: []byte("447700900123")},
		Dest:     smpp.Address{TON: 5, Addr: []byte("MyBrand")},
		ESMClass: smpp.ESMClassDeliveryReceipt, ShortMessage: text, TLVs: tl,
	}, 0, 7)
	return b
}()

// BenchmarkParseDeliverReceipt: a deliver_sm receipt with its TLVs, reading
// receipted_message_id and message_state (budget ≤ 150 ns, ≤ 1 alloc).
func BenchmarkParseDeliverReceipt(b *testing.B) {
	var dec smpp.Decoder
	b.ReportAllocs()
	for b.Loop() {
		h, err := smpp.ParseHeader(receipt)
		if err != nil {
			b.Fatal(err)
		}
		p, err := dec.Decode(h, receipt[smpp.HeaderLen:h.Length])
		if err != nil {
			b.Fatal(err)
		}
		d := p.(*smpp.DeliverSM)
		id, ok1 := d.TLVs.ReceiptedMessageID()
		st, ok2 := d.TLVs.MessageState()
		if !d.IsReceipt() || !ok1 || !ok2 || len(id) != 10 || st != smpp.StateDelivered {
			b.Fatal("bad receipt")
		}
	}
}

// BenchmarkReaderStream: framing many PDUs out of one buffered stream.
func BenchmarkReaderStream(b *testing.B) {
	var stream []byte
	for i := 0; i < 1000; i++ {
		stream = append(stream, submitResp...)
	}
	r := bytes.NewReader(stream)
	rd := smpp.NewReader(r, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(submitResp)))
	for b.Loop() {
		if _, _, err := rd.Next(); err != nil {
			r.Reset(stream)
			if _, _, err := rd.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
