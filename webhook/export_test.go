package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"time"
)

// TestPoster exposes the deliveries' client to the package's tests.
type TestPoster struct{ p *poster }

// NewTestPoster returns the client a Deliverer would use, trusting roots
// for https when set.
func NewTestPoster(g *Guard, timeout time.Duration, maxIdle int, roots *x509.CertPool) *TestPoster {
	p := newPoster(g, timeout, maxIdle)
	if roots != nil {
		p.tls = &tls.Config{RootCAs: roots}
	}
	return &TestPoster{p: p}
}

// Post sends body to url as the event id, signed with keys.
func (tp *TestPoster) Post(ctx context.Context, url, id string, keys []Key, body []byte) (status int, retryAfter string, err error) {
	a, err := tp.p.post(ctx, newDest(url), id, time.Now().Unix(), NewSigner(keys), body)
	return a.status, a.retryAfter, err
}

// Idle is how many connections are kept idle.
func (tp *TestPoster) Idle() int {
	tp.p.mu.Lock()
	defer tp.p.mu.Unlock()
	n := 0
	for _, conns := range tp.p.idle {
		n += len(conns)
	}
	return n
}

// CloseIdle closes the idle connections.
func (tp *TestPoster) CloseIdle() { tp.p.closeIdle(0) }
