package inbox_test

import (
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestNormalizeKeyword(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		" Stop ":           "STOP",
		"stop all":         "STOPALL",
		"STOP!":            "STOP",
		"Opt-out":          "OPTOUT",
		"Arrêt":            "ARRET",
		"ARRÊTER.":         "ARRETER",
		"pomoč":            "POMOC",
		"\u200bbaja\ufeff": "BAJA",
		"Ａrret":            "ARRET", // compatibility forms folded: fullwidth letters are ASCII
		"ＳＴＯＰ。":            "STOP",
		"stop 🙏":           "STOP",
		"Schluß":           "SCHLUSS",
		"":                 "",
		"!!!":              "",
		"a very long message that is certainly no keyword at all, more than 64 bytes": "",
		"abcdefghijklmnopqrstuvwxyzabcdefghij":                                        "", // 36 letters > MaxKeywordLength
		"\xff\xfeSTOP":                                                                "STOP",
	} {
		if got := inbox.NormalizeKeyword(in); got != want {
			t.Errorf("NormalizeKeyword(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultKeywordsPerLanguage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body string
		want inbox.Keyword
	}{
		{"STOP", inbox.KeywordOptOut}, {"unsubscribe", inbox.KeywordOptOut}, {"Start", inbox.KeywordOptIn},
		{"help", inbox.KeywordHelp}, {"INFO", inbox.KeywordHelp},
		{"Baja", inbox.KeywordOptOut}, {"ayuda", inbox.KeywordHelp}, // es
		{"Arrêt", inbox.KeywordOptOut}, {"aide", inbox.KeywordHelp}, // fr
		{"Stopp", inbox.KeywordOptOut}, {"hilfe", inbox.KeywordHelp}, // de
		{"Basta", inbox.KeywordOptOut}, {"aiuto", inbox.KeywordHelp}, // it
		{"Sair", inbox.KeywordOptOut}, {"ajuda", inbox.KeywordHelp}, // pt
		{"afmelden", inbox.KeywordOptOut}, {"hulp", inbox.KeywordHelp}, // nl
		{"Odjava", inbox.KeywordOptOut}, {"Pomoč", inbox.KeywordHelp}, {"prijava", inbox.KeywordOptIn}, // sl
		{"stop please", inbox.KeywordNone}, {"hello", inbox.KeywordNone},
	} {
		if got := inbox.ParseKeyword(c.body); got != c.want {
			t.Errorf("ParseKeyword(%q) = %v, want %v", c.body, got, c.want)
		}
	}
	// Every language has keywords of each kind, and every one of them
	// matches under that language alone.
	for _, l := range inbox.Languages {
		out, in, help := inbox.DefaultKeywords(l)
		if len(out) == 0 || len(in) == 0 || len(help) == 0 {
			t.Errorf("%s: %v %v %v", l, out, in, help)
		}
		only := inbox.KeywordSettings{Languages: []string{l}}
		for a, words := range [][]string{out, in, help} {
			for _, w := range words {
				if k, _ := only.Match(w); k != inbox.Keyword(a+1) {
					t.Errorf("%s %q: %v, want %v", l, w, k, inbox.Keyword(a+1))
				}
			}
		}
	}
}

// keywordCases are bodies and what they do under keywordSettings.
var keywordSettings = inbox.KeywordSettings{
	Languages: []string{"en", "fr"},
	Custom: []inbox.CustomKeyword{
		{Keyword: "pare", Action: inbox.KeywordOptOut}, // a word of the workspace's own
		{Keyword: "End", Action: inbox.KeywordNone},    // a default turned off
		{Keyword: "baja", Action: inbox.KeywordHelp},   // a default of a language that is off, redefined
	},
}

var keywordCases = []struct {
	body string
	want inbox.Keyword
}{
	{"STOP", inbox.KeywordOptOut}, {"Arrêt", inbox.KeywordOptOut}, {"PARE!", inbox.KeywordOptOut},
	{"end", inbox.KeywordNone}, {"Stopp", inbox.KeywordNone}, // de is off
	{"baja", inbox.KeywordHelp}, {"aide", inbox.KeywordHelp}, {"unstop", inbox.KeywordOptIn},
	{"hello there", inbox.KeywordNone}, {"STOP.", inbox.KeywordOptOut}, {"Arrêt !", inbox.KeywordOptOut},
	{"ＳＴＯＰ", inbox.KeywordOptOut}, {"stop please", inbox.KeywordNone},
}

// The inbound path (SQL) and KeywordSettings.Match (Go) agree.
func TestInboundKeywordsFollowWorkspaceSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	_, err := e.s.SetKeywordSettings(e.ctx, ws, keywordSettings)
	ok(t, err)
	got, err := e.s.GetKeywordSettings(e.ctx, ws)
	ok(t, err)
	if len(got.Custom) != 3 || got.Custom[0] != (inbox.CustomKeyword{Keyword: "BAJA", Action: inbox.KeywordHelp}) {
		t.Fatalf("stored custom keywords %+v", got.Custom)
	}
	for i, c := range keywordCases {
		if k, _ := got.Match(c.body); k != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.body, k, c.want)
		}
		r := e.inbound(mo(contact(100+i), n.E164, c.body))[0]
		if r.Keyword != c.want {
			t.Errorf("inbound %q: keyword %v, want %v", c.body, r.Keyword, c.want)
		}
		st, err := e.s.GetContactState(e.ctx, ws, contact(100+i))
		ok(t, err)
		if st.OptedOut != (c.want == inbox.KeywordOptOut) {
			t.Errorf("inbound %q: contact state %+v", c.body, st)
		}
		if c.want == inbox.KeywordOptOut && (st.Source != inbox.SourceKeyword || st.Keyword != inbox.NormalizeKeyword(c.body)) {
			t.Errorf("inbound %q: source %+v", c.body, st)
		}
	}
	// Another workspace keeps the defaults: Stopp opts out there.
	other, on := e.ready("other", inbox.Dedicated)
	if r := e.inbound(mo(contact(1), on.E164, "Stopp"))[0]; r.Keyword != inbox.KeywordOptOut || r.Workspace != other {
		t.Fatalf("default settings: %+v", r)
	}
	// A help keyword changes nothing.
	e.inbound(mo(contact(2), n.E164, "STOP"))
	e.inbound(mo(contact(2), n.E164, "INFO"))
	st, err := e.s.GetContactState(e.ctx, ws, contact(2))
	ok(t, err)
	if !st.OptedOut {
		t.Fatalf("help changed the state: %+v", st)
	}
}

func TestKeywordSettingsRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.workspace("w", true)
	for _, k := range []inbox.KeywordSettings{
		{Languages: []string{"xx"}},
		{Custom: []inbox.CustomKeyword{{Keyword: "!!", Action: inbox.KeywordOptOut}}},
		{Custom: []inbox.CustomKeyword{{Keyword: "go", Action: 7}}},
		{Custom: []inbox.CustomKeyword{{Keyword: "go", Action: 1}, {Keyword: "GO!", Action: 2}}},
		{OptOutReply: inbox.Reply{Text: "bye"}},
	} {
		_, err := e.s.SetKeywordSettings(e.ctx, ws, k)
		wantCode(t, err, inbox.CodeInvalidArgument)
	}
	_, err := e.s.SetKeywordSettings(e.ctx, ws, inbox.KeywordSettings{HelpReply: inbox.Reply{Text: "x", Encoding: "gsm7", Segments: 11}})
	wantCode(t, err, inbox.CodeMessageTooLong)
	_, err = e.s.SetKeywordSettings(e.ctx, 999999, inbox.DefaultKeywordSettings())
	wantCode(t, err, inbox.CodeNotFound)
	// A new workspace has the defaults.
	k, err := e.s.GetKeywordSettings(e.ctx, ws)
	ok(t, err)
	if len(k.Languages) != len(inbox.Languages) || len(k.Custom) != 0 || k.OptOutReply.Text != "" {
		t.Fatalf("defaults %+v", k)
	}
}

// Replies go out through Enqueue, from the number the keyword came to,
// into the thread; the opt-out confirmation reaches the contact who has
// just opted out, while other messages to it are refused.
func TestKeywordReplies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	k := inbox.DefaultKeywordSettings()
	k.OptOutReply = inbox.Reply{Text: "You are unsubscribed. Reply START to resume.", Encoding: "gsm7", Segments: 1}
	k.HelpReply = inbox.Reply{Text: "Acme: help at acme.example", Encoding: "gsm7", Segments: 1}
	_, err := e.s.SetKeywordSettings(e.ctx, ws, k)
	ok(t, err)

	r := e.inbound(mo(contact(1), n.E164, "Baja"))[0]
	if r.Keyword != inbox.KeywordOptOut || r.Reply == 0 || r.ReplyErr != nil {
		t.Fatalf("stop: %+v", r)
	}
	reply := e.message(ws, r.Reply)
	if reply.Body != k.OptOutReply.Text || reply.Thread != r.Thread || reply.Direction != inbox.DirectionOut ||
		reply.From != n.E164 || reply.To != contact(1) {
		t.Fatalf("reply %+v", reply)
	}
	res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(1), "promo")})
	ok(t, err)
	wantCode(t, res[0].Err, inbox.CodeRecipientOptedOut)

	// Help: a reply, no change. Opt-in without a reply text: none.
	if r := e.inbound(mo(contact(1), n.E164, "ayuda"))[0]; r.Keyword != inbox.KeywordHelp || r.Reply == 0 {
		t.Fatalf("help: %+v", r)
	}
	if r := e.inbound(mo(contact(1), n.E164, "start"))[0]; r.Keyword != inbox.KeywordOptIn || r.Reply != 0 || r.ReplyErr != nil {
		t.Fatalf("start: %+v", r)
	}
	msgs, _, err := e.s.ListMessages(e.ctx, ws, r.Thread, inbox.Page{})
	ok(t, err)
	if len(msgs) != 5 { // Baja, its reply, ayuda, its reply, start
		t.Fatalf("thread holds %d messages: %+v", len(msgs), msgs)
	}

	// A reply the number cannot send (disabled) is reported; the inbound
	// message and the opt-out are stored all the same.
	ok(t, e.s.DisableNumber(e.ctx, ws, n.ID))
	r = e.inbound(mo(contact(3), n.E164, "STOP"))[0]
	if r.Message == 0 || r.Reply != 0 || inbox.ErrorCode(r.ReplyErr) != inbox.CodeNumberDisabled {
		t.Fatalf("reply from a disabled number: %+v", r)
	}
	if st, err := e.s.GetContactState(e.ctx, ws, contact(3)); err != nil || !st.OptedOut {
		t.Fatalf("state %+v %v", st, err)
	}
}

func TestOptOutsBySourceAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	e.inbound(mo(contact(5), n.E164, "stop"))
	c, err := e.s.SetOptOut(e.ctx, ws, contact(3), true, inbox.SourceAPI)
	ok(t, err)
	if !c.OptedOut || c.Source != inbox.SourceAPI || c.ChangedAt.IsZero() {
		t.Fatalf("api opt-out %+v", c)
	}
	_, err = e.s.SetOptOut(e.ctx, ws, "+1 (646) 200-0004", true, inbox.SourceOperator)
	ok(t, err)
	// Setting the same state again keeps the first source.
	c, err = e.s.SetOptOut(e.ctx, ws, contact(3), true, inbox.SourceOperator)
	ok(t, err)
	if c.Source != inbox.SourceAPI {
		t.Fatalf("repeated opt-out changed the source: %+v", c)
	}
	res, err := e.s.Enqueue(e.ctx, []inbox.OutboundRequest{msg(ws, contact(4), "x")})
	ok(t, err)
	wantCode(t, res[0].Err, inbox.CodeRecipientOptedOut)

	var all []inbox.ContactState
	p := inbox.Page{Limit: 2}
	for {
		list, next, err := e.s.ListOptOuts(e.ctx, ws, p)
		ok(t, err)
		all = append(all, list...)
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if len(all) != 3 || all[0].Contact != contact(3) || all[1].Contact != contact(4) || all[2].Contact != contact(5) ||
		all[1].Source != inbox.SourceOperator || all[2].Source != inbox.SourceKeyword || all[2].Keyword != "STOP" {
		t.Fatalf("opt-outs %+v", all)
	}
	// Opting back in removes the contact from the list and allows sending.
	c, err = e.s.SetOptOut(e.ctx, ws, contact(4), false, inbox.SourceAPI)
	ok(t, err)
	if c.OptedOut || c.Source != inbox.SourceAPI {
		t.Fatalf("opt-in %+v", c)
	}
	e.send(msg(ws, contact(4), "x"))
	list, _, err := e.s.ListOptOuts(e.ctx, ws, inbox.Page{})
	ok(t, err)
	if len(list) != 2 {
		t.Fatalf("after opt-in %+v", list)
	}
	// Refusals.
	_, err = e.s.SetOptOut(e.ctx, ws, "nope", true, inbox.SourceAPI)
	wantCode(t, err, inbox.CodeInvalidRecipient)
	_, err = e.s.SetOptOut(e.ctx, 999999, contact(1), true, inbox.SourceAPI)
	wantCode(t, err, inbox.CodeNotFound)
	_, err = e.s.SetOptOut(e.ctx, ws, contact(1), true, inbox.SourceKeyword)
	wantCode(t, err, inbox.CodeInvalidArgument)
	_, _, err = e.s.ListOptOuts(e.ctx, ws, inbox.Page{Cursor: "bad!"})
	wantCode(t, err, inbox.CodeInvalidCursor)
	if st, err := e.s.GetContactState(e.ctx, ws, contact(9)); err != nil || st.OptedOut || st.Source != "" {
		t.Fatalf("never opted out: %+v %v", st, err)
	}
	_, err = e.s.GetContactState(e.ctx, 999999, contact(9))
	wantCode(t, err, inbox.CodeNotFound)
}

// Usage follows messages through their statuses: a message counts once,
// in its current bucket, whichever statement moved it.
func TestUsageRollups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	other, on := e.ready("other", inbox.Dedicated)
	day := func() []inbox.UsageRow {
		t.Helper()
		e.foldUsage()
		rows, err := e.s.Usage(e.ctx, inbox.UsageQuery{Workspace: ws, From: time.Now(), To: time.Now(), Granularity: inbox.Daily})
		ok(t, err)
		return rows
	}
	want := func(what string, rows []inbox.UsageRow, exp map[string][2]int64) {
		t.Helper()
		got := map[string][2]int64{}
		for _, r := range rows {
			if r.Workspace != ws || r.Number != n.E164 || !r.Period.Equal(time.Now().UTC().Truncate(24*time.Hour)) {
				t.Fatalf("%s: row %+v", what, r)
			}
			got[string(r.Direction)+"/"+r.Status] = [2]int64{r.Messages, r.Segments}
		}
		if len(got) != len(exp) {
			t.Fatalf("%s: usage %v, want %v", what, got, exp)
		}
		for k, v := range exp {
			if got[k] != v {
				t.Fatalf("%s: usage %v, want %v", what, got, exp)
			}
		}
	}
	r1, r2, r3 := msg(ws, contact(1), "a"), msg(ws, contact(2), "b"), msg(ws, contact(3), "c")
	r2.Segments = 2
	ids := e.send(r1, r2, r3)
	e.send(msg(other, contact(1), "not ours"))
	e.inbound(mo(contact(1), on.E164, "not ours either"))
	want("queued", day(), map[string][2]int64{}) // pending messages are not counted
	e.claim("d", 10, time.Minute)
	want("claimed", day(), map[string][2]int64{})
	e.record(okSeg(ids[0].ID, 0, "c1"), okSeg(ids[1].ID, 0, "c2"), okSeg(ids[1].ID, 1, "c3"),
		inbox.SubmitResult{Message: ids[2].ID, Segment: 0, Outcome: inbox.SubmitPermanent, ErrorCode: 0x45})
	want("submitted", day(), map[string][2]int64{"out/submitted": {2, 3}, "out/failed": {1, 1}})
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "c1", Format: inbox.IDOpaque, Status: inbox.ReceiptDelivered},
		inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "c2", Format: inbox.IDOpaque, Status: inbox.ReceiptDelivered})
	// c2 delivered, c3 not yet: message 2 is still submitted.
	want("one delivered", day(), map[string][2]int64{"out/submitted": {1, 2}, "out/delivered": {1, 1}, "out/failed": {1, 1}})
	e.receipts(inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "c3", Format: inbox.IDOpaque, Status: inbox.ReceiptDelivered},
		inbox.Receipt{Carrier: "carrier-a", CarrierMessageID: "c1", Format: inbox.IDOpaque, Status: inbox.ReceiptDelivered}) // a repeat
	e.inbound(mo(contact(1), n.E164, "thanks"), mo(contact(2), n.E164, "ok"))
	rows := day()
	want("delivered", rows, map[string][2]int64{"out/delivered": {2, 3}, "out/failed": {1, 1}, "in/received": {2, 2}})

	// Monthly, and the operator's view across workspaces.
	month, err := e.s.Usage(e.ctx, inbox.UsageQuery{Workspace: ws, From: time.Now().AddDate(0, 0, -40), To: time.Now(), Granularity: inbox.Monthly})
	ok(t, err)
	y, m, _ := time.Now().UTC().Date()
	if len(month) != len(rows) || !month[0].Period.Equal(time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("monthly %+v", month)
	}
	// A whole month is read from the monthly rollup: the same numbers.
	whole, err := e.s.Usage(e.ctx, inbox.UsageQuery{Workspace: ws, From: time.Date(y, m, 1, 0, 0, 0, 0, time.UTC),
		To: time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC), Granularity: inbox.Monthly})
	ok(t, err)
	if len(whole) != len(month) {
		t.Fatalf("whole month %+v, month cut by the span %+v", whole, month)
	}
	for i := range whole {
		if whole[i] != month[i] {
			t.Fatalf("whole month %+v, month cut by the span %+v", whole, month)
		}
	}
	if e.count(`SELECT count(*) FROM usage_monthly WHERE workspace_id = $1`, ws) == 0 {
		t.Fatal("no monthly rollup rows")
	}
	allWs, err := e.s.Usage(e.ctx, inbox.UsageQuery{From: time.Now(), To: time.Now(), Granularity: inbox.Daily})
	ok(t, err)
	if len(allWs) != len(rows)+1 || allWs[len(allWs)-1].Workspace != other || allWs[len(allWs)-1].Status != "received" {
		t.Fatalf("all workspaces %+v", allWs)
	}
	// Refusals.
	for _, q := range []inbox.UsageQuery{
		{Workspace: ws, From: time.Now(), To: time.Now(), Granularity: "week"},
		{Workspace: ws, From: time.Now(), To: time.Now().AddDate(0, 0, -1), Granularity: inbox.Daily},
		{Workspace: ws, From: time.Now().AddDate(-2, 0, 0), To: time.Now(), Granularity: inbox.Daily},
		{Workspace: ws, From: time.Now().AddDate(0, 0, -inbox.MaxUsageDays), To: time.Now(), Granularity: inbox.Daily}, // a day too many
		{Workspace: ws, From: time.Now().AddDate(-11, 0, 0), To: time.Now(), Granularity: inbox.Monthly},
	} {
		_, err := e.s.Usage(e.ctx, q)
		wantCode(t, err, inbox.CodeInvalidArgument)
	}
}
