package smscsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// listener is one listening address of the simulator.
type listener struct {
	name    string
	ln      net.Listener
	allowed map[string]bool
	tls     bool
	cert    *x509.Certificate // self-signed
}

func listen(spec listenerSpec) (*listener, error) {
	ln, err := net.Listen("tcp", spec.addr)
	if err != nil {
		return nil, fmt.Errorf("smscsim: listener %q: %w", spec.name, err)
	}
	l := &listener{name: spec.name, ln: ln, allowed: spec.allowed}
	if t := spec.tls; t != nil {
		var cert tls.Certificate
		if t.SelfSigned {
			cert, l.cert, err = selfSigned()
		} else {
			cert, err = tls.LoadX509KeyPair(t.Cert, t.Key)
		}
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("smscsim: listener %q: tls: %w", spec.name, err)
		}
		l.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		l.tls = true
	}
	return l, nil
}

// selfSigned makes a certificate for localhost, 127.0.0.1 and ::1.
func selfSigned() (tls.Certificate, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smscsim"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf, nil
}

// RootCAs returns a pool with the self-signed certificates of the TLS
// listeners, for clients to verify them.
func (s *Sim) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	for _, l := range s.listeners {
		if l.cert != nil {
			p.AddCert(l.cert)
		}
	}
	return p
}
