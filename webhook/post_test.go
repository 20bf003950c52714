package webhook

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers each request read from a connection with the bytes
// answer returns for it (the n-th request overall, from 1), then keeps
// the connection unless close says so. It counts connections and keeps
// the requests it read.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
	n     atomic.Int64

	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func startRaw(t *testing.T, answer func(n int64, r *http.Request) (raw string, close bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					b, _ := io.ReadAll(r.Body)
					s.mu.Lock()
					s.reqs = append(s.reqs, r)
					s.body = append(s.body, string(b))
					s.mu.Unlock()
					raw, closeIt := answer(s.n.Add(1), r)
					if _, err := io.WriteString(c, raw); err != nil || closeIt {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *rawServer) url(path string) string { return "http://" + s.ln.Addr().String() + path }

func loopbackPoster(t *testing.T, timeout time.Duration) *poster {
	t.Helper()
	g, err := NewGuard([]string{"127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	return newPoster(g, timeout, 4)
}

func mustDest(t *testing.T, raw string) *dest {
	t.Helper()
	d, err := parseDest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const ok200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// A delivery is a well-formed POST with the Standard Webhooks headers, and
// connections are kept alive between deliveries.
func TestPosterRequestAndKeepAlive(t *testing.T) {
	t.Parallel()
	s := startRaw(t, func(int64, *http.Request) (string, bool) { return ok200, false })
	p := loopbackPoster(t, 2*time.Second)
	d := mustDest(t, s.url("/hook/a?x=1&y=%20"))
	for i := range 5 {
		st, _, err := p.post(context.Background(), d, "evt_1", 1700000000+int64(i), "v1,abc", []byte(`{"a":1}`))
		if err != nil || st != 200 {
			t.Fatalf("delivery %d: %d %v", i, st, err)
		}
	}
	if c := s.conns.Load(); c != 1 {
		t.Fatalf("%d connections for 5 sequential deliveries, want 1", c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs[4]
	if r.Method != "POST" || r.RequestURI != "/hook/a?x=1&y=%20" || r.Host != s.ln.Addr().String() || r.ContentLength != 7 || s.body[4] != `{"a":1}` {
		t.Fatalf("request %s %s host %s length %d body %q", r.Method, r.RequestURI, r.Host, r.ContentLength, s.body[4])
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": userAgent,
		HeaderID: "evt_1", HeaderTimestamp: "1700000004", HeaderSignature: "v1,abc"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

// What the answer says decides whether its connection is kept: a body
// longer than maxDrain, Connection: close, or a body without a length
// (read to the end of the connection) each close it; chunked bodies and
// informational answers before the final one are read through.
func TestPosterAnswers(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxDrain+10)
	cases := []struct {
		name   string
		raw    string
		status int
		kept   bool
	}{
		{"sized", ok200, 200, true},
		{"chunked", "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 202, true},
		{"empty 204", "HTTP/1.1 204 No Content\r\n\r\n", 204, true},
		{"early hints first", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, true},
		{"retry-after", "HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n", 503, true},
		{"too long to drain", "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(long)) + "\r\n\r\n" + long, 200, false},
		{"connection close", "HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 500, false},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\nbody until close", 200, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startRaw(t, func(n int64, _ *http.Request) (string, bool) {
				if n == 1 {
					return c.raw, strings.HasSuffix(c.raw, "until close") || strings.Contains(c.raw, "close\r\n")
				}
				return ok200, false
			})
			p := loopbackPoster(t, 2*time.Second)
			d := mustDest(t, s.url("/"))
			st, ra, err := p.post(context.Background(), d, "evt_1", 1, "v1,x", []byte("{}"))
			if err != nil || st != c.status {
				t.Fatalf("first: %d %v, want %d", st, err, c.status)
			}
			if c.name == "retry-after" && ra != "7" {
				t.Fatalf("Retry-After %q", ra)
			}
			if st, _, err := p.post(context.Background(), d, "evt_2", 1, "v1,x", []byte("{}")); err != nil || st != 200 {
				t.Fatalf("second: %d %v", st, err)
			}
			if want := map[bool]int64{true: 1, false: 2}[c.kept]; s.conns.Load() != want {
				t.Fatalf("%d connections, want %d (kept: %v)", s.conns.Load(), want, c.kept)
			}
		})
	}
}

// A kept-alive connection the receiver closed while it was idle fails the
// next request before any answer: the request is made again on a new
// connection, and the delivery succeeds.
func TestPosterRetriesAConnectionTheReceiverClosed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	p := loopbackPoster(t, 2*time.Second)
	d := mustDest(t, srv.URL+"/")
	for i := range 3 {
		st, _, err := p.post(context.Background(), d, "evt_1", 1, "v1,x", []byte("{}"))
		if err != nil || st != 200 {
			t.Fatalf("delivery %d after an idle close: %d %v", i, st, err)
		}
		time.Sleep(200 * time.Millisecond) // the server closes the idle connection
	}
	if c := conns.Load(); c != 3 {
		t.Fatalf("%d connections, want 3 (one per delivery)", c)
	}
}

// A receiver that does not answer within the timeout fails the attempt
// with a timeout, and so does cancelling the context; neither connection
// is kept.
func TestPosterTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := startRaw(t, func(n int64, _ *http.Request) (string, bool) {
		if n <= 2 {
			<-release
		}
		return ok200, false
	})
	p := loopbackPoster(t, 300*time.Millisecond)
	d := mustDest(t, s.url("/"))
	start := time.Now()
	_, _, err := p.post(context.Background(), d, "evt_1", 1, "v1,x", []byte("{}"))
	if el := time.Since(start); err == nil || errText(err) != "timeout" || el > 2*time.Second {
		t.Fatalf("no answer: %v (%q) after %v", err, errText(err), el)
	}
	p.timeout = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, _, err := p.post(ctx, d, "evt_2", 1, "v1,x", []byte("{}")); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled: %v after %v", err, time.Since(start))
	}
	if st, _, err := p.post(context.Background(), d, "evt_3", 1, "v1,x", []byte("{}")); err != nil || st != 200 {
		t.Fatalf("after: %d %v", st, err)
	}
	if c := s.conns.Load(); c != 3 {
		t.Fatalf("%d connections, want 3 (the two cut off not reused)", c)
	}
}

// https endpoints are reached over TLS, the server's name verified.
func TestPosterTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderID) != "evt_1" {
			w.WriteHeader(400)
		}
	}))
	t.Cleanup(srv.Close)
	p := loopbackPoster(t, 2*time.Second)
	d := mustDest(t, srv.URL+"/hook")
	if _, _, err := p.post(context.Background(), d, "evt_1", 1, "v1,x", []byte("{}")); err == nil {
		t.Fatal("a certificate no root vouches for was accepted")
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	p.tls.RootCAs = roots
	for range 3 {
		if st, _, err := p.post(context.Background(), d, "evt_1", 1, "v1,x", []byte("{}")); err != nil || st != 200 {
			t.Fatalf("over TLS: %d %v", st, err)
		}
	}
}

// Dials go through the Guard: loopback is refused unless allowed.
func TestPosterGuarded(t *testing.T) {
	t.Parallel()
	s := startRaw(t, func(int64, *http.Request) (string, bool) { return ok200, false })
	p := newPoster(&Guard{}, time.Second, 4)
	_, _, err := p.post(context.Background(), mustDest(t, s.url("/")), "evt_1", 1, "v1,x", nil)
	if !errors.Is(err, ErrTargetRefused) || s.conns.Load() != 0 {
		t.Fatalf("loopback not allowed: %v, %d connections", err, s.conns.Load())
	}
}

func TestParseDest(t *testing.T) {
	t.Parallel()
	cases := []struct{ url, key, host, target, server string }{
		{"http://example.com", "http://example.com:80", "example.com", "/", "example.com"},
		{"https://example.com/a/b?c=d", "https://example.com:443", "example.com", "/a/b?c=d", "example.com"},
		{"https://example.com:8443/x", "https://example.com:8443", "example.com:8443", "/x", "example.com"},
		{"http://[::1]:9000/h", "http://[::1]:9000", "[::1]:9000", "/h", "::1"},
		{"http://10.0.0.1/a%2Fb", "http://10.0.0.1:80", "10.0.0.1", "/a%2Fb", "10.0.0.1"},
	}
	for _, c := range cases {
		d, err := parseDest(c.url)
		if err != nil || d.key != c.key || d.host != c.host || d.target != c.target || d.serverName != c.server || d.https != strings.HasPrefix(c.url, "https") {
			t.Errorf("parseDest(%s) = %+v, %v", c.url, d, err)
		}
	}
	for _, bad := range []string{"https://bücher.example/hook", "ftp://example.com/", "http:///x"} {
		if d, err := parseDest(bad); err == nil {
			t.Errorf("parseDest(%s) = %+v, want an error", bad, d)
		}
	}
}
