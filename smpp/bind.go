package smpp

// BindType says which of the three bind operations a Bind is.
type BindType uint8

// Bind types (SMPP 3.4 §4.1).
const (
	BindTransceiver BindType = iota // bind_transceiver: submit and receive on one connection
	BindTransmitter                 // bind_transmitter: submit only
	BindReceiver                    // bind_receiver: receive only
)

func (t BindType) String() string {
	switch t {
	case BindTransmitter:
		return "transmitter"
	case BindReceiver:
		return "receiver"
	}
	return "transceiver"
}

func (t BindType) requestID() CommandID {
	switch t {
	case BindTransmitter:
		return BindTransmitterID
	case BindReceiver:
		return BindReceiverID
	}
	return BindTransceiverID
}

func bindTypeOf(id CommandID) BindType {
	switch id &^ respBit {
	case BindTransmitterID:
		return BindTransmitter
	case BindReceiverID:
		return BindReceiver
	}
	return BindTransceiver
}

// InterfaceVersion34 is the interface_version of SMPP 3.4.
const InterfaceVersion34 = 0x34

// Bind is bind_transmitter, bind_receiver or bind_transceiver (SMPP 3.4
// §4.1.1, §4.1.3, §4.1.5), as Type says.
type Bind struct {
	Type             BindType
	SystemID         []byte // at most 15 characters
	Password         []byte // at most 8 characters
	SystemType       []byte // at most 12 characters
	InterfaceVersion uint8  // 0x34 for SMPP 3.4
	AddrTON, AddrNPI uint8
	AddressRange     []byte // at most 40 characters
}

func (p *Bind) CommandID() CommandID { return p.Type.requestID() }
func (*Bind) SentByESME()            {}

func (p *Bind) AppendBody(dst []byte) ([]byte, error) {
	id := p.CommandID()
	if err := checkC(id, "system_id", p.SystemID, maxSystemID); err != nil {
		return dst, err
	}
	if err := checkC(id, "password", p.Password, maxPassword); err != nil {
		return dst, err
	}
	if err := checkC(id, "system_type", p.SystemType, maxSystemType); err != nil {
		return dst, err
	}
	if err := checkC(id, "address_range", p.AddressRange, maxAddrRange); err != nil {
		return dst, err
	}
	dst = appendC(dst, p.SystemID)
	dst = appendC(dst, p.Password)
	dst = appendC(dst, p.SystemType)
	dst = append(dst, p.InterfaceVersion, p.AddrTON, p.AddrNPI)
	return appendC(dst, p.AddressRange), nil
}

func (p *Bind) Decode(body []byte) error {
	d := decoder{b: body, cmd: p.CommandID()}
	p.SystemID = d.cstr("system_id", maxSystemID, StatusINVSYSID)
	p.Password = d.cstr("password", maxPassword, StatusINVPASWD)
	p.SystemType = d.cstr("system_type", maxSystemType, StatusINVSYSTYP)
	p.InterfaceVersion = d.u8("interface_version")
	p.AddrTON = d.u8("addr_ton")
	p.AddrNPI = d.u8("addr_npi")
	p.AddressRange = d.cstr("address_range", maxAddrRange, StatusINVCMDLEN)
	return d.done()
}

// BindResp is the response to a Bind. SMPP 3.4 sends it without a body when
// the status is an error; Decode accepts that.
type BindResp struct {
	Type     BindType
	SystemID []byte // the SMSC's identifier
	TLVs     TLVs   // sc_interface_version
}

func (p *BindResp) CommandID() CommandID { return p.Type.requestID().Response() }
func (*BindResp) SentBySMSC()            {}

func (p *BindResp) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(p.CommandID(), "system_id", p.SystemID, maxSystemID); err != nil {
		return dst, err
	}
	dst = appendC(dst, p.SystemID)
	return append(dst, p.TLVs...), nil
}

func (p *BindResp) Decode(body []byte) error {
	p.SystemID, p.TLVs = nil, nil
	if len(body) == 0 {
		return nil
	}
	d := decoder{b: body, cmd: p.CommandID()}
	p.SystemID = d.cstr("system_id", maxSystemID, StatusINVSYSID)
	p.TLVs = d.tlvs()
	return d.done()
}

// Outbind asks an ESME to bind as a receiver (SMPP 3.4 §4.1.7). It has no
// response.
type Outbind struct {
	SystemID []byte
	Password []byte
}

func (*Outbind) CommandID() CommandID { return OutbindID }
func (*Outbind) SentBySMSC()          {}

func (p *Outbind) AppendBody(dst []byte) ([]byte, error) {
	if err := checkC(OutbindID, "system_id", p.SystemID, maxSystemID); err != nil {
		return dst, err
	}
	if err := checkC(OutbindID, "password", p.Password, maxPassword); err != nil {
		return dst, err
	}
	return appendC(appendC(dst, p.SystemID), p.Password), nil
}

func (p *Outbind) Decode(body []byte) error {
	d := decoder{b: body, cmd: OutbindID}
	p.SystemID = d.cstr("system_id", maxSystemID, StatusINVSYSID)
	p.Password = d.cstr("password", maxPassword, StatusINVPASWD)
	return d.done()
}
