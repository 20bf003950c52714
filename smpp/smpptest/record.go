package smpptest

import (
	"sync"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
)

// Received is a copy of a request the Server received: every request but
// enquire_link (counted in Stats instead), including binds, unbind and
// unknown commands (Header only). Message fields are set for submit_sm,
// data_sm (its payload stays in TLVs), submit_multi (Dest is its first SME
// destination) and, as far as they apply, query_sm, cancel_sm and
// replace_sm. SystemID is the bound system_id, or the one a bind asks for. A
// request that failed to decode has its Header only.
type Received struct {
	Conn                                     int // connection number, from 1 in accept order
	Header                                   smpp.Header
	SystemID                                 string
	Source, Dest                             string
	DataCoding, ESMClass, RegisteredDelivery uint8
	ShortMessage                             []byte
	TLVs                                     smpp.TLVs
	At                                       time.Time
}

// recorder keeps the first limit requests. Their octets go into append-only
// arenas and repeated addresses are interned, so recording a message
// allocates nothing in the steady state.
type recorder struct {
	on     bool
	mu     sync.Mutex
	limit  int
	list   []Received
	arena  []byte
	intern map[string]string
}

const (
	arenaSize   = 64 << 10
	internLimit = 4096
)

func (r *recorder) init(limit int, on bool) {
	r.limit, r.on = limit, on
	r.intern = make(map[string]string)
}

// add records a request; the byte slices are copied.
func (r *recorder) add(connID int, h smpp.Header, systemID string, src, dst []byte, dc, esm, rd uint8, sm []byte, tlvs smpp.TLVs) {
	if !r.on {
		return
	}
	at := time.Now()
	r.mu.Lock()
	if len(r.list) < r.limit {
		r.list = append(r.list, Received{
			Conn: connID, Header: h, SystemID: systemID,
			Source: r.str(src), Dest: r.str(dst),
			DataCoding: dc, ESMClass: esm, RegisteredDelivery: rd,
			ShortMessage: r.keep(sm), TLVs: r.keep(tlvs), At: at,
		})
	}
	r.mu.Unlock()
}

// keep copies b into the arena. Called with mu held.
func (r *recorder) keep(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if cap(r.arena)-len(r.arena) < len(b) {
		r.arena = make([]byte, 0, max(arenaSize, len(b)))
	}
	i := len(r.arena)
	r.arena = append(r.arena, b...)
	return r.arena[i:len(r.arena):len(r.arena)]
}

// str returns b as a string, interned. Called with mu held.
func (r *recorder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := r.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.intern) < internLimit {
		r.intern[s] = s
	}
	return s
}

// Received returns copies of the requests received so far, in arrival order
// (at most Config.RecordLimit; none with Config.NoRecord).
func (s *Server) Received() []Received {
	r := &s.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := range r.list {
		n += len(r.list[i].ShortMessage) + len(r.list[i].TLVs)
	}
	slab := make([]byte, 0, n)
	dup := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		i := len(slab)
		slab = append(slab, b...)
		return slab[i:len(slab):len(slab)]
	}
	out := make([]Received, len(r.list))
	for i, x := range r.list {
		x.ShortMessage = dup(x.ShortMessage)
		x.TLVs = dup(x.TLVs)
		out[i] = x
	}
	return out
}
