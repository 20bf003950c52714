package smpp

// CancelSM cancels a submitted message not yet delivered (SMPP 3.4 §4.9.1).
// An empty MessageID cancels every message from Source to Dest with the
// service type.
type CancelSM struct {
	ServiceType []byte
	MessageID   []byte
	Source      Address // at most 20 characters
	Dest        Address // at most 20 characters
	TLVs        TLVs    // not defined for cancel_sm; kept if a peer sends any
}

func (*CancelSM) CommandID() CommandID { return CancelSMID }
func (*CancelSM) SentByESME()          {}

func (p *CancelSM) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(CancelSMID, "service_type", p.ServiceType, maxServiceType); err != nil {
		return dst, err
	}
	if err := checkC(CancelSMID, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	if err := checkC(CancelSMID, "source_addr", p.Source.Addr, maxAddr21); err != nil {
		return dst, err
	}
	if err := checkC(CancelSMID, "destination_addr", p.Dest.Addr, maxAddr21); err != nil {
		return dst, err
	}
	dst = appendC(dst, p.ServiceType)
	dst = appendC(dst, p.MessageID)
	dst = appendAddr(dst, p.Source)
	dst = appendAddr(dst, p.Dest)
	return append(dst, p.TLVs...), nil
}

func (p *CancelSM) Decode(body []byte) error {
	d := decoder{b: body, cmd: CancelSMID}
	p.ServiceType = d.cstr("service_type", maxServiceType, StatusINVSERTYP)
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	p.Source = d.addr("source_addr", maxAddr21, StatusINVSRCADR)
	p.Dest = d.addr("destination_addr", maxAddr21, StatusINVDSTADR)
	p.TLVs = d.tlvs()
	return d.done()
}

// CancelSMResp answers CancelSM; it is a bare header.
type CancelSMResp struct{}

func (*CancelSMResp) CommandID() CommandID                  { return CancelSMRespID }
func (*CancelSMResp) SentBySMSC()                           {}
func (*CancelSMResp) AppendBody(dst []byte) ([]byte, error) { return dst, nil }
func (*CancelSMResp) Decode([]byte) error                   { return nil }
