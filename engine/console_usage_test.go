package engine

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// The console's Settings › Usage against a real engine: messages sent and
// received through the simulator today (counted by the engine's own usage
// fold) and rollups seeded for earlier days, as the fold writes them. The
// page shows the totals, the per-number, per-status and per-day figures
// for this month, last month and a custom span (by month: longer than a
// daily report may be); a custom span that ends before it starts is
// refused in the page, one without messages says so; Download CSV saves
// the API's CSV of what is shown; a reload keeps the period; Refresh reads
// the usage again.
func TestConsoleUsage(t *testing.T) {
	t.Parallel()
	sim, te := consoleEngine(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	ws := createWorkspace(t, te.url, "Acme Dental", true)
	const main, other, contact = "+14155550100", "+14155550199", "+447911123456"
	for _, n := range []string{main, other} {
		if st := testenv.APICall(t, "POST", te.url+"/admin/v1/numbers", consoleOperator,
			map[string]any{"number": n, "kind": "dedicated", "workspace": ws.ID, "carrier": "sim"}, nil); st != 201 {
			t.Fatalf("add %s: %d", n, st)
		}
	}
	if st := testenv.APICall(t, "PUT", te.url+"/v1/sms/number", ws.Token, map[string]any{"number": main}, nil); st != 200 {
		t.Fatalf("connect: %d", st)
	}
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonth := monthStart.AddDate(0, -1, 0)
	twoMonthsAgo := monthStart.AddDate(0, -2, 0) // a custom span from here is longer than 31 days
	day := func(t time.Time) string { return t.Format("2006-01-02") }

	// Today, for real: two messages out (one of two parts), delivered,
	// and a reply in.
	for _, text := range []string{"Your cleaning is confirmed for Tuesday at 9:30.",
		strings.Repeat("Please arrive ten minutes early and bring your insurance card. ", 3)} {
		sendDelivered(t, te.url, ws.Token, contact, text)
	}
	if _, err := sim.InjectMO(context.Background(), smscsim.MO{From: contact, To: main, Text: "Thanks, see you then"}); err != nil {
		t.Fatal(err)
	}

	// Earlier days: rollup rows as the fold writes them, daily and monthly.
	seed := func(d time.Time, number, dir, status string, msgs, segs int) {
		seedUsage(t, te.dbURL, ws.ID, d, number, dir, status, msgs, segs)
	}
	fifth := lastMonth.AddDate(0, 0, 4)
	seed(fifth, other, "out", "delivered", 40, 52)
	seed(fifth, other, "out", "failed", 3, 3)
	seed(fifth, other, "in", "received", 7, 7)
	seed(fifth, main, "out", "expired", 1, 2)
	yesterday := today.AddDate(0, 0, -1)
	earlierThisMonth := yesterday.After(monthStart) || yesterday.Equal(monthStart)
	if earlierThisMonth {
		seed(yesterday, other, "out", "delivered", 5, 5)
	}

	// The engine folds today's messages in within seconds.
	testenv.Eventually(t, "today's messages in the usage", func() bool {
		var u struct {
			Rows []struct {
				Period, Number, Direction, Status string
				Messages, Segments                int
			} `json:"rows"`
		}
		testenv.APICall(t, "GET", te.url+"/v1/usage?from="+day(today)+"&to="+day(today), ws.Token, nil, &u)
		var out, outSegs, in int
		for _, r := range u.Rows {
			if r.Number == main && r.Direction == "out" && r.Status == "delivered" {
				out, outSegs = r.Messages, r.Segments
			}
			if r.Number == main && r.Direction == "in" {
				in = r.Messages
			}
		}
		return out == 2 && outSegs == 3 && in == 1
	})

	type totals struct{ outMsgs, outSegs, inMsgs, inSegs int }
	thisMonth := totals{2, 3, 1, 1}
	if earlierThisMonth {
		thisMonth.outMsgs, thisMonth.outSegs = 7, 8
	}
	lastMonthTotals := totals{44, 57, 7, 7}
	all := totals{thisMonth.outMsgs + 44, thisMonth.outSegs + 57, 8, 8}

	tb := newTab(t, te.url, 1280, 900)
	// showsTotals waits for the page's totals and the span it says it shows.
	showsTotals := func(what string, want totals, from, to, granularity string) {
		tb.t.Helper()
		tb.waitFor(what, fmt.Sprintf(`(() => { const o = document.querySelector('#usage-total-out')?.dataset, i = document.querySelector('#usage-total-in')?.dataset,
			s = document.querySelector('#usage-status').dataset;
			return !!o && s.from === %q && s.to === %q && s.granularity === %q && document.querySelector('#usage-body').getAttribute('aria-busy') !== 'true' &&
				o.messages === '%d' && o.segments === '%d' && i.messages === '%d' && i.segments === '%d' })()`,
			from, to, granularity, want.outMsgs, want.outSegs, want.inMsgs, want.inSegs))
	}
	attr := func(sel, name string) string {
		tb.t.Helper()
		return eval[string](tb, fmt.Sprintf(`document.querySelector(%s)?.getAttribute(%s) ?? 'none'`, jsString(sel), jsString(name)))
	}
	choose := func(period string) {
		tb.t.Helper()
		eval[chromedp.Void](tb, fmt.Sprintf(`(el => { el.value = %q; el.dispatchEvent(new Event('change', {bubbles: true})) })(document.querySelector('#usage-period'))`, period))
	}

	t.Run("ThisMonth", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.signIn(ws.Token, "/console/messages")
		tb.click(`nav a[href="/console/settings/usage"]`)
		showsTotals("this month's totals", thisMonth, day(monthStart), day(today), "day")
		if got := tb.text("#usage-utc"); !strings.Contains(got, "UTC days") {
			t.Fatalf("the page does not say its days are UTC: %q", got)
		}
		row := func(number string) string { return fmt.Sprintf(`#usage-numbers tr[data-number="%s"]`, number) }
		for name, want := range map[string]string{"data-out-messages": "2", "data-out-segments": "3", "data-in-messages": "1", "data-in-segments": "1"} {
			if got := attr(row(main), name); got != want {
				t.Errorf("%s's %s is %s, want %s", main, name, got, want)
			}
		}
		if wantOther := map[bool]string{true: "5", false: "none"}[earlierThisMonth]; attr(row(other), "data-out-messages") != wantOther {
			t.Errorf("%s's messages out: %s, want %s", other, attr(row(other), "data-out-messages"), wantOther)
		}
		status := func(dir, st string) string {
			return attr(fmt.Sprintf(`#usage-statuses tr[data-direction="%s"][data-status="%s"]`, dir, st), "data-messages")
		}
		if got, want := status("out", "delivered"), strconv.Itoa(thisMonth.outMsgs); got != want {
			t.Errorf("delivered: %s, want %s", got, want)
		}
		if got := status("in", "received"); got != "1" {
			t.Errorf("received: %s, want 1", got)
		}
		if got := status("out", "failed"); got != "0" {
			t.Errorf("failed: %s, want 0", got)
		}
		// A bar per day of the month so far, today's as sent and received.
		if got := eval[int](tb, `document.querySelectorAll('#usage-chart g.bar').length`); got != today.Day() {
			t.Errorf("%d bars, want %d", got, today.Day())
		}
		bar := fmt.Sprintf(`#usage-chart g.bar[data-period="%s"]`, day(today))
		if attr(bar, "data-out") != "2" || attr(bar, "data-in") != "1" || eval[int](tb, fmt.Sprintf(`document.querySelectorAll('%s rect.out, %s rect.in').length`, bar, bar)) != 2 {
			t.Errorf("today's bar: out %s, in %s", attr(bar, "data-out"), attr(bar, "data-in"))
		}
		if label := attr("#usage-chart", "aria-label"); !strings.HasPrefix(label, "Messages per day") {
			t.Errorf("the chart's label: %q", label)
		}
		// The place kept for quotas is there, empty and hidden.
		if !eval[bool](tb, `(q => !!q && q.hidden && q.childElementCount === 0)(document.querySelector('#usage-quota'))`) {
			t.Error("no empty, hidden #usage-quota")
		}
		tb.audit("the usage of this month")
		tb.click(".usage-details summary")
		if got := eval[int](tb, `document.querySelectorAll('#usage-periods tbody tr').length`); got != today.Day() {
			t.Errorf("the table per day has %d rows, want %d", got, today.Day())
		}
		tb.audit("the usage per day as a table")
	})

	t.Run("LastMonth", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		choose("last-month")
		last := monthStart.AddDate(0, 0, -1)
		showsTotals("last month's totals", lastMonthTotals, day(lastMonth), day(last), "day")
		for st, want := range map[string]string{"delivered": "40", "failed": "3", "expired": "1", "submitted": "0"} {
			if got := attr(fmt.Sprintf(`#usage-statuses tr[data-direction="out"][data-status="%s"]`, st), "data-messages"); got != want {
				t.Errorf("%s: %s, want %s", st, got, want)
			}
		}
		if got := eval[int](tb, `document.querySelectorAll('#usage-chart g.bar').length`); got != last.Day() {
			t.Errorf("%d bars, want %d", got, last.Day())
		}
		if got := attr(fmt.Sprintf(`#usage-chart g.bar[data-period="%s"]`, day(fifth)), "data-out"); got != "44" {
			t.Errorf("the 5th's bar: %s out, want 44", got)
		}
		if got := eval[string](tb, `location.search`); got != "?period=last-month" {
			t.Errorf("the address keeps %q", got)
		}
	})

	t.Run("Custom", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		choose("custom")
		tb.waitFor("the custom dates", `!document.querySelector('#usage-custom').hidden && document.activeElement?.id === 'usage-from'`)
		tb.audit("the custom period")
		set := func(sel, v string) {
			eval[chromedp.Void](tb, fmt.Sprintf(`document.querySelector(%s).value = %q`, jsString(sel), v))
		}
		set("#usage-from", day(today))
		set("#usage-to", day(lastMonth))
		tb.click("#usage-apply")
		tb.waitFor("the refusal", `!document.querySelector('#usage-error').hidden && document.querySelector('#usage-error').textContent.includes('before the first')`)
		// A span without messages says so.
		set("#usage-from", day(twoMonthsAgo))
		set("#usage-to", day(twoMonthsAgo.AddDate(0, 0, 6)))
		tb.click("#usage-apply")
		showsTotals("no messages", totals{}, day(twoMonthsAgo), day(twoMonthsAgo.AddDate(0, 0, 6)), "day")
		if !eval[bool](tb, `!!document.querySelector('#usage-empty') && !document.querySelector('#usage-chart') && !!document.querySelector('#usage-quota')`) {
			t.Error("an empty span shows no word of it, or a chart, or loses the quota's place")
		}
		tb.audit("a span without messages")
		set("#usage-to", day(today))
		tb.click("#usage-apply")
		showsTotals("the custom span's totals, by month", all, day(twoMonthsAgo), day(today), "month")
		if !eval[bool](tb, `document.querySelector('#usage-error').hidden`) {
			t.Error("the refusal still shows")
		}
		if got := eval[string](tb, `[...document.querySelectorAll('#usage-chart g.bar')].map(b => b.dataset.period + ':' + b.dataset.out).join(' ')`); got !=
			fmt.Sprintf("%s:0 %s:44 %s:%d", day(twoMonthsAgo), day(lastMonth), day(monthStart), thisMonth.outMsgs) {
			t.Errorf("the bars per month: %s", got)
		}
	})

	t.Run("DownloadCSV", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		dir := t.TempDir()
		var mu sync.Mutex
		names := map[string]string{} // guid → suggested name
		done := make(chan string, 4) // guids of completed downloads
		lctx, cancel := context.WithCancel(tb.ctx)
		defer cancel()
		if err := chromedp.Listen(lctx, func(ev any) {
			switch ev := ev.(type) {
			case *browser.EventDownloadWillBegin:
				mu.Lock()
				names[ev.GUID] = ev.SuggestedFilename
				mu.Unlock()
			case *browser.EventDownloadProgress:
				if ev.State == browser.DownloadProgressStateCompleted {
					select {
					case done <- ev.GUID:
					default:
					}
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(tb.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)}); err != nil {
			t.Fatal(err)
		}
		tb.click("#usage-csv")
		var guid string
		select {
		case guid = <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("no download completed")
		}
		mu.Lock()
		name := names[guid]
		mu.Unlock()
		if want := "usage-" + day(twoMonthsAgo) + "-" + day(today) + ".csv"; name != want {
			t.Errorf("the file is named %q, want %q", name, want)
		}
		b, err := os.ReadFile(filepath.Join(dir, guid))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, b)
		}
		if len(recs) < 2 || strings.Join(recs[0], ",") != "period,number,direction,status,messages,segments" {
			t.Fatalf("the CSV:\n%s", b)
		}
		var got totals
		for _, r := range recs[1:] {
			if r[0] != day(lastMonth) && r[0] != day(monthStart) {
				t.Errorf("a row of period %s in a report by month", r[0])
			}
			m, _ := strconv.Atoi(r[4])
			s, _ := strconv.Atoi(r[5])
			if r[2] == "in" {
				got.inMsgs, got.inSegs = got.inMsgs+m, got.inSegs+s
			} else {
				got.outMsgs, got.outSegs = got.outMsgs+m, got.outSegs+s
			}
		}
		if got != all {
			t.Errorf("the CSV adds up to %+v, the page showed %+v:\n%s", got, all, b)
		}
	})

	t.Run("ReloadKeepsPeriod", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.do("reload", chromedp.Reload())
		showsTotals("the custom span again", all, day(twoMonthsAgo), day(today), "month")
		if got := eval[string](tb, `document.querySelector('#usage-period').value`); got != "custom" {
			t.Errorf("the period reads %q after a reload", got)
		}
	})
	t.Run("Refresh", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if _, err := sim.InjectMO(context.Background(), smscsim.MO{From: contact, To: main, Text: "One more question"}); err != nil {
			t.Fatal(err)
		}
		// The engine folds the reply in within seconds; Refresh reads
		// the usage again.
		want := fmt.Sprintf(`document.querySelector('#usage-total-in')?.dataset.messages === '%d'`, all.inMsgs+1)
		for deadline := time.Now().Add(20 * time.Second); !eval[bool](tb, want); {
			if time.Now().After(deadline) {
				t.Fatalf("Refresh never showed the new reply: %s received", attr("#usage-total-in", "data-messages"))
			}
			tb.click("#usage-refresh")
			time.Sleep(500 * time.Millisecond) // one Refresh click per half second
		}
	})
	if p := tb.problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// seedUsage adds messages and segments to a workspace's usage rollups of
// day d (daily, and its month), as the engine's fold writes them.
func seedUsage(t *testing.T, dbURL, ws string, d time.Time, number, dir, status string, msgs, segs int) {
	t.Helper()
	wsID, err := strconv.ParseInt(ws, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	pool := testenv.OpenPool(t, dbURL, 1)
	defer pool.Close()
	for _, sql := range []string{
		`INSERT INTO usage_daily (workspace_id, day, number_id, direction, status, messages, segments)
		 SELECT $1, $2::date, id, $4, $5, $6, $7 FROM numbers WHERE e164 = $3
		 ON CONFLICT (workspace_id, day, number_id, direction, status)
		 DO UPDATE SET messages = usage_daily.messages + EXCLUDED.messages, segments = usage_daily.segments + EXCLUDED.segments`,
		`INSERT INTO usage_monthly (workspace_id, month, number_id, direction, status, messages, segments)
		 SELECT $1, date_trunc('month', $2::date)::date, id, $4, $5, $6, $7 FROM numbers WHERE e164 = $3
		 ON CONFLICT (workspace_id, month, number_id, direction, status)
		 DO UPDATE SET messages = usage_monthly.messages + EXCLUDED.messages, segments = usage_monthly.segments + EXCLUDED.segments`,
	} {
		if tag, err := pool.Exec(context.Background(), sql, wsID, d, number, dir, status, msgs, segs); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("seed usage: %v %v", tag, err)
		}
	}
}
