package smpp

import (
	"bytes"
	"errors"
	"time"
)

// Receipt is the text of a delivery receipt, as SMPP 3.4 Appendix B sketches
// it and carriers write it: `id:IIIIIIIIII sub:SSS dlvrd:DDD submit
// date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...`. The
// format is vendor-specific, so parsing is lenient: keys in any case and
// order, any of them missing, dates of 10, 12 or 14 digits. Byte fields are
// views of the parsed text.
type Receipt struct {
	ID         []byte
	Sub, Dlvrd []byte
	SubmitDate []byte // as written; see ParseReceiptDate
	DoneDate   []byte
	Stat       []byte // e.g. DELIVRD
	Err        []byte
	Text       []byte // the first characters of the message, when present
}

// ErrNotReceipt says a text carries neither an id: nor a stat: field.
var ErrNotReceipt = errors.New("smpp: not a delivery receipt text")

var receiptKeys = [...]string{"id:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:", "text:"}

// ParseReceipt parses a receipt text. It never fails on a receipt that has
// an id: or a stat: field; other fields are left empty when absent.
func ParseReceipt(b []byte) (Receipt, error) {
	var r Receipt
	fields := [...]*[]byte{&r.ID, &r.Sub, &r.Dlvrd, &r.SubmitDate, &r.DoneDate, &r.Stat, &r.Err, &r.Text}
	for i := 0; i < len(b); {
		// Skip spaces between fields.
		for i < len(b) && b[i] == ' ' {
			i++
		}
		k := matchKey(b[i:])
		if k < 0 {
			// Not a key: skip this word.
			for i < len(b) && b[i] != ' ' {
				i++
			}
			continue
		}
		i += len(receiptKeys[k])
		if receiptKeys[k] == "text:" {
			*fields[k] = b[i:len(b):len(b)] // the rest, spaces included
			break
		}
		j := i
		for j < len(b) && b[j] != ' ' {
			j++
		}
		*fields[k] = b[i:j:j]
		i = j
	}
	if r.ID == nil && r.Stat == nil {
		return r, ErrNotReceipt
	}
	return r, nil
}

func matchKey(b []byte) int {
	for k, key := range receiptKeys {
		if len(b) >= len(key) && bytes.EqualFold(b[:len(key)], []byte(key)) {
			return k
		}
	}
	return -1
}

// State maps the receipt's stat word to a message state. Besides SMPP 3.4's
// seven-letter words it accepts the long forms some SMSCs write (DELIVERED,
// UNDELIVERABLE, REJECTED) and Kannel's intermediate ones (ACKED, BUFFRED,
// BUFFERD, ENROUTE → ENROUTE). ok is false for an unknown word.
func (r Receipt) State() (MessageState, bool) {
	switch string(bytes.ToUpper(r.Stat)) {
	case "DELIVRD", "DELIVERED":
		return StateDelivered, true
	case "EXPIRED":
		return StateExpired, true
	case "DELETED":
		return StateDeleted, true
	case "UNDELIV", "UNDELIVERABLE":
		return StateUndeliverable, true
	case "ACCEPTD", "ACCEPTED":
		return StateAccepted, true
	case "UNKNOWN":
		return StateUnknown, true
	case "REJECTD", "REJECTED":
		return StateRejected, true
	case "ENROUTE", "ACKED", "BUFFRED", "BUFFERD":
		return StateEnroute, true
	}
	return StateUnknown, false
}

// ParseReceiptDate parses a receipt date of 10 (YYMMDDhhmm), 12
// (YYMMDDhhmmss) or 14 (YYYYMMDDhhmmss) digits as UTC. Two-digit years pivot
// at 38 as SMPP 3.4 Appendix C recommends: 38–99 are 19xx, 00–37 20xx.
func ParseReceiptDate(b []byte) (time.Time, error) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return time.Time{}, errors.New("smpp: receipt date: not all digits")
		}
	}
	n := func(i, w int) int {
		v := 0
		for _, c := range b[i : i+w] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	var y, off int
	switch len(b) {
	case 10, 12:
		y = n(0, 2)
		if y >= 38 {
			y += 1900
		} else {
			y += 2000
		}
		off = 2
	case 14:
		y = n(0, 4)
		off = 4
	default:
		return time.Time{}, errors.New("smpp: receipt date: want 10, 12 or 14 digits")
	}
	mo, d, h, mi := n(off, 2), n(off+2, 2), n(off+4, 2), n(off+6, 2)
	s := 0
	if len(b) > 10 {
		s = n(off+8, 2)
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, errors.New("smpp: receipt date: field out of range")
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC), nil
}

// AppendReceiptText appends a receipt text in the usual form, with 10-digit
// dates and text cut to 20 octets.
func AppendReceiptText(dst []byte, id string, st MessageState, errCode int, submit, done time.Time, text []byte) []byte {
	dst = append(dst, "id:"...)
	dst = append(dst, id...)
	dst = append(dst, " sub:001 dlvrd:"...)
	if st == StateDelivered {
		dst = append(dst, "001"...)
	} else {
		dst = append(dst, "000"...)
	}
	dst = append(dst, " submit date:"...)
	dst = submit.UTC().AppendFormat(dst, "0601021504")
	dst = append(dst, " done date:"...)
	dst = done.UTC().AppendFormat(dst, "0601021504")
	dst = append(dst, " stat:"...)
	dst = append(dst, st.Stat()...)
	dst = append(dst, " err:"...)
	dst = append(dst, byte('0'+errCode/100%10), byte('0'+errCode/10%10), byte('0'+errCode%10))
	dst = append(dst, " text:"...)
	if len(text) > 20 {
		text = text[:20]
	}
	return append(dst, text...)
}
