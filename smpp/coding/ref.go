package coding

import (
	"hash/maphash"
	"sync/atomic"
)

// refSlots is the number of counters in a RefSource (a power of two).
const refSlots = 4096

// refSeed makes the slot and starting value of each destination differ
// between processes, so that references do not restart at the same values
// after a restart while earlier parts may still be in flight.
var refSeed = maphash.MakeSeed()

// RefSource hands out concatenation reference numbers that rotate per
// destination: successive calls for one destination return successive
// values, wrapping at 256 for UDH8 and at 65536 for UDH16 and SAR, so a
// handset sees a reference again only after that many long messages.
//
// Memory is fixed (16 KiB): destinations are hashed onto 4096 counters.
// Destinations that share a counter still get distinct successive values,
// but each then advances the other's sequence, so for them a reference can
// come back sooner, after 256 (or 65536) messages to the group.
//
// The zero value is ready to use and a RefSource is safe for concurrent use.
// It must not be copied after first use. Counters start at per-process
// random offsets and are not persisted.
type RefSource struct {
	slots [refSlots]atomic.Uint32
}

// Next returns the next reference for destination dest (any stable key,
// such as the E.164 number) and method m: 0..255 for UDH8, 0..65535 for
// UDH16 and SAR, and 0 for Payload, which has no reference.
func (r *RefSource) Next(dest string, m Method) uint16 {
	if m == Payload {
		return 0
	}
	h := maphash.String(refSeed, dest)
	v := uint32(h>>32) + r.slots[h&(refSlots-1)].Add(1)
	if m == UDH8 {
		return uint16(v & 0xFF)
	}
	return uint16(v)
}
