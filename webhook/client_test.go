package webhook_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/webhook"
	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

// countConns counts the connections srv accepts.
func countConns(srv *httptest.Server) *atomic.Int64 {
	var n atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func loopback(t *testing.T) *webhook.Guard {
	t.Helper()
	g, err := webhook.NewGuard([]string{"127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var testKey = []webhook.Key{webhook.Key("0123456789abcdef")}

// A delivery arrives as a receiver checks it: the Standard Webhooks
// headers, verified by the reference library, the body as sent, and the
// request's own headers.
func TestPostVerifies(t *testing.T) {
	t.Parallel()
	rcv, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	secret := "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" // base64 of testKey
	if err := rcv.SetSecrets(secret); err != nil {
		t.Fatal(err)
	}
	p := webhook.NewTestPoster(loopback(t), 2*time.Second, 4, nil)
	body := []byte(`{"id":"evt_1","type":"message.status","timestamp":"2026-01-01T00:00:00Z","data":{"id":"msg_1"}}`)
	status, _, err := p.Post(context.Background(), rcv.URL+"?q=1", "evt_1", testKey, body)
	if err != nil || status != 200 {
		t.Fatalf("status %d, %v", status, err)
	}
	if _, unverified, accepted := rcv.Stats(); unverified != 0 || accepted != 1 {
		t.Fatalf("unverified %d, accepted %d", unverified, accepted)
	}
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		got.Set("X-Host", r.Host)
		got.Set("X-URI", r.RequestURI)
		b, _ := io.ReadAll(r.Body)
		got.Set("X-Body", string(b))
	}))
	defer srv.Close()
	if _, _, err := p.Post(context.Background(), srv.URL+"/a/b?c=d", "evt_1", testKey, body); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "Switchboard-Webhooks/1",
		"Webhook-Id": "evt_1", "X-Host": strings.TrimPrefix(srv.URL, "http://"), "X-URI": "/a/b?c=d", "X-Body": string(body)} {
		if got.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, got.Get(k), want)
		}
	}
}

// Requests one after another share one connection; an answer whose body
// is drained is reused, one marked Connection: close or too long to drain
// is not.
func TestPostKeepsConnectionsAlive(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/close":
			w.Header().Set("Connection", "close")
		case "/chunked":
			w.Write([]byte("part one "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/long":
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		}
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	p := webhook.NewTestPoster(loopback(t), 2*time.Second, 4, nil)
	post := func(path string) {
		t.Helper()
		if status, _, err := p.Post(context.Background(), srv.URL+path, "evt_1", testKey, []byte("{}")); err != nil || status != 200 {
			t.Fatalf("%s: %d, %v", path, status, err)
		}
	}
	for range 20 {
		post("/")
		post("/chunked")
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("40 requests in turn opened %d connections, want 1", n)
	}
	post("/close")
	if p.Idle() != 0 {
		t.Fatal("a connection answered with Connection: close was kept")
	}
	post("/")
	post("/long")
	post("/")
	if n := conns.Load(); n != 3 {
		t.Fatalf("after a Connection: close and a long answer: %d connections, want 3", n)
	}
	if p.Idle() != 1 {
		t.Fatalf("%d idle, want 1", p.Idle())
	}
}

// A kept connection the receiver closed while it was idle is found closed
// when the next request uses it: that request goes once more on a new
// connection, and arrives once.
func TestPostAfterReceiverClosedIdle(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	p := webhook.NewTestPoster(loopback(t), 2*time.Second, 4, nil)
	for i := range 3 {
		if status, _, err := p.Post(context.Background(), srv.URL, "evt_1", testKey, []byte("{}")); err != nil || status != 200 {
			t.Fatalf("request %d: %d, %v", i, status, err)
		}
		srv.CloseClientConnections()
		time.Sleep(20 * time.Millisecond)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d requests arrived, want 3", hits.Load())
	}
}

// The timeout bounds dial, request and answer; a cancelled context stops a
// request at once.
func TestPostTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p := webhook.NewTestPoster(loopback(t), 200*time.Millisecond, 4, nil)
	start := time.Now()
	_, _, err := p.Post(context.Background(), srv.URL, "evt_1", testKey, []byte("{}"))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("no answer: %v, want a timeout", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("timed out after %v, want about 200ms", el)
	}
	p = webhook.NewTestPoster(loopback(t), time.Minute, 4, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, _, err := p.Post(ctx, srv.URL, "evt_1", testKey, []byte("{}")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("cancelled after %v", el)
	}
	if p.Idle() != 0 {
		t.Fatal("a cancelled request's connection was kept")
	}
}

// https: the receiver's certificate is checked against the roots, the
// connection kept alive; 1xx answers before the answer are skipped; the
// Retry-After header is read.
func TestPostHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</x>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	conns := countConns(srv)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	url := srv.URL // https://127.0.0.1:port, a name the test certificate has
	if _, _, err := webhook.NewTestPoster(loopback(t), 2*time.Second, 4, nil).Post(context.Background(), url, "evt_1", testKey, []byte("{}")); err == nil {
		t.Fatal("an unknown certificate was accepted")
	}
	p := webhook.NewTestPoster(loopback(t), 2*time.Second, 4, roots)
	for range 5 {
		status, ra, err := p.Post(context.Background(), url, "evt_1", testKey, []byte("{}"))
		if err != nil || status != 503 || ra != "7" {
			t.Fatalf("%d %q %v", status, ra, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the refused one and one kept alive)", n)
	}
}

// Requests in flight at once each hold a connection; afterwards at most
// maxIdle stay open.
func TestPostConcurrent(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	p := webhook.NewTestPoster(loopback(t), 2*time.Second, 4, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if status, _, err := p.Post(context.Background(), srv.URL, "evt_1", testKey, []byte("{}")); err != nil || status != 200 {
					t.Errorf("%d %v", status, err)
				}
			}
		})
	}
	wg.Wait()
	if most.Load() != 8 || conns.Load() > 8+4 {
		t.Fatalf("%d in flight at most, %d connections", most.Load(), conns.Load())
	}
	if p.Idle() != 4 {
		t.Fatalf("%d idle, want 4", p.Idle())
	}
	p.CloseIdle()
	if p.Idle() != 0 {
		t.Fatalf("%d idle after CloseIdle", p.Idle())
	}
}

// A URL that cannot be requested fails each delivery with an error, never a
// bad request on the wire.
func TestPostBadURL(t *testing.T) {
	t.Parallel()
	p := webhook.NewTestPoster(loopback(t), time.Second, 4, nil)
	for _, u := range []string{"ftp://127.0.0.1/", "http:///x", "http://127.0.0.1/a b", "::"} {
		if _, _, err := p.Post(context.Background(), u, "evt_1", testKey, []byte("{}")); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}
