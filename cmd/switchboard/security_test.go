package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// A full run over a TLS bind with a self-signed certificate, driven through
// the API: the message is delivered, and neither the carrier password, the
// operator token, the workspace token nor the message text ever appears in
// the engine's logs.
func TestSecurityTLSAndSecretsNotLogged(t *testing.T) {
	t.Parallel()
	cfg, err := smscsim.ParseConfig([]byte(`accounts: [{system_id: sb, password: "Pw9!x2Qz", receipts: {delay: 5ms}}]`))
	if err != nil {
		t.Fatal(err)
	}
	// A self-signed certificate for the carrier; the engine trusts it
	// through its ca_file and checks the name.
	certFile, keyFile := selfSigned(t, "localhost")
	cfg.Listeners = []smscsim.ListenerConfig{{Name: "tls", Addr: "127.0.0.1:0", TLS: &smscsim.TLSConfig{Cert: certFile, Key: keyFile}}}
	sim, err := smscsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	caFile := certFile

	const (
		password = "Pw9!x2Qz"
		operator = "operator-secret-token-6f1d0c2a"
		text     = "confidential text 4711 for the log scan"
	)
	dbURL := testenv.NewDatabase(t)
	_, prefix := testenv.Redis(t)
	extra := "operator: {token_env: SB_TEST_OPERATOR}\n"
	path := writeEngineConfig(t, dbURL, prefix, sim.Addr("tls"), "engine-tls", extra)
	b, _ := os.ReadFile(path)
	conf := strings.Replace(string(b), "system_id: sb,", fmt.Sprintf("system_id: sb, password_env: SB_TEST_SMSC_PW, tls: {ca_file: %q, server_name: localhost},", caFile), 1)
	os.WriteFile(path, []byte(conf), 0o644)
	p := startProc(t, "engine-tls", path, "SB_TEST_SMSC_PW="+password, "SB_TEST_OPERATOR="+operator)
	base := "http://" + p.http

	var ws struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if st := testenv.APICall(t, "POST", base+"/admin/v1/workspaces", operator, map[string]any{"name": "acme", "sms_addon": true}, &ws); st != 201 && st != 200 {
		t.Fatalf("create workspace: %d", st)
	}
	if ws.Token == "" {
		var raw map[string]any
		testenv.APICall(t, "POST", base+"/admin/v1/workspaces", operator, map[string]any{"name": "acme2", "sms_addon": true}, &raw)
		t.Fatalf("no token in the answer: %v", raw)
	}
	if st := testenv.APICall(t, "POST", base+"/admin/v1/numbers", operator, map[string]any{"number": "+14155552671", "kind": "dedicated", "workspace": ws.ID, "carrier": "sim"}, nil); st >= 300 {
		t.Fatalf("add number: %d", st)
	}
	if st := testenv.APICall(t, "PUT", base+"/v1/sms/number", ws.Token, map[string]any{"number": "+14155552671"}, nil); st >= 300 {
		t.Fatalf("connect: %d", st)
	}
	var sent struct {
		ID string `json:"id"`
	}
	if st := testenv.APICall(t, "POST", base+"/v1/messages", ws.Token, map[string]any{"to": "+447911123456", "text": text}, &sent); st != 202 {
		t.Fatalf("send: %d", st)
	}
	testenv.Eventually(t, "delivery over TLS", func() bool {
		var m struct {
			Status string `json:"status"`
		}
		testenv.APICall(t, "GET", base+"/v1/messages/"+sent.ID, ws.Token, nil, &m)
		return m.Status == "delivered"
	})
	// A wrong token is refused and logged without the token either.
	if st := testenv.APICall(t, "GET", base+"/v1/sms", "not-a-token-"+operator, nil, nil); st != 401 {
		t.Fatalf("bad token: %d", st)
	}
	p.stop(syscall.SIGTERM)
	logs := p.logs.String()
	if !strings.Contains(logs, `"carrier":"sim"`) {
		t.Fatalf("the engine logged nothing about its carrier; the scan would prove nothing:\n%s", logs)
	}
	for name, secret := range map[string]string{"carrier password": password, "operator token": operator, "workspace token": ws.Token, "message text": text} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the engine's logs", name)
		}
	}
}

// selfSigned writes a self-signed certificate for host and its key, PEM.
func selfSigned(t *testing.T, host string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}
