package inbox_test

import (
	"testing"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestOperatorNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.workspace("a", true)
	b := e.workspace("b", true)

	n, err := e.s.AddNumber(e.ctx, inbox.NewNumber{E164: "+1 (212) 555-0000", Kind: inbox.Shared, Carrier: "acme"})
	ok(t, err)
	if n.E164 != "+12125550000" || n.Kind != inbox.Shared || n.RateClass != inbox.RateClassShared ||
		n.Status != inbox.NumberActive || n.Owner != 0 {
		t.Fatalf("added %+v", n)
	}
	_, err = e.s.AddNumber(e.ctx, inbox.NewNumber{E164: "+12125550000", Kind: inbox.Shared, Carrier: "acme"})
	wantCode(t, err, inbox.CodeNumberExists)
	for _, bad := range []inbox.NewNumber{
		{E164: "12125550000", Kind: inbox.Shared, Carrier: "acme"},
		{E164: "+12125550001", Kind: "pooled", Carrier: "acme"},
		{E164: "+12125550001", Kind: inbox.Shared},
		{E164: "+12125550001", Kind: inbox.Dedicated, Carrier: "acme"},
		{E164: "+12125550001", Kind: inbox.Shared, Carrier: "acme", Owner: a},
	} {
		_, err := e.s.AddNumber(e.ctx, bad)
		wantCode(t, err, inbox.CodeInvalidArgument)
	}
	_, err = e.s.AddNumber(e.ctx, inbox.NewNumber{E164: "+12125550001", Kind: inbox.Dedicated, Carrier: "acme", Owner: 999})
	wantCode(t, err, inbox.CodeNotFound)

	// Dedicating: refused while another workspace has it connected.
	e.connect(b, n)
	_, err = e.s.DedicateNumber(e.ctx, n.ID, a, "")
	wantCode(t, err, inbox.CodeNumberInUse)
	ok(t, e.s.DisconnectNumber(e.ctx, b, n.ID))
	d, err := e.s.DedicateNumber(e.ctx, n.ID, a, "premium")
	ok(t, err)
	if d.Kind != inbox.Dedicated || d.Owner != a || d.RateClass != "premium" {
		t.Fatalf("dedicated %+v", d)
	}
	_, err = e.s.DedicateNumber(e.ctx, n.ID, b, "")
	wantCode(t, err, inbox.CodeNumberDedicated)
	_, err = e.s.DedicateNumber(e.ctx, 987654, b, "")
	wantCode(t, err, inbox.CodeNotFound)

	// Retiring disconnects everyone; the E.164 may be added again.
	e.connect(a, d)
	ok(t, e.s.RetireNumber(e.ctx, n.ID))
	wantCode(t, e.s.RetireNumber(e.ctx, n.ID), inbox.CodeNumberRetired)
	wantCode(t, e.s.RetireNumber(e.ctx, 987654), inbox.CodeNotFound)
	_, err = e.s.DedicateNumber(e.ctx, n.ID, b, "")
	wantCode(t, err, inbox.CodeNumberRetired)
	_, err = e.s.ConnectNumber(e.ctx, a, n.ID)
	wantCode(t, err, inbox.CodeNumberRetired)
	res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(a, contact(1), "x")})
	ok(t, err)
	wantCode(t, res[0].Err, inbox.CodeNoNumberConnected)
	again, err := e.s.AddNumber(e.ctx, inbox.NewNumber{E164: "+12125550000", Kind: inbox.Shared, Carrier: "acme"})
	ok(t, err)
	if again.ID == n.ID {
		t.Fatal("re-added number reuses the retired id")
	}

	hist, err := e.s.NumberHistory(e.ctx, n.ID)
	ok(t, err)
	var evs []string
	for _, h := range hist {
		evs = append(evs, h.Event)
	}
	want := []string{"added", "connected", "disconnected", "dedicated", "connected", "disconnected", "retired"}
	if len(evs) != len(want) {
		t.Fatalf("history %v, want %v", evs, want)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Fatalf("history %v, want %v", evs, want)
		}
	}
}

func TestConnectSwitchDisableEnableDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("w", true)
	other := e.workspace("other", true)
	s1, s2 := e.shared("c"), e.shared("c")
	d1 := e.dedicated(ws, "c")
	theirs := e.dedicated(other, "c")

	state := func(num inbox.Number) inbox.ConnectionState {
		t.Helper()
		list, err := e.s.ListNumbers(e.ctx, ws)
		ok(t, err)
		for _, n := range list {
			if n.ID == num.ID {
				return n.State
			}
		}
		return "absent"
	}
	enqueue := func() error {
		t.Helper()
		res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(7), "x")})
		ok(t, err)
		return res[0].Err
	}

	wantCode(t, enqueue(), inbox.CodeNoNumberConnected)
	if state(s1) != inbox.Available || state(d1) != inbox.Available || state(theirs) != "absent" {
		t.Fatalf("initial states %s %s %s", state(s1), state(d1), state(theirs))
	}
	list, err := e.s.ListNumbers(e.ctx, ws)
	ok(t, err)
	if len(list) != 3 || list[0].ID != d1.ID || list[0].RateClass != inbox.RateClassDedicated || list[1].Kind != inbox.Shared {
		t.Fatalf("list %+v", list)
	}
	e.connect(ws, s1)
	if state(s1) != inbox.Connected {
		t.Fatal("s1 not connected")
	}
	ok(t, enqueue())

	// Switching to another shared number disconnects the first.
	e.connect(ws, s2)
	if state(s1) != inbox.Available || state(s2) != inbox.Connected {
		t.Fatalf("after switch: s1 %s s2 %s", state(s1), state(s2))
	}
	// A dedicated number connects beside the shared one.
	e.connect(ws, d1)
	if state(s2) != inbox.Connected || state(d1) != inbox.Connected {
		t.Fatal("dedicated connection replaced the shared one")
	}
	// Reconnecting is a no-op.
	wn, err := e.s.ConnectNumber(e.ctx, ws, d1.ID)
	ok(t, err)
	if wn.State != inbox.Connected {
		t.Fatalf("reconnect: %s", wn.State)
	}

	ok(t, e.s.DisableNumber(e.ctx, ws, s2.ID))
	ok(t, e.s.DisableNumber(e.ctx, ws, d1.ID))
	if state(s2) != inbox.Disabled {
		t.Fatal("s2 not disabled")
	}
	wantCode(t, enqueue(), inbox.CodeNumberDisabled)
	ok(t, e.s.EnableNumber(e.ctx, ws, d1.ID))
	ok(t, enqueue())
	ok(t, e.s.DisconnectNumber(e.ctx, ws, d1.ID))
	wantCode(t, enqueue(), inbox.CodeNumberDisabled) // s2 is still connected, disabled
	ok(t, e.s.DisconnectNumber(e.ctx, ws, s2.ID))
	wantCode(t, enqueue(), inbox.CodeNoNumberConnected)
	wantCode(t, e.s.DisconnectNumber(e.ctx, ws, s2.ID), inbox.CodeNoNumberConnected)
	wantCode(t, e.s.DisableNumber(e.ctx, ws, s1.ID), inbox.CodeNoNumberConnected)
	wantCode(t, e.s.EnableNumber(e.ctx, ws, d1.ID), inbox.CodeNoNumberConnected)
	e.connect(ws, d1)
	ok(t, enqueue())

	// Another workspace's dedicated number is invisible.
	_, err = e.s.ConnectNumber(e.ctx, ws, theirs.ID)
	wantCode(t, err, inbox.CodeNotFound)
	wantCode(t, e.s.DisableNumber(e.ctx, ws, theirs.ID), inbox.CodeNotFound)
	_, err = e.s.ConnectNumber(e.ctx, 5555, s1.ID)
	wantCode(t, err, inbox.CodeNotFound)
	_, err = e.s.ListNumbers(e.ctx, 5555)
	wantCode(t, err, inbox.CodeNotFound)

	// History of the connection of d1.
	hist, err := e.s.NumberHistory(e.ctx, d1.ID)
	ok(t, err)
	var evs []string
	for _, h := range hist {
		evs = append(evs, h.Event)
	}
	want := "added connected disabled enabled disconnected connected"
	if got := join(evs); got != want {
		t.Fatalf("history %q, want %q", got, want)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// The operator's list: every number with the workspaces that have it
// connected, their state, retired numbers by filter, and paging.
func TestAllNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.workspace("a", true), e.workspace("b", true)
	pool := e.shared("c")
	mine := e.dedicated(a, "c")
	gone := e.shared("c")
	e.connect(a, pool)
	e.connect(b, pool)
	ok(t, e.s.DisableNumber(e.ctx, b, pool.ID))
	ok(t, e.s.RetireNumber(e.ctx, gone.ID))

	all, next, err := e.s.AllNumbers(e.ctx, "", inbox.Page{})
	ok(t, err)
	if next != "" || len(all) != 3 || all[0].ID != pool.ID || all[1].ID != mine.ID || all[2].ID != gone.ID {
		t.Fatalf("all numbers %+v next %q", all, next)
	}
	uses := all[0].Uses
	if len(uses) != 2 || uses[0].Workspace != a || uses[0].State != inbox.Connected ||
		uses[1].Workspace != b || uses[1].State != inbox.Disabled || uses[1].ConnectedAt.IsZero() {
		t.Fatalf("uses of the pool number %+v", uses)
	}
	if len(all[1].Uses) != 0 || all[1].Owner != a || all[2].Status != inbox.NumberRetired {
		t.Fatalf("dedicated %+v retired %+v", all[1], all[2])
	}

	active, _, err := e.s.AllNumbers(e.ctx, inbox.NumberActive, inbox.Page{})
	ok(t, err)
	if len(active) != 2 {
		t.Fatalf("active numbers %+v", active)
	}
	first, next, err := e.s.AllNumbers(e.ctx, "", inbox.Page{Limit: 2})
	ok(t, err)
	if len(first) != 2 || next == "" {
		t.Fatalf("first page %d next %q", len(first), next)
	}
	rest, next, err := e.s.AllNumbers(e.ctx, "", inbox.Page{Limit: 2, Cursor: next})
	ok(t, err)
	if len(rest) != 1 || rest[0].ID != gone.ID || next != "" {
		t.Fatalf("second page %+v next %q", rest, next)
	}
	if _, _, err := e.s.AllNumbers(e.ctx, "", inbox.Page{Cursor: "bogus"}); err == nil {
		t.Fatal("a bad cursor is accepted")
	}
}

// A workspace's numbers are listed with one probe of the connections a
// number, whatever the statistics say: numbers just added and connected in
// bulk (no ANALYZE since) were listed by scanning all the workspace's
// connections for each number, 0.76 s for 3,000 (PUT /v1/sms/number listed
// them on every call). FindNumber reads the one number it names.
func TestListNumbersProbesEachConnectionOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("w", true)
	other := e.workspace("other", true)
	const n = 1000
	var last inbox.Number
	for range n {
		last = e.dedicated(ws, "c")
		e.connect(ws, last)
	}
	theirs := e.dedicated(other, "c")

	rows := func(e164 *string) (listed int, read float64) {
		t.Helper()
		var plan []map[string]any
		ok(t, e.pool.QueryRow(e.ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+inbox.ListNumbersSQL, ws, e164).Scan(&plan))
		var walk func(node map[string]any)
		walk = func(node map[string]any) {
			if node["Relation Name"] == "number_connections" {
				read += node["Actual Rows"].(float64) * node["Actual Loops"].(float64)
			}
			if kids, _ := node["Plans"].([]any); kids != nil {
				for _, k := range kids {
					walk(k.(map[string]any))
				}
			}
		}
		top := plan[0]["Plan"].(map[string]any)
		walk(top)
		return int(top["Actual Rows"].(float64)), read
	}
	if listed, read := rows(nil); listed != n || read > n {
		t.Fatalf("listing %d numbers read %.0f connection rows, want %d and at most %d", listed, read, n, n)
	}
	if listed, read := rows(&last.E164); listed != 1 || read > 1 {
		t.Fatalf("finding one number listed %d and read %.0f connection rows, want 1 and at most 1", listed, read)
	}

	wn, err := e.s.FindNumber(e.ctx, ws, last.E164)
	ok(t, err)
	if wn.ID != last.ID || wn.State != inbox.Connected {
		t.Fatalf("FindNumber: %+v, want %d connected", wn, last.ID)
	}
	for _, c := range []struct {
		ws   inbox.WorkspaceID
		e164 string
	}{{ws, theirs.E164}, {ws, newE164()}, {5555, last.E164}} {
		_, err := e.s.FindNumber(e.ctx, c.ws, c.e164)
		wantCode(t, err, inbox.CodeNotFound)
	}
}
