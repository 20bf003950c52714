package inbox_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

func TestTokenScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w, first, err := e.s.CreateWorkspace(e.ctx, "acme", true)
	ok(t, err)
	a, err := e.s.Authenticate(e.ctx, first)
	ok(t, err)
	if a.Workspace != w.ID || !a.Has(inbox.ScopeMessages) || !a.Has(inbox.ScopeSettings) {
		t.Fatalf("first token: %+v", a)
	}

	tok, secret, err := e.s.IssueToken(e.ctx, w.ID, inbox.NewToken{Name: " sender ", Scopes: []inbox.Scope{inbox.ScopeMessages, inbox.ScopeMessages}})
	ok(t, err)
	if tok.Name != "sender" || !slices.Equal(tok.Scopes, []inbox.Scope{inbox.ScopeMessages}) || !strings.HasPrefix(secret, tok.Prefix) ||
		len(tok.Prefix) != 12 || !tok.LastUsedAt.IsZero() {
		t.Fatalf("issued %+v (%s)", tok, secret)
	}
	a, err = e.s.Authenticate(e.ctx, secret)
	ok(t, err)
	if a.Token != tok.ID || a.Has(inbox.ScopeSettings) || !a.Has(inbox.ScopeMessages) {
		t.Fatalf("auth %+v", a)
	}
	// Listed without the secret, with the time of last use.
	list, err := e.s.ListTokens(e.ctx, w.ID)
	ok(t, err)
	if len(list) != 2 || list[0].Name != "first" || list[1].ID != tok.ID || list[1].LastUsedAt.IsZero() || list[0].LastUsedAt.IsZero() {
		t.Fatalf("list %+v", list)
	}
	h := sha256.Sum256([]byte(secret))
	if e.count(`SELECT count(*) FROM api_tokens WHERE token_hash = $1 AND prefix = $2`, h[:], secret[:12]) != 1 {
		t.Fatal("prefix not stored")
	}

	for _, bad := range []inbox.NewToken{{}, {Scopes: []inbox.Scope{"admin"}}, {Name: strings.Repeat("x", 101), Scopes: inbox.AllScopes}} {
		_, _, err := e.s.IssueToken(e.ctx, w.ID, bad)
		wantCode(t, err, inbox.CodeInvalidArgument)
	}
	_, _, err = e.s.IssueToken(e.ctx, 987654, inbox.NewToken{Scopes: inbox.AllScopes})
	wantCode(t, err, inbox.CodeNotFound)

	// Revoked by id; another workspace's id is not found.
	other, _, err := e.s.CreateWorkspace(e.ctx, "other", true)
	ok(t, err)
	_, err = e.s.RevokeTokenID(e.ctx, other.ID, tok.ID)
	wantCode(t, err, inbox.CodeNotFound)
	r, err := e.s.RevokeTokenID(e.ctx, w.ID, tok.ID)
	ok(t, err)
	if r.RevokedAt.IsZero() {
		t.Fatalf("revoked %+v", r)
	}
	_, err = e.s.Authenticate(e.ctx, secret)
	wantCode(t, err, inbox.CodeUnauthorized)
	again, err := e.s.RevokeTokenID(e.ctx, w.ID, tok.ID)
	ok(t, err)
	if !again.RevokedAt.Equal(r.RevokedAt) {
		t.Fatal("revoking twice moved the time")
	}
	if p, ok := inbox.ParseScope(" Settings "); !ok || p != inbox.ScopeSettings {
		t.Fatal("ParseScope")
	}
}

// TestMigrateTokensKeepFullAccess: tokens issued before scopes existed keep
// working, with both scopes.
func TestMigrateTokensKeepFullAccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.OpenPool(t, testenv.NewDatabase(t), 4)
	ok(t, inbox.MigrateTo(ctx, pool, 4))
	// A workspace and its token as version 4 wrote them.
	var ws int64
	ok(t, pool.QueryRow(ctx, `INSERT INTO workspaces (name, sms_addon) VALUES ('old', true) RETURNING id`).Scan(&ws))
	tok := "sbk_oldtokenoldtokenoldtokenoldtokenoldtokenold"
	h := sha256.Sum256([]byte(tok))
	_, err := pool.Exec(ctx, `INSERT INTO api_tokens (token_hash, workspace_id) VALUES ($1, $2)`, h[:], ws)
	ok(t, err)
	ok(t, inbox.Migrate(ctx, pool))
	s := inbox.New(pool, inbox.Options{})
	a, err := s.Authenticate(ctx, tok)
	ok(t, err)
	if a.Workspace != inbox.WorkspaceID(ws) || !a.Has(inbox.ScopeMessages) || !a.Has(inbox.ScopeSettings) || a.Token == 0 {
		t.Fatalf("old token after the upgrade: %+v", a)
	}
	list, err := s.ListTokens(ctx, inbox.WorkspaceID(ws))
	ok(t, err)
	if len(list) != 1 || list[0].Prefix != "" || list[0].ID != a.Token {
		t.Fatalf("list %+v", list)
	}
}

func TestNumberRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("acme", true)
	other := e.workspace("other", true)
	noAddon := e.workspace("free", false)
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)

	q, err := e.s.RequestNumber(e.ctx, ws, inbox.NewNumberRequest{Country: "us", AreaCode: "415", Note: " Acme Bakery "})
	ok(t, err)
	if q.Status != inbox.RequestOpen || q.Country != "US" || q.AreaCode != "415" || q.Note != "Acme Bakery" || !q.ClosedAt.IsZero() {
		t.Fatalf("request %+v", q)
	}
	for _, bad := range []inbox.NewNumberRequest{{Country: "USA"}, {Country: "1x"}, {Country: "US", AreaCode: "4a"},
		{Country: "US", AreaCode: "1234567"}, {Country: "US", Note: strings.Repeat("n", 501)}} {
		_, err := e.s.RequestNumber(e.ctx, ws, bad)
		wantCode(t, err, inbox.CodeInvalidArgument)
	}
	_, err = e.s.RequestNumber(e.ctx, noAddon, inbox.NewNumberRequest{Country: "US"})
	wantCode(t, err, inbox.CodeSMSAddonRequired)
	var open []inbox.NumberRequest
	for i := 1; i < inbox.MaxOpenRequests; i++ {
		r, err := e.s.RequestNumber(e.ctx, ws, inbox.NewNumberRequest{Country: "GB"})
		ok(t, err)
		open = append(open, r)
	}
	_, err = e.s.RequestNumber(e.ctx, ws, inbox.NewNumberRequest{Country: "GB"})
	wantCode(t, err, inbox.CodeRequestLimit)

	// Cancel: only the workspace's own, only while open.
	_, err = e.s.CancelNumberRequest(e.ctx, other, open[0].ID)
	wantCode(t, err, inbox.CodeNotFound)
	c, err := e.s.CancelNumberRequest(e.ctx, ws, open[0].ID)
	ok(t, err)
	if c.Status != inbox.RequestCancelled || c.ClosedAt.IsZero() {
		t.Fatalf("cancelled %+v", c)
	}
	_, err = e.s.CancelNumberRequest(e.ctx, ws, open[0].ID)
	wantCode(t, err, inbox.CodeRequestClosed)

	// Fulfil with a shared number: it becomes the workspace's, the request
	// names it, the workspace can connect it.
	shared := e.shared("carrier-a")
	f, n, err := e.s.FulfilNumberRequest(e.ctx, q.ID, inbox.Fulfilment{Number: shared.E164})
	ok(t, err)
	if f.Status != inbox.RequestFulfilled || f.Number != shared.E164 || f.NumberID != shared.ID || n.Kind != inbox.Dedicated || n.Owner != ws || n.RateClass != inbox.RateClassDedicated {
		t.Fatalf("fulfilled %+v with %+v", f, n)
	}
	nums, err := e.s.ListNumbers(e.ctx, ws)
	ok(t, err)
	if len(nums) == 0 || nums[0].E164 != shared.E164 || nums[0].Kind != inbox.Dedicated {
		t.Fatalf("numbers %+v", nums)
	}
	_, _, err = e.s.FulfilNumberRequest(e.ctx, q.ID, inbox.Fulfilment{Number: shared.E164})
	wantCode(t, err, inbox.CodeRequestClosed)
	// A number Switchboard does not have: added when a carrier is named.
	fresh := newE164()
	_, _, err = e.s.FulfilNumberRequest(e.ctx, open[1].ID, inbox.Fulfilment{Number: fresh})
	wantCode(t, err, inbox.CodeUnknownNumber)
	f2, n2, err := e.s.FulfilNumberRequest(e.ctx, open[1].ID, inbox.Fulfilment{Number: fresh, Carrier: "carrier-b", RateClass: "premium"})
	ok(t, err)
	if f2.Number != fresh || n2.Carrier != "carrier-b" || n2.RateClass != "premium" || n2.Owner != ws {
		t.Fatalf("fulfilled with a new number: %+v %+v", f2, n2)
	}
	// Another workspace's dedicated number, a shared number in use elsewhere.
	od := e.dedicated(other, "carrier-a")
	_, _, err = e.s.FulfilNumberRequest(e.ctx, open[2].ID, inbox.Fulfilment{Number: od.E164})
	wantCode(t, err, inbox.CodeNumberDedicated)
	busy := e.shared("carrier-a")
	e.connect(other, busy)
	_, _, err = e.s.FulfilNumberRequest(e.ctx, open[2].ID, inbox.Fulfilment{Number: busy.E164})
	wantCode(t, err, inbox.CodeNumberInUse)
	_, _, err = e.s.FulfilNumberRequest(e.ctx, open[2].ID, inbox.Fulfilment{Number: "12"})
	wantCode(t, err, inbox.CodeInvalidArgument)

	// Decline needs a reason.
	_, err = e.s.DeclineNumberRequest(e.ctx, open[2].ID, " ")
	wantCode(t, err, inbox.CodeInvalidArgument)
	d, err := e.s.DeclineNumberRequest(e.ctx, open[2].ID, "no numbers left in 415")
	ok(t, err)
	if d.Status != inbox.RequestDeclined || d.DeclineReason != "no numbers left in 415" {
		t.Fatalf("declined %+v", d)
	}
	_, err = e.s.DeclineNumberRequest(e.ctx, 987654, "x")
	wantCode(t, err, inbox.CodeNotFound)

	// Lists: the workspace's newest first, paged; operators' by status.
	mine, next, err := e.s.ListNumberRequests(e.ctx, ws, inbox.Page{Limit: 2})
	ok(t, err)
	if len(mine) != 2 || mine[0].ID != open[len(open)-1].ID || next == "" {
		t.Fatalf("mine %+v", mine)
	}
	rest, next, err := e.s.ListNumberRequests(e.ctx, ws, inbox.Page{Cursor: next})
	ok(t, err)
	if len(rest) != inbox.MaxOpenRequests-2 || next != "" {
		t.Fatalf("rest %+v", rest)
	}
	if none, _, err := e.s.ListNumberRequests(e.ctx, other, inbox.Page{}); err != nil || len(none) != 0 {
		t.Fatalf("other's %+v %v", none, err)
	}
	openAll, _, err := e.s.ListAllNumberRequests(e.ctx, inbox.RequestOpen, inbox.Page{})
	ok(t, err)
	if len(openAll) != 1 || openAll[0].ID != open[3].ID {
		t.Fatalf("open %+v", openAll)
	}
	all, _, err := e.s.ListAllNumberRequests(e.ctx, "", inbox.Page{})
	ok(t, err)
	if len(all) != inbox.MaxOpenRequests {
		t.Fatalf("all %d", len(all))
	}
	_, _, err = e.s.ListAllNumberRequests(e.ctx, "pending", inbox.Page{})
	wantCode(t, err, inbox.CodeInvalidArgument)
	got, err := e.s.GetNumberRequest(e.ctx, ws, q.ID)
	ok(t, err)
	if got.Status != inbox.RequestFulfilled {
		t.Fatalf("get %+v", got)
	}
	_, err = e.s.GetNumberRequest(e.ctx, other, q.ID)
	wantCode(t, err, inbox.CodeNotFound)

	// The change feed carries the requests with the messages, each as it
	// is now at the place of its last change, and a cursor after a request
	// resumes after it.
	res := e.inbound(mo(contact(1), shared.E164, "hello, new number"))
	if res[0].Workspace != ws {
		t.Fatalf("inbound to the fulfilled number went to %d", res[0].Workspace)
	}
	cs, _ := e.changesN(ws, start, 6)
	var kinds []string
	for _, c := range cs {
		if c.Kind == inbox.ChangeRequest {
			kinds = append(kinds, "request "+string(c.Request.Status))
		} else {
			kinds = append(kinds, "message "+string(c.Status))
		}
	}
	want := "request open,request cancelled,request fulfilled,request fulfilled,request declined,message received"
	if got := strings.Join(kinds, ","); got != want {
		t.Fatalf("feed:\n%s\nwant\n%s", got, want)
	}
	for _, c := range cs[1:5] {
		if c.Kind != inbox.ChangeRequest {
			continue
		}
		switch r := c.Request; r.Status {
		case inbox.RequestFulfilled:
			if r.Number == "" || r.NumberID == 0 || r.ClosedAt.IsZero() || r.Workspace != ws {
				t.Fatalf("fulfilled in the feed: %+v", r)
			}
		case inbox.RequestDeclined:
			if r.DeclineReason == "" {
				t.Fatalf("declined in the feed: %+v", r)
			}
		}
	}
	after, _ := e.changes(ws, cs[4].Cursor)
	if len(after) != 1 || after[0].Message != res[0].Message {
		t.Fatalf("after the last request: %s", describe(after))
	}
	if oc, _ := e.changes(other, start); len(oc) != 0 {
		t.Fatalf("other workspace's feed: %d changes", len(oc))
	}
}

func TestSendingStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("acme", inbox.Shared)
	idle := e.shared("carrier-a")
	// Three messages submitted 2, 4 and 6 s after they were accepted, one
	// of them throttled by the carrier on the way; two still queued.
	var reqs []inbox.OutboundRequest
	for i := 0; i < 5; i++ {
		r := msg(ws, contact(i), "hi")
		r.Segments = 1 + i%2
		reqs = append(reqs, r)
	}
	res := e.send(reqs...)
	claimed := e.claim("o", 3, time.Minute)
	if len(claimed) != 3 {
		t.Fatalf("claimed %d", len(claimed))
	}
	for i, c := range claimed {
		var rs []inbox.SubmitResult
		for seg := 0; seg < c.Segments; seg++ {
			rs = append(rs, inbox.SubmitResult{Message: c.ID, Segment: seg, Outcome: inbox.SubmitOK, CarrierMessageID: c.From + string(rune('a'+i)) + string(rune('0'+seg))})
		}
		if i == 0 {
			rs = append([]inbox.SubmitResult{{Message: c.ID, Segment: 0, Outcome: inbox.SubmitRetryable, ErrorCode: 0x58}}, rs...)
			e.record(rs[0])
			rs = rs[1:]
		}
		e.record(rs...)
		e.exec(`UPDATE messages SET created_at = submitted_at - $2::int8 * interval '1 second' WHERE id = $1`, c.ID, 2*(i+1))
	}
	e.exec(`UPDATE messages SET carrier_error = 88 WHERE id = $1`, res[4].ID) // a queued one throttled too
	stats, err := e.s.SendingStats(e.ctx, ws, []inbox.NumberID{n.ID, idle.ID}, time.Hour, []int32{0x58, 0x14})
	ok(t, err)
	st := stats[0]
	segs := 0
	for _, c := range claimed {
		segs += c.Segments
	}
	if st.Number != n.ID || st.QueuedMessages != 2 || st.QueuedSegments != reqs[3].Segments+reqs[4].Segments || st.OldestQueued.IsZero() ||
		st.Submitted != 3 || st.SubmittedSegments != segs || st.CarrierThrottled != 2 {
		t.Fatalf("stats %+v", st)
	}
	if st.WaitP50.Round(time.Millisecond) != 4*time.Second || st.WaitP95.Round(time.Millisecond) != 5800*time.Millisecond {
		t.Fatalf("waits p50 %v p95 %v", st.WaitP50, st.WaitP95)
	}
	if st.WaitSampled != 3 {
		t.Fatalf("percentiles over %d messages, want all 3", st.WaitSampled)
	}
	// With a sample of 2, the percentiles are over the two newest (4 s, 6 s)
	// and the counts still cover the window.
	small := inbox.New(e.pool, inbox.Options{WaitSample: 2})
	sampled, err := small.SendingStats(e.ctx, ws, []inbox.NumberID{n.ID}, time.Hour, nil)
	ok(t, err)
	if s := sampled[0]; s.WaitSampled != 2 || s.Submitted != 3 || s.WaitP50.Round(time.Millisecond) != 5*time.Second ||
		s.WaitP95.Round(time.Millisecond) != 5900*time.Millisecond {
		t.Fatalf("sampled stats %+v", s)
	}
	if i := stats[1]; i.Number != idle.ID || i.QueuedMessages != 0 || i.Submitted != 0 || i.WaitP95 != 0 {
		t.Fatalf("idle number %+v", i)
	}
	// Outside the window, or another workspace's: not counted.
	e.exec(`UPDATE messages SET submitted_at = submitted_at - interval '2 hours', created_at = created_at - interval '2 hours' WHERE id = $1`, claimed[0].ID)
	other := e.workspace("other", true)
	e.connect(other, n)
	stats, err = e.s.SendingStats(e.ctx, other, []inbox.NumberID{n.ID}, time.Hour, nil)
	ok(t, err)
	if stats[0].QueuedMessages != 0 || stats[0].Submitted != 0 {
		t.Fatalf("other workspace sees %+v", stats[0])
	}
	stats, err = e.s.SendingStats(e.ctx, ws, []inbox.NumberID{n.ID}, time.Hour, nil)
	ok(t, err)
	if stats[0].Submitted != 2 || stats[0].CarrierThrottled != 0 {
		t.Fatalf("after the window moved: %+v", stats[0])
	}
	// A requeue for the carrier's "queue full" keeps the code on the message.
	c := e.claim("o", 10, time.Minute)
	errs, err := e.s.Requeue(e.ctx, "o", []inbox.Requeue{{ID: c[0].ID, Reason: "queue full", CarrierError: 0x14}})
	ok(t, err)
	ok(t, errs[0])
	if m := e.message(ws, c[0].ID); m.CarrierError != 0x14 || m.Status != inbox.StatusQueued {
		t.Fatalf("requeued %+v", m)
	}
	stats, err = e.s.SendingStats(e.ctx, ws, []inbox.NumberID{n.ID}, time.Hour, []int32{0x14})
	ok(t, err)
	if stats[0].CarrierThrottled != 1 {
		t.Fatalf("after the requeue: %+v", stats[0])
	}
}

func TestSelfTest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.s.StartSelfTest(e.ctx, inbox.NewSelfTest{Number: newE164()})
	wantCode(t, err, inbox.CodeNoProbeNumber)

	tenant, tn := e.ready("tenant", inbox.Dedicated) // the number under test is a tenant's
	shared := e.shared("carrier-a")
	st, err := e.s.StartSelfTest(e.ctx, inbox.NewSelfTest{Number: tn.E164})
	ok(t, err)
	if st.From != shared.E164 || st.Number != tn.E164 || st.Message == 0 || st.Probe.Status != inbox.StatusQueued ||
		!strings.Contains(st.Probe.Body, st.Token) || !st.NumberKnown || st.NumberWorkspace != tenant || !st.Returned.IsZero() {
		t.Fatalf("self-test %+v", st)
	}
	sys, err := e.s.GetWorkspace(e.ctx, st.Probe.Workspace)
	ok(t, err)
	if !sys.System || sys.ID == tenant {
		t.Fatalf("the probe's workspace %+v", sys)
	}
	// The dispatcher sends it like any message.
	c := e.claim("o", 10, time.Minute)
	if len(c) != 1 || c[0].ID != st.Message || c[0].From != shared.E164 || c[0].To != tn.E164 {
		t.Fatalf("claimed %+v", c)
	}
	e.record(inbox.SubmitResult{Message: st.Message, Outcome: inbox.SubmitOK, CarrierMessageID: "77"})

	// It comes back, addressed to the number under test: recorded on the
	// self-test, in no thread and not unrouted; a second copy too.
	before := e.count(`SELECT count(*) FROM messages WHERE direction = 'in'`)
	res := e.inbound(mo(shared.E164, tn.E164, inbox.SelfTestText(st.Token)), mo(contact(1), tn.E164, "ordinary"))
	if !res[0].SelfTest || res[0].Duplicate || res[0].Message != 0 || res[0].Unrouted != 0 || res[1].SelfTest || res[1].Workspace != tenant {
		t.Fatalf("results %+v", res)
	}
	res = e.inbound(mo(tn.E164, shared.E164, "echo: "+inbox.SelfTestText(st.Token)))
	if !res[0].SelfTest {
		t.Fatalf("echo %+v", res)
	}
	if got := e.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); got != before+1 {
		t.Fatalf("%d inbound messages stored, want 1", got-before)
	}
	if e.count(`SELECT count(*) FROM unrouted_messages`) != 0 {
		t.Fatal("a probe was kept as unrouted")
	}
	got, err := e.s.GetSelfTest(e.ctx, st.ID)
	ok(t, err)
	if got.Returned.IsZero() || got.ReturnedFrom != shared.E164 || got.ReturnedTo != tn.E164 || got.ReturnedCarrier != "carrier-a" ||
		got.Probe.Status != inbox.StatusSubmitted {
		t.Fatalf("after the return %+v", got)
	}
	// A token no self-test has is an ordinary text.
	res = e.inbound(mo(contact(2), tn.E164, "SBT-AAAAAAAAAAAAAAAA"))
	if res[0].SelfTest || res[0].Workspace != tenant {
		t.Fatalf("a stranger's token: %+v", res)
	}

	// The next test reuses the system workspace and its number; an
	// explicit from must be one of ours, shared or the system's.
	st2, err := e.s.StartSelfTest(e.ctx, inbox.NewSelfTest{Number: newE164()})
	ok(t, err)
	if st2.Probe.Workspace != sys.ID || st2.From != shared.E164 || st2.NumberKnown {
		t.Fatalf("second self-test %+v", st2)
	}
	_, err = e.s.StartSelfTest(e.ctx, inbox.NewSelfTest{Number: newE164(), From: tn.E164})
	wantCode(t, err, inbox.CodeNumberDedicated)
	_, err = e.s.StartSelfTest(e.ctx, inbox.NewSelfTest{Number: newE164(), From: newE164()})
	wantCode(t, err, inbox.CodeUnknownNumber)
	_, err = e.s.StartSelfTest(e.ctx, inbox.NewSelfTest{Number: shared.E164, From: shared.E164})
	wantCode(t, err, inbox.CodeInvalidArgument)
	_, err = e.s.StartSelfTest(e.ctx, inbox.NewSelfTest{Number: "+1"})
	wantCode(t, err, inbox.CodeInvalidArgument)

	// The system's connection does not keep the number from being
	// dedicated to a tenant.
	_, err = e.s.DedicateNumber(e.ctx, shared.ID, tenant, "")
	ok(t, err)
	if e.count(`SELECT count(*) FROM number_connections WHERE number_id = $1 AND disconnected_at IS NULL`, shared.ID) != 0 {
		t.Fatal("the system workspace still sends from a dedicated number")
	}
	_, _, err = e.s.IssueToken(e.ctx, sys.ID, inbox.NewToken{Scopes: inbox.AllScopes})
	wantCode(t, err, inbox.CodeNotFound)
}

func TestUnroutedGroupsAndAssign(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("acme", true)
	other := e.workspace("other", true)
	x, y := newE164(), newE164()
	e.inbound(mo(contact(1), x, "hello?"))
	e.inbound(mo(contact(2), y, "anyone?"))
	e.inbound(mo(contact(1), x, "STOP"))
	e.inbound(mo(contact(3), x, "third"))

	groups, next, err := e.s.ListUnroutedGroups(e.ctx, inbox.Page{Limit: 1})
	ok(t, err)
	if len(groups) != 1 || next == "" {
		t.Fatalf("groups %+v", groups)
	}
	g := groups[0]
	if g.To != x || g.Messages != 3 || g.Contacts != 2 || g.Latest.Body != "third" || g.Number != nil ||
		!slices.Equal(g.Reasons, []string{"unknown_number"}) || !g.FirstReceived.Before(g.LastReceived) {
		t.Fatalf("group %+v", g)
	}
	groups, next, err = e.s.ListUnroutedGroups(e.ctx, inbox.Page{Cursor: next})
	ok(t, err)
	if len(groups) != 1 || groups[0].To != y || next != "" {
		t.Fatalf("page 2 %+v", groups)
	}
	_, _, err = e.s.ListUnroutedGroups(e.ctx, inbox.Page{Cursor: "bogus"})
	wantCode(t, err, inbox.CodeInvalidCursor)
	toX, _, err := e.s.ListUnroutedTo(e.ctx, x, inbox.Page{})
	ok(t, err)
	if len(toX) != 3 || toX[0].Body != "third" {
		t.Fatalf("to x %+v", toX)
	}

	// Assigning needs the number in Switchboard, usable by the workspace.
	_, err = e.s.AssignUnrouted(e.ctx, inbox.Assignment{Workspace: ws, To: x})
	wantCode(t, err, inbox.CodeUnknownNumber)
	nx, err := e.s.AddNumber(e.ctx, inbox.NewNumber{E164: x, Kind: inbox.Dedicated, Carrier: "carrier-a", Owner: ws})
	ok(t, err)
	groups, _, err = e.s.ListUnroutedGroups(e.ctx, inbox.Page{})
	ok(t, err)
	if groups[0].Number == nil || groups[0].Number.ID != nx.ID || groups[0].Number.Owner != ws {
		t.Fatalf("group of a known number %+v", groups[0])
	}
	_, err = e.s.AssignUnrouted(e.ctx, inbox.Assignment{Workspace: other, To: x})
	wantCode(t, err, inbox.CodeNumberDedicated)
	_, err = e.s.AssignUnrouted(e.ctx, inbox.Assignment{Workspace: ws, To: x, IDs: []inbox.UnroutedID{toX[0].ID, 987654}})
	wantCode(t, err, inbox.CodeNotFound)
	start, err := e.s.ChangeCursor(e.ctx)
	ok(t, err)
	got, err := e.s.AssignUnrouted(e.ctx, inbox.Assignment{Workspace: ws, To: x})
	ok(t, err)
	if len(got.Messages) != 3 || len(got.Threads) != 2 {
		t.Fatalf("assigned %+v", got)
	}
	m := e.message(ws, got.Messages[0])
	if m.Body != "hello?" || m.Direction != inbox.DirectionIn || m.From != contact(1) || m.To != x || m.Status != inbox.StatusReceived {
		t.Fatalf("first assigned %+v", m)
	}
	if e.count(`SELECT count(*) FROM unrouted_messages WHERE destination = $1`, x) != 0 {
		t.Fatal("assigned messages still unrouted")
	}
	// STOP among them opted the contact out.
	r, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(1), "hi")})
	ok(t, err)
	wantCode(t, r[0].Err, inbox.CodeNoNumberConnected) // nothing connected yet
	e.connect(ws, nx)
	r, err = e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(1), "hi")})
	ok(t, err)
	wantCode(t, r[0].Err, inbox.CodeRecipientOptedOut)
	cs, _ := e.changesN(ws, start, 3)
	if len(cs) < 3 || cs[0].Direction != inbox.DirectionIn {
		t.Fatalf("feed %s", describe(cs))
	}
	_, err = e.s.AssignUnrouted(e.ctx, inbox.Assignment{Workspace: ws, To: x})
	wantCode(t, err, inbox.CodeNotFound)
}
