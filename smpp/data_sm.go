package smpp

// DataSM carries a message in either direction, its user data in the
// message_payload TLV (SMPP 3.4 §4.7.1). Addresses may be up to 64 characters.
type DataSM struct {
	ServiceType        []byte
	Source             Address // source_addr at most 64 characters
	Dest               Address // destination_addr at most 64 characters
	ESMClass           uint8
	RegisteredDelivery uint8
	DataCoding         uint8
	TLVs               TLVs
}

func (*DataSM) CommandID() CommandID { return DataSMID }
func (*DataSM) SentByESME()          {}
func (*DataSM) SentBySMSC()          {}

// IsReceipt reports whether the data_sm is a delivery receipt (see DeliverSM.IsReceipt).
func (p *DataSM) IsReceipt() bool {
	return p.ESMClass&(ESMClassDeliveryReceipt|ESMClassSMEAck|ESMClassIntermediate) != 0
}

func (p *DataSM) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(DataSMID, "service_type", p.ServiceType, maxServiceType); err != nil {
		return dst, err
	}
	if err := checkC(DataSMID, "source_addr", p.Source.Addr, maxAddr65); err != nil {
		return dst, err
	}
	if err := checkC(DataSMID, "destination_addr", p.Dest.Addr, maxAddr65); err != nil {
		return dst, err
	}
	dst = appendC(dst, p.ServiceType)
	dst = appendAddr(dst, p.Source)
	dst = appendAddr(dst, p.Dest)
	dst = append(dst, p.ESMClass, p.RegisteredDelivery, p.DataCoding)
	return append(dst, p.TLVs...), nil
}

func (p *DataSM) Decode(body []byte) error {
	d := decoder{b: body, cmd: DataSMID}
	p.ServiceType = d.cstr("service_type", maxServiceType, StatusINVSERTYP)
	p.Source = d.addr("source_addr", maxAddr65, StatusINVSRCADR)
	p.Dest = d.addr("destination_addr", maxAddr65, StatusINVDSTADR)
	p.ESMClass = d.u8("esm_class")
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.DataCoding = d.u8("data_coding")
	p.TLVs = d.tlvs()
	return d.done()
}

// DataSMResp answers DataSM. It may arrive without a body on error.
type DataSMResp struct {
	MessageID []byte
	TLVs      TLVs // e.g. delivery_failure_reason, network_error_code
}

func (*DataSMResp) CommandID() CommandID { return DataSMRespID }
func (*DataSMResp) SentByESME()          {}
func (*DataSMResp) SentBySMSC()          {}

func (p *DataSMResp) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(DataSMRespID, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	return append(appendC(dst, p.MessageID), p.TLVs...), nil
}

func (p *DataSMResp) Decode(body []byte) error {
	p.MessageID, p.TLVs = nil, nil
	if len(body) == 0 {
		return nil
	}
	d := decoder{b: body, cmd: DataSMRespID}
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	p.TLVs = d.tlvs()
	return d.done()
}
