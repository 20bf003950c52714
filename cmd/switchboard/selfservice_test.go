package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/engine"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// End-to-end tests of tenant self-service (issue 9) that need the binary:
// token scopes with the token CLI, and the number self-test across engine
// processes, each against real engine processes, Postgres, Redis and the
// carrier simulator. The others are package engine's.

var tokenLineRE = regexp.MustCompile(`API token \(shown once\): (sbk_\S+)`)

// cli runs the switchboard command line with args and returns its output.
func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String() + errb.String(), code
}

// Permissions: tokens issued with the CLI carry scopes; changing the SMS
// settings without settings is 403 naming the scope, sending with
// messages works end to end; tokens are listed without secrets and revoked.
func TestSelfServiceScopes(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	dbURL := testenv.NewDatabase(t)
	_, prefix := testenv.Redis(t)
	p := startProc(t, "engine", writeEngineConfig(t, dbURL, prefix, sim.Addr(""), "engine", ""), "SWITCHBOARD_OPERATOR_TOKEN="+testenv.OperatorToken)
	base := "http://" + p.http
	cfgPath := writeEngineConfig(t, dbURL, prefix, sim.Addr(""), "cli", "")
	db, store, err := engine.OpenStore(context.Background(), loadConfig(t, cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, first := testenv.TenantOf(t, base, "acme")
	num := "+14155552671"
	testenv.Expect(t, testenv.Call(t, base, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": num, "kind": "dedicated", "workspace": ws, "carrier": "sim"}), 201)

	out, code := cli(t, "workspace", "token", "create", "--config", cfgPath, "--workspace", ws, "--scope", "messages", "--name", "sender")
	m := tokenLineRE.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("token create: %d %s", code, out)
	}
	sender := m[1]
	if _, code := cli(t, "workspace", "token", "create", "--config", cfgPath, "--workspace", ws); code != 2 {
		t.Fatal("a token without a scope was issued")
	}
	if out, code := cli(t, "workspace", "token", "create", "--config", cfgPath, "--workspace", ws, "--scope", "admin"); code != 2 {
		t.Fatalf("an unknown scope: %d %s", code, out)
	}

	// Without settings: 403, the scope named; the number stays as it was.
	r := testenv.Expect(t, testenv.Call(t, base, "PUT", "/v1/sms/number", sender, map[string]any{"number": num}), http.StatusForbidden)
	if v := r.Obj(t)["error"].(map[string]any); v["code"] != "forbidden" || v["missing_scope"] != "settings" {
		t.Fatalf("403: %s", r.Body)
	}
	testenv.Expect(t, testenv.Call(t, base, "POST", "/v1/sms/number-requests", sender, map[string]any{"country": "US"}), http.StatusForbidden)
	if v := testenv.Expect(t, testenv.Call(t, base, "GET", "/v1/sms", sender, nil), 200).Obj(t); v["state"] != "disconnected" {
		t.Fatalf("the number changed: %v", v)
	}
	// The first token has every scope; the sender sends.
	testenv.Expect(t, testenv.Call(t, base, "PUT", "/v1/sms/number", first, map[string]any{"number": num}), 200)
	sent := testenv.Expect(t, testenv.Call(t, base, "POST", "/v1/messages", sender, map[string]any{"to": "+447911123456", "text": "hello"}), 202).Obj(t)
	var id inbox.MessageID
	fmt.Sscan(sent["id"].(string), &id)
	var wsID inbox.WorkspaceID
	fmt.Sscan(ws, &wsID)
	testenv.WaitStatus(t, store, wsID, id, inbox.StatusDelivered)

	// A settings-only token from the CLI (comma-separated scopes work too).
	out, _ = cli(t, "workspace", "token", "create", "--config", cfgPath, "--workspace", ws, "--scope", "settings")
	settingsTok := tokenLineRE.FindStringSubmatch(out)[1]
	testenv.Expect(t, testenv.Call(t, base, "POST", "/v1/messages", settingsTok, map[string]any{"to": "+447911123456", "text": "no"}), http.StatusForbidden)
	testenv.Expect(t, testenv.Call(t, base, "POST", "/v1/sms/number/disable", settingsTok, nil), 200)

	// Listed without secrets; revoked by id.
	out, code = cli(t, "workspace", "token", "list", "--config", cfgPath, "--workspace", ws)
	if code != 0 || strings.Contains(out, sender) || strings.Contains(out, first) || strings.Count(out, "\n") != 3 ||
		!strings.Contains(out, sender[:12]) || !strings.Contains(out, `"sender"`) || !strings.Contains(out, "[messages settings]") {
		t.Fatalf("token list:\n%s", out)
	}
	var settingsID string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, settingsTok[:12]) {
			settingsID = strings.Fields(line)[0]
		}
	}
	// Revoke a token nobody used since its last check (the API trusts a
	// checked token for 5 s): it stops working at once.
	out, code = cli(t, "workspace", "token", "create", "--config", cfgPath, "--workspace", ws, "--scope", "messages,settings")
	spare := tokenLineRE.FindStringSubmatch(out)[1]
	out, _ = cli(t, "workspace", "token", "list", "--config", cfgPath, "--workspace", ws)
	var spareID string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, spare[:12]) {
			spareID = strings.Fields(line)[0]
		}
	}
	if out, code := cli(t, "workspace", "token", "revoke", "--config", cfgPath, "--workspace", ws, "--id", spareID); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	testenv.Expect(t, testenv.Call(t, base, "GET", "/v1/sms", spare, nil), http.StatusUnauthorized)
	if out, code := cli(t, "workspace", "token", "revoke", "--config", cfgPath, "--workspace", "987654", "--id", settingsID); code != 1 {
		t.Fatalf("revoke another workspace's token: %d %s", code, out)
	}
	// The operator API shows the same tokens.
	l := testenv.Expect(t, testenv.Call(t, base, "GET", "/admin/v1/workspaces/"+ws+"/tokens", testenv.OperatorToken, nil), 200)
	if strings.Contains(string(l.Body), sender) || strings.Count(string(l.Body), `"scopes"`) != 4 {
		t.Fatalf("tokens: %s", l.Body)
	}
}

// The self-test works across engine processes: the request is served by a
// process that holds no bind, the probe goes out and comes back on the
// other one.
func TestSelfServiceSelfTestAcrossProcesses(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}, loopback: {numbers: ["+14155550199"]}}]`)
	dbURL := testenv.NewDatabase(t)
	_, prefix := testenv.Redis(t)
	var procs []*engineProc
	for _, name := range []string{"engine-a", "engine-b"} {
		path := writeEngineConfig(t, dbURL, prefix, sim.Addr(""), name, "")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// One bind for the account across both processes.
		if err := os.WriteFile(path, bytes.Replace(b, []byte("max_binds: 4"), []byte("max_binds: 1"), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, startProc(t, name, path, "SWITCHBOARD_OPERATOR_TOKEN="+testenv.OperatorToken))
	}
	holds := func(p *engineProc) bool {
		var v struct{ Binds []map[string]any }
		json.Unmarshal(testenv.Call(t, "http://"+p.http, "GET", "/admin/v1/binds", testenv.OperatorToken, nil).Body, &v)
		return len(v.Binds) > 0 && v.Binds[0]["state"] == "bound"
	}
	var idle *engineProc
	testenv.Eventually(t, "one process holding the bind", func() bool {
		a, b := holds(procs[0]), holds(procs[1])
		switch {
		case a && !b:
			idle = procs[1]
		case b && !a:
			idle = procs[0]
		}
		return idle != nil
	})
	base := "http://" + idle.http
	ws, _ := testenv.TenantOf(t, base, "acme")
	testenv.Expect(t, testenv.Call(t, base, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": "+14155550199", "kind": "dedicated", "workspace": ws, "carrier": "sim"}), 201)
	testenv.Expect(t, testenv.Call(t, base, "POST", "/admin/v1/numbers", testenv.OperatorToken, map[string]any{"number": "+14155552600", "kind": "shared", "carrier": "sim"}), 201)
	v := testenv.Expect(t, testenv.Call(t, base, "POST", "/admin/v1/numbers/%2B14155550199/self-test", testenv.OperatorToken, map[string]any{"timeout_ms": 15000}), 200).Obj(t)
	t.Logf("across processes (asked %s, which holds no bind): %v after %v ms", idle.name, v["result"], v["latency_ms"])
	if v["result"] != "returned" {
		t.Fatalf("self-test: %v", v)
	}
}
