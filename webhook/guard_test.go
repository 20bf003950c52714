package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/webhook"
)

func TestGuardAllowed(t *testing.T) {
	t.Parallel()
	def := &webhook.Guard{}
	lo, err := webhook.NewGuard([]string{"127.0.0.1", "10.20.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip        string
		def, with bool
	}{
		{"93.184.216.34", true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true},
		{"127.0.0.1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"127.0.0.2", false, false},
		{"::1", false, false},
		{"10.20.3.4", false, true},
		{"10.21.3.4", false, false},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fc00::1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"100.64.0.1", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
		{"198.18.0.1", false, false},
		{"64:ff9b::a00:1", false, false},
	} {
		ip := netip.MustParseAddr(c.ip)
		if got := def.Allowed(ip); got != c.def {
			t.Errorf("default guard: %s allowed=%v, want %v", c.ip, got, c.def)
		}
		if got := lo.Allowed(ip); got != c.with {
			t.Errorf("guard allowing 127.0.0.1, 10.20/16: %s allowed=%v, want %v", c.ip, got, c.with)
		}
	}
	if _, err := webhook.NewGuard([]string{"not-an-address"}); err == nil {
		t.Fatal("a bad allow entry was accepted")
	}
	for _, u := range []string{"http://127.0.0.1/", "http://localhost/", "http://a.localhost./", "http://[::1]/", "http://10.0.0.1/"} {
		if err := def.CheckURL(u); !errors.Is(err, webhook.ErrTargetRefused) {
			t.Errorf("CheckURL(%s) = %v", u, err)
		}
	}
	for _, u := range []string{"https://example.com/", "http://93.184.216.34:8080/x"} {
		if err := def.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%s) = %v", u, err)
		}
	}
}

// The check is made when connecting, after name resolution: "localhost"
// passes no registration check by name alone when loopback is allowed, but
// a guard that does not allow loopback refuses the connection itself.
func TestGuardRefusesAtDialTime(t *testing.T) {
	t.Parallel()
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	url := "http://localhost:" + port + "/"

	refuse := webhook.NewTestPoster(&webhook.Guard{}, 2*time.Second, 4, nil)
	_, _, err := refuse.Post(context.Background(), url, "evt_1", []webhook.Key{webhook.Key("k")}, []byte("{}"))
	if !errors.Is(err, webhook.ErrTargetRefused) {
		t.Fatalf("dial to localhost without allowing loopback: %v", err)
	}
	g, _ := webhook.NewGuard([]string{"127.0.0.1", "::1"})
	allow := webhook.NewTestPoster(g, 2*time.Second, 4, nil)
	if _, _, err := allow.Post(context.Background(), url, "evt_1", []webhook.Key{webhook.Key("k")}, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if hits != 1 {
		t.Fatalf("%d requests reached the server, want 1", hits)
	}
}
