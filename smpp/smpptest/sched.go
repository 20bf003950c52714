package smpptest

import "github.com/switchboard-sms/switchboard/smpp"

// ItemKind says what an Item writes when it falls due.
type ItemKind uint8

// Item kinds.
const (
	// ItemResp is a submit_sm_resp (message_id from AppendMessageID when
	// Status is ESME_ROK, no body otherwise), with a receipt before or after
	// it when Flags has FlagReceipt.
	ItemResp ItemKind = iota + 1
	// ItemDataResp is a data_sm_resp with message number N.
	ItemDataResp
	// ItemMultiResp is a submit_multi_resp with message number N.
	ItemMultiResp
	// ItemReceipt is a delivery receipt for message N (Receipt).
	ItemReceipt
	// ItemDeliver is a mobile-originated message (Delivery), one deliver_sm
	// per part.
	ItemDeliver
	// ItemRaw is pre-encoded octets (Raw), written as they are.
	ItemRaw
	// ItemEnquireLink is the SMSC's own enquire_link, scheduled again each
	// time it is sent (CoreConfig.EnquireLinkEvery).
	ItemEnquireLink
	// ItemDrop is a fault: the connection closes abruptly when it falls due.
	ItemDrop
)

// Item flags.
const (
	// FlagReceipt: a receipt goes with the response (Receipt is set): after
	// it, Receipt.Delay later, or before it with FlagReceiptFirst.
	FlagReceipt uint8 = 1 << iota
	// FlagReceiptFirst: the receipt leaves when the item falls due and the
	// response Receipt.Delay after it (the race real SMSCs produce).
	FlagReceiptFirst
	// flagReceiptSent: FlagReceiptFirst's receipt already left.
	flagReceiptSent
)

// Item is an answer, a receipt, a deliver_sm or a fault waiting for its time
// in a Conn's timer heap (or for Core.Release, or in a fake's backlog). It is
// a value with fixed-size fields (but Raw and Delivery, which the rare
// requests that need them allocate), so scheduling one allocates nothing.
type Item struct {
	Due      int64 // Core.Now value at which it is written
	ord      uint64
	Kind     ItemKind
	Flags    uint8
	Seq      uint32      // the request's sequence number (responses)
	Status   smpp.Status // ItemResp
	N        uint64      // message number, for the ids
	Receipt  Receipt     // ItemReceipt, and ItemResp with FlagReceipt
	Delivery *Delivery   // ItemDeliver
	Raw      []byte      // ItemRaw
}

// Abandon tells a Delivery's waiter that the item will never be sent.
func (it *Item) Abandon() {
	if it.Kind == ItemDeliver {
		it.Delivery.Finish(StatusLost, len(it.Delivery.Parts))
	}
}

// owed returns the receipts and deliver_sm among items that the ESME is
// still owed when their connection closes: receipts, deliveries, and the
// receipts of accepted messages whose response is lost with the connection
// (they still come, Receipt.Delay after the response would have).
func owed(items []Item) []Item {
	var keep []Item
	for _, it := range items {
		switch {
		case it.Kind == ItemReceipt || it.Kind == ItemDeliver:
			keep = append(keep, it)
		case it.Kind == ItemResp && it.Flags&FlagReceipt != 0 && it.Flags&flagReceiptSent == 0:
			r := it
			r.Kind = ItemReceipt
			if r.Flags&FlagReceiptFirst == 0 {
				r.Due += r.Receipt.Delay
			}
			keep = append(keep, r)
		}
	}
	return keep
}

// sched is a min-heap of items by due time, then push order. Written by
// hand rather than with container/heap, whose interface boxes every pushed
// item.
type sched []Item

func less(a, b *Item) bool { return a.Due < b.Due || (a.Due == b.Due && a.ord < b.ord) }

// push adds an item and reports whether it is now the first due.
func (h *sched) push(it Item) (top bool) {
	*h = append(*h, it)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&q[i], &q[p]) {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
	return i == 0
}

func (h *sched) pop() Item {
	q := *h
	it := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = Item{}
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && less(&q[l], &q[m]) {
			m = l
		}
		if r < len(q) && less(&q[r], &q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[m], q[i] = q[i], q[m]
		i = m
	}
	*h = q
	return it
}
