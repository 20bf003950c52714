package engine

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// The web console (package console) end to end: headless Chromium against
// a real engine (in-process), PostgreSQL, Redis and the carrier simulator,
// driven as a person would: signing in with a pasted token, clicking,
// typing. Each failing step saves a screenshot (the path is logged).

var updateScreenshots = flag.Bool("update-screenshots", false,
	"TestConsoleScreenshots: write the README's docs/inbox.png, docs/usage.png and docs/binds.png")

const consoleOperator = "console-operator-token-3f9b2c71"

// consoleChromium finds Debian's chromium or skips (fails when
// SB_REQUIRE_BROWSER is set, as .ci/run sets it).
func consoleChromium(t *testing.T) string {
	t.Helper()
	return testenv.Chromium(t, "the console's browser tests cannot run")
}

// tab is one browser tab on the console, with what the page wrote to its
// console.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // http://host:port of the engine

	mu   sync.Mutex
	logs []chromedp.ConsoleMessage
}

// newTab starts a headless Chromium with a fresh profile and opens a tab.
func newTab(t *testing.T, base string, width, height int) *tab {
	t.Helper()
	bin := consoleChromium(t)
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	tb := &tab{t: t, ctx: ctx, base: base}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.logs = append(tb.logs, m)
			tb.mu.Unlock()
		}
	}()
	return tb
}

// failed saves a screenshot of the page (when t failed) and logs where.
func (tb *tab) screenshotOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		dir := filepath.Join(os.TempDir(), "switchboard-console-failures")
		os.MkdirAll(dir, 0o755)
		name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_") + "-" + time.Now().Format("150405") + ".png"
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Logf("screenshot of %s at failure: %s", loc, path)
	})
}

// do runs actions within 15 s.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (promises awaited).
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluating %.80q: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is truthy; it says what it
// was waiting for, and the text of the page's main region, when it is not.
func (tb *tab) waitFor(what, expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
		if err == nil {
			return
		}
		// A navigation (a redirect of the page itself) destroys the
		// context the poll runs in: poll again in the new document.
		if ctx.Err() == nil && navigatedAway(err) {
			time.Sleep(50 * time.Millisecond) // let the new document load before polling it
			continue
		}
		main, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.querySelector('main')?.innerText || ''`))
		tb.t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, main)
	}
}

// navigatedAway says whether an evaluation failed because the document it
// ran in went away.
func navigatedAway(err error) bool {
	m := err.Error()
	return strings.Contains(m, "Cannot find context with specified id") ||
		strings.Contains(m, "Execution context was destroyed") ||
		strings.Contains(m, "Inspected target navigated or closed")
}

// text returns the trimmed text of the first element matching sel ("" when none).
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(document.querySelector(%s)?.textContent || '').trim()`, jsString(sel)))
}

func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029 || (r >= 0xD800 && r <= 0xDFFF):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// click clicks the first element matching a CSS selector once it is visible.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(sel, chromedp.NodeVisible))
}

// typeInto focuses a field, clears it and types text as keystrokes
// (characters outside the keyboard map are inserted as an input method would).
func (tb *tab) typeInto(sel, text string) {
	tb.t.Helper()
	tb.do("clear "+sel, chromedp.Focus(sel, chromedp.NodeVisible),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = ''`, jsString(sel))))
			return err
		}))
	ascii, rest := text, ""
	if i := strings.IndexFunc(text, func(r rune) bool { return r > 0x7E }); i >= 0 {
		ascii, rest = text[:i], text[i:]
	}
	if ascii != "" {
		tb.do("type into "+sel, chromedp.SendKeys(sel, ascii))
	}
	if rest != "" {
		tb.do("insert text into "+sel, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: rest})
			return err
		}))
	}
}

// signIn pastes a token on the sign-in page.
func (tb *tab) signIn(token, landing string) {
	tb.t.Helper()
	tb.do("open the console", chromedp.Navigate(tb.base+"/console/"))
	tb.waitFor("the sign-in form", `location.pathname === '/console/signin' && !!document.querySelector('#token')`)
	tb.do("paste the token", chromedp.SetValue("#token", token), chromedp.Click(`form button[type=submit]`, chromedp.NodeVisible))
	tb.waitFor("the "+landing+" page", fmt.Sprintf(`location.pathname === %s && !!document.querySelector('main h1')`, jsString(landing)))
}

// problems lists what went wrong in the page: uncaught exceptions, errors
// it logged, and Content-Security-Policy violations. (The browser's own
// network log of 4xx answers is expected: refusals are part of the tests.)
func (tb *tab) problems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, m := range tb.logs {
		switch {
		case m.IsException(), m.Source == "" && m.Type == chromedp.ConsoleError, m.Source == "security",
			strings.Contains(m.Text, "Content Security Policy"):
			out = append(out, m.String())
		}
	}
	return out
}

// foreignResources lists resources the page loaded from elsewhere than the engine.
func (tb *tab) foreignResources() []string {
	return eval[[]string](tb, fmt.Sprintf(`performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(%s))`, jsString(tb.base+"/")))
}

// auditJS finds accessibility faults on the page: duplicate ids, form
// fields without a label, buttons and links without a name, images
// without alt text, and text whose contrast with its background is under
// WCAG AA (4.5:1, or 3:1 for large text; disabled controls are exempt).
const auditJS = `(() => {
  const out = [];
  const ids = {};
  for (const el of document.querySelectorAll('[id]')) { if (ids[el.id]) out.push('duplicate id ' + el.id); ids[el.id] = true; }
  const named = el => (el.getAttribute('aria-label') || '').trim() || (el.getAttribute('aria-labelledby') || '').split(' ').some(id => (document.getElementById(id)?.textContent || '').trim());
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!named(el) && !(el.labels && [...el.labels].some(l => l.textContent.trim()))) out.push('no label: ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('button, a[href], [role=switch]')) {
    if (!el.textContent.trim() && !named(el)) out.push('no name: ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('img:not([alt])')) out.push('no alt: ' + el.outerHTML.slice(0, 80));
  const rgb = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bgOf = el => { const layers = []; for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
    let c = {r: 255, g: 255, b: 255}; for (const l of layers.reverse()) c = {r: l.r * l.a + c.r * (1 - l.a), g: l.g * l.a + c.g * (1 - l.a), b: l.b * l.a + c.b * (1 - l.a)}; return c; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || el.closest('.visually-hidden, [hidden], script, style, noscript, option, :disabled, [aria-disabled=true]')) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const st = getComputedStyle(el);
    const fg = rgb(st.color), bg = bgOf(el);
    const L1 = lum(fg), L2 = lum(bg);
    const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    if (ratio < need) out.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': ' + n.textContent.trim().slice(0, 40) + ' (' + st.color + ' on rgb(' + [bg.r, bg.g, bg.b].map(Math.round) + '))');
  }
  return out;
})()`

// audit fails the test on the accessibility faults of the page.
func (tb *tab) audit(where string) {
	tb.t.Helper()
	if faults := eval[[]string](tb, auditJS); len(faults) > 0 {
		tb.t.Errorf("accessibility of %s:\n%s", where, strings.Join(faults, "\n"))
	}
}

// consoleEngine starts the simulator and an engine with the operator API on.
func consoleEngine(t *testing.T, simYAML string) (*smscsim.Sim, *testEngine) {
	t.Helper()
	sim := testenv.StartSim(t, simYAML)
	cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) { c.Operator.Token = consoleOperator })
	return sim, startEngine(t, cfg)
}

type createdWorkspace struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

func createWorkspace(t *testing.T, base, name string, addon bool) createdWorkspace {
	t.Helper()
	var ws createdWorkspace
	if st := testenv.APICall(t, "POST", base+"/admin/v1/workspaces", consoleOperator, map[string]any{"name": name, "sms_addon": addon}, &ws); st != 201 || ws.Token == "" {
		t.Fatalf("create workspace: %d %+v", st, ws)
	}
	return ws
}

// The console as a workspace and as an operator, end to end: the add-on
// banner; connecting a shared number; disabling it and being refused;
// the counter on a long message with an emoji (UCS-2, its parts); sending
// it and seeing it delivered; the contact's reply appearing in the open
// thread without a reload; disconnecting and being refused; an operator
// watching a bind's window move under load.
func TestConsoleEndToEnd(t *testing.T) {
	t.Parallel()
	sim, te := consoleEngine(t, `accounts: [{system_id: sb, password: "", latency: 150ms, receipts: {delay: 1ms}}]`)
	ws := createWorkspace(t, te.url, "Acme Dental", false)
	const shared, contact = "+14155552600", "+447911123456"
	if st := testenv.APICall(t, "POST", te.url+"/admin/v1/numbers", consoleOperator, map[string]any{"number": shared, "kind": "shared", "carrier": "sim"}, nil); st != 201 {
		t.Fatalf("add the shared number: %d", st)
	}
	tb := newTab(t, te.url, 1280, 900)

	t.Run("AddonBanner", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.do("open the console", chromedp.Navigate(te.url+"/console/"))
		tb.waitFor("the sign-in form", `!!document.querySelector('#token')`)
		tb.audit("the sign-in page")
		tb.signIn(ws.Token, "/console/messages")
		tb.click(`nav a[href="/console/settings/sms"]`)
		tb.waitFor("the add-on banner", `[...document.querySelectorAll('.banner')].some(b => b.textContent.includes('SMS add-on required'))`)
		tb.audit("the settings without the add-on")
		if !eval[bool](tb, `document.querySelector('#sms-actions').disabled && document.querySelector('#configure').matches(':disabled') && document.querySelector('#request-number').matches(':disabled')`) {
			t.Fatal("the SMS actions are not disabled without the add-on")
		}
		// The operator adds it; the page shows the settings.
		if st := testenv.APICall(t, "PATCH", te.url+"/admin/v1/workspaces/"+ws.ID, consoleOperator, map[string]any{"sms_addon": true}, nil); st != 200 {
			t.Fatalf("add-on: %d", st)
		}
		tb.do("reload", chromedp.Reload())
		tb.waitFor("the settings without the banner", `document.querySelector('#sms-status')?.textContent === 'Not connected' && !document.querySelector('.banner-warning')`)
	})

	t.Run("ConnectSharedNumber", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.click("#configure")
		tb.waitFor("the number dropdown", `!!document.querySelector('#number-select option[value="+14155552600"]')`)
		if got := tb.text(`#number-select optgroup[label="Shared pool"] option`); !strings.HasPrefix(got, shared) {
			t.Fatalf("the shared pool offers %q", got)
		}
		tb.do("pick the number", chromedp.SetValue("#number-select", shared))
		tb.click("#save-number")
		tb.waitFor("Connected", `document.querySelector('#sms-status')?.textContent === 'Connected'`)
		tb.waitFor("the switch on", `document.querySelector('button[role=switch]')?.getAttribute('aria-checked') === 'true'`)
		tb.audit("the settings with a number connected")
	})

	t.Run("DisableRefusesSending", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.click("button[role=switch]")
		tb.waitFor("Disabled", `document.querySelector('#sms-status')?.textContent === 'Disabled'`)
		tb.click(`nav a[href="/console/compose"]`)
		tb.waitFor("the compose form", `!!document.querySelector('#to') && document.querySelector('.counter')?.dataset.state === 'ok'`)
		tb.typeInto("#to", contact)
		tb.typeInto("textarea[name=text]", "Are you free on Tuesday?")
		tb.click("#send")
		tb.waitFor("the refusal", `document.querySelector('#send-error')?.dataset.code === 'number_disabled' && !document.querySelector('#send-error').hidden`)
		if got := tb.text("#send-error"); !strings.Contains(got, "disabled") {
			t.Fatalf("the refusal says %q", got)
		}
		tb.audit("the compose page with an error")
		tb.click(`nav a[href="/console/settings/sms"]`)
		tb.waitFor("the switch", `document.querySelector('button[role=switch]')?.getAttribute('aria-checked') === 'false'`)
		tb.click("button[role=switch]")
		tb.waitFor("Connected again", `document.querySelector('#sms-status')?.textContent === 'Connected'`)
	})

	t.Run("CounterMatchesEngine", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.click(`nav a[href="/console/compose"]`)
		tb.waitFor("the counter", `document.querySelector('.counter')?.dataset.state === 'ok'`)
		checkCounter(t, tb)
	})

	var threadPath string
	t.Run("ComposeLongEmojiDelivered", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		text := strings.Repeat("Your appointment on Tuesday at 10:00 is confirmed. ", 3) + "See you soon 😀"
		want, err := coding.Count(text, coding.Choose(text), coding.UDH8)
		if err != nil || want.Encoding != coding.UCS2 || want.Segments < 3 {
			t.Fatalf("the test text: %+v %v", want, err)
		}
		tb.typeInto("#to", contact)
		tb.typeInto("textarea[name=text]", text)
		tb.waitFor("the counter on the emoji", fmt.Sprintf(`document.querySelector('.counter').dataset.segments === '%d'`, want.Segments))
		counter := tb.text(".counter")
		if !strings.Contains(counter, "UCS-2") || !strings.Contains(counter, fmt.Sprintf("%d parts", want.Segments)) {
			t.Fatalf("the counter says %q; want UCS-2 and %d parts", counter, want.Segments)
		}
		tb.click("#send")
		tb.waitFor("the thread", `/^\/console\/messages\/\d+$/.test(location.pathname) && !!document.querySelector('#messages li')`)
		threadPath = eval[string](tb, `location.pathname`)
		tb.waitFor("delivered", `document.querySelector('#messages li[data-direction=out]')?.dataset.status === 'delivered'`)
		if got := tb.text("#messages li[data-direction=out] .status"); got != "Delivered" {
			t.Fatalf("the status reads %q", got)
		}
		if got := eval[string](tb, `document.querySelector('.thread[aria-current=page] .channel svg')?.getAttribute('aria-label') || ''`); got != "SMS" {
			t.Fatalf("the thread's channel icon is %q", got)
		}
		tb.audit("the inbox with a thread open")
	})

	t.Run("ReplyAppearsLive", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if threadPath == "" {
			t.Skip("no thread open")
		}
		loaded := eval[float64](tb, `window.switchboardConsole.loadedAt`)
		tb.waitFor("the live stream", `document.querySelector('#live')?.dataset.state === 'live'`)
		const reply = "Tuesday works — see you then 👍"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := sim.InjectMO(ctx, smscsim.MO{From: contact, To: shared, Text: reply}); err != nil {
			t.Fatal(err)
		}
		tb.waitFor("the reply in the open thread", fmt.Sprintf(`[...document.querySelectorAll('#messages li[data-direction=in] .bubble')].some(b => b.textContent.includes(%s))`, jsString(reply)))
		if again := eval[float64](tb, `window.switchboardConsole.loadedAt`); again != loaded {
			t.Fatal("the page was reloaded")
		}
		if path := eval[string](tb, `location.pathname`); path != threadPath {
			t.Fatalf("the page moved to %s", path)
		}
		// Open and read: no unread count on it.
		tb.waitFor("no unread count on the open thread", `!document.querySelector('.thread[aria-current=page] .unread')`)
	})

	t.Run("OptOutShownInThread", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		if threadPath == "" {
			t.Skip("no thread open")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := sim.InjectMO(ctx, smscsim.MO{From: contact, To: shared, Text: "Stop"}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the contact opted out", func() bool {
			var st struct {
				OptedOut bool `json:"opted_out"`
			}
			return testenv.APICall(t, "GET", te.url+"/v1/opt-outs/"+url.PathEscape(contact), ws.Token, nil, &st) == 200 && st.OptedOut
		})
		tb.do("reload the thread", chromedp.Reload())
		tb.waitFor("the opt-out in the thread's header", `document.querySelector('#opted-out')?.dataset.source === 'keyword'`)
		if got := tb.text("#opted-out"); !strings.Contains(got, "by texting STOP") {
			t.Fatalf("the thread says %q", got)
		}
		// Back in: the note goes.
		if st := testenv.APICall(t, "DELETE", te.url+"/v1/opt-outs/"+url.PathEscape(contact), ws.Token, nil, nil); st != 200 {
			t.Fatalf("removing the opt-out: %d", st)
		}
		tb.do("reload the thread", chromedp.Reload())
		tb.waitFor("the thread without the note", `!!document.querySelector('#messages li') && !document.querySelector('#opted-out')`)
	})

	t.Run("DisconnectBlocksSending", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.click(`nav a[href="/console/settings/sms"]`)
		// By keyboard: Enter on Disconnect, the dialog starts on Cancel, Tab, Enter.
		tb.do("focus Disconnect", chromedp.Focus("button.disconnect", chromedp.NodeVisible), chromedp.KeyEvent("\r"))
		tb.waitFor("the confirmation", `!!document.querySelector('dialog[open]')`)
		if !eval[bool](tb, `document.activeElement?.textContent === 'Cancel'`) {
			t.Fatal("the confirmation does not start on Cancel")
		}
		tb.do("Tab", chromedp.KeyEvent("\t"))
		if !eval[bool](tb, `document.activeElement?.matches('dialog[open] .btn-danger') && getComputedStyle(document.activeElement).outlineStyle !== 'none'`) {
			t.Fatal("Tab does not reach the dialog's Disconnect with a visible focus")
		}
		tb.audit("the disconnect confirmation")
		tb.do("Enter", chromedp.KeyEvent("\r"))
		tb.waitFor("Not connected", `document.querySelector('#sms-status')?.textContent === 'Not connected'`)
		tb.click(`nav a[href="/console/compose"]`)
		tb.waitFor("the compose form", `!!document.querySelector('#to') && document.querySelector('.counter')?.dataset.state === 'ok'`)
		tb.typeInto("#to", contact)
		tb.typeInto("textarea[name=text]", "One more thing")
		tb.click("#send")
		tb.waitFor("the refusal", `document.querySelector('#send-error')?.dataset.code === 'no_number_connected'`)
	})

	t.Run("OperatorSeesWindowMove", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.click("#signout")
		tb.signIn(consoleOperator, "/console/binds")
		tb.waitFor("the bind", `!!document.querySelector('tr[data-bind] td.window')`)
		// Load: a dedicated number's workspace queues 800 messages to 20
		// contacts; the carrier answers each after 150 ms, so requests wait
		// in the window. A thread sends one message at a time, so the load
		// lasts 40 round trips (about 6 s), several of the page's one-second
		// refreshes (400 to 50 contacts went out in under one; with 60 ms
		// answers, 3 s of load was missed under a loaded machine's slow
		// page refreshes).
		wsID := testenv.Seed(t, te.store, "+14155552671")
		var reqs []inbox.OutboundRequest
		for i := range 800 {
			reqs = append(reqs, inbox.OutboundRequest{Workspace: wsID, To: fmt.Sprintf("+4479111%05d", i%20), Body: fmt.Sprintf("load %d", i), Encoding: "GSM7", Segments: 1})
		}
		if _, err := te.store.Enqueue(context.Background(), reqs); err != nil {
			t.Fatal(err)
		}
		te.dispatcher.Kick()
		seen := map[string]bool{}
		busy := false
		for deadline := time.Now().Add(12 * time.Second); time.Now().Before(deadline) && !(busy && len(seen) >= 3); {
			v := eval[string](tb, `document.querySelector('tr[data-bind] td.window').dataset.inUse`)
			seen[v] = true
			busy = busy || v != "0"
			time.Sleep(100 * time.Millisecond) // sample the value the page refreshes each second
		}
		if len(seen) < 2 || !busy {
			t.Fatalf("the window in use showed %v: it did not move under load", seen)
		}
		if got := tb.text("tr[data-bind] td .badge"); got != "Bound" {
			t.Fatalf("the bind's state reads %q", got)
		}
		// The carrier account's rate, as the adaptive slow-down leaves it.
		if got := tb.text("section[data-carrier] .account-rate"); !strings.HasPrefix(got, "account ") {
			t.Fatalf("the carrier's account rate reads %q", got)
		}
		tb.audit("the binds")
	})

	t.Run("NothingExternalNoErrors", func(t *testing.T) {
		tb.t = t
		if f := tb.foreignResources(); len(f) > 0 {
			t.Errorf("the console loaded resources from elsewhere: %v", f)
		}
		if p := tb.problems(); len(p) > 0 {
			t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
		}
		// The control: the check sees an error the page logs.
		eval[chromedp.Void](tb, `console.error('control 7f3a')`)
		tb.waitFor("the control", `true`)
		testenv.Eventually(t, "the check of the page's problems to see a logged error", func() bool {
			return strings.Contains(strings.Join(tb.problems(), " "), "control 7f3a")
		})
	})
}

// counterCase is what the page's counter shows for one text.
type counterCase struct {
	Encoding string `json:"encoding"`
	Segments string `json:"segments"`
	Units    string `json:"units"`
	Chars    string `json:"chars"`
	Free     string `json:"free"`
	TooLong  string `json:"tooLong"`
	Text     string `json:"text"`  // the counter's words
	Value    string `json:"value"` // what the field holds
}

// checkCounter types each text of a table into the page's message field
// and compares the counter with coding.Count as the API calls it.
func checkCounter(t *testing.T, tb *tab) {
	t.Helper()
	texts := []string{
		"", "hello", strings.Repeat("a", 160), strings.Repeat("a", 161), strings.Repeat("a", 306), strings.Repeat("a", 307),
		strings.Repeat("€", 80), strings.Repeat("€", 81), strings.Repeat("a", 152) + "{", strings.Repeat("a", 153) + "[]",
		"Grüße aus Köln", "ça va? Ç", "Привет", strings.Repeat("ж", 70), strings.Repeat("ж", 71),
		"😀", strings.Repeat("😀", 35), strings.Repeat("😀", 36), strings.Repeat("a", 66) + "😀" + strings.Repeat("b", 70),
		strings.Repeat("a", 153*10), strings.Repeat("a", 153*10+1), strings.Repeat("x", 153*256),
		"line one\r\nline two\n", "tab\there", "e\u0301 combining", "中文短信", "mixed GSM then 🎉 emoji " + strings.Repeat("z", 100),
		"^{}\\[~]|€ extension table", strings.Repeat("\u00a0", 3),
	}
	var js strings.Builder
	js.WriteString(`(async () => { const ta = document.querySelector('textarea[name=text]'); const c = document.querySelector('.counter'); const out = []; for (const t of [`)
	for i, s := range texts {
		if i > 0 {
			js.WriteString(",")
		}
		js.WriteString(jsString(s))
	}
	js.WriteString(`]) { ta.value = t; ta.dispatchEvent(new Event('input', {bubbles: true})); const d = c.dataset; out.push({encoding: d.encoding, segments: d.segments, units: d.units, chars: d.chars, free: d.free, tooLong: d.tooLong, text: c.textContent, value: ta.value}); } ta.value = ''; ta.dispatchEvent(new Event('input', {bubbles: true})); return out; })()`)
	got := eval[[]counterCase](tb, js.String())
	if len(got) != len(texts) {
		t.Fatalf("%d answers for %d texts", len(got), len(texts))
	}
	for i, s := range texts {
		// A textarea holds line breaks as LF (HTML's value normalization),
		// and its value is what the page sends: count that.
		if norm := strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"); got[i].Value != norm {
			t.Fatalf("text %d: the field holds %.40q, not %.40q", i, got[i].Value, norm)
		}
		s = got[i].Value
		enc := coding.Choose(s)
		info, err := coding.Count(s, enc, coding.UDH8)
		if err != nil && !errors.Is(err, coding.ErrTooManyParts) {
			t.Fatalf("coding.Count(%.20q): %v", s, err)
		}
		want := counterCase{
			Encoding: strings.ToLower(enc.String()), Segments: fmt.Sprint(info.Segments), Units: fmt.Sprint(info.Units),
			Chars: fmt.Sprint(info.Chars), Free: fmt.Sprint(info.Free), TooLong: fmt.Sprint(info.Segments > inbox.MaxSegments),
		}
		g := got[i]
		g.Text, g.Value = "", ""
		if g != want {
			t.Errorf("text %d (%.24q…): the page's counter says %+v (%q); coding.Count says %+v", i, s, got[i], got[i].Text, want)
		}
		wantWords := map[string]string{"gsm7": "GSM-7", "ucs2": "UCS-2"}[want.Encoding]
		if !strings.Contains(got[i].Text, wantWords) {
			t.Errorf("text %d: the counter reads %q, without %s", i, got[i].Text, wantWords)
		}
	}
}

// TestConsoleScreenshots writes the README's screenshots of the inbox, the
// usage page and the bind view (go test ./engine -run TestConsoleScreenshots
// -args -update-screenshots, or make screenshots).
func TestConsoleScreenshots(t *testing.T) {
	if !*updateScreenshots {
		t.Skip("writes docs/inbox.png, docs/usage.png and docs/binds.png with -update-screenshots")
	}
	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 40ms..120ms, receipts: {delay: 200ms}}]`)
	cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Operator.Token = consoleOperator
		c.Carriers[0].Binds, c.Carriers[0].MaxBinds, c.Carriers[0].Window = 2, 2, 32
		eu := c.Carriers[0]
		eu.Name, eu.Binds, eu.MaxBinds, eu.Window = "sim-eu", 1, 1, 16
		c.Carriers = append(c.Carriers, eu)
	})
	te := startEngine(t, cfg)
	ws := createWorkspace(t, te.url, "Acme Dental", true)
	const number = "+14155550100"
	if st := testenv.APICall(t, "POST", te.url+"/admin/v1/numbers", consoleOperator, map[string]any{"number": number, "kind": "dedicated", "workspace": ws.ID, "carrier": "sim"}, nil); st != 201 {
		t.Fatalf("add number: %d", st)
	}
	if st := testenv.APICall(t, "PUT", te.url+"/v1/sms/number", ws.Token, map[string]any{"number": number}, nil); st != 200 {
		t.Fatalf("connect: %d", st)
	}
	// Conversations: out is sent through the API, in comes from the simulator.
	type line struct {
		out  bool
		text string
	}
	convs := []struct {
		contact string
		lines   []line
	}{
		{"+14155551234", []line{{true, "Reminder: your cleaning is tomorrow at 9:30. Reply C to confirm."}, {false, "C"}}},
		{"+33612345678", []line{{false, "Bonjour, avez-vous un créneau samedi matin ?"}, {true, "Oui : samedi à 10h30, cela vous convient ?"}, {false, "Parfait, merci !"}}},
		{"+61412345678", []line{{true, "Your invoice INV-2041 is ready: pay online or at the desk."}}},
		{"+447911123456", []line{
			{true, "Hi Sam, this is Acme Dental: your appointment is confirmed for Tuesday at 10:00."},
			{false, "Thanks! Could we make it 11:00 instead?"},
			{true, "11:00 works. See you Tuesday 😀"},
			{false, "Perfect, thank you!"},
			{true, "Please arrive ten minutes early and bring your insurance card; if you need to cancel, reply to this message or call us at +1 415 555 0100. We look forward to seeing you!"},
		}},
	}
	ctx := context.Background()
	for _, c := range convs {
		for _, l := range c.lines {
			if l.out {
				sendDelivered(t, te.url, ws.Token, c.contact, l.text)
			} else if _, err := sim.InjectMO(ctx, smscsim.MO{From: c.contact, To: number, Text: l.text}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(30 * time.Millisecond) // the lines get distinct, increasing times, as in a real conversation
		}
	}
	docs := filepath.Join("..", "docs")
	if err := os.MkdirAll(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	tb := newTab(t, te.url, 1280, 760)
	tb.screenshotOnFailure(t)
	tb.signIn(ws.Token, "/console/messages")
	tb.waitFor("the threads", `document.querySelectorAll('.thread').length === 4`)
	tb.click(`.thread[data-thread] .who`) // the newest: Sam
	tb.waitFor("the thread", `document.querySelectorAll('#messages li').length === 5`)
	// A new reply, live, so the open thread and an unread count both show.
	if _, err := sim.InjectMO(ctx, smscsim.MO{From: "+14155551234", To: number, Text: "Can I bring my son too?"}); err != nil {
		t.Fatal(err)
	}
	tb.waitFor("the unread reply", `[...document.querySelectorAll('.thread')].some(e => e.textContent.includes('Can I bring') && !!e.querySelector('.unread'))`)
	eval[chromedp.Void](tb, `document.activeElement?.blur()`)
	shot(t, tb, filepath.Join(docs, "inbox.png"))

	// The bind table is wide: a wider window shows all of its columns.
	tb = newTab(t, te.url, 1480, 760)
	tb.screenshotOnFailure(t)
	tb.signIn(consoleOperator, "/console/binds")
	wsID := testenv.Seed(t, te.store, "+14155552671")
	var reqs []inbox.OutboundRequest
	for i := range 1500 {
		reqs = append(reqs, inbox.OutboundRequest{Workspace: wsID, To: fmt.Sprintf("+4479111%05d", i%100), Body: fmt.Sprintf("load %d", i), Encoding: "GSM7", Segments: 1})
	}
	if _, err := te.store.Enqueue(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	te.dispatcher.Kick()
	time.Sleep(9 * time.Second) // real time: a few seconds of history in the charts
	tb.waitFor("a busy window", `[...document.querySelectorAll('td.window')].some(td => td.dataset.inUse !== '0')`)
	shot(t, tb, filepath.Join(docs, "binds.png"))

	// Usage over the last 30 days: today's real messages, and rollups
	// for the days before, busier on weekdays.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for i := 1; i < 30; i++ {
		d := today.AddDate(0, 0, -i)
		out := 60 + (i*37)%45
		if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
			out /= 4
		}
		seedUsage(t, te.dbURL, ws.ID, d, number, "out", "delivered", out, out+out/4)
		seedUsage(t, te.dbURL, ws.ID, d, number, "out", "failed", 1+i%3, 1+i%3)
		seedUsage(t, te.dbURL, ws.ID, d, number, "in", "received", out/3, out/3)
	}
	tb = newTab(t, te.url, 1280, 900)
	tb.screenshotOnFailure(t)
	tb.signIn(ws.Token, "/console/messages")
	tb.do("open the usage", chromedp.Navigate(te.url+"/console/settings/usage?period=last-30-days"))
	tb.waitFor("the chart", `document.querySelectorAll('#usage-chart g.bar').length === 30`)
	eval[chromedp.Void](tb, `document.activeElement?.blur()`)
	shot(t, tb, filepath.Join(docs, "usage.png"))
}

// shot saves the viewport as a PNG.
func shot(t *testing.T, tb *tab, path string) {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}

// The operator's Numbers view and a token's scopes: fulfilling and
// declining custom number requests, adding the number unrouted replies
// went to and assigning them to a workspace, the number self-test; a token
// without the settings scope sees the settings read-only.
func TestConsoleOperatorNumbers(t *testing.T) {
	t.Parallel()
	const loop = "+14155559000" // the simulator sends whatever reaches it back
	sim, te := consoleEngine(t, `accounts: [{system_id: sb, password: "", receipts: {delay: 1ms}, loopback: {numbers: ["`+loop+`"]}}]`)
	ws := createWorkspace(t, te.url, "Acme Dental", true)
	if st := testenv.APICall(t, "POST", te.url+"/admin/v1/numbers", consoleOperator, map[string]any{"number": "+14155552600", "kind": "shared", "carrier": "sim"}, nil); st != 201 {
		t.Fatalf("add the shared number: %d", st)
	}
	var req struct {
		ID string `json:"id"`
	}
	if st := testenv.APICall(t, "POST", te.url+"/v1/sms/number-requests", ws.Token, map[string]any{"country": "US", "area_code": "415", "note": "Acme Dental reminders"}, &req); st != 201 {
		t.Fatalf("request a number: %d", st)
	}
	tb := newTab(t, te.url, 1280, 900)
	requestStatus := func(id string) (status, number, reason string) {
		var r struct {
			Status        string  `json:"status"`
			Number        *string `json:"number"`
			DeclineReason *string `json:"decline_reason"`
		}
		testenv.APICall(t, "GET", te.url+"/v1/sms/number-requests/"+id, ws.Token, nil, &r)
		if r.Number != nil {
			number = *r.Number
		}
		if r.DeclineReason != nil {
			reason = *r.DeclineReason
		}
		return r.Status, number, reason
	}

	t.Run("FulfilAndDecline", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.signIn(consoleOperator, "/console/binds")
		tb.click(`nav a[href="/console/numbers"]`)
		tb.waitFor("the request", fmt.Sprintf(`!!document.querySelector('button.fulfil[data-request="%s"]')`, req.ID))
		tb.audit("the numbers")
		tb.click(fmt.Sprintf(`button.fulfil[data-request="%s"]`, req.ID))
		tb.waitFor("the fulfil dialog", `!!document.querySelector('dialog[open] input[name=number]')`)
		tb.typeInto("dialog[open] input[name=number]", "+14155552700")
		tb.typeInto("dialog[open] input[name=carrier]", "sim")
		tb.click("dialog[open] button[type=submit]")
		tb.waitFor("the request gone from the open ones", fmt.Sprintf(`!document.querySelector('tr[data-request="%s"]')`, req.ID))
		if st, n, _ := requestStatus(req.ID); st != "fulfilled" || n != "+14155552700" {
			t.Fatalf("the request is %s with %q", st, n)
		}
		// The numbers table lists it, dedicated to the workspace.
		tb.do("reload", chromedp.Reload())
		tb.waitFor("the new number in the table", fmt.Sprintf(`(() => { const r = document.querySelector('#numbers tr[data-number="+14155552700"]');
			return !!r && r.textContent.includes('dedicated') && r.textContent.includes('%s') })()`, ws.ID))
		var other struct {
			ID string `json:"id"`
		}
		if st := testenv.APICall(t, "POST", te.url+"/v1/sms/number-requests", ws.Token, map[string]any{"country": "US", "area_code": "212"}, &other); st != 201 {
			t.Fatalf("request a number: %d", st)
		}
		tb.do("reload", chromedp.Reload())
		tb.click(fmt.Sprintf(`button.decline[data-request="%s"]`, other.ID))
		tb.typeInto("dialog[open] input[name=reason]", "No 212 numbers this month")
		tb.click("dialog[open] button[type=submit]")
		tb.waitFor("the request gone from the open ones", fmt.Sprintf(`!document.querySelector('tr[data-request="%s"]')`, other.ID))
		if st, _, reason := requestStatus(other.ID); st != "declined" || reason != "No 212 numbers this month" {
			t.Fatalf("the request is %s (%q)", st, reason)
		}
	})

	t.Run("UnroutedAddAndAssign", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		const to, from = "+14155558888", "+447000000001"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := sim.InjectMO(ctx, smscsim.MO{From: from, To: to, Text: "Is this still Acme Dental?"}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the unrouted message", func() bool {
			var l struct {
				Destinations []any `json:"destinations"`
			}
			testenv.APICall(t, "GET", te.url+"/admin/v1/unrouted", consoleOperator, nil, &l)
			return len(l.Destinations) == 1
		})
		tb.do("reload", chromedp.Reload())
		row := fmt.Sprintf(`tr[data-to="%s"]`, to)
		tb.waitFor("the destination", fmt.Sprintf(`document.querySelector('%s')?.textContent.includes('Not in Switchboard')`, row))
		tb.click(row + " button")
		tb.waitFor("the add form filled in", fmt.Sprintf(`document.querySelector('#add-number')?.value === '%s' && document.activeElement?.id === 'add-number'`, to))
		tb.do("dedicated to the workspace", chromedp.SetValue("#add-kind", "dedicated"))
		tb.typeInto("#add-workspace", ws.ID)
		tb.click("#add-number-form button[type=submit]")
		tb.waitFor("the assign button", fmt.Sprintf(`document.querySelector('%s button')?.textContent === 'Assign'`, row))
		tb.click(row + " button")
		tb.waitFor("the workspace filled in", fmt.Sprintf(`document.querySelector('dialog[open] input[name=workspace]')?.value === '%s'`, ws.ID))
		tb.click("dialog[open] button[type=submit]")
		tb.waitFor("nothing unrouted", fmt.Sprintf(`!document.querySelector('%s')`, row))
		var threads struct {
			Threads []struct{ Contact string } `json:"threads"`
		}
		testenv.APICall(t, "GET", te.url+"/v1/threads", ws.Token, nil, &threads)
		if len(threads.Threads) != 1 || threads.Threads[0].Contact != from {
			t.Fatalf("the workspace's threads: %+v", threads.Threads)
		}
	})

	t.Run("SelfTest", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.typeInto("#st-number", loop)
		tb.typeInto("#st-timeout", "10")
		tb.click("#st-run")
		tb.waitFor("the result", `!!document.querySelector('#st-result .selftest')`)
		if got := eval[string](tb, `document.querySelector('#st-result .selftest').dataset.result`); got != "returned" {
			t.Fatalf("self-test: %s: %s", got, tb.text("#st-result"))
		}
	})

	t.Run("SettingsScopeReadOnly", func(t *testing.T) {
		tb.t = t
		tb.screenshotOnFailure(t)
		tb.click("#signout")
		tb.signIn(messagesOnlyToken(t, te.url, ws.ID), "/console/messages")
		tb.click(`nav a[href="/console/settings/sms"]`)
		tb.click("#configure")
		tb.do("pick", chromedp.SetValue("#number-select", "+14155552600"))
		tb.click("#save-number")
		tb.waitFor("the refusal in words", `[...document.querySelectorAll('.toast-error')].some(t => t.textContent.includes('lacks the “settings” scope'))`)
		tb.waitFor("read only", `document.querySelector('#sms-actions').disabled && [...document.querySelectorAll('.banner')].some(b => b.textContent.includes('Read only'))`)
		if st := tb.text("#sms-status"); st != "Not connected" {
			t.Fatalf("status %q", st)
		}
	})
	if p := tb.problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// messagesOnlyToken issues the workspace a token with the messages scope
// only (no settings) through the operator API.
func messagesOnlyToken(t *testing.T, base, ws string) string {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	if st := testenv.APICall(t, "POST", base+"/admin/v1/workspaces/"+ws+"/tokens", consoleOperator, map[string]any{"name": "agents", "scopes": []string{"messages"}}, &tok); st != 201 {
		t.Fatalf("issue a token: %d", st)
	}
	return tok.Token
}

// sendDelivered sends text to the contact through POST /v1/messages and
// waits until the message is delivered.
func sendDelivered(t *testing.T, base, token, to, text string) {
	t.Helper()
	var sent struct {
		ID string `json:"id"`
	}
	if st := testenv.APICall(t, "POST", base+"/v1/messages", token, map[string]any{"to": to, "text": text}, &sent); st != 202 {
		t.Fatalf("send: %d", st)
	}
	testenv.Eventually(t, "delivered", func() bool {
		var m struct {
			Status string `json:"status"`
		}
		testenv.APICall(t, "GET", base+"/v1/messages/"+sent.ID, token, nil, &m)
		return m.Status == "delivered"
	})
}
