package smpp

import (
	"encoding/binary"
	"io"
)

// DefaultReadBufferSize is the Reader's buffer size unless told otherwise:
// room for a few hundred small PDUs per read system call.
const DefaultReadBufferSize = 64 * 1024

// Reader splits a byte stream into PDUs. It reads as much as the connection
// has into one buffer and hands out PDUs from it, so a burst of PDUs costs one
// read system call. It checks command_length against a maximum before it
// buffers a body, so a hostile length cannot make it allocate.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	rd      io.Reader
	buf     []byte
	r, w    int // buf[r:w] is buffered, not yet returned
	maxLen  uint32
	bufSize int
}

// NewReader returns a Reader over rd with a buffer of size octets (at least
// 4 KiB; 0 means DefaultReadBufferSize) and DefaultMaxPDULength as maximum.
func NewReader(rd io.Reader, size int) *Reader {
	if size == 0 {
		size = DefaultReadBufferSize
	}
	if size < 4096 {
		size = 4096
	}
	return &Reader{rd: rd, buf: make([]byte, size), maxLen: DefaultMaxPDULength, bufSize: size}
}

// SetMaxLength sets the largest command_length Next accepts (at least 16).
func (r *Reader) SetMaxLength(n uint32) {
	if n < HeaderLen {
		n = HeaderLen
	}
	r.maxLen = n
}

// Buffered returns how many octets are buffered and not yet returned: when
// it is zero after Next, the next call will read from the connection.
func (r *Reader) Buffered() int { return r.w - r.r }

// Next returns the next PDU's header and body. The body is a view of the
// Reader's buffer: it is valid only until the next call to Next.
//
// A command_length below 16 or above the maximum gives a *PDULengthError with
// the header parsed so far; the stream is out of sync after it. io.EOF means
// the connection ended between PDUs, io.ErrUnexpectedEOF inside one.
func (r *Reader) Next() (Header, []byte, error) {
	if err := r.fill(HeaderLen); err != nil {
		return Header{}, nil, err
	}
	b := r.buf[r.r:r.w]
	h := Header{
		Length:   binary.BigEndian.Uint32(b[0:4]),
		ID:       CommandID(binary.BigEndian.Uint32(b[4:8])),
		Status:   Status(binary.BigEndian.Uint32(b[8:12])),
		Sequence: binary.BigEndian.Uint32(b[12:16]),
	}
	if h.Length < HeaderLen {
		return h, nil, &PDULengthError{Length: h.Length}
	}
	if h.Length > r.maxLen {
		return h, nil, &PDULengthError{Length: h.Length, Max: r.maxLen}
	}
	n := int(h.Length)
	if err := r.fill(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	body := r.buf[r.r+HeaderLen : r.r+n : r.r+n]
	r.r += n
	return h, body, nil
}

// fill makes at least n octets available in buf[r:w], reading from the
// connection; it grows the buffer only for a PDU larger than it.
func (r *Reader) fill(n int) error {
	if r.w-r.r >= n {
		return nil
	}
	if r.r == r.w {
		r.r, r.w = 0, 0
		if len(r.buf) > r.bufSize {
			r.buf = make([]byte, r.bufSize) // give back a buffer grown for a big PDU
		}
	}
	if len(r.buf)-r.r < n {
		if n > len(r.buf) {
			nb := make([]byte, n)
			copy(nb, r.buf[r.r:r.w])
			r.buf = nb
		} else {
			copy(r.buf, r.buf[r.r:r.w])
		}
		r.w -= r.r
		r.r = 0
	}
	for r.w-r.r < n {
		m, err := r.rd.Read(r.buf[r.w:])
		r.w += m
		if err != nil {
			if r.w-r.r >= n {
				return nil
			}
			if err == io.EOF && r.w-r.r > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
