package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Eventually waits up to 15 s for cond, polling every 20 ms; it fails the
// test naming what it waited for. It is Wait with a 15 s timeout and no
// diagnostic.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Wait(t, 15*time.Second, what, cond, nil)
}

// Wait calls cond on the calling goroutine until it returns true: at once,
// then after each 20 ms sleep. When cond returns false and timeout has passed
// since Wait was called, Wait fails the test with t.Fatalf: "timed out after
// <timeout> waiting for <what>", followed by ": " and diag's text when diag
// is not nil. diag is called only then, once, after that last call of cond,
// to describe the state waited on. cond may itself fail the test.
func Wait(t testing.TB, timeout time.Duration, what string, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			var d string
			if diag != nil {
				d = ": " + diag()
			}
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Seed creates a workspace with the add-on and a connected dedicated number
// on carrier "sim".
func Seed(t testing.TB, s *inbox.Store, number string) inbox.WorkspaceID {
	t.Helper()
	ws, _ := SeedTenant(t, s, number)
	return ws
}

// SeedTenant is Seed returning the workspace's API token too.
func SeedTenant(t testing.TB, s *inbox.Store, number string) (inbox.WorkspaceID, string) {
	t.Helper()
	ctx := context.Background()
	ws, token, err := s.CreateWorkspace(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.AddNumber(ctx, inbox.NewNumber{E164: number, Kind: inbox.Dedicated, Carrier: "sim", Owner: ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConnectNumber(ctx, ws.ID, n.ID); err != nil {
		t.Fatal(err)
	}
	return ws.ID, token
}

// WaitStatus waits up to 15 s for the message to reach status want and
// returns it.
func WaitStatus(t testing.TB, s *inbox.Store, ws inbox.WorkspaceID, id inbox.MessageID, want inbox.Status) inbox.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err := s.GetMessage(context.Background(), ws, id)
		if err == nil && m.Status == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %d: status %q (err %v, last error %q), want %q", id, m.Status, err, m.LastError, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FaultRow logs one row of the `make faults` table.
func FaultRow(t testing.TB, fault, load string, accepted, lost, dups, violations int) {
	t.Helper()
	t.Logf("FAULTROW|%s|%s|%d|%d|%d|%d", fault, load, accepted, lost, dups, violations)
}

// APICall makes one HTTP call with a bearer token and decodes the answer.
func APICall(t testing.TB, method, url, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// OperatorToken is the operator token of the self-service tests' engines.
const OperatorToken = "operator-token-for-e2e"

// APIResp is an answer of the engine's HTTP API.
type APIResp struct {
	Status int
	Body   []byte
}

// Obj decodes the answer as a JSON object.
func (r APIResp) Obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %s", r.Status, r.Body)
	}
	return m
}

// Call sends one API request to base with a bearer token.
func Call(t testing.TB, base, method, path, token string, body any) APIResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return APIResp{Status: res.StatusCode, Body: b}
}

// Expect fails the test unless the answer has the given status.
func Expect(t testing.TB, r APIResp, status int) APIResp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("answer %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// TenantOf creates a workspace with the add-on through the operator API
// (with OperatorToken) and returns its id and first token.
func TenantOf(t testing.TB, base, name string) (string, string) {
	t.Helper()
	v := Expect(t, Call(t, base, "POST", "/admin/v1/workspaces", OperatorToken, map[string]any{"name": name, "sms_addon": true}), 201).Obj(t)
	return v["id"].(string), v["token"].(string)
}

// FaultScale is how much longer the fault tests run: SB_FAULT_SCALE (make
// faults sets 3), 1 by default.
func FaultScale() int {
	if n, err := strconv.Atoi(Getenv("SB_FAULT_SCALE")); err == nil && n > 0 {
		return n
	}
	return 1
}
