package smpp

import (
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// data_coding values (SMPP 3.4 §5.2.19) for the encodings Switchboard sends.
const (
	DataCodingDefault uint8 = 0x00 // SMSC default alphabet: GSM 03.38 in practice
	DataCodingIA5     uint8 = 0x01 // IA5/ASCII; some carriers mean GSM 03.38 by it
	DataCodingBinary  uint8 = 0x04
	DataCodingLatin1  uint8 = 0x03
	DataCodingUCS2    uint8 = 0x08
)

// DataCoding returns the data_coding value that announces enc. Which value
// means "GSM default alphabet" is the carrier's choice (0 or 1); gsmDefault
// carries it.
func DataCoding(enc coding.Encoding, gsmDefault uint8) uint8 {
	switch enc {
	case coding.UCS2:
		return DataCodingUCS2
	case coding.Latin1:
		return DataCodingLatin1
	case coding.Binary:
		return DataCodingBinary
	}
	return gsmDefault
}

// EncodingOf returns how to decode user data announced with data_coding dc.
// gsmDefault is the carrier's value for GSM 03.38 (0 or 1); 0 is read as GSM
// whatever it is, as Kannel does. The GSM message-class group (0xF0–0xFF)
// carries GSM 7-bit or 8-bit data by bit 2. Unknown values decode as Binary.
func EncodingOf(dc, gsmDefault uint8) coding.Encoding {
	switch {
	case dc == DataCodingDefault || dc == gsmDefault:
		return coding.GSM7
	case dc == DataCodingUCS2:
		return coding.UCS2
	case dc == DataCodingLatin1:
		return coding.Latin1
	case dc == DataCodingIA5:
		return coding.Latin1 // ASCII is a subset of Latin-1
	case dc&0xF0 == 0xF0:
		if dc&0x04 == 0 {
			return coding.GSM7
		}
		return coding.Binary
	}
	return coding.Binary
}

// SetPart fills the user data of p with one part of a split message: the
// part's octets in short_message (with UDHI set when it starts with a UDH),
// or in message_payload for coding.Payload; for coding.SAR, the three sar_*
// TLVs. p's other fields (addresses, data_coding, ...) are the caller's.
// p.TLVs is appended to, so start each part from a template whose TLVs
// field the caller owns.
func SetPart(p *SubmitSM, part coding.Part, m coding.Method) {
	p.ESMClass &^= ESMClassUDHI
	if part.UDHLen > 0 {
		p.ESMClass |= ESMClassUDHI
	}
	if m == coding.Payload {
		p.ShortMessage = nil
		p.TLVs = AppendTLV(p.TLVs, TagMessagePayload, part.Message)
		return
	}
	p.ShortMessage = part.Message
	if m == coding.SAR && part.Total > 1 {
		p.TLVs = AppendTLV(p.TLVs, TagSARMsgRefNum, []byte{byte(part.Ref >> 8), byte(part.Ref)})
		p.TLVs = AppendTLV(p.TLVs, TagSARTotalSegments, []byte{part.Total})
		p.TLVs = AppendTLV(p.TLVs, TagSARSegmentSeqnum, []byte{part.Seq})
	}
}

// Concat is the concatenation information of one inbound part.
type Concat struct {
	Ref   uint16 // the reference shared by the message's parts
	Total uint8  // how many parts, 1..255
	Seq   uint8  // this part's number, 1..Total
	Wide  bool   // the reference had 16 bits (UDH IEI 0x08, or SAR)
}

// UserData returns an inbound message's user data, without its UDH, and its
// concatenation information when it is a part of a longer message: from a
// UDH (IEI 0x00 or 0x08) when esm_class has UDHI, else from the sar_* TLVs.
// A malformed UDH is an error; the message is then best kept whole.
func UserData(esmClass uint8, payload []byte, tlvs TLVs) ([]byte, Concat, bool, error) {
	if esmClass&ESMClassUDHI != 0 {
		h, data, err := coding.ParseUDH(payload)
		if err != nil {
			return payload, Concat{}, false, err
		}
		ref, total, seq, ok := h.Concat()
		if ok {
			_, wide := h.Lookup(coding.IEIConcat16)
			return data, Concat{Ref: ref, Total: total, Seq: seq, Wide: wide}, total > 1, nil
		}
		return data, Concat{}, false, nil
	}
	ref, ok1 := tlvs.SARMsgRefNum()
	total, ok2 := tlvs.SARTotalSegments()
	seq, ok3 := tlvs.SARSegmentSeqnum()
	if ok1 && ok2 && ok3 && total > 1 && seq >= 1 && seq <= total {
		return payload, Concat{Ref: ref, Total: total, Seq: seq, Wide: true}, true, nil
	}
	return payload, Concat{}, false, nil
}
