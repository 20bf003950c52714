package smpp_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/switchboard-sms/switchboard/smpp"
)

// FuzzDecode feeds arbitrary streams to the Reader and the Decoder. Neither
// may panic; every failure must be one of the documented error types; and a
// PDU that decodes and re-encodes must decode again to the same octets.
// Seeds are every sample PDU, real receipts and a few hostile headers; the
// corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for i, p := range samples() {
		b, err := smpp.AppendPDU(nil, p, 0, uint32(i+1))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(smpp.AppendHeaderOnly(nil, smpp.SubmitSMRespID, smpp.StatusTHROTTLED, 1))
	f.Add(smpp.AppendHeader(nil, smpp.Header{Length: 0xFFFFFFFF, ID: smpp.SubmitSMID}))
	f.Add(smpp.AppendHeader(nil, smpp.Header{Length: 3, ID: smpp.QuerySMID}))
	// query_sm carrying TLV octets: gosmpp v0.3.1 panics on this one.
	f.Add(append(smpp.AppendHeader(nil, smpp.Header{Length: 28, ID: smpp.QuerySMID, Sequence: 1}), 'a', 0, 1, 1, '1', 0, 0x02, 0x04, 0x00, 0x02, 0x00, 0x01))
	f.Fuzz(func(t *testing.T, stream []byte) {
		rd := smpp.NewReader(bytes.NewReader(stream), 4096)
		rd.SetMaxLength(8192)
		var dec smpp.Decoder
		for {
			h, body, err := rd.Next()
			if err != nil {
				var le *smpp.PDULengthError
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &le) {
					t.Fatalf("reader: unexpected error %T %v", err, err)
				}
				return
			}
			p, err := dec.Decode(h, body)
			if err != nil {
				var de *smpp.DecodeError
				var uc *smpp.UnknownCommandError
				if !errors.As(err, &de) && !errors.As(err, &uc) {
					t.Fatalf("decode: unexpected error %T %v", err, err)
				}
				if de != nil && de.Status == smpp.StatusOK {
					t.Fatalf("decode error without a status: %v", err)
				}
				continue
			}
			out, err := p.AppendBody(nil)
			if err != nil {
				continue // decoded but not re-encodable (e.g. a 7-character validity_period)
			}
			q, _ := smpp.New(h.ID)
			if err := q.Decode(out); err != nil {
				t.Fatalf("%v: re-encoded body does not decode: %v\n% x", h.ID, err, out)
			}
			again, err := q.AppendBody(nil)
			if err != nil || !bytes.Equal(out, again) {
				t.Fatalf("%v: not stable under re-encoding: %v\n% x\n% x", h.ID, err, out, again)
			}
		}
	})
}
