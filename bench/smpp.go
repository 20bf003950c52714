package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// What the bench binds to the simulators it starts with, and where its
// submits go there.
const (
	simSystemID = "bench"
	simPassword = "bench"
	simDest     = "+447911100001"
)

// link is where window and advise bind: a real SMSC or a simulator
// started for the run.
type link struct {
	addr               string
	systemID, password string
	systemType         string
	tls                *tls.Config
	sim                *smscsim.Sim // nil for a real SMSC
}

func (l *link) close() {
	if l.sim != nil {
		l.sim.Close()
	}
}

// targetLink is the real SMSC of a scenario.
func targetLink(t Target) *link {
	l := &link{addr: t.Addr, systemID: t.SystemID, password: t.Password, systemType: t.SystemType}
	if t.TLS {
		l.tls = &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user asked for it
	}
	return l
}

// startSimLink starts an in-process simulator with one account.
func startSimLink(seed uint64, acct smscsim.AccountConfig) (*link, error) {
	acct.SystemID, acct.Password = simSystemID, simPassword
	acct.Receipts.Disabled = true
	sim, err := smscsim.Start(smscsim.Config{
		Seed:      seed,
		Listeners: []smscsim.ListenerConfig{{Addr: "127.0.0.1:0"}},
		Accounts:  []smscsim.AccountConfig{acct},
	})
	if err != nil {
		return nil, fmt.Errorf("starting the simulator: %w", err)
	}
	return &link{addr: sim.Addr(""), systemID: simSystemID, password: simPassword, sim: sim}, nil
}

// bind opens n transmitter sessions with a window each and waits until all
// are bound. Transmitters, so a real SMSC sends no MO or receipts our way.
func (l *link) bind(ctx context.Context, n, window int, responseTimeout time.Duration) ([]*smpp.Session, error) {
	var ss []*smpp.Session
	for i := 0; i < n; i++ {
		s, err := smpp.NewSession(smpp.SessionConfig{
			Addr: l.addr, TLS: l.tls, Type: smpp.BindTransmitter,
			SystemID: l.systemID, Password: l.password, SystemType: l.systemType,
			Window: window, ResponseTimeout: responseTimeout,
			ReconnectMin: 200 * time.Millisecond, ReconnectMax: 2 * time.Second,
		})
		if err != nil {
			closeSessions(ss)
			return nil, err
		}
		ss = append(ss, s)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for _, s := range ss {
		if err := s.WaitBound(wctx); err != nil || !s.Bound() {
			closeSessions(ss)
			if err == nil {
				err = s.Err()
			}
			return nil, fmt.Errorf("binding to %s as %q: %v (state %s)", l.addr, l.systemID, err, s.State())
		}
	}
	return ss, nil
}

// closeSessions unbinds every session (waiting up to 10 s for in-flight
// responses and unbind_resp) and returns the first error.
func closeSessions(ss []*smpp.Session) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Close(ctx); err != nil && !errors.Is(err, smpp.ErrClosed) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// address turns "+14155550100" into an international E.164 address, and
// anything else into an unknown-type address as written.
func address(s string) smpp.Address {
	if d, ok := strings.CutPrefix(s, "+"); ok {
		return smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIE164, Addr: []byte(d)}
	}
	return smpp.Address{Addr: []byte(s)}
}

// probeMessage is the submit_sm window and advise send: GSM text, no
// receipt asked for.
func probeMessage(src, dst, text string) *smpp.SubmitSM {
	return &smpp.SubmitSM{Source: address(src), Dest: address(dst), ShortMessage: []byte(text)}
}

// errName names a submit error for the error counts: the SMPP status name,
// "timeout", "link lost", or the error.
func errName(err error) string {
	if st, ok := smpp.StatusOf(err); ok {
		return st.String()
	}
	switch {
	case errors.Is(err, smpp.ErrResponseTimeout):
		return "timeout"
	case errors.Is(err, smpp.ErrNotBound), errors.Is(err, smpp.ErrUnbound):
		return "link lost"
	case errors.Is(err, smpp.ErrClosed):
		return "closed"
	}
	return err.Error()
}

// counts is a concurrency-safe tally by name.
type counts struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counts) add(name string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[name]++
	c.mu.Unlock()
}

func (c *counts) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

func (c *counts) total() int64 {
	var n int64
	for _, v := range c.snapshot() {
		n += v
	}
	return n
}

func formatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
