package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// The console's Settings › SMS shows the workspace's segment quota: none
// set, then the operator's daily cap with what is used as a bar and when
// it resets (midnight in the workspace's time zone), updated live by the
// quota.threshold events at 80 % and 100 %.
func TestConsoleQuota(t *testing.T) {
	t.Parallel()
	_, te := consoleEngine(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	ws := createWorkspace(t, te.url, "Acme Dental", true)
	const shared = "+14155552600"
	if st := testenv.APICall(t, "POST", te.url+"/admin/v1/numbers", consoleOperator, map[string]any{"number": shared, "kind": "shared", "carrier": "sim"}, nil); st != 201 {
		t.Fatalf("add the shared number: %d", st)
	}
	if st := testenv.APICall(t, "PUT", te.url+"/v1/sms/number", ws.Token, map[string]any{"number": shared}, nil); st != 200 {
		t.Fatalf("connect: %d", st)
	}
	send := func(i, want int) {
		t.Helper()
		if st := testenv.APICall(t, "POST", te.url+"/v1/messages", ws.Token, map[string]any{"to": fmt.Sprintf("+4479111234%02d", i), "text": "hi"}, nil); st != want {
			t.Fatalf("message %d: %d, want %d", i, st, want)
		}
	}
	tb := newTab(t, te.url, 1280, 900)
	tb.screenshotOnFailure(t)
	tb.signIn(ws.Token, "/console/messages")
	tb.click(`nav a[href="/console/settings/sms"]`)
	tb.waitFor("the quota card without caps", `document.querySelector('#quota')?.textContent.includes('No segment cap is set')`)

	if st := testenv.APICall(t, "PATCH", te.url+"/admin/v1/workspaces/"+ws.ID, consoleOperator,
		map[string]any{"time_zone": "Asia/Kolkata", "daily_segment_cap": 5}, nil); st != 200 {
		t.Fatalf("set the cap: %d", st)
	}
	send(1, 202)
	// The page reads the quota when it opens: open it again.
	tb.click(`nav a[href="/console/messages"]`)
	tb.waitFor("the messages page", `location.pathname === '/console/messages'`)
	tb.click(`nav a[href="/console/settings/sms"]`)
	tb.waitFor("the daily cap", `document.querySelector('#quota .quota-cap[data-cap=daily] .quota-used')?.textContent === '1 of 5 segments used; 4 segments left.'`)
	if got := tb.text(`#quota .quota-cap[data-cap=daily] p.muted`); !strings.Contains(got, "midnight in Asia/Kolkata") {
		t.Fatalf("the reset line reads %q", got)
	}
	if n := eval[int](tb, `document.querySelectorAll('#quota .quota-cap').length`); n != 1 {
		t.Fatalf("%d caps shown, want the daily one only", n)
	}
	if v := eval[float64](tb, `document.querySelector('#quota meter').value`); v != 1 {
		t.Fatalf("the bar shows %v", v)
	}
	tb.audit("Settings › SMS with a quota")

	// 80 % and 100 % arrive as events: the card follows without a reload.
	for i := 2; i <= 4; i++ {
		send(i, 202)
	}
	tb.waitFor("80 % used", `document.querySelector('#quota .badge')?.textContent === '80 % used' &&
		document.querySelector('#quota .quota-used').textContent.startsWith('4 of 5')`)
	send(5, 202)
	send(6, 429)
	tb.waitFor("the cap reached", `document.querySelector('#quota .badge')?.textContent === 'Cap reached' &&
		document.querySelector('#quota .quota-used').textContent === '5 of 5 segments used; 0 segments left.'`)
	if p := tb.problems(); len(p) > 0 {
		t.Fatalf("page problems: %v", p)
	}
}
