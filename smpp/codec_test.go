package smpp_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/switchboard-sms/switchboard/smpp"
)

// samples returns one fully populated value of every PDU type.
func samples() []smpp.PDU {
	var tl smpp.TLVs
	tl = smpp.AppendTLV(tl, smpp.TagUserMessageReference, []byte{0x01, 0x02})
	tl = smpp.AppendTLV(tl, 0x1401, []byte("vendor")) // unknown vendor tag, must survive
	addr := func(s string) smpp.Address { return smpp.Address{TON: 1, NPI: 1, Addr: []byte(s)} }
	return []smpp.PDU{
		&smpp.Bind{Type: smpp.BindTransceiver, SystemID: []byte("sysid"), Password: []byte("secret"), SystemType: []byte("VMA"), InterfaceVersion: 0x34, AddrTON: 1, AddrNPI: 1, AddressRange: []byte("^1555")},
		&smpp.Bind{Type: smpp.BindTransmitter, SystemID: []byte("tx")},
		&smpp.Bind{Type: smpp.BindReceiver, SystemID: []byte("rx"), Password: []byte("pw")},
		&smpp.BindResp{Type: smpp.BindTransceiver, SystemID: []byte("SMSC"), TLVs: smpp.AppendTLV(nil, smpp.TagSCInterfaceVersion, []byte{0x34})},
		&smpp.BindResp{Type: smpp.BindTransmitter, SystemID: []byte("SMSC")},
		&smpp.BindResp{Type: smpp.BindReceiver, SystemID: []byte("SMSC")},
		&smpp.Outbind{SystemID: []byte("smsc"), Password: []byte("pw")},
		&smpp.Unbind{}, &smpp.UnbindResp{}, &smpp.EnquireLink{}, &smpp.EnquireLinkResp{}, &smpp.GenericNack{},
		&smpp.SubmitSM{ServiceType: []byte("CMT"), Source: addr("15551230000"), Dest: addr("447700900123"), ESMClass: 0x40, ProtocolID: 0, PriorityFlag: 1,
			ScheduleDeliveryTime: []byte("260101120000000+"), ValidityPeriod: []byte("000001000000000R"), RegisteredDelivery: 1, ReplaceIfPresent: 0, DataCoding: 8, SMDefaultMsgID: 0,
			ShortMessage: []byte{0x05, 0x00, 0x03, 0x7F, 0x02, 0x01, 0x00, 0x40}, TLVs: tl},
		&smpp.SubmitSMResp{MessageID: []byte("0A1B2C3D")},
		&smpp.DeliverSM{Source: addr("447700900123"), Dest: addr("15551230000"), ESMClass: 0x04, ShortMessage: []byte("id:1 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:hi"),
			TLVs: smpp.AppendTLV(smpp.AppendTLV(nil, smpp.TagReceiptedMessageID, []byte("1\x00")), smpp.TagMessageState, []byte{2})},
		&smpp.DeliverSMResp{},
		&smpp.DataSM{ServiceType: []byte("WAP"), Source: addr("1555"), Dest: addr("447700900123456789012345678901234567890"), ESMClass: 0, RegisteredDelivery: 1, DataCoding: 4,
			TLVs: smpp.AppendTLV(nil, smpp.TagMessagePayload, bytes.Repeat([]byte{0xAB}, 300))},
		&smpp.DataSMResp{MessageID: []byte("m1"), TLVs: smpp.AppendTLV(nil, smpp.TagDeliveryFailureReason, []byte{1})},
		&smpp.QuerySM{MessageID: []byte("m1"), Source: addr("1555")},
		&smpp.QuerySMResp{MessageID: []byte("m1"), FinalDate: []byte("260101120000000+"), MessageState: smpp.StateDelivered, ErrorCode: 0},
		&smpp.CancelSM{ServiceType: []byte("CMT"), MessageID: []byte("m1"), Source: addr("1555"), Dest: addr("1666")},
		&smpp.CancelSMResp{},
		&smpp.ReplaceSM{MessageID: []byte("m1"), Source: addr("1555"), RegisteredDelivery: 1, ShortMessage: []byte("new text")},
		&smpp.ReplaceSMResp{},
		&smpp.SubmitMulti{ServiceType: []byte("CMT"), Source: addr("1555"), Dests: []smpp.MultiDest{{Flag: smpp.DestFlagSME, Addr: addr("1666")}, {Flag: smpp.DestFlagList, DLName: []byte("friends")}},
			RegisteredDelivery: 1, DataCoding: 0, ShortMessage: []byte("hello all"), TLVs: tl},
		&smpp.SubmitMultiResp{MessageID: []byte("m9"), Unsuccess: []smpp.UnsuccessSME{{Addr: addr("1777"), Error: smpp.StatusINVDSTADR}}},
		&smpp.AlertNotification{Source: addr("1555"), ESME: addr("1666"), TLVs: smpp.AppendTLV(nil, smpp.TagMSAvailabilityStatus, []byte{0})},
	}
}

func TestRoundTripEveryPDU(t *testing.T) {
	t.Parallel()
	var dec smpp.Decoder
	for i, p := range samples() {
		wire, err := smpp.AppendPDU(nil, p, 0, uint32(i+1))
		if err != nil {
			t.Fatalf("%v: encode: %v", p.CommandID(), err)
		}
		h, err := smpp.ParseHeader(wire)
		if err != nil {
			t.Fatal(err)
		}
		if h.ID != p.CommandID() || h.Sequence != uint32(i+1) || int(h.Length) != len(wire) {
			t.Fatalf("%v: header %+v for %d octets", p.CommandID(), h, len(wire))
		}
		got, err := dec.Decode(h, wire[smpp.HeaderLen:])
		if err != nil {
			t.Fatalf("%v: decode: %v", p.CommandID(), err)
		}
		if got.CommandID() != p.CommandID() {
			t.Fatalf("decoded %v as %v", p.CommandID(), got.CommandID())
		}
		again, err := smpp.AppendPDU(nil, got, 0, uint32(i+1))
		if err != nil {
			t.Fatalf("%v: re-encode: %v", p.CommandID(), err)
		}
		if !bytes.Equal(wire, again) {
			t.Fatalf("%v: re-encoding differs:\n%x\n%x", p.CommandID(), wire, again)
		}
		// A fresh value decodes to the same fields as the original.
		fresh, _ := smpp.New(h.ID)
		if err := fresh.Decode(wire[smpp.HeaderLen:]); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(fresh), normalize(p)) {
			t.Errorf("%v: decoded\n%#v\nwant\n%#v", p.CommandID(), fresh, p)
		}
	}
}

// normalize re-encodes a PDU so nil and empty slices compare equal.
func normalize(p smpp.PDU) []byte {
	b, err := p.AppendBody(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSubmitSMByteExact(t *testing.T) {
	t.Parallel()
	p := &smpp.SubmitSM{
		Source:             smpp.Address{TON: 5, NPI: 0, Addr: []byte("Brand")},
		Dest:               smpp.Address{TON: 1, NPI: 1, Addr: []byte("4477")},
		RegisteredDelivery: 1,
		ShortMessage:       []byte{0x00, 0x48, 0x69}, // "@Hi" in GSM 03.38: '@' is 0x00
		TLVs:               smpp.AppendTLV(nil, smpp.TagSARMsgRefNum, []byte{0x12, 0x34}),
	}
	got, err := smpp.AppendPDU(nil, p, 0, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x00, 0x00, 0x00, 0x33, // command_length 51
		0x00, 0x00, 0x00, 0x04, // submit_sm
		0x00, 0x00, 0x00, 0x00, // command_status
		0x00, 0x00, 0x00, 0x07, // sequence_number 7
		0x00,                                      // service_type ""
		0x05, 0x00, 'B', 'r', 'a', 'n', 'd', 0x00, // source TON 5 NPI 0 "Brand"
		0x01, 0x01, '4', '4', '7', '7', 0x00, // dest TON 1 NPI 1 "4477"
		0x00, 0x00, 0x00, // esm_class, protocol_id, priority_flag
		0x00, 0x00, // schedule_delivery_time, validity_period ""
		0x01, 0x00, 0x00, 0x00, // registered_delivery 1, replace 0, data_coding 0, sm_default_msg_id 0
		0x03, 0x00, 0x48, 0x69, // sm_length 3, short_message
		0x02, 0x0C, 0x00, 0x02, 0x12, 0x34, // sar_msg_ref_num = 0x1234
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got\n% x\nwant\n% x", got, want)
	}
}

func TestBodylessResponsesParse(t *testing.T) {
	t.Parallel()
	ids := []smpp.CommandID{
		smpp.BindReceiverRespID, smpp.BindTransmitterRespID, smpp.BindTransceiverRespID, smpp.SubmitSMRespID,
		smpp.DeliverSMRespID, smpp.DataSMRespID, smpp.QuerySMRespID, smpp.SubmitMultiRespID, smpp.CancelSMRespID,
		smpp.ReplaceSMRespID, smpp.UnbindRespID, smpp.EnquireLinkRespID, smpp.GenericNackID,
	}
	var dec smpp.Decoder
	for _, id := range ids {
		wire := smpp.AppendHeaderOnly(nil, id, smpp.StatusTHROTTLED, 9)
		r := smpp.NewReader(bytes.NewReader(wire), 0)
		h, body, err := r.Next()
		if err != nil {
			t.Fatalf("%v: %v", id, err)
		}
		if len(body) != 0 || h.Status != smpp.StatusTHROTTLED {
			t.Fatalf("%v: header %+v body %d", id, h, len(body))
		}
		if _, err := dec.Decode(h, body); err != nil {
			t.Errorf("%v without a body: %v", id, err)
		}
	}
	// A reused response value is cleared by a body-less decode.
	resp := &smpp.SubmitSMResp{}
	if err := resp.Decode([]byte("abc\x00")); err != nil || string(resp.MessageID) != "abc" {
		t.Fatal(err, string(resp.MessageID))
	}
	if err := resp.Decode(nil); err != nil || resp.MessageID != nil {
		t.Fatalf("body-less decode kept %q", resp.MessageID)
	}
}

func TestDecodeTruncatedNeverPanics(t *testing.T) {
	t.Parallel()
	var dec smpp.Decoder
	for _, p := range samples() {
		wire, err := smpp.AppendPDU(nil, p, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		body := wire[smpp.HeaderLen:]
		h, _ := smpp.ParseHeader(wire)
		for n := 0; n < len(body); n++ {
			_, err := dec.Decode(h, body[:n:n])
			if n == 0 && (h.ID.IsResponse() || len(body) == 0) {
				continue // body-less responses are valid
			}
			var de *smpp.DecodeError
			if err == nil {
				// A cut that ends exactly between mandatory fields and TLVs is valid.
				continue
			}
			if !errors.As(err, &de) {
				t.Fatalf("%v cut at %d: %v is not a *DecodeError", h.ID, n, err)
			}
			if de.Status == 0 {
				t.Fatalf("%v cut at %d: no status to answer with", h.ID, n)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte{'9'}, 30)
	tests := []struct {
		name   string
		id     smpp.CommandID
		body   []byte
		field  string
		status smpp.Status
	}{
		{"source_addr without NUL in 21 octets", smpp.SubmitSMID, append(append([]byte{0x00, 1, 1}, long...), 0), "source_addr", smpp.StatusINVSRCADR},
		{"system_id too long", smpp.BindTransceiverID, append(bytes.Repeat([]byte{'a'}, 20), 0), "system_id", smpp.StatusINVSYSID},
		{"sm_length past the body", smpp.SubmitSMID, []byte{0, 1, 1, '1', 0, 1, 1, '2', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 200, 'x'}, "short_message", smpp.StatusINVMSGLEN},
		{"TLV length past the body", smpp.DeliverSMID, []byte{0, 1, 1, '1', 0, 1, 1, '2', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x04, 0x27, 0x00, 0x05, 1}, "optional parameters", smpp.StatusINVOPTPARSTREAM},
		{"TLV header cut", smpp.DeliverSMID, []byte{0, 1, 1, '1', 0, 1, 1, '2', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x04}, "optional parameters", smpp.StatusINVOPTPARSTREAM},
		{"bad dest_flag", smpp.SubmitMultiID, []byte{0, 1, 1, '1', 0, 1, 7}, "dest_flag", smpp.StatusINVDESTFLAG},
		{"bytes after the last field", smpp.BindTransceiverRespID, []byte{'s', 0, 0x02}, "optional parameters", smpp.StatusINVOPTPARSTREAM},
	}
	var dec smpp.Decoder
	for _, tc := range tests {
		_, err := dec.Decode(smpp.Header{ID: tc.id}, tc.body)
		var de *smpp.DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: got %v, want a *DecodeError", tc.name, err)
			continue
		}
		if de.Field != tc.field || de.Status != tc.status {
			t.Errorf("%s: field %q status %v, want %q %v (%v)", tc.name, de.Field, de.Status, tc.field, tc.status, err)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	var dec smpp.Decoder
	_, err := dec.Decode(smpp.Header{ID: 0x00010201}, []byte{1, 2, 3})
	var uc *smpp.UnknownCommandError
	if !errors.As(err, &uc) || uc.ID != 0x00010201 {
		t.Fatalf("got %v", err)
	}
	if smpp.CommandID(0x00010201).Known() || !smpp.SubmitSMID.Known() {
		t.Fatal("Known is wrong")
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		p     smpp.PDU
		field string
	}{
		{"source too long", &smpp.SubmitSM{Source: smpp.Address{Addr: bytes.Repeat([]byte{'1'}, 21)}}, "source_addr"},
		{"short_message 255", &smpp.SubmitSM{ShortMessage: make([]byte, 255)}, "short_message"},
		{"validity period 5 chars", &smpp.SubmitSM{ValidityPeriod: []byte("12345")}, "validity_period"},
		{"NUL in system_id", &smpp.Bind{SystemID: []byte("a\x00b")}, "system_id"},
		{"password 9 chars", &smpp.Bind{Password: []byte("123456789")}, "password"},
		{"no destinations", &smpp.SubmitMulti{}, "number_of_dests"},
	}
	for _, tc := range tests {
		dst := []byte("keep")
		out, err := smpp.AppendPDU(dst, tc.p, 0, 1)
		var ee *smpp.EncodeError
		if !errors.As(err, &ee) || ee.Field != tc.field {
			t.Errorf("%s: got %v, want an EncodeError on %s", tc.name, err, tc.field)
		}
		if string(out) != "keep" {
			t.Errorf("%s: the failed encode left %q in the buffer", tc.name, out)
		}
	}
}

func TestReaderSplitReadsAndBatches(t *testing.T) {
	t.Parallel()
	var stream []byte
	ps := samples()
	for i, p := range ps {
		var err error
		stream, err = smpp.AppendPDU(stream, p, 0, uint32(i+1))
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		r    io.Reader
		size int
	}{
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(stream)), 0},
		{"half reads", iotest.HalfReader(bytes.NewReader(stream)), 0},
		{"small buffer grows for big PDUs", bytes.NewReader(stream), 4096},
		{"all at once", bytes.NewReader(stream), 0},
	} {
		rd := smpp.NewReader(tc.r, tc.size)
		var dec smpp.Decoder
		for i, p := range ps {
			h, body, err := rd.Next()
			if err != nil {
				t.Fatalf("%s: PDU %d: %v", tc.name, i, err)
			}
			if h.ID != p.CommandID() || h.Sequence != uint32(i+1) {
				t.Fatalf("%s: PDU %d: header %+v", tc.name, i, h)
			}
			if _, err := dec.Decode(h, body); err != nil {
				t.Fatalf("%s: PDU %d: %v", tc.name, i, err)
			}
		}
		if _, _, err := rd.Next(); err != io.EOF {
			t.Fatalf("%s: after the last PDU: %v, want io.EOF", tc.name, err)
		}
	}
}

func TestReaderLengthChecks(t *testing.T) {
	t.Parallel()
	huge := smpp.AppendHeader(nil, smpp.Header{Length: 1 << 31, ID: smpp.SubmitSMID, Sequence: 1})
	rd := smpp.NewReader(bytes.NewReader(huge), 0)
	rd.SetMaxLength(1024)
	_, _, err := rd.Next()
	var le *smpp.PDULengthError
	if !errors.As(err, &le) || le.Max != 1024 || le.Length != 1<<31 {
		t.Fatalf("got %v", err)
	}
	short := smpp.AppendHeader(nil, smpp.Header{Length: 8, ID: smpp.EnquireLinkID})
	_, _, err = smpp.NewReader(bytes.NewReader(short), 0).Next()
	if !errors.As(err, &le) || le.Length != 8 {
		t.Fatalf("got %v", err)
	}
	cut := smpp.AppendHeader(nil, smpp.Header{Length: 40, ID: smpp.SubmitSMID})
	_, _, err = smpp.NewReader(bytes.NewReader(cut), 0).Next()
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("PDU cut short: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestTLVs(t *testing.T) {
	t.Parallel()
	var tl smpp.TLVs
	tl = smpp.AppendTLV(tl, 0x1500, []byte("a"))
	tl.SetUint16(smpp.TagSARMsgRefNum, 0xBEEF)
	tl.SetUint8(smpp.TagSARTotalSegments, 3)
	tl.SetUint8(smpp.TagSARSegmentSeqnum, 2)
	if err := tl.SetCString(smpp.TagReceiptedMessageID, "00ab"); err != nil {
		t.Fatal(err)
	}
	tl = smpp.AppendTLV(tl, 0x1501, []byte("b"))
	tl.SetUint8(smpp.TagSARSegmentSeqnum, 3) // replace in place
	if ref, ok := tl.SARMsgRefNum(); !ok || ref != 0xBEEF {
		t.Fatal(ref, ok)
	}
	if n, ok := tl.SARSegmentSeqnum(); !ok || n != 3 {
		t.Fatal(n, ok)
	}
	if id, ok := tl.ReceiptedMessageID(); !ok || string(id) != "00ab" {
		t.Fatalf("%q %v", id, ok)
	}
	var order []smpp.Tag
	tl.Each(func(tag smpp.Tag, _ []byte) bool { order = append(order, tag); return true })
	want := []smpp.Tag{0x1500, smpp.TagSARMsgRefNum, smpp.TagSARTotalSegments, smpp.TagSARSegmentSeqnum, smpp.TagReceiptedMessageID, 0x1501}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	tl.Delete(smpp.TagSARTotalSegments)
	if _, ok := tl.SARTotalSegments(); ok {
		t.Fatal("deleted TLV still there")
	}
	if _, ok := tl.MessageState(); ok {
		t.Fatal("absent TLV found")
	}
	// Wrong length for a typed accessor is "absent", not a panic.
	bad := smpp.AppendTLV(nil, smpp.TagMessageState, []byte{1, 2})
	if _, ok := bad.MessageState(); ok {
		t.Fatal("two-octet message_state accepted")
	}
	ne := smpp.AppendTLV(nil, smpp.TagNetworkErrorCode, []byte{3, 0x00, 0x22})
	if v, ok := ne.NetworkErrorCode(); !ok || v.Type != 3 || v.Code != 0x22 {
		t.Fatal(v, ok)
	}
	if smpp.TagReceiptedMessageID.String() != "receipted_message_id" || smpp.Tag(0x1500).String() != "tag 0x1500" {
		t.Fatal(smpp.TagReceiptedMessageID.String(), smpp.Tag(0x1500).String())
	}
}

// A view decoded from a body must not be written through by a setter.
func TestTLVSetDoesNotWriteIntoBody(t *testing.T) {
	t.Parallel()
	wire, _ := smpp.AppendPDU(nil, samples()[12], 0, 1) // submit_sm with TLVs
	orig := append([]byte(nil), wire...)
	var p smpp.SubmitSM
	if err := p.Decode(wire[smpp.HeaderLen:]); err != nil {
		t.Fatal(err)
	}
	p.TLVs.SetUint16(smpp.TagUserMessageReference, 0xFFFF)
	p.TLVs = smpp.AppendTLV(p.TLVs, smpp.TagSourcePort, []byte{0, 1})
	p.ShortMessage = append(p.ShortMessage, 'x')
	if !bytes.Equal(wire, orig) {
		t.Fatal("a setter wrote into the decoded body")
	}
}

func TestStatusTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s         smpp.Status
		name      string
		temporary bool
		class     smpp.StatusClass
	}{
		{smpp.StatusTHROTTLED, "ESME_RTHROTTLED", true, smpp.ClassTemporary},
		{smpp.StatusMSGQFUL, "ESME_RMSGQFUL", true, smpp.ClassTemporary},
		{smpp.StatusSYSERR, "ESME_RSYSERR", true, smpp.ClassTemporary},
		{smpp.StatusX_T_APPN, "ESME_RX_T_APPN", true, smpp.ClassTemporary},
		{smpp.StatusINVDSTADR, "ESME_RINVDSTADR", false, smpp.ClassPermanent},
		{smpp.StatusINVPASWD, "ESME_RINVPASWD", false, smpp.ClassBind},
		{0x0401, "vendor status 0x00000401", false, smpp.ClassPermanent},
	} {
		if tc.s.String() != tc.name || tc.s.Temporary() != tc.temporary || tc.s.Class() != tc.class {
			t.Errorf("%#x: %s %v %v", uint32(tc.s), tc.s, tc.s.Temporary(), tc.s.Class())
		}
	}
	if len(smpp.AllStatuses) < 45 {
		t.Fatalf("only %d statuses in the table", len(smpp.AllStatuses))
	}
	var err error = &smpp.StatusError{Command: smpp.SubmitSMID, Status: smpp.StatusTHROTTLED}
	if !smpp.Retryable(err) {
		t.Fatal("0x58 not retryable")
	}
	if st, ok := smpp.StatusOf(err); !ok || st != smpp.StatusTHROTTLED {
		t.Fatal(st, ok)
	}
	if smpp.Retryable(&smpp.StatusError{Command: smpp.SubmitSMID, Status: smpp.StatusINVDSTADR}) {
		t.Fatal("0x0B retryable")
	}
	unk := &smpp.UnknownOutcomeError{Command: smpp.SubmitSMID, Err: smpp.ErrUnbound}
	if !smpp.Retryable(unk) || !smpp.OutcomeUnknown(unk) || !errors.Is(unk, smpp.ErrUnbound) {
		t.Fatal("unknown outcome misclassified")
	}
	if !smpp.Retryable(smpp.ErrNotBound) || smpp.OutcomeUnknown(smpp.ErrNotBound) {
		t.Fatal("never-written request misclassified")
	}
}

func TestAppendTLVRefusesOversizedValue(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("a 70,000-octet TLV value was appended with a wrapped length")
		}
	}()
	smpp.AppendTLV(nil, smpp.TagMessagePayload, make([]byte, 70000))
}
