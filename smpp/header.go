package smpp

import (
	"encoding/binary"
	"strconv"
)

// HeaderLen is the length of the PDU header: command_length, command_id,
// command_status and sequence_number, four octets each (SMPP 3.4 §3.2).
const HeaderLen = 16

// DefaultMaxPDULength is the largest command_length a Reader accepts unless
// told otherwise: room for a 64 KiB message_payload and a full mandatory body.
// SMPP 3.4 sets no maximum; Kannel caps at 7,424 octets and node-smpp at 16,384.
const DefaultMaxPDULength = 70 * 1024

// MaxSequence is the largest sequence number this package assigns; sequence
// numbers run 1..MaxSequence and then wrap to 1 (SMPP 3.4 §3.2).
const MaxSequence = 0x7FFFFFFF

// Header is the fixed part of every PDU.
type Header struct {
	Length   uint32    // command_length: the whole PDU, header included
	ID       CommandID // command_id
	Status   Status    // command_status: 0 in every request
	Sequence uint32    // sequence_number: a response carries its request's
}

// ParseHeader reads a header from the first 16 octets of b. It checks only
// that b is long enough and command_length is at least 16; checking it
// against a maximum is the caller's job (Reader does it).
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errShortHeader
	}
	h := Header{
		Length:   binary.BigEndian.Uint32(b[0:4]),
		ID:       CommandID(binary.BigEndian.Uint32(b[4:8])),
		Status:   Status(binary.BigEndian.Uint32(b[8:12])),
		Sequence: binary.BigEndian.Uint32(b[12:16]),
	}
	if h.Length < HeaderLen {
		return h, &PDULengthError{Length: h.Length}
	}
	return h, nil
}

// AppendHeader appends a header. Use it for header-only PDUs; AppendPDU
// writes the header of a PDU with a body itself.
func AppendHeader(dst []byte, h Header) []byte {
	dst = binary.BigEndian.AppendUint32(dst, h.Length)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.ID))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.Status))
	return binary.BigEndian.AppendUint32(dst, h.Sequence)
}

// CommandID identifies a PDU (SMPP 3.4 §5.1.2.1). A response's ID is its
// request's ID with bit 31 set.
type CommandID uint32

// Command IDs of SMPP 3.4.
const (
	GenericNackID         CommandID = 0x80000000
	BindReceiverID        CommandID = 0x00000001
	BindReceiverRespID    CommandID = 0x80000001
	BindTransmitterID     CommandID = 0x00000002
	BindTransmitterRespID CommandID = 0x80000002
	QuerySMID             CommandID = 0x00000003
	QuerySMRespID         CommandID = 0x80000003
	SubmitSMID            CommandID = 0x00000004
	SubmitSMRespID        CommandID = 0x80000004
	DeliverSMID           CommandID = 0x00000005
	DeliverSMRespID       CommandID = 0x80000005
	UnbindID              CommandID = 0x00000006
	UnbindRespID          CommandID = 0x80000006
	ReplaceSMID           CommandID = 0x00000007
	ReplaceSMRespID       CommandID = 0x80000007
	CancelSMID            CommandID = 0x00000008
	CancelSMRespID        CommandID = 0x80000008
	BindTransceiverID     CommandID = 0x00000009
	BindTransceiverRespID CommandID = 0x80000009
	OutbindID             CommandID = 0x0000000B
	EnquireLinkID         CommandID = 0x00000015
	EnquireLinkRespID     CommandID = 0x80000015
	SubmitMultiID         CommandID = 0x00000021
	SubmitMultiRespID     CommandID = 0x80000021
	AlertNotificationID   CommandID = 0x00000102
	DataSMID              CommandID = 0x00000103
	DataSMRespID          CommandID = 0x80000103
)

// respBit marks a response command_id.
const respBit = 0x80000000

// IsResponse reports whether id is a response (bit 31 set), generic_nack included.
func (id CommandID) IsResponse() bool { return id&respBit != 0 }

// Response returns the response ID of a request ID. It is meaningless for
// outbind and alert_notification, which have no response.
func (id CommandID) Response() CommandID { return id | respBit }

// Known reports whether id is a command of SMPP 3.4.
func (id CommandID) Known() bool { _, ok := commandNames[id]; return ok }

// String returns the SMPP name of the command, e.g. "submit_sm", or its hex
// value when the command is unknown.
func (id CommandID) String() string {
	if n, ok := commandNames[id]; ok {
		return n
	}
	return "command_id 0x" + hex8(uint32(id))
}

var commandNames = map[CommandID]string{
	GenericNackID:         "generic_nack",
	BindReceiverID:        "bind_receiver",
	BindReceiverRespID:    "bind_receiver_resp",
	BindTransmitterID:     "bind_transmitter",
	BindTransmitterRespID: "bind_transmitter_resp",
	QuerySMID:             "query_sm",
	QuerySMRespID:         "query_sm_resp",
	SubmitSMID:            "submit_sm",
	SubmitSMRespID:        "submit_sm_resp",
	DeliverSMID:           "deliver_sm",
	DeliverSMRespID:       "deliver_sm_resp",
	UnbindID:              "unbind",
	UnbindRespID:          "unbind_resp",
	ReplaceSMID:           "replace_sm",
	ReplaceSMRespID:       "replace_sm_resp",
	CancelSMID:            "cancel_sm",
	CancelSMRespID:        "cancel_sm_resp",
	BindTransceiverID:     "bind_transceiver",
	BindTransceiverRespID: "bind_transceiver_resp",
	OutbindID:             "outbind",
	EnquireLinkID:         "enquire_link",
	EnquireLinkRespID:     "enquire_link_resp",
	SubmitMultiID:         "submit_multi",
	SubmitMultiRespID:     "submit_multi_resp",
	AlertNotificationID:   "alert_notification",
	DataSMID:              "data_sm",
	DataSMRespID:          "data_sm_resp",
}

func hex8(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	for len(s) < 8 {
		s = "0" + s
	}
	return s
}
