package smpp

// QuerySM asks for the state of a submitted message (SMPP 3.4 §4.8.1).
type QuerySM struct {
	MessageID []byte
	Source    Address // the message's source_addr, at most 20 characters
	TLVs      TLVs    // not defined for query_sm; kept if a peer sends any
}

func (*QuerySM) CommandID() CommandID { return QuerySMID }
func (*QuerySM) SentByESME()          {}

func (p *QuerySM) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(QuerySMID, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	if err := checkC(QuerySMID, "source_addr", p.Source.Addr, maxAddr21); err != nil {
		return dst, err
	}
	dst = appendC(dst, p.MessageID)
	return append(appendAddr(dst, p.Source), p.TLVs...), nil
}

func (p *QuerySM) Decode(body []byte) error {
	d := decoder{b: body, cmd: QuerySMID}
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	p.Source = d.addr("source_addr", maxAddr21, StatusINVSRCADR)
	p.TLVs = d.tlvs()
	return d.done()
}

// QuerySMResp answers QuerySM. It may arrive without a body on error.
type QuerySMResp struct {
	MessageID    []byte
	FinalDate    []byte // empty or 16 characters
	MessageState MessageState
	ErrorCode    uint8 // the network's error code
}

func (*QuerySMResp) CommandID() CommandID { return QuerySMRespID }
func (*QuerySMResp) SentBySMSC()          {}

func (p *QuerySMResp) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(QuerySMRespID, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	if err := checkTime(QuerySMRespID, "final_date", p.FinalDate); err != nil {
		return dst, err
	}
	dst = appendC(dst, p.MessageID)
	dst = appendC(dst, p.FinalDate)
	return append(dst, uint8(p.MessageState), p.ErrorCode), nil
}

func (p *QuerySMResp) Decode(body []byte) error {
	*p = QuerySMResp{}
	if len(body) == 0 {
		return nil
	}
	d := decoder{b: body, cmd: QuerySMRespID}
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	p.FinalDate = d.cstr("final_date", maxTime, StatusINVCMDLEN)
	p.MessageState = MessageState(d.u8("message_state"))
	p.ErrorCode = d.u8("error_code")
	d.tlvs()
	return d.done()
}
