package smpptest

import (
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
)

// Receipt keeps what a delivery receipt needs from its submit_sm, in
// fixed-size fields so that an Item holding one allocates nothing.
// Addresses of submit_sm are at most 20 characters; the text keeps the
// first 20 octets. Fill sets it.
type Receipt struct {
	// Delay is the time from the submit_sm_resp to the receipt, or with
	// FlagReceiptFirst from the receipt to the response.
	Delay int64

	submitted      int64 // wall clock, Unix nanoseconds
	state          smpp.MessageState
	err            uint16
	netErr         bool
	srcTON, srcNPI uint8
	dstTON, dstNPI uint8
	srcLen, dstLen uint8
	textLen        uint8
	src, dst, text [20]byte
}

// Fill sets r from an accepted submit_sm p (valid only during the call),
// submitted at Unix nanoseconds submitted, whose final state is state. err
// is the text's "err:" code; with networkError a receipt of a state other
// than DELIVERED also carries it in a network_error_code TLV (GSM). Delay
// is left as it is.
func (r *Receipt) Fill(p *smpp.SubmitSM, submitted int64, state smpp.MessageState, err uint16, networkError bool) {
	r.submitted, r.state, r.err, r.netErr = submitted, state, err, networkError
	r.srcTON, r.srcNPI = p.Source.TON, p.Source.NPI
	r.dstTON, r.dstNPI = p.Dest.TON, p.Dest.NPI
	r.srcLen = uint8(copy(r.src[:], p.Source.Addr))
	r.dstLen = uint8(copy(r.dst[:], p.Dest.Addr))
	r.textLen = 0
	// Text only for the GSM default alphabet, IA5 and Latin-1 without a
	// UDH; other codings would make the receipt's text undecodable.
	if p.ESMClass&smpp.ESMClassUDHI == 0 && (p.DataCoding == 0 || p.DataCoding == 1 || p.DataCoding == 3) {
		n := copy(r.text[:], p.ShortMessage)
		// Do not cut a GSM escape pair in half.
		if n > 0 && p.DataCoding == 0 && r.text[n-1] == 0x1B {
			n--
		}
		r.textLen = uint8(n)
	}
}

// State returns the message's final state, as the receipt reports it.
func (r *Receipt) State() smpp.MessageState { return r.state }

// StatusLost is the status a Delivery's waiter gets for a part whose
// connection closed before its deliver_sm_resp, or that could not be sent.
const StatusLost = smpp.Status(0xFFFFFFFF)

// Delivery is a mobile-originated message, whole or in parts, waiting to be
// sent on a receiver or transceiver (ItemDeliver). Its PDUs own their bytes.
type Delivery struct {
	Parts []smpp.DeliverSM
	// Statuses, when not nil, receives each part's deliver_sm_resp status
	// (StatusLost when it has none); it must have room for every part.
	Statuses chan smpp.Status
}

// Finish reports n parts' outcome st to the waiter, if any. A nil
// Delivery does nothing.
func (d *Delivery) Finish(st smpp.Status, n int) {
	if d == nil || d.Statuses == nil {
		return
	}
	for range n {
		select {
		case d.Statuses <- st:
		default:
		}
	}
}

// dateCache keeps the last receipt date written: YYMMDDhhmm changes once a
// minute, and formatting a time is dearer than the rest of a receipt.
type dateCache struct {
	minute int64 // Unix minutes of buf; 0: empty
	buf    [10]byte
}

func (d *dateCache) append(dst []byte, unixNano int64) []byte {
	m := unixNano / int64(time.Minute)
	if m != d.minute || d.minute == 0 {
		time.Unix(0, unixNano).UTC().AppendFormat(d.buf[:0], "0601021504")
		d.minute = m
	}
	return append(dst, d.buf[:]...)
}

// receiptWriter encodes receipts; a Conn's, used with its lock held.
type receiptWriter struct {
	pdu        smpp.DeliverSM
	idBuf      []byte
	textBuf    []byte
	tlvBuf     []byte
	srcBuf     []byte
	dstBuf     []byte
	one        [1]byte
	submitDate dateCache
	doneDate   dateCache
}

// encode appends the receipt rc of the message whose id appendID writes,
// done at Unix nanoseconds done, with sequence number seq: from the
// handset (the message's destination) to the ESME (its source), with
// receipted_message_id and message_state TLVs and the de-facto text of
// SMPP 3.4 Appendix B.
func (w *receiptWriter) encode(dst []byte, rc *Receipt, id []byte, done int64, seq uint32) ([]byte, error) {
	w.srcBuf = append(w.srcBuf[:0], rc.dst[:rc.dstLen]...)
	w.dstBuf = append(w.dstBuf[:0], rc.src[:rc.srcLen]...)
	w.idBuf = append(append(w.idBuf[:0], id...), 0)
	w.textBuf = w.appendText(w.textBuf[:0], id, rc, done)
	w.one[0] = uint8(rc.state)
	w.tlvBuf = smpp.AppendTLV(w.tlvBuf[:0], smpp.TagReceiptedMessageID, w.idBuf)
	w.tlvBuf = smpp.AppendTLV(w.tlvBuf, smpp.TagMessageState, w.one[:])
	if rc.netErr && rc.state != smpp.StateDelivered && rc.err != 0 {
		// network_error_code: GSM (3) and the err code.
		w.tlvBuf = smpp.AppendTLV(w.tlvBuf, smpp.TagNetworkErrorCode, []byte{3, byte(rc.err >> 8), byte(rc.err)})
	}
	w.pdu = smpp.DeliverSM{
		Source:       smpp.Address{TON: rc.dstTON, NPI: rc.dstNPI, Addr: w.srcBuf},
		Dest:         smpp.Address{TON: rc.srcTON, NPI: rc.srcNPI, Addr: w.dstBuf},
		ESMClass:     smpp.ESMClassDeliveryReceipt,
		ShortMessage: w.textBuf,
		TLVs:         w.tlvBuf,
	}
	return smpp.AppendPDU(dst, &w.pdu, smpp.StatusOK, seq)
}

// appendText appends the receipt text "id:… sub:001 dlvrd:… submit
// date:YYMMDDhhmm done date:YYMMDDhhmm stat:… err:… text:…".
func (w *receiptWriter) appendText(dst, id []byte, rc *Receipt, done int64) []byte {
	dst = append(dst, "id:"...)
	dst = append(dst, id...)
	if rc.state == smpp.StateDelivered {
		dst = append(dst, " sub:001 dlvrd:001 submit date:"...)
	} else {
		dst = append(dst, " sub:001 dlvrd:000 submit date:"...)
	}
	dst = w.submitDate.append(dst, rc.submitted)
	dst = append(dst, " done date:"...)
	dst = w.doneDate.append(dst, done)
	dst = append(dst, " stat:"...)
	dst = append(dst, rc.state.Stat()...)
	e := rc.err
	dst = append(dst, " err:"...)
	dst = append(dst, byte('0'+e/100%10), byte('0'+e/10%10), byte('0'+e%10))
	dst = append(dst, " text:"...)
	return append(dst, rc.text[:rc.textLen]...)
}
