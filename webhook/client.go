package webhook

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// poster makes the deliveries' requests: HTTP/1.1 over kept-alive
// connections (TLS for https), each request written with one write and its
// answer read by the goroutine that sends it. net/http's Transport hands
// every request to a write loop and its answer back from a read loop, one
// goroutine pair per connection, with channels between them and the
// caller: two goroutine switches more a request. BenchmarkPost, sender and
// receiver in one process: 35 against 50 µs of CPU a request. Answers are read with net/http's own wire code
// (http.ReadResponse); no proxy is used (it would dial for
// us, past the guard), redirects are not followed, answers are not
// compressed (no Accept-Encoding is sent) and https is HTTP/1.1 only.
//
// A poster is safe for concurrent use; each request holds a connection of
// its own, so an endpoint has as many open as it has requests in flight.
type poster struct {
	dialer  net.Dialer
	timeout time.Duration
	maxIdle int         // idle connections kept per destination
	tls     *tls.Config // base TLS configuration (nil: the system's roots)

	mu   sync.Mutex
	idle map[string][]*pconn // by dest.key, the most recently used last
}

// idleTimeout closes a connection left idle this long (closeIdle).
const idleTimeout = 90 * time.Second

func newPoster(g *Guard, timeout time.Duration, maxIdle int) *poster {
	return &poster{
		dialer:  net.Dialer{KeepAlive: 30 * time.Second, Control: g.Control},
		timeout: timeout, maxIdle: maxIdle, idle: map[string][]*pconn{},
	}
}

// dest is where an endpoint's requests go, parsed once from its URL.
type dest struct {
	key        string // scheme, host and port: the idle connections' pool
	addr       string // host:port to dial
	serverName string // TLS server name; "" for http
	head       []byte // request line and the headers every request has
	err        error  // the URL cannot be requested
}

func newDest(raw string) *dest {
	u, err := url.Parse(raw)
	if err != nil {
		return &dest{err: fmt.Errorf("webhook: bad URL: %w", err)}
	}
	port := u.Port()
	d := &dest{}
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		d.serverName = u.Hostname()
	default:
		return &dest{err: fmt.Errorf("webhook: unsupported URL scheme %q", u.Scheme)}
	}
	uri := u.RequestURI()
	if u.Hostname() == "" || !headerSafe(u.Host) || !headerSafe(uri) {
		return &dest{err: errors.New("webhook: URL cannot be requested")}
	}
	d.addr = net.JoinHostPort(u.Hostname(), port)
	d.key = u.Scheme + "://" + d.addr
	d.head = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Switchboard-Webhooks/1\r\nContent-Type: application/json\r\n", uri, u.Host)
	return d
}

// headerSafe reports whether s can go into a request line or header as
// it is: no controls, spaces or non-ASCII bytes.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// pconn is a connection to a destination.
type pconn struct {
	nc     net.Conn
	cr     countingReader
	br     *bufio.Reader
	buf    []byte    // the request being written
	idleAt time.Time // when it went idle
	reused bool      // it served a request before this one
}

// countingReader counts what was read from a connection, so that a reused
// connection the receiver closed while it was idle (nothing read since
// the request was written) can be told from one that answered.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// answer is what a request got back.
type answer struct {
	status     int
	retryAfter string
}

// post sends one event to d, signed by s at timestamp ts, within the
// poster's timeout (dial, request and answer body) or until ctx ends. The
// answer's body is read, up to maxDrain, and dropped. A request that a
// reused connection failed before any byte of an answer arrived (the
// receiver closed it while it was idle) is sent once more on a new one:
// at least once allows it, and net/http would have found such a
// connection closed before using it.
func (p *poster) post(ctx context.Context, d *dest, id string, ts int64, s *Signer, body []byte) (answer, error) {
	if d.err != nil {
		return answer{}, d.err
	}
	deadline := time.Now().Add(p.timeout)
	for try := 0; ; try++ {
		c, err := p.get(ctx, d, deadline)
		if err != nil {
			return answer{}, err
		}
		a, keep, err := p.roundTrip(ctx, c, d, id, ts, s, body, deadline)
		if keep {
			p.put(d.key, c)
		} else {
			c.nc.Close()
		}
		if err != nil && try == 0 && c.reused && c.cr.n == 0 && ctx.Err() == nil && isReset(err) {
			continue
		}
		return a, err
	}
}

// roundTrip writes the request on c and reads its answer. keep reports
// whether c can serve another request.
func (p *poster) roundTrip(ctx context.Context, c *pconn, d *dest, id string, ts int64, s *Signer, body []byte, deadline time.Time) (a answer, keep bool, err error) {
	c.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	defer func() {
		if !stop() {
			keep = false // ctx ended: the deadline is in the past
			if err != nil {
				err = ctx.Err()
			}
		}
	}()
	b := append(c.buf[:0], d.head...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"+HeaderID+": "...)
	b = append(b, id...)
	b = append(b, "\r\n"+HeaderTimestamp+": "...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, "\r\n"+HeaderSignature+": "...)
	b = s.AppendSignature(b, id, ts, body)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.buf = b
	if cap(c.buf) > 64<<10 {
		c.buf = nil // not kept for the next request
	}
	c.cr.n = 0
	if _, err := c.nc.Write(b); err != nil {
		return a, false, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	// 1xx answers (103 Early Hints, a 100 Continue not asked for) come
	// before the answer.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, nil)
	}
	if err != nil {
		return a, false, err
	}
	a = answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	// Drained up to maxDrain so the connection can be reused; a longer
	// body, or one that fails, closes it (the answer stands).
	_, derr := io.CopyN(io.Discard, resp.Body, maxDrain+1)
	if derr != io.EOF {
		return a, false, nil
	}
	resp.Body.Close()
	return a, !resp.Close && a.status != http.StatusSwitchingProtocols, nil
}

// aLongTimeAgo is a deadline in the past: it interrupts a connection's
// reads and writes at once.
var aLongTimeAgo = time.Unix(1, 0)

// get returns an idle connection to d, or dials one (every dial checked by
// the guard).
func (p *poster) get(ctx context.Context, d *dest, deadline time.Time) (*pconn, error) {
	now := time.Now()
	p.mu.Lock()
	for conns := p.idle[d.key]; len(conns) > 0; conns = p.idle[d.key] {
		c := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		p.idle[d.key] = conns[:len(conns)-1]
		if now.Sub(c.idleAt) < idleTimeout {
			p.mu.Unlock()
			c.reused = true
			return c, nil
		}
		c.nc.Close()
	}
	p.mu.Unlock()
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := p.dialer.DialContext(dctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	if d.serverName != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if p.tls != nil {
			cfg = p.tls.Clone()
		}
		cfg.ServerName, cfg.NextProtos = d.serverName, []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &pconn{nc: nc}
	c.cr.r = nc
	c.br = bufio.NewReaderSize(&c.cr, 4<<10)
	return c, nil
}

// put keeps c idle for the next request to its destination, or closes it
// when maxIdle are idle already.
func (p *poster) put(key string, c *pconn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	if conns := p.idle[key]; len(conns) < p.maxIdle {
		p.idle[key] = append(conns, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// closeIdle closes the connections idle for longer than d (0: all).
func (p *poster) closeIdle(d time.Duration) {
	now := time.Now()
	var closing []*pconn
	p.mu.Lock()
	for key, conns := range p.idle {
		kept := conns[:0]
		for _, c := range conns {
			if now.Sub(c.idleAt) >= d {
				closing = append(closing, c)
			} else {
				kept = append(kept, c)
			}
		}
		clear(conns[len(kept):])
		if len(kept) == 0 {
			delete(p.idle, key)
		} else {
			p.idle[key] = kept
		}
	}
	p.mu.Unlock()
	for _, c := range closing {
		c.nc.Close()
	}
}

// isReset reports whether err is a connection the peer reset or closed.
func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
