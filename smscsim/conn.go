package smscsim

import (
	"math/rand/v2"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/smpptest"
)

// receiptRetry is how long a carrier waits before it sends again a receipt
// or an MO part the ESME did not acknowledge (the connection closed first)
// or answered with a temporary error: real SMSCs keep a message until it is
// acknowledged.
const receiptRetry = 500 * time.Millisecond

// conn is the simulator's smpptest.ConnHandler: one ESME connection (read,
// windowed and written by the embedded smpptest.Conn) as its account
// configures it. This file holds the bind's life; submit.go what a
// submit_sm meets.
//
// Lock order: the Conn's lock, then account.bmu, account.mu, account.smu,
// and the log's lock; never two conns' locks at once.
type conn struct {
	*smpptest.Conn
	sim *Sim
	ln  *listener
	// acct is set once, by Bind on the reader goroutine before the Conn
	// leaves the open state (nil again if Bound refuses it).
	acct *account

	// Reader goroutine only.
	rng         *rand.Rand
	logBuf      []byte
	textScratch []byte
}

var _ smpptest.ConnHandler = (*conn)(nil)

func (s *Sim) newConn(l *listener, c *smpptest.Conn) smpptest.ConnHandler {
	return &conn{Conn: c, sim: s, ln: l, rng: rand.New(rand.NewPCG(s.seed, uint64(c.ID())))}
}

// Bind checks the credentials against the accounts this listener serves
// and the bind types the account allows.
func (c *conn) Bind(b *smpp.Bind) smpp.Status {
	a := c.sim.byID[string(b.SystemID)]
	switch {
	case a == nil || (c.ln.allowed != nil && !c.ln.allowed[a.id]):
		return smpp.StatusINVSYSID
	case a.pw != string(b.Password):
		return smpp.StatusINVPASWD
	case !a.allow[b.Type]:
		return smpp.StatusBINDFAIL
	}
	c.acct = a
	return smpp.StatusOK
}

// Bound registers the bind with its account (refused past max_binds),
// applies the account's window and faults, and takes the backlog of
// receipts and MO messages when it receives.
func (c *conn) Bound(*smpp.Bind) bool {
	a := c.acct
	ok, backlog := a.register(c)
	if !ok {
		c.acct = nil
		return false
	}
	c.SetWindow(a.window)
	c.SetPeak(&a.st.maxOutstanding, false)
	c.SetFaultsLocked(smpptest.Faults{DropAfterPDUs: a.dropAfter, DropEvery: a.dropEvery, MuteEvery: a.muteEvery, MuteFor: a.muteFor})
	for _, it := range backlog {
		c.PushLocked(it)
	}
	a.st.binds.Add(1)
	return true
}

// BindRefused counts a refusal on the account it names, or on the
// simulator when no account is known (undecodable, unknown system_id or
// not served on this listener).
func (c *conn) BindRefused(b *smpp.Bind, st smpp.Status) {
	if b != nil && st != smpp.StatusINVSYSID {
		if a := c.sim.byID[string(b.SystemID)]; a != nil {
			a.st.bindsRefused.Add(1)
			return
		}
	}
	c.sim.bindsRefused.Add(1)
}

// Unbinding takes the bind off its account's list.
func (c *conn) Unbinding() {
	if a := c.acct; a != nil {
		a.unregister(c)
	}
}

// Response counts the deliver_sm_resp to receipts and MO parts and sends
// again what the ESME asked for later (a temporary error); the answer to
// our unbind closes the connection.
func (c *conn) Response(h smpp.Header, p *smpptest.Pending) bool {
	a := c.acct
	if p == nil || a == nil {
		c.sim.unknownResps.Add(1)
		return false
	}
	switch p.Kind {
	case smpptest.PendReceipt:
		a.countResp(a.receiptResps, h.Status, false)
		if h.Status.Temporary() {
			// The ESME asks for it later (ESME_RX_T_APPN, ...): send again.
			a.st.receiptRetries.Add(1)
			a.deliver(smpptest.Item{Kind: smpptest.ItemReceipt, N: p.N, Receipt: p.Receipt, Due: c.sim.now() + int64(receiptRetry)})
		}
	case smpptest.PendMO:
		a.countResp(a.moResps, h.Status, false)
		p.Delivery.Finish(h.Status, 1)
		if h.Status.Temporary() {
			c.retryMO(a, p)
		}
	case smpptest.PendUnbind:
		return true
	}
	return false
}

// retryMO schedules one MO part again, on any receiver of the account. The
// retry has no waiter: InjectMO reports the first attempt's statuses.
func (c *conn) retryMO(a *account, p *smpptest.Pending) {
	a.st.moRetries.Add(1)
	part := &smpptest.Delivery{Parts: []smpp.DeliverSM{p.Delivery.Parts[p.Part]}}
	a.deliver(smpptest.Item{Kind: smpptest.ItemDeliver, Delivery: part, Due: c.sim.now() + int64(receiptRetry)})
}

// Divert hands receipts and MO messages the bind can no longer send (it is
// unbinding) to another receiver of the account, or its backlog.
func (c *conn) Divert(items []smpptest.Item) {
	if a := c.acct; a != nil {
		for _, it := range items {
			a.deliver(it)
		}
	}
}

// Closed takes the bind off its account's list and hands the receipts and
// MO messages it had not sent, or sent without an answer (counted "lost"),
// to the account's other binds or backlog.
func (c *conn) Closed(owed []smpptest.Item, pend []smpptest.Pending) {
	a := c.acct
	if a != nil {
		a.unregister(c)
	}
	for i := range pend {
		p := &pend[i]
		switch {
		case p.Kind == smpptest.PendMO && a != nil:
			a.countResp(a.moResps, 0, true)
			p.Delivery.Finish(smpptest.StatusLost, 1)
			c.retryMO(a, p)
		case p.Kind == smpptest.PendReceipt && a != nil:
			// Unacknowledged: it goes again, on another bind or later.
			a.countResp(a.receiptResps, 0, true)
			a.st.receiptRetries.Add(1)
			owed = append(owed, smpptest.Item{Kind: smpptest.ItemReceipt, N: p.N, Receipt: p.Receipt, Due: c.sim.now() + int64(receiptRetry)})
		}
	}
	for _, it := range owed {
		if a != nil {
			a.deliver(it)
		} else {
			it.Abandon()
		}
	}
}

// Fault counts the faults the Conn applied.
func (c *conn) Fault(f smpptest.Fault) {
	a := c.acct
	if a == nil {
		return
	}
	switch f {
	case smpptest.FaultDrop:
		a.st.drops.Add(1)
	case smpptest.FaultMutedRequest, smpptest.FaultMutedAnswer:
		a.st.mutedDrops.Add(1)
	}
}

// AppendMessageID writes message ids as the account's message_id says.
func (c *conn) AppendMessageID(dst []byte, n uint64) []byte { return c.acct.idFmt.Append(dst, n) }

// AppendReceiptID writes them as its receipt_id says.
func (c *conn) AppendReceiptID(dst []byte, n uint64) []byte { return c.acct.rcptFmt.Append(dst, n) }

func (c *conn) ReceiptSent(uint64, smpp.MessageState) { c.acct.st.receipts.Add(1) }

func (c *conn) DeliverySent(d *smpptest.Delivery) {
	c.acct.st.moMessages.Add(1)
	c.acct.st.moParts.Add(int64(len(d.Parts)))
}
