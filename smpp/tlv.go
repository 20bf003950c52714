package smpp

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// Tag is an optional parameter's tag (SMPP 3.4 §5.3.2). Its constants are
// generated from tlv.tsv into ztlv.go.
type Tag uint16

// String returns the tag's SMPP name, e.g. "receipted_message_id", or its hex
// value for tags SMPP 3.4 does not define (vendor tags 0x1400–0x3FFF).
func (t Tag) String() string {
	if n, ok := tagName(t); ok {
		return n
	}
	s := strconv.FormatUint(uint64(t), 16)
	for len(s) < 4 {
		s = "0" + s
	}
	return "tag 0x" + s
}

// TLVs is a PDU's optional-parameter section as it stands on the wire: a run
// of tag (2 octets), length (2 octets), value. Keeping the raw octets keeps
// every TLV, known or not, in its order, and lets a PDU be re-encoded exactly;
// lookups scan the section, which is short.
//
// A TLVs decoded from a PDU is a view of the PDU's body and is valid as long
// as that body is. The setters never write into the view: they copy it first
// (its capacity is clipped to its length).
type TLVs []byte

var errTLVTruncated = errors.New("TLV header or value runs past the end of the body")

// Validate checks that every TLV's header and value fit in the section.
func (t TLVs) Validate() error {
	for i := 0; i < len(t); {
		if len(t)-i < 4 {
			return errTLVTruncated
		}
		n := int(binary.BigEndian.Uint16(t[i+2:]))
		i += 4
		if len(t)-i < n {
			return errTLVTruncated
		}
		i += n
	}
	return nil
}

// Lookup returns the value of the first TLV with the tag, as a view of t.
func (t TLVs) Lookup(tag Tag) ([]byte, bool) {
	for i := 0; i+4 <= len(t); {
		tg := Tag(binary.BigEndian.Uint16(t[i:]))
		n := int(binary.BigEndian.Uint16(t[i+2:]))
		i += 4
		if i+n > len(t) {
			return nil, false
		}
		if tg == tag {
			return t[i : i+n : i+n], true
		}
		i += n
	}
	return nil, false
}

// Each calls f for every TLV in order, stopping when f returns false.
func (t TLVs) Each(f func(tag Tag, value []byte) bool) {
	for i := 0; i+4 <= len(t); {
		tg := Tag(binary.BigEndian.Uint16(t[i:]))
		n := int(binary.BigEndian.Uint16(t[i+2:]))
		i += 4
		if i+n > len(t) || !f(tg, t[i:i+n:i+n]) {
			return
		}
		i += n
	}
}

// Uint8 returns a one-octet TLV's value; ok is false when the tag is absent
// or its value is not one octet.
func (t TLVs) Uint8(tag Tag) (uint8, bool) {
	v, ok := t.Lookup(tag)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// Uint16 returns a two-octet TLV's value; ok is false when the tag is absent
// or its value is not two octets.
func (t TLVs) Uint16(tag Tag) (uint16, bool) {
	v, ok := t.Lookup(tag)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// CString returns a C-Octet String TLV's value without its NUL. A value
// without a NUL is returned whole (some peers omit it).
func (t TLVs) CString(tag Tag) ([]byte, bool) {
	v, ok := t.Lookup(tag)
	if !ok {
		return nil, false
	}
	for i, c := range v {
		if c == 0 {
			return v[:i:i], true
		}
	}
	return v, true
}

// Set replaces the value of the first TLV with the tag, or appends the TLV
// when absent. value is copied. Values over 65,535 octets are an error.
func (t *TLVs) Set(tag Tag, value []byte) error {
	if len(value) > 0xFFFF {
		return &EncodeError{Command: 0, Field: tag.String(), Reason: "value longer than 65,535 octets"}
	}
	old := *t
	for i := 0; i+4 <= len(old); {
		tg := Tag(binary.BigEndian.Uint16(old[i:]))
		n := int(binary.BigEndian.Uint16(old[i+2:]))
		if i+4+n > len(old) {
			break
		}
		if tg == tag {
			out := make(TLVs, 0, len(old)-n+len(value))
			out = append(out, old[:i]...)
			out = appendTLV(out, tag, value)
			out = append(out, old[i+4+n:]...)
			*t = out
			return nil
		}
		i += 4 + n
	}
	*t = appendTLV(old, tag, value)
	return nil
}

// SetUint8 sets a one-octet TLV.
func (t *TLVs) SetUint8(tag Tag, v uint8) { _ = t.Set(tag, []byte{v}) }

// SetUint16 sets a two-octet TLV.
func (t *TLVs) SetUint16(tag Tag, v uint16) {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	_ = t.Set(tag, b[:])
}

// SetCString sets a C-Octet String TLV: s followed by a NUL.
func (t *TLVs) SetCString(tag Tag, s string) error {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return t.Set(tag, b)
}

// Delete removes every TLV with the tag.
func (t *TLVs) Delete(tag Tag) {
	old := *t
	var out TLVs
	for i := 0; i+4 <= len(old); {
		tg := Tag(binary.BigEndian.Uint16(old[i:]))
		n := int(binary.BigEndian.Uint16(old[i+2:]))
		end := i + 4 + n
		if end > len(old) {
			end = len(old)
		}
		if tg != tag {
			out = append(out, old[i:end]...)
		}
		i = end
	}
	*t = out
}

func appendTLV(dst []byte, tag Tag, value []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(tag))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}

// AppendTLV appends one TLV to a section being built in dst. A value over
// 65,535 octets cannot be expressed in a TLV's length field: AppendTLV panics
// on one, as it is the caller's bug (check with len, or use Set, which
// returns an error).
func AppendTLV(dst TLVs, tag Tag, value []byte) TLVs {
	if len(value) > 0xFFFF {
		panic("smpp: AppendTLV: " + tag.String() + " value of " + itoa(len(value)) + " octets exceeds 65,535")
	}
	return appendTLV(dst, tag, value)
}

// Typed accessors for the optional parameters Switchboard uses.

// ReceiptedMessageID returns receipted_message_id (the SMSC's id of the
// message a delivery receipt is about), without its NUL.
func (t TLVs) ReceiptedMessageID() ([]byte, bool) { return t.CString(TagReceiptedMessageID) }

// MessageState returns message_state (§5.3.2.35).
func (t TLVs) MessageState() (MessageState, bool) {
	v, ok := t.Uint8(TagMessageState)
	return MessageState(v), ok
}

// NetworkError is the value of network_error_code: the network type (1
// ANSI-136, 2 IS-95, 3 GSM) and the network's error code.
type NetworkError struct {
	Type uint8
	Code uint16
}

// NetworkErrorCode returns network_error_code (3 octets).
func (t TLVs) NetworkErrorCode() (NetworkError, bool) {
	v, ok := t.Lookup(TagNetworkErrorCode)
	if !ok || len(v) != 3 {
		return NetworkError{}, false
	}
	return NetworkError{Type: v[0], Code: binary.BigEndian.Uint16(v[1:])}, true
}

// MessagePayload returns message_payload, the user data of a message sent
// outside short_message.
func (t TLVs) MessagePayload() ([]byte, bool) { return t.Lookup(TagMessagePayload) }

// SARMsgRefNum returns sar_msg_ref_num, the reference shared by the parts of
// a concatenated message.
func (t TLVs) SARMsgRefNum() (uint16, bool) { return t.Uint16(TagSARMsgRefNum) }

// SARTotalSegments returns sar_total_segments.
func (t TLVs) SARTotalSegments() (uint8, bool) { return t.Uint8(TagSARTotalSegments) }

// SARSegmentSeqnum returns sar_segment_seqnum (1-based).
func (t TLVs) SARSegmentSeqnum() (uint8, bool) { return t.Uint8(TagSARSegmentSeqnum) }

// UserMessageReference returns user_message_reference.
func (t TLVs) UserMessageReference() (uint16, bool) { return t.Uint16(TagUserMessageReference) }

// SourcePort returns source_port.
func (t TLVs) SourcePort() (uint16, bool) { return t.Uint16(TagSourcePort) }

// DestinationPort returns destination_port.
func (t TLVs) DestinationPort() (uint16, bool) { return t.Uint16(TagDestinationPort) }

// MoreMessagesToSend returns more_messages_to_send (0 none, 1 more).
func (t TLVs) MoreMessagesToSend() (uint8, bool) { return t.Uint8(TagMoreMessagesToSend) }

// SCInterfaceVersion returns sc_interface_version from a bind response.
func (t TLVs) SCInterfaceVersion() (uint8, bool) { return t.Uint8(TagSCInterfaceVersion) }

// MessageState is the state of a message at the SMSC (SMPP 3.4 §5.2.28).
type MessageState uint8

// Message states. Scheduled (0) and Skipped (9) are SMPP 5.0's.
const (
	StateScheduled     MessageState = 0
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
	StateSkipped       MessageState = 9
)

var stateNames = [...]string{"SCHEDULED", "ENROUTE", "DELIVERED", "EXPIRED", "DELETED", "UNDELIVERABLE", "ACCEPTED", "UNKNOWN", "REJECTED", "SKIPPED"}

// statStrings are the receipt text's `stat:` words (SMPP 3.4 Appendix B).
var statStrings = [...]string{"SCHEDULED", "ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "SKIPPED"}

func (s MessageState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state " + strconv.Itoa(int(s))
}

// Stat returns the 7-letter word a delivery receipt's text uses for the state
// (DELIVRD, UNDELIV, ...).
func (s MessageState) Stat() string {
	if int(s) < len(statStrings) {
		return statStrings[s]
	}
	return "UNKNOWN"
}

// Final reports whether the state is final. ACCEPTED counts as intermediate,
// as Kannel and Jasmin treat it (SMPP 3.4 lists it as final).
func (s MessageState) Final() bool {
	switch s {
	case StateDelivered, StateExpired, StateDeleted, StateUndeliverable, StateUnknown, StateRejected:
		return true
	}
	return false
}
