package smpp

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// decoder walks a PDU body. The first failure is kept in err and every later
// read returns zero values, so a Decode method reads all its fields and checks
// err once (the miekg/dns habit of failing forward).
type decoder struct {
	b   []byte
	off int
	cmd CommandID
	err *DecodeError
}

func (d *decoder) fail(field, reason string, st Status) {
	if d.err == nil {
		d.err = &DecodeError{Command: d.cmd, Field: field, Reason: reason, Status: st}
	}
	d.off = len(d.b)
}

func (d *decoder) u8(field string) uint8 {
	if d.off >= len(d.b) {
		d.fail(field, "body ends before the field", StatusINVMSGLEN)
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) u32(field string) uint32 {
	if len(d.b)-d.off < 4 {
		d.fail(field, "body ends before the field", StatusINVMSGLEN)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

// cstr reads a C-Octet String of at most max octets including its NUL and
// returns it without the NUL, as a view of the body (capacity clipped, so an
// append by the caller never writes into the body).
func (d *decoder) cstr(field string, max int, st Status) []byte {
	if d.off >= len(d.b) {
		d.fail(field, "body ends before the field", StatusINVMSGLEN)
		return nil
	}
	rest := d.b[d.off:]
	if len(rest) > max {
		rest = rest[:max]
	}
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		if len(d.b)-d.off < max {
			d.fail(field, "body ends before the field's NUL", StatusINVMSGLEN)
		} else {
			d.fail(field, "no NUL within "+itoa(max)+" octets", st)
		}
		return nil
	}
	s := rest[:i:i]
	d.off += i + 1
	if i == 0 {
		return nil
	}
	return s
}

// octets reads n octets as a view of the body.
func (d *decoder) octets(field string, n int) []byte {
	if len(d.b)-d.off < n {
		d.fail(field, "body ends before the field's "+itoa(n)+" octets", StatusINVMSGLEN)
		return nil
	}
	if n == 0 {
		return nil
	}
	s := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return s
}

// tlvs reads the rest of the body as the optional-parameter section, checking
// that every TLV's length fits.
func (d *decoder) tlvs() TLVs {
	if d.err != nil || d.off >= len(d.b) {
		return nil
	}
	t := TLVs(d.b[d.off:len(d.b):len(d.b)])
	if err := t.Validate(); err != nil {
		d.fail("optional parameters", err.Error(), StatusINVOPTPARSTREAM)
		return nil
	}
	d.off = len(d.b)
	return t
}

// end checks that nothing but TLVs, or nothing at all, follows.
func (d *decoder) done() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		d.fail("body", itoa(len(d.b)-d.off)+" octets after the last field", StatusINVCMDLEN)
		return d.err
	}
	return nil
}

func appendC(dst, s []byte) []byte {
	dst = append(dst, s...)
	return append(dst, 0)
}

// checkC reports an EncodeError when s cannot be a C-Octet String of at most
// max octets (NUL included).
func checkC(cmd CommandID, field string, s []byte, max int) error {
	if len(s) >= max {
		return &EncodeError{Command: cmd, Field: field, Reason: itoa(len(s)) + " octets, at most " + itoa(max-1) + " allowed"}
	}
	if bytes.IndexByte(s, 0) >= 0 {
		return &EncodeError{Command: cmd, Field: field, Reason: "contains a NUL octet"}
	}
	return nil
}

// checkTime checks a schedule_delivery_time or validity_period: empty, or 16
// characters (SMPP 3.4 §7.1.1).
func checkTime(cmd CommandID, field string, s []byte) error {
	if len(s) != 0 && len(s) != 16 {
		return &EncodeError{Command: cmd, Field: field, Reason: "must be empty or 16 characters (YYMMDDhhmmsstnnp)"}
	}
	return checkC(cmd, field, s, 17)
}

func itoa(n int) string { return strconv.Itoa(n) }
