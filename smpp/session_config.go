package smpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"
)

// Defaults of SessionConfig.
const (
	DefaultWindow              = 10 // SMPP 3.4 recommends at most 10 outstanding; carriers allow more
	DefaultResponseTimeout     = 30 * time.Second
	DefaultEnquireLinkInterval = 30 * time.Second
	DefaultMaxUnansweredLinks  = 3
	DefaultBindTimeout         = 10 * time.Second
	DefaultWriteTimeout        = 10 * time.Second
	DefaultReconnectMin        = 500 * time.Millisecond
	DefaultReconnectMax        = 60 * time.Second
	DefaultInboundWorkers      = 8
	// MaxWindow bounds Window so a typo cannot make the window unbounded.
	MaxWindow = 65535
)

// SessionConfig configures a Session: one logical bind to an SMSC that
// reconnects by itself. Its zero value is not usable (Addr and SystemID are
// required); every other field has a documented default, applied by
// NewSession. A SessionConfig is read only by NewSession: changing it later
// has no effect.
type SessionConfig struct {
	// Addr is the SMSC's host:port.
	Addr string
	// TLS, when set, wraps the connection in TLS. ServerName defaults to
	// Addr's host.
	TLS *tls.Config
	// Dial replaces net.Dialer.DialContext (tests, proxies).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Type is the bind operation: transceiver (the default), transmitter or
	// receiver. A transmitter + receiver pair is two Sessions (a Pool
	// submits on the transmitter only).
	Type             BindType
	SystemID         string // at most 15 characters
	Password         string // at most 8 characters; never logged
	SystemType       string // at most 12 characters
	AddressRange     string
	AddrTON, AddrNPI uint8

	// Window is the most requests outstanding (written, not yet answered)
	// on the bind; Submit waits for a free slot. Default DefaultWindow.
	Window int
	// ResponseTimeout fails a request that gets no response in time with an
	// *UnknownOutcomeError. Default DefaultResponseTimeout.
	ResponseTimeout time.Duration
	// EnquireLinkInterval: an enquire_link is sent when nothing has been
	// received for this long. Default DefaultEnquireLinkInterval.
	EnquireLinkInterval time.Duration
	// MaxUnansweredLinks: the connection is declared dead when this many
	// enquire_links in a row go unanswered. Default DefaultMaxUnansweredLinks.
	MaxUnansweredLinks int
	// BindTimeout bounds dialling (TLS included) plus the bind exchange.
	BindTimeout time.Duration
	// WriteTimeout bounds each write to the socket; a peer that stops
	// reading for longer is treated as a lost link.
	WriteTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// connection attempts (with jitter). Defaults 500 ms and 60 s.
	ReconnectMin, ReconnectMax time.Duration
	// MaxPDULength is the largest command_length accepted from the peer.
	// Default DefaultMaxPDULength.
	MaxPDULength uint32

	// Handler receives deliver_sm, data_sm and alert_notification. Nil
	// answers every deliver_sm and data_sm with ESME_RX_T_APPN, so the SMSC
	// keeps the message and retries it later.
	Handler Handler
	// InboundWorkers is how many handler calls may run at once per
	// connection. Inbound PDUs are spread over the workers by their pair of
	// source and destination addresses, so one sender's messages to one
	// number (a conversation, one message's receipts) are handled in the
	// order they came, and its messages to other numbers concurrently.
	// Default DefaultInboundWorkers.
	InboundWorkers int

	// OnStateChange, when set, is called on every state change, from the
	// session's own goroutine; it must not block.
	OnStateChange func(StateChange)
	// Logger receives, at debug level, the rare events worth a log line
	// that OnStateChange does not report: why a connection attempt failed
	// or a connection was lost, responses that match no request, inbound
	// PDUs that do not decode, a link declared dead. Each line carries the
	// field addr; never a password or a message body. Nil is silent
	// (zap.NewNop). Nothing is logged on the hot path of a healthy bind.
	Logger *zap.Logger
}

func (c *SessionConfig) setDefaults() error {
	if c.Addr == "" {
		return errors.New("smpp: SessionConfig.Addr is required")
	}
	if c.SystemID == "" {
		return errors.New("smpp: SessionConfig.SystemID is required")
	}
	b := Bind{SystemID: []byte(c.SystemID), Password: []byte(c.Password), SystemType: []byte(c.SystemType), AddressRange: []byte(c.AddressRange)}
	if _, err := b.AppendBody(nil); err != nil {
		return fmt.Errorf("smpp: SessionConfig: %w", err)
	}
	if c.Window < 0 || c.Window > MaxWindow {
		return fmt.Errorf("smpp: SessionConfig.Window %d: must be 1 to %d", c.Window, MaxWindow)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	def(&c.ResponseTimeout, DefaultResponseTimeout)
	def(&c.EnquireLinkInterval, DefaultEnquireLinkInterval)
	def(&c.BindTimeout, DefaultBindTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.ReconnectMin, DefaultReconnectMin)
	def(&c.ReconnectMax, DefaultReconnectMax)
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
	if c.MaxUnansweredLinks <= 0 {
		c.MaxUnansweredLinks = DefaultMaxUnansweredLinks
	}
	if c.MaxPDULength == 0 {
		c.MaxPDULength = DefaultMaxPDULength
	}
	if c.InboundWorkers <= 0 {
		c.InboundWorkers = DefaultInboundWorkers
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

// Handler handles what the SMSC sends on its own initiative. It is
// net/http-shaped: the session writes deliver_sm_resp / data_sm_resp with the
// status HandleInbound returns, only after it returns — which is what lets the
// layers above acknowledge a message only once it is committed.
//
// p is a *DeliverSM, *DataSM or *AlertNotification (whose status is ignored:
// it has no response). p and its byte fields are valid only until
// HandleInbound returns. Calls for different pairs of source and
// destination addresses run concurrently (see SessionConfig.InboundWorkers).
type Handler interface {
	HandleInbound(ctx context.Context, p SMSCPDU) Status
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, p SMSCPDU) Status

// HandleInbound calls f.
func (f HandlerFunc) HandleInbound(ctx context.Context, p SMSCPDU) Status { return f(ctx, p) }

// Tuning is the part of a session's configuration that may change while it
// is bound, without reconnecting (Session.Tune). Zero fields take their
// defaults, as in SessionConfig.
type Tuning struct {
	// Window: a larger window is in force at once; a smaller one takes
	// no new request until the outstanding ones have fallen below it
	// (nothing outstanding is failed or dropped).
	Window int
	// ResponseTimeout applies to the requests written from then on.
	ResponseTimeout time.Duration
	// EnquireLinkInterval is checked at the connection's timer tick, which
	// was set from the timers in force when it connected (at most 1 s).
	EnquireLinkInterval time.Duration
	// ReconnectMin and ReconnectMax apply from the next backoff on.
	ReconnectMin, ReconnectMax time.Duration
}

// sessionTimers are a session's tunable timers in force.
type sessionTimers struct {
	responseTimeout, enquireLinkInterval time.Duration
	reconnectMin, reconnectMax           time.Duration
}

// Tune applies t to the session while it runs (see Tuning). It fails, and
// changes nothing, when t.Window is out of range.
func (s *Session) Tune(t Tuning) error {
	if t.Window < 0 || t.Window > MaxWindow {
		return fmt.Errorf("smpp: Tuning.Window %d: must be 1 to %d", t.Window, MaxWindow)
	}
	if t.Window == 0 {
		t.Window = DefaultWindow
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ResponseTimeout, DefaultResponseTimeout)
	def(&t.EnquireLinkInterval, DefaultEnquireLinkInterval)
	def(&t.ReconnectMin, DefaultReconnectMin)
	def(&t.ReconnectMax, DefaultReconnectMax)
	t.ReconnectMax = max(t.ReconnectMax, t.ReconnectMin)
	s.timers.Store(&sessionTimers{responseTimeout: t.ResponseTimeout, enquireLinkInterval: t.EnquireLinkInterval,
		reconnectMin: t.ReconnectMin, reconnectMax: t.ReconnectMax})
	s.win.resize(t.Window)
	return nil
}
