package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrTargetRefused is a delivery or a URL refused because its address is not
// public and the configuration does not allow it.
var ErrTargetRefused = errors.New("webhook: target address not allowed")

// nonPublic are the ranges refused unless allowed: besides what
// netip.Addr's predicates cover (loopback, private, link-local,
// unspecified, multicast), shared address space, benchmarking,
// IETF protocol assignments, documentation, reserved, NAT64 and
// discard-only prefixes.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// Guard decides which addresses webhooks may reach: public ones, and those
// in its allowed prefixes. The zero value allows public addresses only. It
// is safe for concurrent use.
type Guard struct {
	allow []netip.Prefix
}

// NewGuard returns a Guard that also allows the given CIDR prefixes or
// single addresses ("127.0.0.1", "10.0.0.0/8", "::1").
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		p, err := netip.ParsePrefix(a)
		if err != nil {
			ip, err2 := netip.ParseAddr(a)
			if err2 != nil {
				return nil, fmt.Errorf("webhook: %q is neither an address nor a CIDR prefix", a)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// Allowed reports whether a webhook may connect to ip.
func (g *Guard) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer Control function: it refuses a connection to an
// address the Guard does not allow, after name resolution, so a name that
// resolves (or is rebound) to a private address is refused too.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrTargetRefused, address)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrTargetRefused, ap.Addr())
	}
	return nil
}

// CheckURL refuses, at registration, a URL whose host is an address the
// Guard does not allow, or a localhost name unless loopback is allowed.
// Names are not resolved here (they may change): Control checks every
// connection.
func (g *Guard) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrTargetRefused)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.Allowed(ip) {
			return fmt.Errorf("%w: %s", ErrTargetRefused, ip)
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if !g.Allowed(netip.AddrFrom4([4]byte{127, 0, 0, 1})) {
			return fmt.Errorf("%w: %s", ErrTargetRefused, host)
		}
	}
	return nil
}
