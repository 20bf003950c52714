package smpp

import "encoding/binary"

// dest_flag values of submit_multi (SMPP 3.4 §5.2.25).
const (
	DestFlagSME  uint8 = 1 // an SME address
	DestFlagList uint8 = 2 // a distribution list name
)

// MultiDest is one destination of a SubmitMulti: an SME address or, when
// Flag is DestFlagList, a distribution list's name in DLName.
type MultiDest struct {
	Flag   uint8
	Addr   Address // when Flag is DestFlagSME; at most 20 characters
	DLName []byte  // when Flag is DestFlagList; at most 20 characters
}

// SubmitMulti submits one message to up to 254 destinations (SMPP 3.4
// §4.5.1). The fields after Dests are submit_sm's.
type SubmitMulti struct {
	ServiceType          []byte
	Source               Address
	Dests                []MultiDest
	ESMClass             uint8
	ProtocolID           uint8
	PriorityFlag         uint8
	ScheduleDeliveryTime []byte
	ValidityPeriod       []byte
	RegisteredDelivery   uint8
	ReplaceIfPresent     uint8
	DataCoding           uint8
	SMDefaultMsgID       uint8
	ShortMessage         []byte
	TLVs                 TLVs
}

func (*SubmitMulti) CommandID() CommandID { return SubmitMultiID }
func (*SubmitMulti) SentByESME()          {}

const maxDests = 254

func (p *SubmitMulti) AppendBody(dst []byte) ([]byte, error) {
	const id = SubmitMultiID
	if err := checkC(id, "service_type", p.ServiceType, maxServiceType); err != nil {
		return dst, err
	}
	if err := checkC(id, "source_addr", p.Source.Addr, maxAddr21); err != nil {
		return dst, err
	}
	if len(p.Dests) == 0 || len(p.Dests) > maxDests {
		return dst, &EncodeError{Command: id, Field: "number_of_dests", Reason: itoa(len(p.Dests)) + " destinations, 1 to 254 allowed"}
	}
	for i := range p.Dests {
		dd := &p.Dests[i]
		switch dd.Flag {
		case DestFlagSME:
			if err := checkC(id, "destination_addr", dd.Addr.Addr, maxAddr21); err != nil {
				return dst, err
			}
		case DestFlagList:
			if err := checkC(id, "dl_name", dd.DLName, maxDLName); err != nil {
				return dst, err
			}
		default:
			return dst, &EncodeError{Command: id, Field: "dest_flag", Reason: "must be 1 (SME) or 2 (distribution list)"}
		}
	}
	if err := checkTime(id, "schedule_delivery_time", p.ScheduleDeliveryTime); err != nil {
		return dst, err
	}
	if err := checkTime(id, "validity_period", p.ValidityPeriod); err != nil {
		return dst, err
	}
	if len(p.ShortMessage) > MaxShortMessage {
		return dst, &EncodeError{Command: id, Field: "short_message", Reason: itoa(len(p.ShortMessage)) + " octets, at most 254 allowed"}
	}
	dst = appendC(dst, p.ServiceType)
	dst = appendAddr(dst, p.Source)
	dst = append(dst, byte(len(p.Dests)))
	for _, dd := range p.Dests {
		dst = append(dst, dd.Flag)
		if dd.Flag == DestFlagSME {
			dst = appendAddr(dst, dd.Addr)
		} else {
			dst = appendC(dst, dd.DLName)
		}
	}
	dst = append(dst, p.ESMClass, p.ProtocolID, p.PriorityFlag)
	dst = appendC(dst, p.ScheduleDeliveryTime)
	dst = appendC(dst, p.ValidityPeriod)
	dst = append(dst, p.RegisteredDelivery, p.ReplaceIfPresent, p.DataCoding, p.SMDefaultMsgID, byte(len(p.ShortMessage)))
	dst = append(dst, p.ShortMessage...)
	return append(dst, p.TLVs...), nil
}

// Decode decodes a submit_multi body. Dests reuses its backing array.
func (p *SubmitMulti) Decode(body []byte) error {
	d := decoder{b: body, cmd: SubmitMultiID}
	p.ServiceType = d.cstr("service_type", maxServiceType, StatusINVSERTYP)
	p.Source = d.addr("source_addr", maxAddr21, StatusINVSRCADR)
	n := int(d.u8("number_of_dests"))
	p.Dests = p.Dests[:0]
	for i := 0; i < n && d.err == nil; i++ {
		var dd MultiDest
		dd.Flag = d.u8("dest_flag")
		switch dd.Flag {
		case DestFlagSME:
			dd.Addr = d.addr("destination_addr", maxAddr21, StatusINVDSTADR)
		case DestFlagList:
			dd.DLName = d.cstr("dl_name", maxDLName, StatusINVDLNAME)
		default:
			d.fail("dest_flag", "must be 1 (SME) or 2 (distribution list), got "+itoa(int(dd.Flag)), StatusINVDESTFLAG)
		}
		p.Dests = append(p.Dests, dd)
	}
	p.ESMClass = d.u8("esm_class")
	p.ProtocolID = d.u8("protocol_id")
	p.PriorityFlag = d.u8("priority_flag")
	p.ScheduleDeliveryTime = d.cstr("schedule_delivery_time", maxTime, StatusINVSCHED)
	p.ValidityPeriod = d.cstr("validity_period", maxTime, StatusINVEXPIRY)
	p.RegisteredDelivery = d.u8("registered_delivery")
	p.ReplaceIfPresent = d.u8("replace_if_present_flag")
	p.DataCoding = d.u8("data_coding")
	p.SMDefaultMsgID = d.u8("sm_default_msg_id")
	p.ShortMessage = d.octets("short_message", int(d.u8("sm_length")))
	p.TLVs = d.tlvs()
	return d.done()
}

// UnsuccessSME is a destination a SubmitMulti could not be delivered to.
type UnsuccessSME struct {
	Addr  Address
	Error Status // error_status_code
}

// SubmitMultiResp answers SubmitMulti. It may arrive without a body on error.
type SubmitMultiResp struct {
	MessageID []byte
	Unsuccess []UnsuccessSME
}

func (*SubmitMultiResp) CommandID() CommandID { return SubmitMultiRespID }
func (*SubmitMultiResp) SentBySMSC()          {}

func (p *SubmitMultiResp) AppendBody(dst []byte) ([]byte, error) {
	const id = SubmitMultiRespID
	if err := checkC(id, "message_id", p.MessageID, maxMessageID); err != nil {
		return dst, err
	}
	if len(p.Unsuccess) > maxDests {
		return dst, &EncodeError{Command: id, Field: "no_unsuccess", Reason: "more than 254 entries"}
	}
	for _, u := range p.Unsuccess {
		if err := checkC(id, "destination_addr", u.Addr.Addr, maxAddr21); err != nil {
			return dst, err
		}
	}
	dst = appendC(dst, p.MessageID)
	dst = append(dst, byte(len(p.Unsuccess)))
	for _, u := range p.Unsuccess {
		dst = appendAddr(dst, u.Addr)
		dst = binary.BigEndian.AppendUint32(dst, uint32(u.Error))
	}
	return dst, nil
}

// Decode decodes a submit_multi_resp body. Unsuccess reuses its backing array.
func (p *SubmitMultiResp) Decode(body []byte) error {
	p.MessageID, p.Unsuccess = nil, p.Unsuccess[:0]
	if len(body) == 0 {
		return nil
	}
	d := decoder{b: body, cmd: SubmitMultiRespID}
	p.MessageID = d.cstr("message_id", maxMessageID, StatusINVMSGID)
	n := int(d.u8("no_unsuccess"))
	for i := 0; i < n && d.err == nil; i++ {
		var u UnsuccessSME
		u.Addr = d.addr("destination_addr", maxAddr21, StatusINVDSTADR)
		u.Error = Status(d.u32("error_status_code"))
		p.Unsuccess = append(p.Unsuccess, u)
	}
	d.tlvs()
	return d.done()
}
