package engine

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

// The console's Settings › Webhooks, end to end against a verifying
// receiver: adding an endpoint shows its secret once (and the receiver
// verifies deliveries with what the page showed), a test event appears in
// the delivery log, replay, rotation (the new secret alone verifies), an
// endpoint that answers 410 shows why it was disabled, enabling and
// disabling, editing, deleting.
func TestConsoleWebhooks(t *testing.T) {
	t.Parallel()
	rcv, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rcv.Close() })
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Operator.Token = consoleOperator
		c.Webhooks.AllowPrivate = []string{"127.0.0.1"}
	})
	te := startEngine(t, cfg)
	ws := createWorkspace(t, te.url, "Acme Dental", true)
	tb := newTab(t, te.url, 1280, 900)
	grant := func(name string) {
		if _, err := chromedp.CallBrowser(tb.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: te.url}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	grant("clipboard-read")
	grant("clipboard-write")

	type hook struct {
		ID             string   `json:"id"`
		URL            string   `json:"url"`
		Description    string   `json:"description"`
		EventTypes     []string `json:"event_types"`
		Enabled        bool     `json:"enabled"`
		DisabledReason *string  `json:"disabled_reason"`
	}
	list := func(t *testing.T) []hook {
		var l struct {
			Webhooks []hook `json:"webhooks"`
		}
		if st := testenv.APICall(t, "GET", te.url+"/v1/webhooks", ws.Token, nil, &l); st != 200 {
			t.Fatalf("list webhooks: %d", st)
		}
		return l.Webhooks
	}
	// secretOnPage says whether the secret is anywhere in the page: its
	// text, its markup, a field's value, the tab's storage.
	secretOnPage := func(secret string) bool {
		return eval[bool](tb, fmt.Sprintf(`(() => { const s = %s;
			return document.documentElement.outerHTML.includes(s) || document.body.innerText.includes(s) ||
				[...document.querySelectorAll('input, textarea')].some(i => i.value.includes(s)) ||
				JSON.stringify(sessionStorage).includes(s) || JSON.stringify(localStorage).includes(s) })()`, jsString(secret)))
	}
	// testEvent sends a test event from the page and waits for its first
	// attempt in the delivery log (the row of an event id the log did not
	// have: retries of earlier events may arrive meanwhile); it returns the
	// event id and the attempt's HTTP status.
	testEvent := func(t *testing.T, id string) (string, string) {
		t.Helper()
		rows := fmt.Sprintf(`[...document.querySelectorAll('table.attempts[data-webhook="%s"] tr[data-attempt]')]`, id)
		eval[chromedp.Void](tb, fmt.Sprintf(`window.knownEvents = new Set(%s.map(r => r.dataset.event))`, rows))
		tb.click(fmt.Sprintf(`button.wh-test[data-webhook="%s"]`, id))
		newRow := fmt.Sprintf(`%s.find(r => !window.knownEvents.has(r.dataset.event))`, rows)
		tb.waitFor("the test event's attempt in the delivery log", "!!"+newRow)
		return eval[string](tb, newRow+".dataset.event"), eval[string](tb, newRow+".querySelector('td.http-status').textContent")
	}
	// delivered waits for an attempt of ev answered 200, reading the log
	// again (Refresh) while it waits: a retry comes seconds later.
	delivered := func(t *testing.T, id, ev string) {
		t.Helper()
		row := fmt.Sprintf(`[...document.querySelectorAll('table.attempts[data-webhook="%s"] tr[data-event="%s"] td.http-status')].some(td => td.textContent === '200')`, id, ev)
		for deadline := time.Now().Add(20 * time.Second); !eval[bool](tb, row); {
			if time.Now().After(deadline) {
				t.Fatalf("no attempt of %s was answered 200:\n%s", ev, tb.text(fmt.Sprintf(`#log-%s`, id)))
			}
			tb.click(fmt.Sprintf(`button.wh-log-refresh[data-webhook="%s"]`, id))
			time.Sleep(500 * time.Millisecond) // one Refresh click per half second
		}
	}

	var id, secret string
	t.Run("CreateShowsSecretOnce", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.signIn(ws.Token, "/console/messages")
		tb.click(`nav a[href="/console/settings/webhooks"]`)
		tb.waitFor("the empty list and the form", `!!document.querySelector('#no-webhooks') && !!document.querySelector('#new-form input[value="webhook.disabled"]')`)
		tb.audit("the webhooks without endpoints")
		// Every documented event type is offered.
		if got := eval[string](tb, `[...document.querySelectorAll('#new-form input[name=event_types]')].map(i => i.value).join(' ')`); got !=
			"message.status message.received number.* number.connected number.disabled number.enabled number.disconnected number.request_fulfilled number.request_declined webhook.disabled quota.threshold" {
			t.Fatalf("the event types offered: %s", got)
		}
		// Refused before asking the engine: no event type.
		tb.typeInto("#new-url", rcv.URL)
		tb.click("#new-save")
		tb.waitFor("the form's refusal", `!document.querySelector('#new-error').hidden && document.querySelector('#new-error').textContent.includes('at least one')`)
		tb.typeInto("#new-description", "CRM sync")
		tb.click(`#new-form input[value="message.status"]`)
		tb.click(`#new-form input[value="number.*"]`)
		tb.click("#new-save")
		tb.waitFor("the secret", `document.querySelector('#secret-value')?.value.startsWith('whsec_')`)
		secret = eval[string](tb, `document.querySelector('#secret-value').value`)
		l := list(t)
		if len(l) != 1 || l[0].URL != rcv.URL || l[0].Description != "CRM sync" || strings.Join(l[0].EventTypes, ",") != "message.status,number.*" || !l[0].Enabled {
			t.Fatalf("the engine has %+v", l)
		}
		id = l[0].ID
		if !strings.Contains(tb.text("#secret-reveal"), "shown this once") {
			t.Fatalf("the secret's card says %q", tb.text("#secret-reveal"))
		}
		tb.audit("the secret shown once")
		tb.click("#copy-secret")
		tb.waitFor("copied", `[...document.querySelectorAll('.toast')].some(t => t.textContent === 'The secret is copied.')`)
		if got := eval[string](tb, `navigator.clipboard.readText()`); got != secret {
			t.Fatalf("the clipboard holds %.12q…, not the secret", got)
		}
		if err := rcv.SetSecrets(secret); err != nil {
			t.Fatal(err)
		}
		tb.click("#secret-done")
		tb.waitFor("the secret gone", `!document.querySelector('#secret-reveal')`)
		if secretOnPage(secret) {
			t.Fatal("the secret is still on the page after Done")
		}
		tb.do("reload", chromedp.Reload())
		tb.waitFor("the endpoint", fmt.Sprintf(`!!document.querySelector('li.webhook[data-webhook="%s"] .wh-state')`, id))
		if secretOnPage(secret) {
			t.Fatal("the secret is on the page again after a reload")
		}
		if got := tb.text(fmt.Sprintf(`li.webhook[data-webhook="%s"] .wh-state`, id)); got != "Enabled" {
			t.Fatalf("the endpoint's state reads %q", got)
		}
	})

	t.Run("TestEventInDeliveryLogAndReplay", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if id == "" {
			t.Skip("no endpoint")
		}
		ev, status := testEvent(t, id)
		if status != "200" {
			t.Fatalf("the attempt of %s shows HTTP status %q", ev, status)
		}
		got, ok := rcv.Events()[ev]
		if !ok || got.Type != "webhook.test" || got.Times != 1 {
			t.Fatalf("the receiver accepted %+v (%v) for %s; it has %v", got, ok, ev, rcv.Events())
		}
		if _, unverified, _ := rcv.Stats(); unverified != 0 {
			t.Fatalf("%d deliveries did not verify with the secret the page showed", unverified)
		}
		row := fmt.Sprintf(`table.attempts[data-webhook="%s"] tr[data-event="%s"]`, id, ev)
		if lat := tb.text(row + " td.latency"); !strings.HasSuffix(lat, " ms") {
			t.Fatalf("the latency reads %q", lat)
		}
		tb.audit("the delivery log")
		tb.click(row + " button.replay")
		tb.waitFor("the replay's attempt", fmt.Sprintf(`document.querySelectorAll('%s').length === 2`, row))
		testenv.Eventually(t, "the replayed event at the receiver", func() bool { return rcv.Events()[ev].Times == 2 })
	})

	t.Run("DeliveryLogPages", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if id == "" {
			t.Skip("no endpoint")
		}
		// More attempts than a page of the log (20): test events sent
		// through the API, each delivered once.
		attempts := func() int {
			n, cursor := 0, ""
			for {
				var page struct {
					Attempts   []struct{ ID string } `json:"attempts"`
					NextCursor *string               `json:"next_cursor"`
				}
				if st := testenv.APICall(t, "GET", te.url+"/v1/webhooks/"+id+"/attempts?limit=100&cursor="+cursor, ws.Token, nil, &page); st != 200 {
					t.Fatalf("attempts: %d", st)
				}
				n += len(page.Attempts)
				if page.NextCursor == nil {
					return n
				}
				cursor = *page.NextCursor
			}
		}
		for range 20 {
			if st := testenv.APICall(t, "POST", te.url+"/v1/webhooks/"+id+"/test", ws.Token, nil, nil); st != 202 {
				t.Fatalf("test event: %d", st)
			}
		}
		want := 0
		testenv.Eventually(t, "22 attempts or more", func() bool { want = attempts(); return want >= 22 })
		rows := fmt.Sprintf(`document.querySelectorAll('table.attempts[data-webhook="%s"] tr[data-attempt]').length`, id)
		tb.click(fmt.Sprintf(`button.wh-log-refresh[data-webhook="%s"]`, id))
		tb.waitFor("a full first page and a way to older attempts", fmt.Sprintf(`%s === 20 && !!document.querySelector('button.older[data-webhook="%s"]')`, rows, id))
		tb.click(fmt.Sprintf(`button.older[data-webhook="%s"]`, id))
		tb.waitFor("every attempt, once", fmt.Sprintf(`%s === %d && new Set([...document.querySelectorAll('table.attempts[data-webhook="%s"] tr[data-attempt]')].map(r => r.dataset.attempt)).size === %d &&
			!document.querySelector('button.older[data-webhook="%s"]')`, rows, want, id, want, id))
	})

	t.Run("RotateShowsNewSecretOnce", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if id == "" {
			t.Skip("no endpoint")
		}
		tb.click(fmt.Sprintf(`button.wh-rotate[data-webhook="%s"]`, id))
		tb.waitFor("the confirmation", `document.querySelector('dialog[open]')?.textContent.includes('24 hours')`)
		tb.click("dialog[open] .btn-primary")
		tb.waitFor("the new secret", fmt.Sprintf(`(v => v.startsWith('whsec_') && v !== %s)(document.querySelector('#secret-value')?.value || '')`, jsString(secret)))
		if got := tb.text("#secret-reveal .rotated"); !strings.Contains(got, "previous secret keeps signing too for 24 hours") {
			t.Fatalf("the rotation says %q", got)
		}
		next := eval[string](tb, `document.querySelector('#secret-value').value`)
		tb.click("#secret-done")
		tb.waitFor("the previous secret's expiry", fmt.Sprintf(`document.querySelector('li.webhook[data-webhook="%s"]')?.textContent.includes('previous secret signs too until')`, id))
		if secretOnPage(next) {
			t.Fatal("the new secret is still on the page after Done")
		}
		// The receiver knows only the new secret now. (The engine's
		// deliverer picks the new secret up at its next lease renewal, up
		// to webhooks.lease/3 after the rotation; a delivery signed before
		// that carries the old secret's signature only, is refused, and
		// its retry is signed with both.)
		if err := rcv.SetSecrets(next); err != nil {
			t.Fatal(err)
		}
		ev, _ := testEvent(t, id)
		delivered(t, id, ev)
		if got := rcv.Events()[ev]; got.Type != "webhook.test" {
			t.Fatalf("the receiver has %+v for %s", got, ev)
		}
		if n := rcv.LastSignatures(); n != 2 {
			t.Fatalf("the delivery carried %d signatures, not the new and the previous secret's", n)
		}
	})

	t.Run("GoneShowsWhy", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if id == "" {
			t.Skip("no endpoint")
		}
		rcv.SetBehaviour(func(int64, string) webhooktest.Answer { return webhooktest.Answer{Status: http.StatusGone} })
		if _, status := testEvent(t, id); status != "410" {
			t.Fatalf("the attempt shows %q, not 410", status)
		}
		state := fmt.Sprintf(`li.webhook[data-webhook="%s"] .wh-state`, id)
		tb.waitFor("disabled: gone", fmt.Sprintf(`document.querySelector('%s')?.dataset.reason === 'gone'`, state))
		if why := tb.text(fmt.Sprintf(`li.webhook[data-webhook="%s"] .why`, id)); !strings.Contains(why, "410 Gone") {
			t.Fatalf("the page says %q", why)
		}
		tb.audit("an endpoint disabled for 410")
		// A test event to a disabled endpoint is refused in words.
		tb.click(fmt.Sprintf(`button.wh-test[data-webhook="%s"]`, id))
		tb.waitFor("the refusal", `[...document.querySelectorAll('.toast-error')].some(t => t.textContent.includes('This endpoint is disabled'))`)
		rcv.SetBehaviour(nil)
		tb.click(fmt.Sprintf(`button.wh-toggle[data-webhook="%s"]`, id))
		tb.waitFor("enabled", fmt.Sprintf(`document.querySelector('%s')?.textContent === 'Enabled'`, state))
		if l := list(t); !l[0].Enabled || l[0].DisabledReason != nil {
			t.Fatalf("the engine has %+v", l[0])
		}
		tb.click(fmt.Sprintf(`button.wh-toggle[data-webhook="%s"]`, id))
		tb.waitFor("disabled by hand", fmt.Sprintf(`document.querySelector('%s')?.dataset.reason === 'manual'`, state))
		if l := list(t); l[0].Enabled || l[0].DisabledReason == nil || *l[0].DisabledReason != "manual" {
			t.Fatalf("the engine has %+v", l[0])
		}
	})

	t.Run("EditAndDelete", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if id == "" {
			t.Skip("no endpoint")
		}
		tb.click(fmt.Sprintf(`button.wh-edit[data-webhook="%s"]`, id))
		form := fmt.Sprintf(`#edit-%s-form`, id)
		tb.waitFor("the edit form, filled in", fmt.Sprintf(`document.querySelector('%s input[name=description]')?.value === 'CRM sync' &&
			document.querySelector('%s input[value="message.status"]').checked`, form, form))
		tb.typeInto(form+" input[name=description]", "CRM sync (staging)")
		tb.click(form + ` input[value="number.*"]`) // off
		tb.click(form + ` input[value="webhook.disabled"]`)
		tb.click(form + " button[type=submit]")
		tb.waitFor("the form closed", fmt.Sprintf(`!document.querySelector('%s')`, form))
		if l := list(t); l[0].Description != "CRM sync (staging)" || strings.Join(l[0].EventTypes, ",") != "message.status,webhook.disabled" {
			t.Fatalf("the engine has %+v", l[0])
		}
		tb.click(fmt.Sprintf(`button.wh-delete[data-webhook="%s"]`, id))
		tb.waitFor("the confirmation", `!!document.querySelector('dialog[open] .btn-danger')`)
		tb.click("dialog[open] .btn-danger")
		tb.waitFor("no endpoints", `!!document.querySelector('#no-webhooks')`)
		if l := list(t); len(l) != 0 {
			t.Fatalf("the engine still has %+v", l)
		}
	})

	t.Run("NoSettingsScopeReadOnly", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.click("#signout")
		tb.signIn(messagesOnlyToken(t, te.url, ws.ID), "/console/messages")
		tb.click(`nav a[href="/console/settings/webhooks"]`)
		tb.waitFor("the form", `!!document.querySelector('#new-url')`)
		tb.typeInto("#new-url", rcv.URL)
		tb.click(`#new-form input[value="message.status"]`)
		tb.click("#new-save")
		tb.waitFor("the refusal in words", `[...document.querySelectorAll('.toast-error')].some(t => t.textContent.includes('lacks the “settings” scope'))`)
		tb.waitFor("read only", `[...document.querySelectorAll('.banner')].some(b => b.textContent.includes('Read only')) && document.querySelector('#new-save').matches(':disabled')`)
		if l := list(t); len(l) != 0 {
			t.Fatalf("the engine has %+v", l)
		}
	})
	if p := tb.problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// The console schedules: compose with a send time (typed in the browser's
// time zone, here Asia/Kolkata, UTC+05:30) and a validity; the thread shows
// the message as scheduled with its send time, then sent, live; another
// is canceled from the thread; canceling one the page still shows as
// scheduled but that already went out is refused in words; the thread's
// reply box schedules too (the same control), and the scheduled reply is
// canceled from the thread.
func TestConsoleScheduledSends(t *testing.T) {
	t.Parallel()
	_, te := consoleEngine(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}}]`)
	ws := createWorkspace(t, te.url, "Acme Dental", true)
	const shared, contact = "+14155552600", "+447911123456"
	if st := testenv.APICall(t, "POST", te.url+"/admin/v1/numbers", consoleOperator, map[string]any{"number": shared, "kind": "shared", "carrier": "sim"}, nil); st != 201 {
		t.Fatalf("add the shared number: %d", st)
	}
	if st := testenv.APICall(t, "PUT", te.url+"/v1/sms/number", ws.Token, map[string]any{"number": shared}, nil); st != 200 {
		t.Fatalf("connect: %d", st)
	}
	tb := newTab(t, te.url, 1280, 900)
	if _, err := chromedp.Call(tb.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"}); err != nil {
		t.Fatal(err)
	}
	kolkata := time.FixedZone("IST", 5*3600+30*60) // no daylight saving

	type message struct {
		ID            string     `json:"id"`
		Status        string     `json:"status"`
		SendAt        *time.Time `json:"send_at"`
		ExpiresAt     *time.Time `json:"expires_at"`
		StatusHistory []struct {
			Status string `json:"status"`
		} `json:"status_history"`
	}
	get := func(t *testing.T, id string) message {
		var m message
		if st := testenv.APICall(t, "GET", te.url+"/v1/messages/"+id, ws.Token, nil, &m); st != 200 {
			t.Fatalf("get message %s: %d", id, st)
		}
		return m
	}
	// compose schedules text at the local time at (empty: now) with a
	// validity choice, and returns the new message's id.
	compose := func(t *testing.T, text string, at time.Time, validity string) string {
		t.Helper()
		tb.click(`nav a[href="/console/compose"]`)
		tb.waitFor("the compose form", `!!document.querySelector('#send-at') && document.querySelector('.counter')?.dataset.state === 'ok'`)
		tb.typeInto("#to", contact)
		tb.typeInto("textarea[name=text]", text)
		local := at.In(kolkata).Format("2006-01-02T15:04:05")
		eval[chromedp.Void](tb, fmt.Sprintf(`(el => { el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})) })(document.querySelector('#send-at'))`, jsString(local)))
		if got, want := eval[string](tb, `document.querySelector('#send-at-preview').dataset.rfc3339`), at.In(kolkata).Format(time.RFC3339); got != want {
			t.Fatalf("the local time %s reads as %q, not %q", local, got, want)
		}
		if got := tb.text("#send"); got != "Schedule" {
			t.Fatalf("the button reads %q", got)
		}
		if validity != "" {
			tb.do("validity", chromedp.SetValue("#validity", validity))
		}
		tb.click("#send")
		tb.waitFor("the thread with the new message", fmt.Sprintf(`/^\/console\/messages\/\d+$/.test(location.pathname) &&
			[...document.querySelectorAll('#messages li .bubble')].some(b => b.textContent.includes(%s))`, jsString(text)))
		return eval[string](tb, fmt.Sprintf(`[...document.querySelectorAll('#messages li')].find(li => li.querySelector('.bubble').textContent.includes(%s)).dataset.messageId`, jsString(text)))
	}
	li := func(id string) string { return fmt.Sprintf(`#messages li[data-message-id="%s"]`, id) }

	var soon, later string
	var soonAt time.Time
	t.Run("ScheduleShowsSendTime", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.signIn(ws.Token, "/console/messages")
		tb.click(`nav a[href="/console/compose"]`)
		tb.waitFor("the compose form", `!!document.querySelector('#send-at')`)
		tb.audit("the compose page with the schedule fields")
		// Refused in the page: a time past, and one more than 35 days ahead.
		for _, c := range []struct {
			at   time.Time
			says string
		}{{time.Now().Add(-time.Hour), "has passed"}, {time.Now().Add(36 * 24 * time.Hour), "35 days"}} {
			tb.typeInto("#to", contact)
			tb.typeInto("textarea[name=text]", "Too late or too early")
			eval[chromedp.Void](tb, fmt.Sprintf(`(el => { el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})) })(document.querySelector('#send-at'))`,
				jsString(c.at.In(kolkata).Format("2006-01-02T15:04:05"))))
			tb.click("#send")
			tb.waitFor("the refusal", fmt.Sprintf(`!document.querySelector('#send-error').hidden && document.querySelector('#send-error').textContent.includes(%s)`, jsString(c.says)))
		}
		soonAt = time.Now().Add(10 * time.Second).Truncate(time.Second)
		soon = compose(t, "Your table for two is booked for 8 pm.", soonAt, "3600")
		tb.waitFor("scheduled", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'scheduled'`, li(soon)))
		m := get(t, soon)
		if m.Status != "scheduled" && m.Status != "queued" && m.Status != "sending" && m.Status != "submitted" && m.Status != "delivered" {
			t.Fatalf("the message is %s", m.Status)
		}
		if m.SendAt == nil || !m.SendAt.Equal(soonAt) {
			t.Fatalf("the engine has send_at %v, want %v", m.SendAt, soonAt)
		}
		if m.ExpiresAt == nil || !m.ExpiresAt.Equal(soonAt.Add(time.Hour)) {
			t.Fatalf("the engine has expires_at %v, want %v (send time + 1 hour)", m.ExpiresAt, soonAt.Add(time.Hour))
		}
		if got := eval[string](tb, fmt.Sprintf(`document.querySelector('%s .send-at')?.getAttribute('datetime') || ''`, li(soon))); got == "" {
			t.Fatal("the scheduled message shows no send time")
		} else if at, err := time.Parse(time.RFC3339Nano, got); err != nil || !at.Equal(soonAt) {
			t.Fatalf("the thread shows send time %q, want %v", got, soonAt)
		}
		if got := tb.text(li(soon) + " .status"); !strings.HasPrefix(got, "Scheduled for ") {
			t.Fatalf("the status reads %q", got)
		}
		tb.audit("a thread with a scheduled message")
	})

	t.Run("CancelFromThread", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		later = compose(t, "Reminder: your table is tomorrow at 8 pm.", time.Now().Add(2*time.Hour).Truncate(time.Second), "")
		tb.waitFor("scheduled", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'scheduled'`, li(later)))
		tb.click(li(later) + " button.cancel-msg")
		tb.waitFor("the confirmation", `!!document.querySelector('dialog[open] .btn-danger')`)
		if got := tb.text("dialog[open] .btn:not(.btn-danger)"); got != "Keep it" {
			t.Fatalf("the dialog's way out reads %q", got)
		}
		tb.audit("the cancel confirmation")
		tb.click("dialog[open] .btn-danger")
		tb.waitFor("canceled", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'canceled' && !document.querySelector('%s button.cancel-msg')`, li(later), li(later)))
		if got := tb.text(li(later) + " .status"); got != "Canceled" {
			t.Fatalf("the status reads %q", got)
		}
		if m := get(t, later); m.Status != "canceled" {
			t.Fatalf("the engine has the message %s", m.Status)
		}
	})

	t.Run("SentLive", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if soon == "" {
			t.Skip("nothing scheduled")
		}
		loaded := eval[float64](tb, `window.switchboardConsole.loadedAt`)
		// The page's wait (15 s) counts from the send time, not from
		// whenever this subtest starts: the time itself is the condition.
		time.Sleep(time.Until(soonAt))
		tb.waitFor("the scheduled message delivered", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'delivered'`, li(soon)))
		if eval[float64](tb, `window.switchboardConsole.loadedAt`) != loaded {
			t.Fatal("the page was reloaded")
		}
		if time.Now().Before(soonAt) {
			t.Fatalf("delivered before its send time %v", soonAt)
		}
		m := get(t, soon)
		if len(m.StatusHistory) == 0 || m.StatusHistory[0].Status != "scheduled" {
			t.Fatalf("the history: %+v", m.StatusHistory)
		}
	})

	t.Run("NotCancelableInWords", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		var sent struct {
			ID       string `json:"id"`
			ThreadID string `json:"thread_id"`
		}
		if st := testenv.APICall(t, "POST", te.url+"/v1/messages", ws.Token, map[string]any{"to": contact, "text": "See you tomorrow!",
			"send_at": time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)}, &sent); st != 202 {
			t.Fatalf("schedule: %d", st)
		}
		if path := "/console/messages/" + sent.ThreadID; eval[string](tb, `location.pathname`) != path {
			tb.do("open the thread", chromedp.Navigate(te.url+path))
		}
		tb.waitFor("the message, scheduled, with its send time", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'scheduled' && !!document.querySelector('%s .send-at')`, li(sent.ID), li(sent.ID)))
		// The engine moves on without the page hearing of it (as when its
		// event stream is reconnecting): the message is submitted (with a
		// place in its thread's line no other message has), and no change
		// is logged for the feed (change_xid stays).
		msgID, err := strconv.ParseInt(sent.ID, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		pool := testenv.OpenPool(t, te.dbURL, 1)
		if tag, err := pool.Exec(context.Background(), `UPDATE messages SET status = 'submitted', submitted_at = now(), thread_seq = 1000000 WHERE id = $1`, msgID); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("mark the message submitted: %v %v", tag, err)
		}
		tb.click(li(sent.ID) + " button.cancel-msg")
		tb.waitFor("the confirmation", `!!document.querySelector('dialog[open] .btn-danger')`)
		tb.click("dialog[open] .btn-danger")
		tb.waitFor("the refusal in words", `[...document.querySelectorAll('.toast-error')].some(t => t.textContent.includes('can no longer be canceled'))`)
		tb.waitFor("the message as it is", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'submitted'`, li(sent.ID)))
	})

	t.Run("ReplyBoxSchedules", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.waitFor("the thread's reply box", `/^\/console\/messages\/\d+$/.test(location.pathname) && !!document.querySelector('form.reply textarea') &&
			document.querySelector('form.reply .counter')?.dataset.state === 'ok'`)
		setLocal := func(at time.Time) {
			eval[chromedp.Void](tb, fmt.Sprintf(`(el => { el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})) })(document.querySelector('#reply-send-at'))`,
				jsString(at.In(kolkata).Format("2006-01-02T15:04:05"))))
		}
		// replyID waits for the reply with text in the thread and returns its id.
		replyID := func(text string) string {
			find := fmt.Sprintf(`[...document.querySelectorAll('#messages li')].find(li => li.querySelector('.bubble').textContent.includes(%s))`, jsString(text))
			tb.waitFor("the reply in the thread", "!!"+find)
			return eval[string](tb, find+".dataset.messageId")
		}
		if got := eval[string](tb, `document.querySelector('#reply-schedule-toggle').getAttribute('aria-expanded') + ' ' + document.querySelector('#reply-schedule').hidden`); got != "false true" {
			t.Fatalf("the schedule control before opening: expanded, hidden = %s", got)
		}
		tb.typeInto("form.reply textarea", "We can also offer Thursday at 7 pm.")
		tb.click("#reply-schedule-toggle")
		tb.waitFor("the send time, focused", `!document.querySelector('#reply-schedule').hidden && document.activeElement?.id === 'reply-send-at' &&
			document.querySelector('#reply-schedule-toggle').getAttribute('aria-expanded') === 'true'`)
		if got := tb.text("#reply-schedule-toggle"); got != "Send now instead" {
			t.Fatalf("the open control's toggle reads %q", got)
		}
		tb.audit("the reply box with the schedule control")
		// Refused in the page: a time past.
		setLocal(time.Now().Add(-time.Hour))
		tb.click("#reply-send")
		tb.waitFor("the refusal", `!document.querySelector('#reply-error').hidden && document.querySelector('#reply-error').textContent.includes('has passed') &&
			document.querySelector('#reply-send-at').getAttribute('aria-invalid') === 'true'`)
		at := time.Now().Add(90 * time.Minute).Truncate(time.Second)
		setLocal(at)
		if got, want := eval[string](tb, `document.querySelector('#reply-send-at-preview').dataset.rfc3339`), at.In(kolkata).Format(time.RFC3339); got != want {
			t.Fatalf("the local time reads as %q, not %q", got, want)
		}
		if got := tb.text("#reply-send"); got != "Schedule" {
			t.Fatalf("the button reads %q", got)
		}
		tb.do("validity", chromedp.SetValue("#reply-validity", "1800"))
		tb.click("#reply-send")
		id := replyID("We can also offer Thursday at 7 pm.")
		tb.waitFor("scheduled, with its send time and Cancel", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'scheduled' &&
			!!document.querySelector('%s .send-at') && !!document.querySelector('%s button.cancel-msg')`, li(id), li(id), li(id)))
		if got := eval[string](tb, fmt.Sprintf(`document.querySelector('%s .send-at').getAttribute('datetime')`, li(id))); got == "" {
			t.Fatal("no send time shown")
		} else if shown, err := time.Parse(time.RFC3339Nano, got); err != nil || !shown.Equal(at) {
			t.Fatalf("the thread shows send time %q, want %v", got, at)
		}
		m := get(t, id)
		if m.Status != "scheduled" || m.SendAt == nil || !m.SendAt.Equal(at) || m.ExpiresAt == nil || !m.ExpiresAt.Equal(at.Add(30*time.Minute)) {
			t.Fatalf("the engine has %s, send_at %v, expires_at %v; want scheduled at %v, expiring 30 min later", m.Status, m.SendAt, m.ExpiresAt, at)
		}
		// The box is back to sending now, the control closed and empty.
		tb.waitFor("the box reset", `document.querySelector('#reply-schedule').hidden && document.querySelector('#reply-send-at').value === '' &&
			document.querySelector('#reply-schedule-toggle').getAttribute('aria-expanded') === 'false' &&
			document.querySelector('#reply-send').textContent.trim() === 'Send' && document.querySelector('form.reply textarea').value === ''`)

		tb.click(li(id) + " button.cancel-msg")
		tb.waitFor("the confirmation", `!!document.querySelector('dialog[open] .btn-danger')`)
		tb.click("dialog[open] .btn-danger")
		tb.waitFor("canceled", fmt.Sprintf(`document.querySelector('%s')?.dataset.status === 'canceled' && !document.querySelector('%s button.cancel-msg')`, li(id), li(id)))
		if m := get(t, id); m.Status != "canceled" {
			t.Fatalf("the engine has the reply %s", m.Status)
		}

		// Closing the control drops the time: the reply goes now.
		tb.typeInto("form.reply textarea", "Or call us to book.")
		tb.click("#reply-schedule-toggle")
		tb.waitFor("the control", `document.activeElement?.id === 'reply-send-at'`)
		setLocal(time.Now().Add(3 * time.Hour))
		tb.click("#reply-schedule-toggle")
		tb.waitFor("closed and cleared", `document.querySelector('#reply-schedule').hidden && document.querySelector('#reply-send-at').value === '' &&
			document.querySelector('#reply-send').textContent.trim() === 'Send' && document.activeElement?.matches('form.reply textarea')`)
		tb.click("#reply-send")
		now := replyID("Or call us to book.")
		if m := get(t, now); m.SendAt != nil || m.Status == "scheduled" {
			t.Fatalf("the reply is %s, send_at %v: it was to go now", m.Status, m.SendAt)
		}
	})
	if p := tb.problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}
