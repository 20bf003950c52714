package smscsim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smpp"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// longUCS2 is a UCS-2 text of 4 parts.
var longUCS2 = strings.Repeat("Привет, это длинное сообщение 👍 ", 7) // 231 UTF-16 units: 4 parts

// TestInjectMO: a long UCS-2 message injected as 16-bit UDH parts and as
// SAR parts reaches our smpp.Session, and smpp.UserData reassembles it; a
// short one arrives whole; a UCS-2 STOP keyword too.
func TestInjectMO(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) { a.Numbers = []string{"+14155550100..14155550109"} }))
	in := newInbox()
	session(t, s.Addr(""), func(c *smpp.SessionConfig) { c.Handler = in })
	var want []string
	total := 0
	for _, m := range []smscsim.MO{
		{From: "+447700900001", To: "+14155550100", Text: longUCS2, Method: "udh16"},
		{From: "447700900002", To: "14155550101", Text: longUCS2, Method: "sar"},
		{From: "447700900003", To: "14155550102", Text: longUCS2, Method: "udh8"},
		{From: "447700900004", To: "14155550103", Text: "STOP", Encoding: "ucs2"},
		{From: "447700900005", To: "14155550104", Text: strings.Repeat("long GSM text ", 20), Method: "payload"},
	} {
		sts, err := s.InjectMO(ctx(t), m)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			if st != smpp.StatusOK {
				t.Fatalf("deliver_sm_resp %v", st)
			}
		}
		total += len(sts)
		want = append(want, m.Text)
	}
	evs := in.wait(t, total)
	if total != 4+4+4+1+1 {
		t.Fatalf("%d parts", total)
	}
	// The parts' form: 16-bit UDH, SAR TLVs without UDH, data_coding 8.
	for i, ev := range evs[:12] {
		_, cc, isPart, err := smpp.UserData(ev.esm, ev.text, ev.tlvs)
		switch {
		case err != nil || !isPart || ev.dc != smpp.DataCodingUCS2:
			t.Fatalf("part %d: %v %v dc %d", i, err, isPart, ev.dc)
		case i < 4 && (ev.esm&smpp.ESMClassUDHI == 0 || !cc.Wide || ev.text[1] != coding.IEIConcat16):
			t.Fatalf("part %d is not 16-bit UDH: % x", i, ev.text[:7])
		case i >= 4 && i < 8 && (ev.esm&smpp.ESMClassUDHI != 0 || len(ev.tlvs) == 0):
			t.Fatalf("part %d is not SAR", i)
		case i >= 8 && (ev.esm&smpp.ESMClassUDHI == 0 || cc.Wide):
			t.Fatalf("part %d is not 8-bit UDH", i)
		}
		if ev.src != strings.TrimPrefix([]string{"447700900001", "447700900002", "447700900003"}[i/4], "+") {
			t.Fatalf("part %d from %q", i, ev.src)
		}
	}
	if got := reassemble(t, evs); !slices.Equal(got, want) {
		t.Fatalf("reassembled %q, want %q", got, want)
	}
	ar := report(t, s, "acme")
	if ar.MOSent != 5 || ar.MOParts != int64(total) || ar.MOResps["ESME_ROK"] != int64(total) {
		t.Fatalf("report %+v", ar)
	}
}

// TestInjectMOStatuses: the ESME's deliver_sm_resp statuses come back to
// the caller and are counted; without a receiver InjectMO fails.
func TestInjectMOStatuses(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Accounts: []smscsim.AccountConfig{acct(nil), {SystemID: "other", Numbers: []string{"18005550100"}}}})
	m := smscsim.MO{Account: "acme", From: "447700900001", To: "14155550100", Text: "hi"}
	if _, err := s.InjectMO(ctx(t), m); !errors.Is(err, smscsim.ErrNoReceiver) {
		t.Fatalf("no receiver: %v", err)
	}
	if _, err := s.InjectMO(ctx(t), smscsim.MO{From: "1", To: "2", Text: "x"}); err == nil {
		t.Fatal("an MO no account claims was accepted")
	}
	in := newInbox()
	in.status = smpp.StatusX_T_APPN
	session(t, s.Addr(""), func(c *smpp.SessionConfig) { c.Handler = in })
	sts, err := s.InjectMO(ctx(t), m)
	if err != nil || !slices.Equal(sts, []smpp.Status{smpp.StatusX_T_APPN}) {
		t.Fatalf("statuses %v, %v", sts, err)
	}
	if ar := report(t, s, "acme"); ar.MOResps["ESME_RX_T_APPN"] != 1 {
		t.Fatalf("mo_resps %v", ar.MOResps)
	}
}

// TestHTTPEndpoint: GET /stats serves the report, POST /mo injects (a long
// UCS-2 text as SAR here), POST /mute hangs, POST /drop drops.
func TestHTTPEndpoint(t *testing.T) {
	t.Parallel()
	cfg := oneAccount(nil)
	cfg.Stats = "127.0.0.1:0"
	s := start(t, cfg)
	base := "http://" + s.StatsAddr()
	post := func(path string, body any) (int, smscsim.MOResult) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r smscsim.MOResult
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &r)
		return resp.StatusCode, r
	}
	mo := map[string]string{"from": "447700900001", "to": "14155550100", "text": longUCS2, "method": "sar"}
	if code, r := post("/mo", mo); code != http.StatusConflict || !strings.Contains(r.Error, "no receiver") {
		t.Fatalf("no receiver: %d %+v", code, r)
	}
	if code, _ := post("/mo", map[string]string{"from": "1", "to": "2", "text": "x", "colour": "red"}); code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", code)
	}
	in := newInbox()
	sess := session(t, s.Addr(""), func(c *smpp.SessionConfig) { c.Handler = in })
	code, r := post("/mo", mo)
	if code != http.StatusOK || r.Parts != 4 || !slices.Equal(r.Statuses, []string{"ESME_ROK", "ESME_ROK", "ESME_ROK", "ESME_ROK"}) {
		t.Fatalf("POST /mo: %d %+v", code, r)
	}
	if got := reassemble(t, in.wait(t, 4)); !slices.Equal(got, []string{longUCS2}) {
		t.Fatalf("reassembled %q", got)
	}
	if _, err := sess.Submit(ctx(t), msg("14155550100", "447700900001", 0, "hello")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var rep smscsim.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ar, _ := rep.Account("acme")
	if resp.Header.Get("Content-Type") != "application/json" || ar.Accepted != 1 || ar.MOSent != 1 || ar.MOParts != 4 || rep.Listeners["default"] != s.Addr("") {
		t.Fatalf("GET /stats: %+v", rep)
	}
	// Mute: a submit goes unanswered until the response timeout.
	if code, _ := post("/mute?for=300ms", nil); code != http.StatusOK {
		t.Fatalf("POST /mute: %d", code)
	}
	c, cancel := contextTimeout(150 * time.Millisecond)
	_, err = sess.Submit(c, msg("14155550100", "447700900001", 0, "hello"))
	cancel()
	if err == nil {
		t.Fatal("answered while muted")
	}
	if code, _ := post("/mute?for=x", nil); code != http.StatusBadRequest {
		t.Fatalf("bad mute: %d", code)
	}
	time.Sleep(200 * time.Millisecond) // the mute is over: the rebind is answered
	if code, _ := post("/drop", nil); code != http.StatusOK {
		t.Fatalf("POST /drop: %d", code)
	}
	waitStats(t, s, "the drop and rebind", func(st smscsim.Stats) bool { return st.Binds == 2 && st.Bound == 1 })
}

// TestLoopback: a submit_sm to a loopback number comes back, after its
// delay, as an MO from that number to the sender with the same text,
// parts included; other numbers never loop back.
func TestLoopback(t *testing.T) {
	t.Parallel()
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) {
		a.Loopback.Numbers = []string{"+447700900100..447700900199"}
		a.Loopback.Delay = "200ms"
	}))
	in := newInbox()
	sess := session(t, s.Addr(""), func(c *smpp.SessionConfig) { c.Handler = in })
	t0 := time.Now()
	if _, err := sess.Submit(ctx(t), msg("14155550100", "447700900150", 0, "ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Submit(ctx(t), msg("14155550100", "447700900200", 0, "not a loopback number")); err != nil {
		t.Fatal(err)
	}
	// A long UCS-2 text in 16-bit UDH parts, from our own splitter.
	var sp coding.Splitter
	parts, err := sp.Split(longUCS2, coding.UCS2, coding.UDH16, 0x1234)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range parts {
		p := msg("14155550101", "+447700900151", 0, "")
		p.DataCoding = smpp.DataCodingUCS2
		smpp.SetPart(p, part, coding.UDH16)
		if _, err := sess.Submit(ctx(t), p); err != nil {
			t.Fatal(err)
		}
	}
	// The session's handler runs per source address in parallel: arrival
	// order across sources is not kept.
	evs := in.wait(t, 1+len(parts))
	i := slices.IndexFunc(evs, func(ev event) bool { return ev.src == "447700900150" })
	if i < 0 || evs[i].dst != "14155550100" || string(evs[i].text) != "ping" || evs[i].esm != 0 {
		t.Fatalf("loopback %+v", evs)
	}
	if d := evs[i].at.Sub(t0); d < 190*time.Millisecond {
		t.Fatalf("looped back after %v", d)
	}
	got := reassemble(t, evs)
	slices.Sort(got)
	if want := []string{"ping", longUCS2}; !slices.Equal(got, want) || evs[(i+1)%len(evs)].src != "+447700900151" {
		t.Fatalf("reassembled %q", got)
	}
	time.Sleep(300 * time.Millisecond) // real time: past the loopback delay, a wrong loopback would have arrived
	if n := len(in.wait(t, 0)); n != 1+len(parts) {
		t.Fatalf("%d deliver_sm: a number outside the set looped back", n)
	}
	if ar := report(t, s, "acme"); ar.Loopbacks != int64(1+len(parts)) || ar.MOSent != ar.Loopbacks {
		t.Fatalf("loopbacks %d mo %d", ar.Loopbacks, ar.MOSent)
	}
}

// TestLoopbackToReceiver: a transmitter's loopback goes to a receiver of
// the same account, never to another account's.
func TestLoopbackToReceiver(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Accounts: []smscsim.AccountConfig{
		acct(func(a *smscsim.AccountConfig) { a.Loopback.Numbers = []string{"447700900100"} }),
		{SystemID: "other"},
	}})
	other := dial(t, s.Addr(""))
	if st := other.Bind(smpp.BindReceiver, "other", ""); st != smpp.StatusOK {
		t.Fatal(st)
	}
	rx := dial(t, s.Addr("")).mustBind(smpp.BindReceiver)
	tx := dial(t, s.Addr("")).mustBind(smpp.BindTransmitter)
	tx.Send(msg("14155550100", "447700900100", 0, "echo"))
	tx.collect(1, 0, 0, ioTimeout)
	ev := rx.collect(0, 1, 0, ioTimeout)[0]
	if ev.src != "447700900100" || string(ev.text) != "echo" {
		t.Fatalf("loopback %+v", ev)
	}
	other.ExpectNothing(100 * time.Millisecond)
}

// TestMOGenerator: generated traffic comes at its rate from the contacts
// to our numbers, with long messages in every configured method, UCS-2
// texts and keywords, and every message reassembles and decodes.
func TestMOGenerator(t *testing.T) {
	t.Parallel()
	s := start(t, smscsim.Config{Seed: 42, Accounts: []smscsim.AccountConfig{acct(func(a *smscsim.AccountConfig) {
		a.Numbers = []string{"14155550100..14155550101"}
		a.MO = smscsim.MOConfig{Rate: 100, From: []string{"447700900001..447700900005"}, Long: 0.5,
			Methods: []string{"udh8", "udh16", "sar"}, UCS2: 0.5, Keywords: 0.2}
	})}})
	in := newInbox()
	session(t, s.Addr(""), func(c *smpp.SessionConfig) { c.Handler = in })
	waitStats(t, s, "80 MO messages", func(st smscsim.Stats) bool { return st.MOMessages >= 80 })
	st := s.Stats()
	evs := in.wait(t, int(st.MOParts))
	msgs := reassemble(t, evs)
	kinds := map[string]int{}
	for _, ev := range evs {
		if !strings.HasPrefix(ev.src, "4477009000") || !strings.HasPrefix(ev.dst, "1415555010") {
			t.Fatalf("from %q to %q", ev.src, ev.dst)
		}
		_, cc, isPart, _ := smpp.UserData(ev.esm, ev.text, ev.tlvs)
		switch {
		case !isPart:
		case ev.esm&smpp.ESMClassUDHI == 0:
			kinds["sar"]++
		case cc.Wide:
			kinds["udh16"]++
		default:
			kinds["udh8"]++
		}
		if ev.dc == smpp.DataCodingUCS2 {
			kinds["ucs2"]++
		}
	}
	for _, m := range msgs {
		switch m {
		case "STOP", "Stop", "stop", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "START", "Start", "UNSTOP", "YES":
			kinds["keyword"]++
		}
	}
	for _, k := range []string{"udh8", "udh16", "sar", "ucs2", "keyword"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among %d messages: %v", k, len(msgs), kinds)
		}
	}
	if len(msgs) < 80 {
		t.Fatalf("%d messages reassembled", len(msgs))
	}
}

// TestMOGeneratorTexts: texts come from the file; none is generated while
// no receiver is bound.
func TestMOGeneratorTexts(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/texts.txt"
	if err := writeFile(path, "Is the shop open?\n\nSee you at 5\n"); err != nil {
		t.Fatal(err)
	}
	s := start(t, oneAccount(func(a *smscsim.AccountConfig) {
		a.MO = smscsim.MOConfig{Rate: 50, From: []string{"447700900001"}, To: []string{"14155550100"}, TextsFile: path}
	}))
	waitStats(t, s, "an MO skipped for want of a receiver", func(smscsim.Stats) bool { return report(t, s, "acme").MOSkipped > 0 })
	if ar := report(t, s, "acme"); ar.MOSkipped == 0 || ar.MOSent != 0 {
		t.Fatalf("without a receiver: skipped %d sent %d", ar.MOSkipped, ar.MOSent)
	}
	in := newInbox()
	session(t, s.Addr(""), func(c *smpp.SessionConfig) { c.Handler = in })
	for _, m := range reassemble(t, in.wait(t, 10)) {
		if m != "Is the shop open?" && m != "See you at 5" {
			t.Fatalf("text %q", m)
		}
	}
}
