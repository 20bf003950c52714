package smpp

// esm_class bits (SMPP 3.4 §5.2.12).
const (
	ESMClassUDHI            uint8 = 0x40 // short_message starts with a user data header
	ESMClassReplyPath       uint8 = 0x80
	ESMClassTypeMask        uint8 = 0x3C // message type, bits 5–2
	ESMClassDeliveryReceipt uint8 = 0x04 // SMSC delivery receipt (deliver_sm, data_sm)
	ESMClassSMEAck          uint8 = 0x08
	ESMClassUserAck         uint8 = 0x10
	ESMClassIntermediate    uint8 = 0x20 // intermediate delivery notification
)

// registered_delivery values (SMPP 3.4 §5.2.17).
const (
	RegisteredDeliveryNone         uint8 = 0x00
	RegisteredDeliveryFinal        uint8 = 0x01 // a receipt on the final outcome, success or failure
	RegisteredDeliveryFailure      uint8 = 0x02 // a receipt on failure only
	RegisteredDeliveryMask         uint8 = 0x03
	RegisteredDeliveryIntermediate uint8 = 0x10
)

// SubmitSM submits a short message to the SMSC (SMPP 3.4 §4.4.1).
//
// ShortMessage holds at most 254 octets: the encoded text, preceded by a user
// data header when ESMClass has ESMClassUDHI. Longer data goes in the
// message_payload TLV with ShortMessage empty.
type SubmitSM struct {
	ServiceType          []byte  // at most 5 characters; empty is the SMSC default
	Source               Address // source_addr at most 20 characters
	Dest                 Address // destination_addr at most 20 characters
	ESMClass             uint8
	ProtocolID           uint8
	PriorityFlag         uint8
	ScheduleDeliveryTime []byte // empty or 16 characters
	ValidityPeriod       []byte // empty or 16 characters
	RegisteredDelivery   uint8
	ReplaceIfPresent     uint8
	DataCoding           uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte
	TLVs                 TLVs
}

func (*SubmitSM) CommandID() CommandID { return SubmitSMID }
func (*SubmitSM) SentByESME()          {}

func (p *SubmitSM) AppendBody(dst []byte) ([]byte, error) { return appendSM(dst, SubmitSMID, p) }
func (p *SubmitSM) Decode(body []byte) error              { return decodeSM(body, SubmitSMID, p) }

// DeliverSM carries a message from the SMSC to the ESME: a mobile-originated
// message or a delivery receipt (SMPP 3.4 §4.6.1). Its body is submit_sm's;
// schedule_delivery_time, validity_period, replace_if_present_flag and
// sm_default_msg_id are unused. IsReceipt tells receipts apart.
type DeliverSM SubmitSM

func (*DeliverSM) CommandID() CommandID { return DeliverSMID }
func (*DeliverSM) SentBySMSC()          {}

func (p *DeliverSM) AppendBody(dst []byte) ([]byte, error) {
	return appendSM(dst, DeliverSMID, (*SubmitSM)(p))
}
func (p *DeliverSM) Decode(body []byte) error { return decodeSM(body, DeliverSMID, (*SubmitSM)(p)) }

// IsReceipt reports whether the deliver_sm is a delivery receipt or an
// intermediate notification rather than a mobile-originated message (esm_class
// type 0x04, 0x08 or 0x20, as Kannel accepts).
func (p *DeliverSM) IsReceipt() bool {
	return p.ESMClass&(ESMClassDeliveryReceipt|ESMClassSMEAck|ESMClassIntermediate) != 0
}

// Payload returns the message's user data: short_message, or message_payload
// when short_message is empty.
func (p *DeliverSM) Payload() []byte {
	if len(p.ShortMessage) == 0 {
		if v, ok := p.TLVs.MessagePayload(); ok {
			return v
		}
	}
	return p.ShortMessage
}

func appendSM(dst []byte, id CommandID, p *SubmitSM) ([]byte, error) {
	if err := checkC(id, "service_type", p.ServiceType, maxServiceType); err != nil {
		return dst, err
	}
	if err := checkC(id, "source_addr", p.Source.Addr, maxAddr21); err != nil {
		return dst, err
	}
	if err := checkC(id, "destination_addr", p.Dest.Addr, maxAddr21); err != nil {
		return dst, err
	}
	if err := checkTime(id, "schedule_delivery_time", p.ScheduleDeliveryTime); err != nil {
		return dst, err
	}
	if err := checkTime(id, "validity_period", p.ValidityPeriod); err != nil {
		return dst, err
	}
	if len(p.ShortMessage) > MaxShortMessage {
		return dst, &EncodeError{Command: id, Field: "short_message", Reason: itoa(len(p.ShortMessage)) + " octets, at most 254 allowed (use message_payload)"}
	}
	dst = appendC(dst, p.ServiceType)
	dst = appendAddr(dst, p.Source)
	dst = appendAddr(dst, p.Dest)
	dst = append(dst, p.ESMClass, p.ProtocolID, p.PriorityFlag)
	dst = appendC(dst, p.ScheduleDeliveryTime)
	dst = appendC(dst, p.ValidityPeriod)
	dst = append(dst, p.RegisteredDelivery, p.ReplaceIfPresent, p.DataCoding, p.SMDefaultMsgID, byte(len(p.ShortMessage)))
	dst = append(dst, p.ShortMessage...)
	return append(dst, p.TLVs...), nil
}

func decodeSM(body []byte, id CommandID, p *SubmitSM) error {
	d := decoder{b: body, cmd: id}
	p.ServiceType = d.cstr("service_type", maxServiceType, StatusINVSERTYP)
	p.Source = d.addr("source_addr", maxAddr21, StatusINVSRCADR)
	p.Dest = d.addr("destination_addr", maxAddr21, StatusINVDSTADR)
	p.ESMClass = d.u8("esm_class")
	p.ProtocolID = d.u8("protocol_id")
	p.PriorityFlag = d.u8("priority_flag")
	p.ScheduleDeliveryTime = d.cstr("schedule_delivery_time", maxTime, StatusINVSCHED)
	p.ValidityPeriod = d.cstr("validity_period", maxTime, StatusINVEXPIRY)
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.ReplaceIfPresent = d.u8("replace_if_present_flag")
	p.DataCoding = d.u8("data_coding")
	p.SMDefaultMsgID = d.u8("sm_default_msg_id")
	n := int(d.u8("sm_length"))
	p.ShortMessage = d.octets("short_message", n)
	p.TLVs = d.tlvs()
	return d.done()
}

// SubmitSMResp answers SubmitSM with the SMSC's id for the message. SMPP 3.4
// sends it without a body when the status is an error; Decode accepts that.
type SubmitSMResp struct {
	MessageID []byte // at most 64 characters
}

func (*SubmitSMResp) CommandID() CommandID { return SubmitSMRespID }
func (*SubmitSMResp) SentBySMSC()          {}

func (p *SubmitSMResp) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(SubmitSMRespID, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	return appendC(dst, p.MessageID), nil
}

func (p *SubmitSMResp) Decode(body []byte) error {
	p.MessageID = nil
	if len(body) == 0 {
		return nil
	}
	d := decoder{b: body, cmd: SubmitSMRespID}
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	d.tlvs() // SMPP 5.0 peers may add TLVs; they are skipped.
	return d.done()
}

// DeliverSMResp answers DeliverSM; its message_id is always empty (SMPP 3.4
// §4.6.2). Some peers send no body at all; Decode accepts that.
type DeliverSMResp struct {
	MessageID []byte
}

func (*DeliverSMResp) CommandID() CommandID { return DeliverSMRespID }
func (*DeliverSMResp) SentByESME()          {}

func (p *DeliverSMResp) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(DeliverSMRespID, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	return appendC(dst, p.MessageID), nil
}

func (p *DeliverSMResp) Decode(body []byte) error {
	p.MessageID = nil
	if len(body) == 0 {
		return nil
	}
	d := decoder{b: body, cmd: DeliverSMRespID}
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	d.tlvs()
	return d.done()
}
