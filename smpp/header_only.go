package smpp

// The PDUs below are a bare header (SMPP 3.4 §4.2, §4.3, §4.11). A body, if a
// peer sends one anyway, is ignored.

// Unbind asks the peer to end the session; either side may send it.
type Unbind struct{}

// UnbindResp answers Unbind.
type UnbindResp struct{}

// EnquireLink checks that the peer is alive; either side may send it.
type EnquireLink struct{}

// EnquireLinkResp answers EnquireLink.
type EnquireLinkResp struct{}

// GenericNack answers a PDU that could not be understood: an unknown
// command_id (ESME_RINVCMDID) or a bad command_length (ESME_RINVCMDLEN). Its
// status says why.
type GenericNack struct{}

func (*Unbind) CommandID() CommandID          { return UnbindID }
func (*UnbindResp) CommandID() CommandID      { return UnbindRespID }
func (*EnquireLink) CommandID() CommandID     { return EnquireLinkID }
func (*EnquireLinkResp) CommandID() CommandID { return EnquireLinkRespID }
func (*GenericNack) CommandID() CommandID     { return GenericNackID }

func (*Unbind) AppendBody(dst []byte) ([]byte, error)          { return dst, nil }
func (*UnbindResp) AppendBody(dst []byte) ([]byte, error)      { return dst, nil }
func (*EnquireLink) AppendBody(dst []byte) ([]byte, error)     { return dst, nil }
func (*EnquireLinkResp) AppendBody(dst []byte) ([]byte, error) { return dst, nil }
func (*GenericNack) AppendBody(dst []byte) ([]byte, error)     { return dst, nil }

func (*Unbind) Decode([]byte) error          { return nil }
func (*UnbindResp) Decode([]byte) error      { return nil }
func (*EnquireLink) Decode([]byte) error     { return nil }
func (*EnquireLinkResp) Decode([]byte) error { return nil }
func (*GenericNack) Decode([]byte) error     { return nil }

func (*Unbind) SentByESME()          {}
func (*Unbind) SentBySMSC()          {}
func (*UnbindResp) SentByESME()      {}
func (*UnbindResp) SentBySMSC()      {}
func (*EnquireLink) SentByESME()     {}
func (*EnquireLink) SentBySMSC()     {}
func (*EnquireLinkResp) SentByESME() {}
func (*EnquireLinkResp) SentBySMSC() {}
func (*GenericNack) SentByESME()     {}
func (*GenericNack) SentBySMSC()     {}
