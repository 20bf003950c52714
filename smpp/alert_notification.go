package smpp

// AlertNotification tells the ESME that a mobile station has become available
// (SMPP 3.4 §4.12.1). It has no response.
type AlertNotification struct {
	Source Address // the mobile station, at most 64 characters
	ESME   Address // the ESME that asked for the alert, at most 64 characters
	TLVs   TLVs    // ms_availability_status
}

func (*AlertNotification) CommandID() CommandID { return AlertNotificationID }
func (*AlertNotification) SentBySMSC()          {}

func (p *AlertNotification) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(AlertNotificationID, "source_addr", p.Source.Addr, maxAddr65); err != nil {
		return dst, err
	}
	if err := checkC(AlertNotificationID, "esme_addr", p.ESME.Addr, maxAddr65); err != nil {
		return dst, err
	}
	return append(appendAddr(appendAddr(dst, p.Source), p.ESME), p.TLVs...), nil
}

func (p *AlertNotification) Decode(body []byte) error {
	d := decoder{b: body, cmd: AlertNotificationID}
	p.Source = d.addr("source_addr", maxAddr65, StatusINVSRCADR)
	p.ESME = d.addr("esme_addr", maxAddr65, StatusINVDSTADR)
	p.TLVs = d.tlvs()
	return d.done()
}
