package engine

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// Smart encoding end to end (issue 19 §3): the operator turns the
// workspace's default on through the API; a 160-character text with one
// curly apostrophe then reaches the carrier as one GSM-7 part with a
// straight one, a request that says false sends it as written (three UCS-2
// parts), and a text with an emoji goes as written whatever the setting.
func TestE2ESmartEncoding(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sim.jsonl")
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 1ms, receipts: {delay: 5ms}}]
log: `+logPath)
	te := startEngine(t, engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Operator.Token = testenv.OperatorToken
	}))
	s := te.store
	ws, token := testenv.SeedTenant(t, s, "+14155552691")
	p := testenv.Expect(t, testenv.Call(t, te.url, "PATCH", "/admin/v1/workspaces/"+strconv.FormatInt(int64(ws), 10), testenv.OperatorToken,
		map[string]any{"smart_encoding": true}), 200)
	if p.Obj(t)["smart_encoding"] != true {
		t.Fatalf("PATCH: %s", p.Body)
	}

	written := strings.Repeat("a", 80) + "’" + strings.Repeat("b", 79)
	sent := strings.Repeat("a", 80) + "'" + strings.Repeat("b", 79)
	cases := []struct {
		to, text    string
		smart       any // nil: the workspace's default
		wire        string
		parts       int
		encoding    string
		saved       float64
		substituted bool
	}{
		{"+447911250101", written, nil, sent, 1, "gsm7", 2, true},
		{"+447911250102", written, false, written, 3, "ucs2", 0, false},
		{"+447911250103", "It’s done 😀", nil, "It’s done 😀", 1, "ucs2", 0, false},
	}
	for _, c := range cases {
		body := map[string]any{"to": c.to, "text": c.text}
		if c.smart != nil {
			body["smart_encoding"] = c.smart
		}
		r := testenv.Expect(t, testenv.Call(t, te.url, "POST", "/v1/messages", token, body), 202).Obj(t)
		se, _ := r["smart_encoding"].(map[string]any)
		if r["text"] != c.wire || r["encoding"] != c.encoding || r["segments"] != float64(c.parts) ||
			se == nil || se["applied"] != c.substituted || se["segments_saved"] != c.saved {
			t.Fatalf("%s: answer %v", c.to, r)
		}
		testenv.WaitStatus(t, s, ws, messageID(t, r["id"]), inbox.StatusDelivered)
	}
	sim.Close()
	got := map[string][]testenv.SimLogLine{}
	for _, l := range testenv.ReadSimLog(t, logPath) {
		got[l.Dst] = append(got[l.Dst], l)
	}
	for _, c := range cases {
		lines := got[strings.TrimPrefix(c.to, "+")]
		if len(lines) == 0 {
			lines = got[c.to]
		}
		var text strings.Builder
		wantParts := c.parts // what the part's header says; 0 for a message sent whole
		if wantParts == 1 {
			wantParts = 0
		}
		for _, l := range lines {
			if l.Parts != wantParts {
				t.Errorf("%s: a part says %d parts, want %d", c.to, l.Parts, wantParts)
			}
			text.WriteString(l.Text)
		}
		if len(lines) != c.parts || text.String() != c.wire {
			t.Errorf("%s: the carrier got %d parts %q; want %d parts %q", c.to, len(lines), text.String(), c.parts, c.wire)
		}
	}
}

func messageID(t *testing.T, v any) inbox.MessageID {
	t.Helper()
	s, _ := v.(string)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("message id %v: %v", v, err)
	}
	return inbox.MessageID(id)
}
