package smpp

import "encoding/binary"

// PDU is implemented by every SMPP 3.4 PDU type of this package.
//
// AppendBody appends the PDU's body (everything after the header) to dst and
// returns the extended buffer; on error dst is returned unchanged in content
// up to its original length. Decode fills the PDU from a body; the PDU's byte
// fields then alias body (zero copy) and are valid as long as body is, and
// every field is overwritten, so one value can be reused for many PDUs.
type PDU interface {
	CommandID() CommandID
	AppendBody(dst []byte) ([]byte, error)
	Decode(body []byte) error
}

// ESMEPDU is a PDU an ESME (our side) may send. The marker method lets the
// compiler check that a session only writes what its side may send.
type ESMEPDU interface {
	PDU
	SentByESME()
}

// SMSCPDU is a PDU an SMSC (the carrier, or our simulator) may send.
type SMSCPDU interface {
	PDU
	SentBySMSC()
}

var zeroHeader [HeaderLen]byte

// AppendPDU appends a whole PDU — header and body — to dst: it reserves the
// header, appends the body and fills command_length in last. On error nothing
// is appended.
func AppendPDU(dst []byte, p PDU, status Status, seq uint32) ([]byte, error) {
	start := len(dst)
	dst = append(dst, zeroHeader[:]...)
	out, err := p.AppendBody(dst)
	if err != nil {
		return dst[:start], err
	}
	h := out[start:]
	binary.BigEndian.PutUint32(h[0:], uint32(len(out)-start))
	binary.BigEndian.PutUint32(h[4:], uint32(p.CommandID()))
	binary.BigEndian.PutUint32(h[8:], uint32(status))
	binary.BigEndian.PutUint32(h[12:], seq)
	return out, nil
}

// AppendHeaderOnly appends a PDU that is a bare header: generic_nack,
// enquire_link(_resp), unbind(_resp), or any response sent without a body
// because its status is an error (as SMPP 3.4 prescribes for submit_sm_resp
// and bind responses).
func AppendHeaderOnly(dst []byte, id CommandID, status Status, seq uint32) []byte {
	return AppendHeader(dst, Header{Length: HeaderLen, ID: id, Status: status, Sequence: seq})
}

// New returns a new, empty PDU for a command ID, or false for an ID SMPP 3.4
// does not define.
func New(id CommandID) (PDU, bool) {
	switch id {
	case BindReceiverID, BindTransmitterID, BindTransceiverID:
		return &Bind{Type: bindTypeOf(id)}, true
	case BindReceiverRespID, BindTransmitterRespID, BindTransceiverRespID:
		return &BindResp{Type: bindTypeOf(id)}, true
	case OutbindID:
		return &Outbind{}, true
	case UnbindID:
		return &Unbind{}, true
	case UnbindRespID:
		return &UnbindResp{}, true
	case EnquireLinkID:
		return &EnquireLink{}, true
	case EnquireLinkRespID:
		return &EnquireLinkResp{}, true
	case GenericNackID:
		return &GenericNack{}, true
	case SubmitSMID:
		return &SubmitSM{}, true
	case SubmitSMRespID:
		return &SubmitSMResp{}, true
	case DeliverSMID:
		return &DeliverSM{}, true
	case DeliverSMRespID:
		return &DeliverSMResp{}, true
	case DataSMID:
		return &DataSM{}, true
	case DataSMRespID:
		return &DataSMResp{}, true
	case QuerySMID:
		return &QuerySM{}, true
	case QuerySMRespID:
		return &QuerySMResp{}, true
	case CancelSMID:
		return &CancelSM{}, true
	case CancelSMRespID:
		return &CancelSMResp{}, true
	case ReplaceSMID:
		return &ReplaceSM{}, true
	case ReplaceSMRespID:
		return &ReplaceSMResp{}, true
	case SubmitMultiID:
		return &SubmitMulti{}, true
	case SubmitMultiRespID:
		return &SubmitMultiResp{}, true
	case AlertNotificationID:
		return &AlertNotification{}, true
	}
	return nil, false
}

// Decoder decodes PDU bodies into values it owns and reuses, one per command,
// so decoding allocates nothing. The PDU Decode returns is valid until the
// next Decode of the same command by this Decoder; its byte fields alias the
// body passed in and are valid only as long as that body is. A Decoder is not
// safe for concurrent use; its zero value is ready to use.
type Decoder struct {
	bind        Bind
	bindResp    BindResp
	outbind     Outbind
	unbind      Unbind
	unbindResp  UnbindResp
	enquire     EnquireLink
	enquireResp EnquireLinkResp
	nack        GenericNack
	submit      SubmitSM
	submitResp  SubmitSMResp
	deliver     DeliverSM
	deliverResp DeliverSMResp
	data        DataSM
	dataResp    DataSMResp
	query       QuerySM
	queryResp   QuerySMResp
	cancel      CancelSM
	cancelResp  CancelSMResp
	replace     ReplaceSM
	replaceResp ReplaceSMResp
	multi       SubmitMulti
	multiResp   SubmitMultiResp
	alert       AlertNotification
}

// Decode decodes body as the PDU h names. An unknown command_id gives an
// *UnknownCommandError (answer generic_nack ESME_RINVCMDID), a malformed body
// a *DecodeError carrying the status to answer with. Decode never panics.
func (d *Decoder) Decode(h Header, body []byte) (PDU, error) {
	var p PDU
	switch h.ID {
	case BindReceiverID, BindTransmitterID, BindTransceiverID:
		d.bind.Type = bindTypeOf(h.ID)
		p = &d.bind
	case BindReceiverRespID, BindTransmitterRespID, BindTransceiverRespID:
		d.bindResp.Type = bindTypeOf(h.ID)
		p = &d.bindResp
	case OutbindID:
		p = &d.outbind
	case UnbindID:
		p = &d.unbind
	case UnbindRespID:
		p = &d.unbindResp
	case EnquireLinkID:
		p = &d.enquire
	case EnquireLinkRespID:
		p = &d.enquireResp
	case GenericNackID:
		p = &d.nack
	case SubmitSMID:
		p = &d.submit
	case SubmitSMRespID:
		p = &d.submitResp
	case DeliverSMID:
		p = &d.deliver
	case DeliverSMRespID:
		p = &d.deliverResp
	case DataSMID:
		p = &d.data
	case DataSMRespID:
		p = &d.dataResp
	case QuerySMID:
		p = &d.query
	case QuerySMRespID:
		p = &d.queryResp
	case CancelSMID:
		p = &d.cancel
	case CancelSMRespID:
		p = &d.cancelResp
	case ReplaceSMID:
		p = &d.replace
	case ReplaceSMRespID:
		p = &d.replaceResp
	case SubmitMultiID:
		p = &d.multi
	case SubmitMultiRespID:
		p = &d.multiResp
	case AlertNotificationID:
		p = &d.alert
	default:
		return nil, &UnknownCommandError{ID: h.ID}
	}
	if err := p.Decode(body); err != nil {
		return p, err
	}
	return p, nil
}

// Address is a TON/NPI/address triple (SMPP 3.4 §5.2.5–5.2.9). Addr holds the
// address's characters without a NUL.
type Address struct {
	TON  uint8 // type of number: 0 unknown, 1 international, 5 alphanumeric, ...
	NPI  uint8 // numbering plan: 0 unknown, 1 E.164, ...
	Addr []byte
}

// Type of number and numbering plan values (SMPP 3.4 §5.2.5, §5.2.6).
const (
	TONUnknown       uint8 = 0
	TONInternational uint8 = 1
	TONNational      uint8 = 2
	TONNetwork       uint8 = 3
	TONSubscriber    uint8 = 4
	TONAlphanumeric  uint8 = 5
	TONAbbreviated   uint8 = 6

	NPIUnknown uint8 = 0
	NPIE164    uint8 = 1
)

// Field sizes of SMPP 3.4, as C-Octet String maxima including the NUL.
const (
	maxSystemID    = 16
	maxPassword    = 9
	maxSystemType  = 13
	maxAddrRange   = 41
	maxServiceType = 6
	maxAddr21      = 21
	maxAddr65      = 65
	maxMessageID   = 65
	maxTime        = 17
	maxDLName      = 21
	// MaxShortMessage is the most octets short_message may carry; longer
	// data goes in message_payload (SMPP 3.4 §5.2.22).
	MaxShortMessage = 254
)

// addr reads the TON and NPI octets and the address that follow them; field
// names the address (e.g. "source_addr").
func (d *decoder) addr(field string, max int, st Status) Address {
	var a Address
	if len(d.b)-d.off < 2 {
		d.fail(field+"_ton", "body ends before the field", StatusINVMSGLEN)
		return a
	}
	a.TON, a.NPI = d.b[d.off], d.b[d.off+1]
	d.off += 2
	a.Addr = d.cstr(field, max, st)
	return a
}

func appendAddr(dst []byte, a Address) []byte {
	dst = append(dst, a.TON, a.NPI)
	return appendC(dst, a.Addr)
}
