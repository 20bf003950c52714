package smpp

// ReplaceSM replaces a submitted message not yet delivered (SMPP 3.4 §4.10.1).
type ReplaceSM struct {
	MessageID            []byte
	Source               Address // at most 20 characters
	ScheduleDeliveryTime []byte  // empty or 16 characters
	ValidityPeriod       []byte  // empty or 16 characters
	RegisteredDelivery   uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte // at most 254 octets
	TLVs                 TLVs   // not defined for replace_sm in 3.4; kept if a peer sends any
}

func (*ReplaceSM) CommandID() CommandID { return ReplaceSMID }
func (*ReplaceSM) SentByESME()          {}

func (p *ReplaceSM) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(ReplaceSMID, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	if err := checkC(ReplaceSMID, "source_addr", p.Source.Addr, maxAddr21); err != nil {
		return dst, err
	}
	if err := checkTime(ReplaceSMID, "schedule_delivery_time", p.ScheduleDeliveryTime); err != nil {
		return dst, err
	}
	if err := checkTime(ReplaceSMID, "validity_period", p.ValidityPeriod); err != nil {
		return dst, err
	}
	if len(p.ShortMessage) > MaxShortMessage {
		return dst, &EncodeError{Command: ReplaceSMID, Field: "short_message", Reason: itoa(len(p.ShortMessage)) + " octets, at most 254 allowed"}
	}
	dst = appendC(dst, p.MessageID)
	dst = appendAddr(dst, p.Source)
	dst = appendC(dst, p.ScheduleDeliveryTime)
	dst = appendC(dst, p.ValidityPeriod)
	dst = append(dst, p.RegisteredDelivery, p.SMDefaultMsgID, byte(len(p.ShortMessage)))
	dst = append(dst, p.ShortMessage...)
	return append(dst, p.TLVs...), nil
}

func (p *ReplaceSM) Decode(body []byte) error {
	d := decoder{b: body, cmd: ReplaceSMID}
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	p.Source = d.addr("source_addr", maxAddr21, StatusINVSRCADR)
	p.ScheduleDeliveryTime = d.cstr("schedule_delivery_time", maxTime, StatusINVSCHED)
	p.ValidityPeriod = d.cstr("validity_period", maxTime, StatusINVEXPIRY)
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.SMDefaultMsgID = d.u8("sm_default_msg_id")
	p.ShortMessage = d.octets("short_message", int(d.u8("sm_length")))
	p.TLVs = d.tlvs()
	return d.done()
}

// ReplaceSMResp answers ReplaceSM; it is a bare header.
type ReplaceSMResp struct{}

func (*ReplaceSMResp) CommandID() CommandID                  { return ReplaceSMRespID }
func (*ReplaceSMResp) SentBySMSC()                           {}
func (*ReplaceSMResp) AppendBody(dst []byte) ([]byte, error) { return dst, nil }
func (*ReplaceSMResp) Decode([]byte) error                   { return nil }
