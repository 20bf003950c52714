package smpptest

import (
	"errors"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-sms/switchboard/smpp"
)

// Queue answers it now (delay ≤ 0), after delay nanoseconds, or on Release
// while the Core holds (and until what it held is released). Reader
// goroutine: handlers call it from Submit and Other.
func (c *Conn) Queue(it *Item, delay int64) {
	c.mu.Lock()
	switch {
	case c.k.holding.Load() || len(c.held) > 0:
		c.held = append(c.held, *it)
	case delay <= 0:
		c.emit(it)
	default:
		it.Due = c.k.Now() + delay
		c.PushLocked(*it)
	}
	c.mu.Unlock()
}

// Schedule adds an item to the connection's heap, from any goroutine;
// false means the connection is closing and the caller keeps the item.
func (c *Conn) Schedule(it Item) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	top := c.PushLocked(it)
	c.mu.Unlock()
	if top {
		c.kick()
	}
	return true
}

// PushLocked adds an item to the heap (lock held: from Bound) and reports
// whether it is now the first due. Items due at the same time leave in the
// order they were pushed.
func (c *Conn) PushLocked(it Item) bool {
	c.ord++
	it.ord = c.ord
	return c.sched.push(it)
}

// release answers the held items. The holding flag is already off.
func (c *Conn) release() {
	c.mu.Lock()
	held := c.held
	c.held = nil
	for i := range held {
		c.emit(&held[i])
	}
	c.mu.Unlock()
	c.kick()
}

// emit writes an item into out. Called with mu held.
func (c *Conn) emit(it *Item) {
	switch it.Kind {
	case ItemResp:
		rcpt := it.Flags&FlagReceipt != 0
		if rcpt && it.Flags&FlagReceiptFirst != 0 && it.Flags&flagReceiptSent == 0 {
			c.emitReceipt(&it.Receipt, it.N)
			it.Flags |= flagReceiptSent
			if d := it.Receipt.Delay; d > 0 {
				it.Due = c.k.Now() + d
				c.PushLocked(*it)
				return
			}
		}
		if it.Status != smpp.StatusOK {
			c.out = smpp.AppendHeaderOnly(c.out, smpp.SubmitSMRespID, it.Status, it.Seq)
		} else {
			c.idBuf = c.h.AppendMessageID(c.idBuf[:0], it.N)
			c.submitResp.MessageID = c.idBuf
			c.out, _ = smpp.AppendPDU(c.out, &c.submitResp, smpp.StatusOK, it.Seq)
		}
		c.outSubmits++
		if rcpt && it.Flags&FlagReceiptFirst == 0 {
			if d := it.Receipt.Delay; d > 0 {
				r := *it
				r.Kind = ItemReceipt
				r.Due = c.k.Now() + d
				c.PushLocked(r)
			} else {
				c.emitReceipt(&it.Receipt, it.N)
			}
		}
	case ItemDataResp:
		c.idBuf = c.h.AppendMessageID(c.idBuf[:0], it.N)
		c.dataResp.MessageID = c.idBuf
		c.out, _ = smpp.AppendPDU(c.out, &c.dataResp, smpp.StatusOK, it.Seq)
	case ItemMultiResp:
		c.idBuf = c.h.AppendMessageID(c.idBuf[:0], it.N)
		c.multiResp.MessageID = c.idBuf
		c.out, _ = smpp.AppendPDU(c.out, &c.multiResp, smpp.StatusOK, it.Seq)
	case ItemReceipt:
		c.emitReceipt(&it.Receipt, it.N)
	case ItemDeliver:
		c.emitDeliver(it)
	case ItemRaw:
		c.out = append(c.out, it.Raw...)
	case ItemEnquireLink:
		if !c.IsBound() {
			return // unbinding or closed: stop
		}
		seq := c.nextSeq()
		c.pend[seq] = Pending{Kind: PendEnquire}
		c.out = smpp.AppendHeaderOnly(c.out, smpp.EnquireLinkID, smpp.StatusOK, seq)
		it.Due = c.k.Now() + int64(c.k.cfg.EnquireLinkEvery)
		c.PushLocked(*it)
	case ItemDrop:
		c.dropNow = true
	}
}

// emitReceipt writes a delivery receipt for message n, or diverts it when
// the connection no longer receives. Called with mu held.
func (c *Conn) emitReceipt(rc *Receipt, n uint64) {
	if !c.Receives() {
		c.divert = append(c.divert, Item{Kind: ItemReceipt, N: n, Receipt: *rc})
		return
	}
	c.idBuf = c.h.AppendReceiptID(c.idBuf[:0], n)
	seq := c.nextSeq()
	out, err := c.rw.encode(c.out, rc, c.idBuf, c.k.UnixNow(), seq)
	if err != nil {
		c.log.Error("receipt not sent", zap.Uint64("message", n), zap.Error(err))
		return
	}
	c.out = out
	c.pend[seq] = Pending{Kind: PendReceipt, N: n, Receipt: *rc}
	c.h.ReceiptSent(n, rc.state)
}

// emitDeliver writes the parts of a mobile-originated message, or diverts
// it when the connection no longer receives. Called with mu held.
func (c *Conn) emitDeliver(it *Item) {
	d := it.Delivery
	if !c.Receives() {
		c.divert = append(c.divert, *it)
		return
	}
	for i := range d.Parts {
		seq := c.nextSeq()
		out, err := smpp.AppendPDU(c.out, &d.Parts[i], smpp.StatusOK, seq)
		if err != nil {
			c.log.Error("deliver_sm part not sent", zap.Int("part", i+1), zap.Error(err))
			d.Finish(StatusLost, 1)
			continue
		}
		c.out = out
		c.pend[seq] = Pending{Kind: PendMO, Delivery: d, Part: i}
	}
	c.h.DeliverySent(d)
}

// writeLoop sends what was queued since its last write in one Write, and
// runs the items that fall due. It never writes with mu held.
func (c *Conn) writeLoop() {
	defer c.k.wg.Done()
	var spare []byte
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-c.wake:
		case <-t.C:
		case <-c.done:
			return
		}
		c.mu.Lock()
		next := int64(-1)
		if len(c.sched) > 0 {
			now := c.k.Now()
			c.runDue(now)
			if len(c.sched) > 0 {
				next = c.sched[0].Due - now
			}
		}
		buf := c.out
		c.out = spare[:0]
		nsub := c.outSubmits
		c.outSubmits = 0
		closeAfter, drop := c.closeAfterFlush, c.dropNow
		divert := c.divert
		c.divert = nil
		c.mu.Unlock()
		if drop {
			c.h.Fault(FaultDrop)
			c.log.Info("dropped (fault)")
			c.mu.Lock()
			c.divert = append(c.divert, divert...) // Close hands them on
			c.mu.Unlock()
			c.Close()
			return
		}
		if len(divert) > 0 {
			c.h.Divert(divert)
		}
		if next >= 0 {
			t.Reset(time.Duration(next))
		}
		// Count the responses answered before writing them: once the write
		// starts, the ESME may read them and send more, and a window it
		// respects must never look exceeded here.
		if nsub > 0 {
			c.written.Add(nsub)
		}
		if len(buf) > 0 {
			if _, err := c.nc.Write(buf); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					c.log.Warn("write", zap.Error(err))
				}
				c.Close()
				return
			}
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a buffer grown by a burst
		}
		spare = buf
		if closeAfter {
			// Half-close so the peer reads everything, then EOF; the reader
			// closes the connection when the peer has closed its side.
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				c.Close()
			}
			return
		}
	}
}

// runDue emits the items due by now. Called with mu held.
func (c *Conn) runDue(now int64) {
	muted := c.muted(now)
	for len(c.sched) > 0 && c.sched[0].Due <= now {
		it := c.sched.pop()
		if muted {
			switch it.Kind {
			case ItemResp:
				c.written.Add(1) // dropped: no longer outstanding
				c.h.Fault(FaultMutedAnswer)
				continue
			case ItemEnquireLink:
				it.Due = now + int64(c.k.cfg.EnquireLinkEvery)
				c.PushLocked(it)
				continue
			case ItemReceipt, ItemDeliver:
				if c.k.cfg.KeepWhileMuted {
					// A hung SMSC sends nothing: these leave when it
					// recovers.
					it.Due = c.muteEnd(now)
					c.PushLocked(it)
				}
				continue
			case ItemDataResp, ItemMultiResp, ItemRaw:
				continue
			}
		}
		c.emit(&it)
		if c.dropNow {
			return
		}
	}
}
