package smpp_test

// Interoperability with github.com/linxGnu/gosmpp v0.3.1, an independent
// SMPP 3.4 implementation used here as a test oracle only (see
// shared/notes/gosmpp-eval.md): frames both ways for every PDU both
// implement, its client Session against our fake SMSC, and its client's
// throughput against the same server for comparison with ours.
//
// gosmpp defects met on the way are reported with t.Log, not as failures;
// each is named in gosmppBug below with the reason, checked against its
// source.

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	gpdu "github.com/linxGnu/gosmpp/pdu"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// fields is a PDU flattened to comparable strings: header, mandatory fields
// and TLVs (sorted by tag, as gosmpp keeps them in a map).
type fields map[string]string

func (f fields) addr(name string, ton, npi uint8, addr string) {
	f[name] = fmt.Sprintf("%d/%d/%s", ton, npi, addr)
}

// tlv is one TLV of a PDU.
type tlv struct {
	tag uint16
	v   []byte
}

// tlvs sets "tlvs" to every TLV sorted by tag (stable, so repeated tags
// stay in their order).
func (f fields) tlvs(ts []tlv) {
	if len(ts) == 0 {
		return
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].tag < ts[j].tag })
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%04x=%x", t.tag, t.v))
	}
	f["tlvs"] = strings.Join(parts, " ")
}

func (f fields) diff(g fields) string {
	keys := map[string]bool{}
	for k := range f {
		keys[k] = true
	}
	for k := range g {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		if f[k] != g[k] {
			out = append(out, fmt.Sprintf("%s: ours %q, gosmpp %q", k, f[k], g[k]))
		}
	}
	return strings.Join(out, "; ")
}

func headerFields(id, status, seq, length uint32) fields {
	return fields{
		"command_id":      fmt.Sprintf("%08x", id),
		"command_status":  fmt.Sprintf("%08x", status),
		"sequence_number": strconv.FormatUint(uint64(seq), 10),
		"command_length":  strconv.FormatUint(uint64(length), 10),
	}
}

// ourFields flattens one of our PDUs.
func ourFields(h smpp.Header, p smpp.PDU) fields {
	f := headerFields(uint32(h.ID), uint32(h.Status), h.Sequence, h.Length)
	tl := func(t smpp.TLVs) {
		var ts []tlv
		t.Each(func(tag smpp.Tag, v []byte) bool { ts = append(ts, tlv{uint16(tag), v}); return true })
		f.tlvs(ts)
	}
	a := func(name string, x smpp.Address) { f.addr(name, x.TON, x.NPI, string(x.Addr)) }
	sm := func(p *smpp.SubmitSM) {
		f["service_type"] = string(p.ServiceType)
		a("source", p.Source)
		a("dest", p.Dest)
		f["esm_class"] = hex8(p.ESMClass)
		f["protocol_id"] = hex8(p.ProtocolID)
		f["priority_flag"] = hex8(p.PriorityFlag)
		f["schedule_delivery_time"] = string(p.ScheduleDeliveryTime)
		f["validity_period"] = string(p.ValidityPeriod)
		f["registered_delivery"] = hex8(p.RegisteredDelivery)
		f["replace_if_present"] = hex8(p.ReplaceIfPresent)
		f["data_coding"] = hex8(p.DataCoding)
		f["sm_default_msg_id"] = hex8(p.SMDefaultMsgID)
		f["short_message"] = hex.EncodeToString(p.ShortMessage)
		tl(p.TLVs)
	}
	switch p := p.(type) {
	case *smpp.Bind:
		f["system_id"], f["password"], f["system_type"] = string(p.SystemID), string(p.Password), string(p.SystemType)
		f["interface_version"] = hex8(p.InterfaceVersion)
		f.addr("address_range", p.AddrTON, p.AddrNPI, string(p.AddressRange))
	case *smpp.BindResp:
		f["system_id"] = string(p.SystemID)
		tl(p.TLVs)
	case *smpp.Outbind:
		f["system_id"], f["password"] = string(p.SystemID), string(p.Password)
	case *smpp.SubmitSM:
		sm(p)
	case *smpp.DeliverSM:
		sm((*smpp.SubmitSM)(p))
	case *smpp.SubmitSMResp:
		f["message_id"] = string(p.MessageID)
	case *smpp.DeliverSMResp:
		f["message_id"] = string(p.MessageID)
	case *smpp.DataSM:
		f["service_type"] = string(p.ServiceType)
		a("source", p.Source)
		a("dest", p.Dest)
		f["esm_class"], f["registered_delivery"], f["data_coding"] = hex8(p.ESMClass), hex8(p.RegisteredDelivery), hex8(p.DataCoding)
		tl(p.TLVs)
	case *smpp.DataSMResp:
		f["message_id"] = string(p.MessageID)
		tl(p.TLVs)
	case *smpp.QuerySM:
		f["message_id"] = string(p.MessageID)
		a("source", p.Source)
		tl(p.TLVs)
	case *smpp.QuerySMResp:
		f["message_id"], f["final_date"] = string(p.MessageID), string(p.FinalDate)
		f["message_state"], f["error_code"] = hex8(uint8(p.MessageState)), hex8(p.ErrorCode)
	case *smpp.CancelSM:
		f["service_type"], f["message_id"] = string(p.ServiceType), string(p.MessageID)
		a("source", p.Source)
		a("dest", p.Dest)
	case *smpp.ReplaceSM:
		f["message_id"] = string(p.MessageID)
		a("source", p.Source)
		f["schedule_delivery_time"], f["validity_period"] = string(p.ScheduleDeliveryTime), string(p.ValidityPeriod)
		f["registered_delivery"], f["sm_default_msg_id"] = hex8(p.RegisteredDelivery), hex8(p.SMDefaultMsgID)
		f["short_message"] = hex.EncodeToString(p.ShortMessage)
	case *smpp.SubmitMulti:
		f["service_type"] = string(p.ServiceType)
		a("source", p.Source)
		var ds []string
		for _, d := range p.Dests {
			if d.Flag == smpp.DestFlagSME {
				ds = append(ds, fmt.Sprintf("sme:%d/%d/%s", d.Addr.TON, d.Addr.NPI, d.Addr.Addr))
			} else {
				ds = append(ds, "dl:"+string(d.DLName))
			}
		}
		f["dests"] = strings.Join(ds, ",")
		f["esm_class"], f["protocol_id"], f["priority_flag"] = hex8(p.ESMClass), hex8(p.ProtocolID), hex8(p.PriorityFlag)
		f["schedule_delivery_time"], f["validity_period"] = string(p.ScheduleDeliveryTime), string(p.ValidityPeriod)
		f["registered_delivery"], f["replace_if_present"] = hex8(p.RegisteredDelivery), hex8(p.ReplaceIfPresent)
		f["data_coding"], f["sm_default_msg_id"] = hex8(p.DataCoding), hex8(p.SMDefaultMsgID)
		f["short_message"] = hex.EncodeToString(p.ShortMessage)
		tl(p.TLVs)
	case *smpp.SubmitMultiResp:
		f["message_id"] = string(p.MessageID)
		var us []string
		for _, u := range p.Unsuccess {
			us = append(us, fmt.Sprintf("%d/%d/%s:%08x", u.Addr.TON, u.Addr.NPI, u.Addr.Addr, uint32(u.Error)))
		}
		f["unsuccess"] = strings.Join(us, ",")
	case *smpp.AlertNotification:
		a("source", p.Source)
		a("esme", p.ESME)
		tl(p.TLVs)
	}
	return f
}

func hex8(v uint8) string { return fmt.Sprintf("%02x", v) }

// gosmppFields flattens a gosmpp PDU with the same keys.
func gosmppFields(p gpdu.PDU) fields {
	h := p.GetHeader()
	f := headerFields(uint32(h.CommandID), uint32(h.CommandStatus), uint32(h.SequenceNumber), uint32(h.CommandLength))
	// Every gosmpp PDU embeds base, whose OptionalParameters map is exported.
	if v := reflect.ValueOf(p).Elem().FieldByName("OptionalParameters"); v.IsValid() {
		var ts []tlv
		for tag, fl := range v.Interface().(map[gpdu.Tag]gpdu.Field) {
			ts = append(ts, tlv{uint16(tag), fl.Data})
		}
		f.tlvs(ts)
	}
	a := func(name string, x gpdu.Address) { f.addr(name, x.Ton(), x.Npi(), x.Address()) }
	msg := func(m *gpdu.ShortMessage, esm byte, withCoding bool) {
		d, _ := m.GetMessageData()
		if esm&data.SM_UDH_GSM != 0 && m.UDH() != nil {
			u, _ := m.UDH().MarshalBinary()
			d = append(u, d...)
		}
		f["short_message"] = hex.EncodeToString(d)
		f["sm_default_msg_id"] = hex8(m.SmDefaultMsgID)
		if withCoding {
			if enc := m.Encoding(); enc != nil {
				f["data_coding"] = hex8(enc.DataCoding())
			} else {
				f["data_coding"] = "unknown to gosmpp"
			}
		}
	}
	sm := func(st string, src, dst gpdu.Address, esm, pid, prio byte, sched, valid string, rd, rip byte, m *gpdu.ShortMessage) {
		f["service_type"] = st
		a("source", src)
		a("dest", dst)
		f["esm_class"], f["protocol_id"], f["priority_flag"] = hex8(esm), hex8(pid), hex8(prio)
		f["schedule_delivery_time"], f["validity_period"] = sched, valid
		f["registered_delivery"], f["replace_if_present"] = hex8(rd), hex8(rip)
		msg(m, esm, true)
	}
	switch p := p.(type) {
	case *gpdu.BindRequest:
		f["system_id"], f["password"], f["system_type"] = p.SystemID, p.Password, p.SystemType
		f["interface_version"] = hex8(p.InterfaceVersion)
		f.addr("address_range", p.AddressRange.Ton, p.AddressRange.Npi, p.AddressRange.AddressRange)
	case *gpdu.BindResp:
		f["system_id"] = p.SystemID
	case *gpdu.Outbind:
		f["system_id"], f["password"] = p.SystemID, p.Password
	case *gpdu.SubmitSM:
		sm(p.ServiceType, p.SourceAddr, p.DestAddr, p.EsmClass, p.ProtocolID, p.PriorityFlag, p.ScheduleDeliveryTime, p.ValidityPeriod, p.RegisteredDelivery, p.ReplaceIfPresentFlag, &p.Message)
	case *gpdu.DeliverSM:
		sm(p.ServiceType, p.SourceAddr, p.DestAddr, p.EsmClass, p.ProtocolID, p.PriorityFlag, p.ScheduleDeliveryTime, p.ValidityPeriod, p.RegisteredDelivery, p.ReplaceIfPresentFlag, &p.Message)
	case *gpdu.SubmitSMResp:
		f["message_id"] = p.MessageID
	case *gpdu.DeliverSMResp:
		f["message_id"] = p.MessageID
	case *gpdu.DataSM:
		f["service_type"] = p.ServiceType
		a("source", p.SourceAddr)
		a("dest", p.DestAddr)
		f["esm_class"], f["registered_delivery"], f["data_coding"] = hex8(p.EsmClass), hex8(p.RegisteredDelivery), hex8(p.DataCoding)
	case *gpdu.DataSMResp:
		f["message_id"] = p.MessageID
	case *gpdu.QuerySM:
		f["message_id"] = p.MessageID
		a("source", p.SourceAddr)
	case *gpdu.QuerySMResp:
		f["message_id"], f["final_date"] = p.MessageID, p.FinalDate
		f["message_state"], f["error_code"] = hex8(p.MessageState), hex8(p.ErrorCode)
	case *gpdu.CancelSM:
		f["service_type"], f["message_id"] = p.ServiceType, p.MessageID
		a("source", p.SourceAddr)
		a("dest", p.DestAddr)
	case *gpdu.ReplaceSM:
		f["message_id"] = p.MessageID
		a("source", p.SourceAddr)
		f["schedule_delivery_time"], f["validity_period"] = p.ScheduleDeliveryTime, p.ValidityPeriod
		f["registered_delivery"] = hex8(p.RegisteredDelivery)
		msg(&p.Message, 0, false)
	case *gpdu.SubmitMulti:
		var ds []string
		for _, d := range p.DestAddrs.Get() {
			if d.IsDistributionList() {
				ds = append(ds, "dl:"+d.DistributionList().Name())
			} else {
				ad := d.Address()
				ds = append(ds, fmt.Sprintf("sme:%d/%d/%s", ad.Ton(), ad.Npi(), ad.Address()))
			}
		}
		f["dests"] = strings.Join(ds, ",")
		sm(p.ServiceType, p.SourceAddr, gpdu.Address{}, p.EsmClass, p.ProtocolID, p.PriorityFlag, p.ScheduleDeliveryTime, p.ValidityPeriod, p.RegisteredDelivery, p.ReplaceIfPresentFlag, &p.Message)
		delete(f, "dest")
	case *gpdu.SubmitMultiResp:
		f["message_id"] = p.MessageID
		var us []string
		for _, u := range p.UnsuccessSMEs.Get() {
			us = append(us, fmt.Sprintf("%d/%d/%s:%08x", u.Ton(), u.Npi(), u.Address.Address(), uint32(u.ErrorStatusCode())))
		}
		f["unsuccess"] = strings.Join(us, ",")
	case *gpdu.AlertNotification:
		a("source", p.SourceAddr)
		a("esme", p.EsmeAddr)
	}
	return f
}

// gosmppBug documents a gosmpp v0.3.1 defect that a case runs into; the
// case's mismatch, error or panic is then logged rather than failed.
type gosmppBug string

const (
	bugNoBodylessResp = gosmppBug("a body-less response (SMPP 3.4 sends error responses without a body) fails to parse with EOF: " +
		"the Unmarshal of DeliverSMResp, DataSMResp, QuerySMResp and SubmitMultiResp reads message_id unconditionally " +
		"(pdu/DeliverSMResp.go:52, DataSMResp.go:52, QuerySMResp.go:60, SubmitMultiResp.go:55), and BindResp reads system_id for bind_transceiver_resp whatever the status; " +
		"only SubmitSMResp tolerates io.EOF. A refused bind_transceiver therefore surfaces as EOF, not as BindError")
	bugQuerySMNilMap = gosmppBug("query_sm with any TLV panics \"assignment to entry in nil map\": NewQuerySM (pdu/QuerySM.go) skips newBase(), so OptionalParameters is nil")
	bugUnknownCoding = gosmppBug("a data_coding outside its table (here 0xF5, GSM 8-bit class 1) parses to a nil Encoding (data.FromDataCoding) and is marshalled back as 0x00 " +
		"(ShortMessage.Marshal): the coding is lost")
	bugEmptyTLV = gosmppBug("a zero-length TLV (e.g. alert_on_message_delivery, which SMPP 3.4 defines with no value) is dropped on Marshal: pdu/TLV.go Field.Marshal writes only len(Data) > 0")
	bugLongTLV  = gosmppBug("a TLV longer than 32,767 octets is read with a negative int16 length (pdu/TLV.go Field.Unmarshal, Buffer.ReadShort); ReadN(negative) returns nothing and no error, so the rest of the body is misparsed")
	bugDupTLV   = gosmppBug("TLVs live in a map[Tag]Field: a repeated tag keeps only its last value, and Marshal writes TLVs in random map order")
)

func interopAddr(s string) smpp.Address { return smpp.Address{TON: 1, NPI: 1, Addr: []byte(s)} }

type ourCase struct {
	name string
	p    smpp.PDU
	st   smpp.Status
	bug  gosmppBug
}

// ourCases: every PDU gosmpp implements, fully populated, plus body-less
// error responses and inputs that hit gosmpp's defects.
func ourCases() []ourCase {
	var tl smpp.TLVs
	tl = smpp.AppendTLV(tl, smpp.TagUserMessageReference, []byte{0x01, 0x02})
	tl = smpp.AppendTLV(tl, 0x1401, []byte("vendor"))
	receipt := smpp.AppendTLV(smpp.AppendTLV(nil, smpp.TagReceiptedMessageID, []byte("0A1B\x00")), smpp.TagMessageState, []byte{2})
	cases := []ourCase{
		{name: "bind_transceiver", p: &smpp.Bind{Type: smpp.BindTransceiver, SystemID: []byte("sysid"), Password: []byte("secret"), SystemType: []byte("VMA"), InterfaceVersion: 0x34, AddrTON: 1, AddrNPI: 1, AddressRange: []byte("^1555")}},
		{name: "bind_transmitter", p: &smpp.Bind{Type: smpp.BindTransmitter, SystemID: []byte("tx"), InterfaceVersion: 0x34}},
		{name: "bind_receiver", p: &smpp.Bind{Type: smpp.BindReceiver, SystemID: []byte("rx"), Password: []byte("pw"), InterfaceVersion: 0x34}},
		{name: "bind_transceiver_resp", p: &smpp.BindResp{Type: smpp.BindTransceiver, SystemID: []byte("SMSC"), TLVs: smpp.AppendTLV(nil, smpp.TagSCInterfaceVersion, []byte{0x34})}},
		{name: "bind_transmitter_resp", p: &smpp.BindResp{Type: smpp.BindTransmitter, SystemID: []byte("SMSC")}},
		{name: "bind_receiver_resp", p: &smpp.BindResp{Type: smpp.BindReceiver, SystemID: []byte("SMSC")}},
		{name: "outbind", p: &smpp.Outbind{SystemID: []byte("smsc"), Password: []byte("pw")}},
		{name: "unbind", p: &smpp.Unbind{}},
		{name: "unbind_resp", p: &smpp.UnbindResp{}},
		{name: "enquire_link", p: &smpp.EnquireLink{}},
		{name: "enquire_link_resp", p: &smpp.EnquireLinkResp{}},
		{name: "generic_nack", p: &smpp.GenericNack{}, st: smpp.StatusINVCMDID},
		{name: "submit_sm UCS-2 with UDH", p: &smpp.SubmitSM{ServiceType: []byte("CMT"), Source: interopAddr("15551230000"), Dest: interopAddr("447700900123"), ESMClass: 0x40, PriorityFlag: 1,
			ScheduleDeliveryTime: []byte("260101120000000+"), ValidityPeriod: []byte("000001000000000R"), RegisteredDelivery: 1, DataCoding: 8,
			ShortMessage: []byte{0x05, 0x00, 0x03, 0x7F, 0x02, 0x01, 0x00, 0x48, 0x00, 0x69}, TLVs: tl}},
		{name: "submit_sm GSM7 alphanumeric", p: &smpp.SubmitSM{Source: smpp.Address{TON: 5, Addr: []byte("MyBrand")}, Dest: interopAddr("447700900123"), ShortMessage: []byte("Hello @ world")}},
		{name: "submit_sm_resp", p: &smpp.SubmitSMResp{MessageID: []byte("0A1B2C3D")}},
		{name: "deliver_sm receipt", p: &smpp.DeliverSM{Source: interopAddr("447700900123"), Dest: interopAddr("15551230000"), ESMClass: 0x04,
			ShortMessage: []byte("id:0A1B sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:hi"), TLVs: receipt}},
		{name: "deliver_sm_resp", p: &smpp.DeliverSMResp{}},
		{name: "data_sm", p: &smpp.DataSM{ServiceType: []byte("WAP"), Source: interopAddr("1555"), Dest: interopAddr("447700900123456789012345678901234567890"), RegisteredDelivery: 1, DataCoding: 4,
			TLVs: smpp.AppendTLV(nil, smpp.TagMessagePayload, bytes.Repeat([]byte{0xAB}, 300))}},
		{name: "data_sm_resp", p: &smpp.DataSMResp{MessageID: []byte("m1"), TLVs: smpp.AppendTLV(nil, smpp.TagDeliveryFailureReason, []byte{1})}},
		{name: "query_sm", p: &smpp.QuerySM{MessageID: []byte("m1"), Source: interopAddr("1555")}},
		{name: "query_sm_resp", p: &smpp.QuerySMResp{MessageID: []byte("m1"), FinalDate: []byte("260101120000000+"), MessageState: smpp.StateDelivered, ErrorCode: 7}},
		{name: "cancel_sm", p: &smpp.CancelSM{ServiceType: []byte("CMT"), MessageID: []byte("m1"), Source: interopAddr("1555"), Dest: interopAddr("1666")}},
		{name: "cancel_sm_resp", p: &smpp.CancelSMResp{}},
		{name: "replace_sm", p: &smpp.ReplaceSM{MessageID: []byte("m1"), Source: interopAddr("1555"), ValidityPeriod: []byte("000001000000000R"), RegisteredDelivery: 1, SMDefaultMsgID: 3, ShortMessage: []byte("new text")}},
		{name: "replace_sm_resp", p: &smpp.ReplaceSMResp{}},
		{name: "submit_multi", p: &smpp.SubmitMulti{ServiceType: []byte("CMT"), Source: interopAddr("1555"),
			Dests:              []smpp.MultiDest{{Flag: smpp.DestFlagSME, Addr: interopAddr("1666")}, {Flag: smpp.DestFlagList, DLName: []byte("friends")}},
			RegisteredDelivery: 1, ShortMessage: []byte("hello all"), TLVs: tl}},
		{name: "submit_multi_resp", p: &smpp.SubmitMultiResp{MessageID: []byte("m9"), Unsuccess: []smpp.UnsuccessSME{{Addr: interopAddr("1777"), Error: smpp.StatusINVDSTADR}}}},
		{name: "alert_notification", p: &smpp.AlertNotification{Source: interopAddr("1555"), ESME: interopAddr("1666"), TLVs: smpp.AppendTLV(nil, smpp.TagMSAvailabilityStatus, []byte{0})}},

		// Inputs that hit gosmpp's defects.
		{name: "query_sm with a TLV", p: &smpp.QuerySM{MessageID: []byte("m1"), Source: interopAddr("1555"), TLVs: smpp.AppendTLV(nil, 0x1401, []byte{1})}, bug: bugQuerySMNilMap},
		{name: "submit_sm data_coding 0xF5", p: &smpp.SubmitSM{Source: interopAddr("1555"), Dest: interopAddr("1666"), DataCoding: 0xF5, ShortMessage: []byte{0xCA, 0xFE}}, bug: bugUnknownCoding},
		{name: "data_sm message_payload 40,000 octets", p: &smpp.DataSM{Source: interopAddr("1555"), Dest: interopAddr("1666"),
			TLVs: smpp.AppendTLV(smpp.AppendTLV(nil, smpp.TagMessagePayload, bytes.Repeat([]byte{0x41}, 40000)), smpp.TagUserMessageReference, []byte{0, 9})}, bug: bugLongTLV},
		{name: "submit_sm repeated TLV", p: &smpp.SubmitSM{Source: interopAddr("1555"), Dest: interopAddr("1666"),
			TLVs: smpp.AppendTLV(smpp.AppendTLV(nil, 0x1401, []byte("a")), 0x1401, []byte("b"))}, bug: bugDupTLV},
	}
	// Body-less error responses, as SMPP 3.4 and real carriers send them.
	for _, id := range []smpp.CommandID{smpp.BindTransmitterRespID, smpp.BindReceiverRespID, smpp.BindTransceiverRespID, smpp.SubmitSMRespID, smpp.DeliverSMRespID,
		smpp.DataSMRespID, smpp.QuerySMRespID, smpp.SubmitMultiRespID, smpp.CancelSMRespID, smpp.ReplaceSMRespID} {
		p, _ := smpp.New(id)
		c := ourCase{name: id.String() + " body-less error", p: bodyless{p}, st: smpp.StatusTHROTTLED}
		switch id {
		case smpp.BindTransmitterRespID, smpp.BindReceiverRespID, // system_id read only when OK
			smpp.CancelSMRespID, smpp.ReplaceSMRespID, smpp.SubmitSMRespID:
		default:
			c.bug = bugNoBodylessResp
		}
		cases = append(cases, c)
	}
	return cases
}

// bodyless encodes as a bare header whatever its PDU would carry.
type bodyless struct{ smpp.PDU }

func (bodyless) AppendBody(dst []byte) ([]byte, error) { return dst, nil }

// gosmppParse calls pdu.Parse under recover (it panics on some inputs).
func gosmppParse(wire []byte) (p gpdu.PDU, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gosmpp panicked: %v", r)
		}
	}()
	return gpdu.Parse(bytes.NewReader(wire))
}

func TestInteropOursToGosmpp(t *testing.T) {
	t.Parallel()
	var dec smpp.Decoder
	for i, tc := range ourCases() {
		seq := uint32(1000 + i)
		wire, err := smpp.AppendPDU(nil, tc.p, tc.st, seq)
		if err != nil {
			t.Fatalf("%s: encode: %v", tc.name, err)
		}
		h, _ := smpp.ParseHeader(wire)
		mine, err := dec.Decode(h, wire[smpp.HeaderLen:])
		if err != nil {
			t.Fatalf("%s: our own decode: %v", tc.name, err)
		}
		want := ourFields(h, mine)
		got, err := gosmppParse(wire)
		problem := ""
		if err != nil {
			problem = "parse: " + err.Error()
		} else if d := want.diff(gosmppFields(got)); d != "" {
			problem = d
		}
		switch {
		case problem != "" && tc.bug != "":
			t.Logf("%s: gosmpp bug: %s\n\tseen: %s", tc.name, tc.bug, problem)
		case problem != "":
			t.Errorf("%s: %s", tc.name, problem)
		case tc.bug != "":
			t.Logf("%s: the gosmpp bug no longer shows (%s)", tc.name, tc.bug)
		}
	}
}

// gosmppCases builds gosmpp PDUs for every type, fully populated.
func gosmppCases(t *testing.T) []struct {
	name string
	p    gpdu.PDU
	bug  gosmppBug
} {
	ad := func(ton, npi byte, s string) gpdu.Address {
		a, err := gpdu.NewAddressWithTonNpiAddr(ton, npi, s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tlv := func(p gpdu.PDU, tag uint16, v []byte) gpdu.PDU {
		p.RegisterOptionalParam(gpdu.Field{Tag: gpdu.Tag(tag), Data: v})
		return p
	}
	bindTRX := gpdu.NewBindRequest(gpdu.Transceiver)
	bindTRX.SystemID, bindTRX.Password, bindTRX.SystemType = "sysid", "secret", "VMA"
	bindTRX.AddressRange = gpdu.AddressRange{Ton: 1, Npi: 1, AddressRange: "^1555"}
	bindTX := gpdu.NewBindRequest(gpdu.Transmitter)
	bindTX.SystemID = "tx"
	bindRX := gpdu.NewBindRequest(gpdu.Receiver)
	bindRX.SystemID, bindRX.Password = "rx", "pw"
	bindResp := func(g func() gpdu.PDU) gpdu.PDU {
		r := g().(*gpdu.BindResp)
		r.SystemID = "SMSC"
		return r
	}
	outbind := gpdu.NewOutbind().(*gpdu.Outbind)
	outbind.SystemID, outbind.Password = "smsc", "pw"

	submit := gpdu.NewSubmitSM().(*gpdu.SubmitSM)
	submit.ServiceType, submit.SourceAddr, submit.DestAddr = "CMT", ad(1, 1, "15551230000"), ad(1, 1, "447700900123")
	submit.EsmClass, submit.PriorityFlag, submit.RegisteredDelivery = 0x40, 1, 1
	submit.ScheduleDeliveryTime, submit.ValidityPeriod = "260101120000000+", "000001000000000R"
	if err := submit.Message.SetMessageDataWithEncoding([]byte{0x00, 0x48, 0x00, 0x69}, data.UCS2); err != nil {
		t.Fatal(err)
	}
	submit.Message.SetUDH(gpdu.UDH{gpdu.NewIEConcatMessage(2, 1, 0x7F)})
	tlv(submit, 0x0204, []byte{1, 2})
	tlv(submit, 0x1401, []byte("vendor"))

	text := gpdu.NewSubmitSM().(*gpdu.SubmitSM)
	text.SourceAddr, text.DestAddr = ad(5, 0, "MyBrand"), ad(1, 1, "447700900123")
	msg, err := gpdu.NewShortMessage("Hello @ world") // GSM 7-bit unpacked: '@' is 0x00
	if err != nil {
		t.Fatal(err)
	}
	text.Message = msg

	submitResp := gpdu.NewSubmitSMResp().(*gpdu.SubmitSMResp)
	submitResp.MessageID = "0A1B2C3D"

	deliver := gpdu.NewDeliverSM().(*gpdu.DeliverSM)
	deliver.SourceAddr, deliver.DestAddr, deliver.EsmClass = ad(1, 1, "447700900123"), ad(1, 1, "15551230000"), 0x04
	if err := deliver.Message.SetMessageDataWithEncoding([]byte("id:0A1B sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:hi"), data.ASCII); err != nil {
		t.Fatal(err)
	}
	tlv(deliver, 0x001E, []byte("0A1B\x00"))
	tlv(deliver, 0x0427, []byte{2})

	dataSM := gpdu.NewDataSM().(*gpdu.DataSM)
	dataSM.ServiceType, dataSM.SourceAddr, dataSM.DestAddr = "WAP", ad(1, 1, "1555"), ad(1, 1, "447700900123")
	dataSM.RegisteredDelivery, dataSM.DataCoding = 1, 4
	tlv(dataSM, 0x0424, bytes.Repeat([]byte{0xAB}, 300))
	dataResp := gpdu.NewDataSMResp().(*gpdu.DataSMResp)
	dataResp.MessageID = "m1"
	tlv(dataResp, 0x0425, []byte{1})

	query := gpdu.NewQuerySM().(*gpdu.QuerySM)
	query.MessageID, query.SourceAddr = "m1", ad(1, 1, "1555")
	queryResp := gpdu.NewQuerySMResp().(*gpdu.QuerySMResp)
	queryResp.MessageID, queryResp.FinalDate, queryResp.MessageState, queryResp.ErrorCode = "m1", "260101120000000+", 2, 7

	cancel := gpdu.NewCancelSM().(*gpdu.CancelSM)
	cancel.ServiceType, cancel.MessageID, cancel.SourceAddr, cancel.DestAddr = "CMT", "m1", ad(1, 1, "1555"), ad(1, 1, "1666")

	replace := gpdu.NewReplaceSM().(*gpdu.ReplaceSM)
	replace.MessageID, replace.SourceAddr, replace.ValidityPeriod, replace.RegisteredDelivery = "m1", ad(1, 1, "1555"), "000001000000000R", 1
	if err := replace.Message.SetMessageWithEncoding("new text", data.GSM7BIT); err != nil { // keeps the no-data_coding layout
		t.Fatal(err)
	}
	replace.Message.SmDefaultMsgID = 3

	multi := gpdu.NewSubmitMulti().(*gpdu.SubmitMulti)
	multi.ServiceType, multi.SourceAddr, multi.RegisteredDelivery = "CMT", ad(1, 1, "1555"), 1
	var d1, d2 gpdu.DestinationAddress
	d1.SetAddress(ad(1, 1, "1666"))
	dl, err := gpdu.NewDistributionList("friends")
	if err != nil {
		t.Fatal(err)
	}
	d2.SetDistributionList(dl)
	multi.DestAddrs.Add(d1, d2)
	if multi.Message, err = gpdu.NewShortMessage("hello all"); err != nil {
		t.Fatal(err)
	}
	tlv(multi, 0x0204, []byte{1, 2})

	multiResp := gpdu.NewSubmitMultiResp().(*gpdu.SubmitMultiResp)
	multiResp.MessageID = "m9"
	us, err := gpdu.NewUnsuccessSMEWithAddr("1777", data.ESME_RINVDSTADR)
	if err != nil {
		t.Fatal(err)
	}
	multiResp.UnsuccessSMEs.Add(us)

	alert := gpdu.NewAlertNotification().(*gpdu.AlertNotification)
	alert.SourceAddr, alert.EsmeAddr = ad(1, 1, "1555"), ad(1, 1, "1666")
	tlv(alert, 0x0422, []byte{0})

	emptyTLV := gpdu.NewSubmitSM().(*gpdu.SubmitSM)
	emptyTLV.SourceAddr, emptyTLV.DestAddr = ad(1, 1, "1555"), ad(1, 1, "1666")
	tlv(emptyTLV, 0x130C, nil) // alert_on_message_delivery has no value

	nack := gpdu.NewGenericNack()
	nack.(*gpdu.GenericNack).CommandStatus = data.ESME_RINVCMDID

	type c = struct {
		name string
		p    gpdu.PDU
		bug  gosmppBug
	}
	return []c{
		{"bind_transceiver", bindTRX, ""}, {"bind_transmitter", bindTX, ""}, {"bind_receiver", bindRX, ""},
		{"bind_transceiver_resp", tlv(bindResp(gpdu.NewBindTransceiverResp), 0x0210, []byte{0x34}), ""},
		{"bind_transmitter_resp", bindResp(gpdu.NewBindTransmitterResp), ""}, {"bind_receiver_resp", bindResp(gpdu.NewBindReceiverResp), ""},
		{"outbind", outbind, ""}, {"unbind", gpdu.NewUnbind(), ""}, {"unbind_resp", gpdu.NewUnbindResp(), ""},
		{"enquire_link", gpdu.NewEnquireLink(), ""}, {"enquire_link_resp", gpdu.NewEnquireLinkResp(), ""}, {"generic_nack", nack, ""},
		{"submit_sm UCS-2 with UDH", submit, ""}, {"submit_sm GSM7", text, ""}, {"submit_sm_resp", submitResp, ""},
		{"deliver_sm receipt", deliver, ""}, {"deliver_sm_resp", gpdu.NewDeliverSMResp(), ""},
		{"data_sm", dataSM, ""}, {"data_sm_resp", dataResp, ""}, {"query_sm", query, ""}, {"query_sm_resp", queryResp, ""},
		{"cancel_sm", cancel, ""}, {"cancel_sm_resp", gpdu.NewCancelSMResp(), ""}, {"replace_sm", replace, ""}, {"replace_sm_resp", gpdu.NewReplaceSMResp(), ""},
		{"submit_multi", multi, ""}, {"submit_multi_resp", multiResp, ""}, {"alert_notification", alert, ""},
		{"submit_sm zero-length TLV", emptyTLV, bugEmptyTLV},
	}
}

// gosmppMarshal calls Marshal under recover.
func gosmppMarshal(p gpdu.PDU) (wire []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gosmpp panicked: %v", r)
		}
	}()
	b := gpdu.NewBuffer(nil)
	p.Marshal(b)
	return b.Bytes(), nil
}

func TestInteropGosmppToOurs(t *testing.T) {
	t.Parallel()
	var dec smpp.Decoder
	for _, tc := range gosmppCases(t) {
		wire, err := gosmppMarshal(tc.p)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := gosmppFields(tc.p)
		if tc.bug == bugEmptyTLV {
			want["tlvs"] = "130c=" // what SMPP 3.4 means; gosmpp drops it
		}
		rd := smpp.NewReader(bytes.NewReader(wire), 0)
		h, body, err := rd.Next()
		problem := ""
		if err != nil {
			problem = "read: " + err.Error()
		} else if p, err := dec.Decode(h, body); err != nil {
			problem = "decode: " + err.Error()
		} else if d := ourFields(h, p).diff(want); d != "" {
			problem = d
		}
		switch {
		case problem != "" && tc.bug != "":
			t.Logf("%s: gosmpp bug: %s\n\tseen: %s", tc.name, tc.bug, problem)
		case problem != "":
			t.Errorf("%s: %s", tc.name, problem)
		case tc.bug != "":
			t.Logf("%s: the gosmpp bug no longer shows (%s)", tc.name, tc.bug)
		}
	}
}

// gosmppText is the 100-character GSM 7-bit text of the benchmarks.
var gosmppText = strings.Repeat("Hello 0123", 10)

func gosmppSubmit(dest string, registeredDelivery byte) (*gpdu.SubmitSM, error) {
	sm := gpdu.NewSubmitSM().(*gpdu.SubmitSM)
	src, err := gpdu.NewAddressWithTonNpiAddr(5, 0, "MyBrand")
	if err != nil {
		return nil, err
	}
	dst, err := gpdu.NewAddressWithTonNpiAddr(1, 1, dest)
	if err != nil {
		return nil, err
	}
	sm.SourceAddr, sm.DestAddr, sm.RegisteredDelivery = src, dst, registeredDelivery
	if sm.Message, err = gpdu.NewShortMessage(gosmppText); err != nil {
		return nil, err
	}
	return sm, nil
}

// TestInteropGosmppSession binds gosmpp's client Session as a transceiver to
// our fake SMSC with credentials, submits, and receives a mobile-originated
// deliver_sm and a delivery receipt.
func TestInteropGosmppSession(t *testing.T) {
	t.Parallel()
	srv := smpptest.Start(t, smpptest.Config{Accounts: map[string]string{"gosmpp": "secret"}, Receipts: true})

	// Wrong credentials are refused at bind. A transmitter sees the status;
	// a transceiver cannot parse the body-less bind_transceiver_resp.
	bad := gosmpp.Auth{SMSC: srv.Addr(), SystemID: "gosmpp", Password: "wrong"}
	_, err := gosmpp.NewSession(gosmpp.TXConnector(gosmpp.NonTLSDialer, bad), gosmpp.Settings{ReadTimeout: 10 * time.Second}, 0)
	var be gosmpp.BindError
	if !errorsAs(err, &be) || be.CommandStatus != data.ESME_RINVPASWD {
		t.Fatalf("bind_transmitter with a wrong password: %v", err)
	}
	_, err = gosmpp.NewSession(gosmpp.TRXConnector(gosmpp.NonTLSDialer, bad), gosmpp.Settings{ReadTimeout: 10 * time.Second}, 0)
	switch {
	case err == nil:
		t.Fatal("bind_transceiver with a wrong password succeeded")
	case errorsAs(err, &be):
		t.Logf("the gosmpp bug no longer shows (%s)", bugNoBodylessResp)
	default:
		t.Logf("bind_transceiver with a wrong password: %v; gosmpp bug: %s", err, bugNoBodylessResp)
	}
	waitStats(t, srv, func(s smpptest.Stats) bool { return s.BindsRefused == 2 && s.ConnsOpen == 0 })

	var (
		mu       sync.Mutex
		resps    = map[int32]string{} // sequence → "status/message_id"
		delivers []string
		changed  = make(chan struct{}, 100)
	)
	note := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	sess, err := gosmpp.NewSession(gosmpp.TRXConnector(gosmpp.NonTLSDialer, gosmpp.Auth{SMSC: srv.Addr(), SystemID: "gosmpp", Password: "secret"}),
		gosmpp.Settings{
			ReadTimeout: 10 * time.Second,
			OnPDU: func(p gpdu.PDU, responded bool) {
				mu.Lock()
				defer mu.Unlock()
				switch p := p.(type) {
				case *gpdu.SubmitSMResp:
					resps[p.SequenceNumber] = fmt.Sprintf("%v/%s", p.CommandStatus, p.MessageID)
				case *gpdu.DeliverSM:
					text, _ := p.Message.GetMessage()
					rid := ""
					if f, ok := p.OptionalParameters[gpdu.TagReceiptedMessageID]; ok {
						rid = f.String()
					}
					delivers = append(delivers, fmt.Sprintf("esm=%#x responded=%v rid=%s text=%s", p.EsmClass, responded, rid, text))
				}
				note()
			},
			OnReceivingError: func(err error) { t.Logf("gosmpp receiving error: %v", err) },
			OnSubmitError:    func(p gpdu.PDU, err error) { t.Errorf("gosmpp submit error: %v", err) },
		}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if id := sess.Transceiver().SystemID(); id != smpptest.DefaultSystemID {
		t.Fatalf("gosmpp saw system_id %q", id)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-changed:
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	srv.FailNext(1, smpp.StatusTHROTTLED)
	var seqs []int32
	for i := range 5 {
		rd := byte(0)
		if i == 4 {
			rd = 1 // the last asks for a receipt
		}
		sm, err := gosmppSubmit("44770090000"+strconv.Itoa(i), rd)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, sm.SequenceNumber)
		if err := sess.Transceiver().Submit(sm); err != nil {
			t.Fatal(err)
		}
	}
	wait("5 submit_sm_resp and the receipt", func() bool { return len(resps) == 5 && len(delivers) == 1 })
	mu.Lock()
	got := []string{}
	for _, s := range seqs {
		got = append(got, resps[s])
	}
	receipt := delivers[0]
	mu.Unlock()
	want := []string{"ESME_RTHROTTLED/", "ESME_ROK/1", "ESME_ROK/2", "ESME_ROK/3", "ESME_ROK/4"}
	if !slices.Equal(got, want) {
		t.Fatalf("responses %q, want %q", got, want)
	}
	if !strings.Contains(receipt, "esm=0x4 responded=true rid=4 text=id:4 sub:001 dlvrd:001") || !strings.Contains(receipt, "stat:DELIVRD err:000 text:Hello 0123Hello 0123") {
		t.Fatalf("receipt as gosmpp saw it: %s", receipt)
	}

	// What the server received is what gosmpp meant to send.
	var subs []smpptest.Received
	for _, r := range srv.Received() {
		if r.Header.ID == smpp.SubmitSMID {
			subs = append(subs, r)
		}
	}
	if len(subs) != 5 || subs[2].Dest != "447700900002" || subs[2].Source != "MyBrand" || string(subs[2].ShortMessage) != gosmppText || subs[2].SystemID != "gosmpp" {
		t.Fatalf("server received %+v", subs)
	}

	// A mobile-originated deliver_sm: gosmpp acknowledges it (ESME_ROK,
	// before its callback runs) and hands it over.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := srv.Deliver(ctx, &smpp.DeliverSM{Source: interopAddr("447700900123"), Dest: smpp.Address{Addr: []byte("12345")}, ShortMessage: []byte("STOP now")})
	if err != nil || st != smpp.StatusOK {
		t.Fatalf("Deliver: %v %v", st, err)
	}
	wait("the MO message", func() bool { return len(delivers) == 2 })
	mu.Lock()
	mo := delivers[1]
	mu.Unlock()
	if mo != "esm=0x0 responded=true rid= text=STOP now" {
		t.Fatalf("MO as gosmpp saw it: %s", mo)
	}
	if s := srv.Stats(); s.DeliverResps != 2 || s.Binds != 1 || s.BindsRefused != 2 || s.UnknownResponses != 0 || s.GenericNacks != 0 {
		t.Fatalf("server stats %+v", s)
	}
}

func waitStats(t *testing.T, srv *smpptest.Server, cond func(smpptest.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitFor(ctx, cond); err != nil {
		t.Fatalf("%v: server stats %+v", err, srv.Stats())
	}
}

func errorsAs(err error, target *gosmpp.BindError) bool {
	be, ok := err.(gosmpp.BindError)
	if ok {
		*target = be
	}
	return ok
}

// BenchmarkGosmppClientSubmit: gosmpp v0.3.1's client Session against an
// instant smpptest.Server in a child process, 100 submit_sm in flight, one
// bind, for comparison with our own client's benchmark in the same run
// (same metrics: msgs/s and this process's CPU per message).
//
// It uses the OnPDU path with our own semaphore of 100, the variant that
// reached gosmpp's best number in gosmpp-eval.md (141,905/s at W=100).
// WindowedRequestTracking as shipped is not benchmarked: its window race
// (the request is stored after it is written) leaves ghost entries that
// block the window until they expire, 833/s at W=100 in the evaluation.
// Each message is built, GSM 7-bit encoded and marshalled by gosmpp, as its
// users do.
func BenchmarkGosmppClientSubmit(b *testing.B) {
	addr := startFakeSMSC(b, 0)
	const window = 100
	sem := make(chan struct{}, window)
	var done, failed atomic.Int64
	finished := make(chan struct{})
	n := int64(b.N)
	sess, err := gosmpp.NewSession(gosmpp.TXConnector(gosmpp.NonTLSDialer, gosmpp.Auth{SMSC: addr, SystemID: "bench"}),
		gosmpp.Settings{
			ReadTimeout: time.Minute,
			OnPDU: func(p gpdu.PDU, _ bool) {
				if r, ok := p.(*gpdu.SubmitSMResp); ok {
					if r.CommandStatus != data.ESME_ROK {
						failed.Add(1)
					}
					<-sem
					if done.Add(1) == n {
						close(finished)
					}
				}
			},
			OnSubmitError: func(_ gpdu.PDU, err error) { b.Errorf("gosmpp submit error: %v", err) },
		}, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	tx := sess.Transmitter()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		sem <- struct{}{}
		sm, err := gosmppSubmit("447700900123", 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Submit(sm); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-finished:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d responses after a minute", done.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() != 0 {
		b.Fatalf("%d submits failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "client-cpu-ns/msg")
}
