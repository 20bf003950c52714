package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/api"
)

// batchAnswer is the body of POST /v1/messages/batch.
type batchAnswer struct {
	Results []batchItem `json:"results"`
}

type batchItem struct {
	Status  int             `json:"status"`
	Message json.RawMessage `json:"message"`
	Error   json.RawMessage `json:"error"`
}

// code is the error code of a refused item ("" for none).
func (it batchItem) code() string {
	var e struct{ Code string }
	json.Unmarshal(it.Error, &e)
	return e.Code
}

func (it batchItem) id() string {
	var m struct{ ID string }
	json.Unmarshal(it.Message, &m)
	return m.ID
}

// batch posts items (each JSON-encoded unless it is a string, sent as
// it is) to POST /v1/messages/batch and decodes a 200 answer.
func (e *env) batch(tok string, items ...any) (resp, batchAnswer) {
	e.t.Helper()
	var b strings.Builder
	b.WriteString(`{"messages": [`)
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		if s, ok := it.(string); ok {
			b.WriteString(s)
			continue
		}
		j, err := json.Marshal(it)
		if err != nil {
			e.t.Fatal(err)
		}
		b.Write(j)
	}
	b.WriteString("]}")
	r := e.do("POST", "/v1/messages/batch", tok, b.String())
	var a batchAnswer
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &a); err != nil {
			e.t.Fatalf("batch answer: %v: %s", err, r.body)
		}
		if len(a.Results) != len(items) {
			e.t.Fatalf("%d results for %d items: %s", len(a.Results), len(items), r.body)
		}
	}
	return r, a
}

func msg(to, text string, more ...string) map[string]any {
	m := map[string]any{"to": to, "text": text}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i]] = more[i+1]
	}
	return m
}

// TestSendBatchMixed: valid and invalid items in one request; each item
// gets its own result in request order, and only the valid ones are
// stored, in one Enqueue call.
func TestSendBatchMixed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	items := []any{
		msg(contact(1), "first"),
		msg("+1 555 0100", "bad recipient"),
		map[string]any{"to": contact(2)},
		msg(contact(3), "Grüße 😀", "client_ref", "ref-3"),
		"{\"to\": \"+16465550100\", \"text\": \"caf\xe9\"}",
		msg(contact(5), strings.Repeat("a", 153*10+1)),
		msg(contact(6), "from elsewhere", "from", newE164()),
		msg(contact(7), strings.Repeat("я", 67*300)), // over MaxBodyBytes (4096 here)
		`"not an object"`,
		`{"to": "+16465550100", "text": "x", "cc": "+16465550101"}`,
		msg("+1 (646) 555-0199", "last"),
	}
	wantItems := []struct {
		status int
		code   string
	}{
		{202, ""}, {422, "invalid_recipient"}, {400, "invalid_request"}, {202, ""}, {422, "invalid_text"},
		{422, "message_too_long"}, {409, "no_number_connected"}, {413, "payload_too_large"},
		{400, "invalid_request"}, {400, "invalid_request"}, {202, ""},
	}
	calls := e.api.Stats().EnqueueCalls
	r, a := e.batch(w.token, items...)
	want(t, r, http.StatusOK, "")
	ids := map[string]int{}
	for i, it := range a.Results {
		if it.Status != wantItems[i].status || it.code() != wantItems[i].code {
			t.Fatalf("item %d: %d %q, want %d %q: %s", i, it.Status, it.code(), wantItems[i].status, wantItems[i].code, r.body)
		}
		if (it.Status == 202) != (it.Message != nil) || (it.Status == 202) == (it.Error != nil) {
			t.Fatalf("item %d: message and error: %s", i, r.body)
		}
		if it.Status == 202 {
			ids[it.id()] = i
		}
	}
	if len(ids) != 3 || e.countMessages(w.id) != 3 {
		t.Fatalf("%d distinct ids, %d messages stored, want 3", len(ids), e.countMessages(w.id))
	}
	if n := e.api.Stats().EnqueueCalls - calls; n != 1 {
		t.Fatalf("%d Enqueue calls for one batch", n)
	}
	// Each id is its own item's message.
	texts := map[int]string{0: "first", 3: "Grüße 😀", 10: "last"}
	for id, i := range ids {
		m := e.do("GET", "/v1/messages/"+id, w.token, nil)
		want(t, m, 200, "")
		if v := m.json(t); v["text"] != texts[i] {
			t.Fatalf("item %d is %s", i, m.body)
		}
	}
	var first map[string]any
	json.Unmarshal(a.Results[3].Message, &first)
	if first["encoding"] != "ucs2" || first["client_ref"] != "ref-3" || first["from"] != w.num.E164 || first["status"] != "queued" {
		t.Fatalf("item 3: %s", a.Results[3].Message)
	}
	if e.kicks.Load() == 0 {
		t.Fatal("the dispatcher was not kicked")
	}

	// Every item refused before the inbox: 200 all the same, nothing
	// stored, no Enqueue call.
	calls = e.api.Stats().EnqueueCalls
	r, a = e.batch(w.token, msg(contact(1), strings.Repeat("x", 5000)), map[string]any{"text": "x"})
	want(t, r, http.StatusOK, "")
	if a.Results[0].Status != 413 || a.Results[1].Status != 400 || e.countMessages(w.id) != 3 || e.api.Stats().EnqueueCalls != calls {
		t.Fatalf("all refused: %s", r.body)
	}
}

// TestSendBatchIdempotent: a batch posted twice gives the same ids, each
// item with a client_ref answered as a repeat; an item without one is
// sent again. Within one batch a repeated client_ref is a repeat of the
// earlier item, or a conflict when its content differs.
func TestSendBatchIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	items := []any{
		msg(contact(1), "one", "client_ref", "a"),
		msg(contact(2), "two", "client_ref", "b"),
		msg(contact(3), "three"),
		msg("+1 555", "refused", "client_ref", "c"),
	}
	r1, a1 := e.batch(w.token, items...)
	want(t, r1, http.StatusOK, "")
	r2, a2 := e.batch(w.token, items...)
	want(t, r2, http.StatusOK, "")
	for i, st := range [][2]int{{202, 200}, {202, 200}, {202, 202}, {422, 422}} {
		if a1.Results[i].Status != st[0] || a2.Results[i].Status != st[1] {
			t.Fatalf("item %d: %d then %d, want %v:\n%s\n%s", i, a1.Results[i].Status, a2.Results[i].Status, st, r1.body, r2.body)
		}
	}
	if a1.Results[0].id() != a2.Results[0].id() || a1.Results[1].id() != a2.Results[1].id() ||
		a1.Results[2].id() == a2.Results[2].id() || a1.Results[0].id() == a1.Results[1].id() {
		t.Fatalf("ids:\n%s\n%s", r1.body, r2.body)
	}
	if n := e.countMessages(w.id); n != 4 {
		t.Fatalf("%d messages stored, want 4", n)
	}

	// One client_ref twice in a batch: the second is a repeat of the
	// first (200, the same message); with another text a conflict.
	r, a := e.batch(w.token,
		msg(contact(4), "same", "client_ref", "d"),
		msg(contact(4), "same", "client_ref", "d"),
		msg(contact(4), "other", "client_ref", "d"),
		msg(contact(5), "new", "client_ref", "a"))
	want(t, r, http.StatusOK, "")
	if a.Results[0].Status != 202 || a.Results[1].Status != 200 || a.Results[1].id() != a.Results[0].id() ||
		a.Results[2].Status != 409 || a.Results[2].code() != "client_ref_conflict" ||
		a.Results[3].Status != 409 || a.Results[3].code() != "client_ref_conflict" {
		t.Fatalf("repeats in a batch: %s", r.body)
	}
	if n := e.countMessages(w.id); n != 5 {
		t.Fatalf("%d messages stored, want 5", n)
	}
	// The inbox answers a repeat within one Enqueue call with the first
	// item's outcome, a refusal too: one client_ref, one outcome.
	r, a = e.batch(w.token,
		msg("+1 555", "refused", "client_ref", "e"),
		msg(contact(6), "fine alone", "client_ref", "e"))
	want(t, r, http.StatusOK, "")
	if a.Results[0].Status != 422 || a.Results[1].Status != 422 || a.Results[1].code() != "invalid_recipient" {
		t.Fatalf("a repeat of a refused item: %s", r.body)
	}
	if n := e.countMessages(w.id); n != 5 {
		t.Fatalf("%d messages stored, want 5", n)
	}
}

// TestSendBatchLimits: 1 to 1000 messages; a body that is not an object
// with a messages array is refused whole, and nothing is stored.
func TestSendBatchLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.MaxBatchBodyBytes = 256 << 10 })
	w := e.ready("w")
	many := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = msg(contact(i), fmt.Sprint("m", i))
		}
		return out
	}
	r, a := e.batch(w.token, many(api.MaxBatchMessages)...)
	want(t, r, http.StatusOK, "")
	for i, it := range a.Results {
		if it.Status != 202 {
			t.Fatalf("item %d: %d %s", i, it.Status, it.Error)
		}
	}
	if n := e.countMessages(w.id); n != api.MaxBatchMessages {
		t.Fatalf("%d messages stored", n)
	}
	r, _ = e.batch(w.token, many(api.MaxBatchMessages+1)...)
	want(t, r, http.StatusBadRequest, "invalid_request")

	big := `{"messages": [` + strings.Repeat(`{"to": "+16465550100", "text": "x"}, `, 8000) + `{"to": "+16465550100", "text": "x"}]}`
	for _, c := range []bodyCase{
		{"no messages", `{"messages": []}`, nil, 400, "invalid_request"},
		{"messages null", `{"messages": null}`, nil, 400, "invalid_request"},
		{"messages missing", `{}`, nil, 400, "invalid_request"},
		{"messages not an array", `{"messages": {"to": "+16465550100", "text": "x"}}`, nil, 400, "invalid_request"},
		{"a single message", `{"to": "+16465550100", "text": "x"}`, nil, 400, "invalid_request"},
		{"an array", `[{"to": "+16465550100", "text": "x"}]`, nil, 400, "invalid_request"},
		{"malformed", `{"messages": [{"to": "+16465550100", "text": "x"}`, nil, 400, "invalid_request"},
		{"malformed item", `{"messages": [{"to": "+16465550100", "text": x}]}`, nil, 400, "invalid_request"},
		{"trailing data", `{"messages": [{"to": "+16465550100", "text": "x"}]} {}`, nil, 400, "invalid_request"},
		{"unknown field", `{"messages": [{"to": "+16465550100", "text": "x"}], "dry_run": true}`, nil, 400, "invalid_request"},
		{"empty", ``, nil, 400, "invalid_request"},
		{"form content type", `{"messages": [{"to": "+16465550100", "text": "x"}]}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"over the batch limit", big, nil, 413, "payload_too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want(t, e.do("POST", "/v1/messages/batch", w.token, c.body, c.hdr...), c.status, c.code)
		})
	}
	if n := e.countMessages(w.id); n != api.MaxBatchMessages {
		t.Fatalf("refused batches stored %d messages", n-api.MaxBatchMessages)
	}
}

// TestSendBatchAnswersAsSingle: each item's result is what POST
// /v1/messages answers for the same input, posted one after another in
// the batch's order: the status, and the message or error object (ids
// and sender numbers aside, which differ between the two workspaces). In
// a ready workspace, one without the add-on and one with its number
// disabled.
func TestSendBatchAnswersAsSingle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inputs := []any{
		msg(contact(1), "Hello there"),
		msg("+1 (646) 555-0100", "formatted"),
		msg(contact(1), "Grüße 😀"),
		msg(contact(1), strings.Repeat("a", 161)),
		msg(contact(1), strings.Repeat("€", 81)),
		msg(contact(1), strings.Repeat("a", 153*10+1)),
		msg(contact(1), strings.Repeat("я", 67*300)),
		msg("+1 555 0100", "x"),
		map[string]any{"text": "x"},
		map[string]any{"to": contact(1)},
		msg(contact(1), ""),
		`{"to": "+16465550100", "text": 5}`,
		"{\"to\": \"+16465550100\", \"text\": \"caf\xe9\"}",
		"{\"to\": \"+16465\xe90100\", \"text\": \"x\"}",
		`{"to": "+16465550100", "text": "a\ud800b"}`,
		`{"to": "+16465550100", "text": "a\uFFFD \\ud800 �"}`,
		msg(contact(1), "x", "from", newE164()),
		msg(contact(1), "x", "client_ref", strings.Repeat("k", 256)),
		msg(contact(7), "opted out"),
		msg(contact(2), "once", "client_ref", "r1"),
		msg(contact(2), "once", "client_ref", "r1"),
		msg(contact(2), "twice", "client_ref", "r1"),
		msg("+1 555", "refused", "client_ref", "r2"),
		msg("+1 555", "refused", "client_ref", "r2"),
		msg(contact(3), "x", "client_ref", "r3", "from", "+1 555"),
		`{"to": "+16465550100", "text": "x", "cc": "+16465550101"}`,
		`null`,
		`[]`,
	}
	setups := []struct {
		name  string
		setup func() tenant
	}{
		{"ready", func() tenant {
			w := e.ready("w")
			e.inbound(contact(7), w.num.E164, "STOP")
			return w
		}},
		{"no add-on", func() tenant {
			w := e.workspace("no add-on", false)
			w.num = e.dedicated(w.id)
			return w
		}},
		{"disabled", func() tenant {
			w := e.ready("disabled")
			want(t, e.do("POST", "/v1/sms/number/disable", w.token, nil), 200, "")
			return w
		}},
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			single, batched := s.setup(), s.setup()
			n := newNames(single.num.E164, batched.num.E164)
			var singles []string
			for _, in := range inputs {
				body := in
				if s, ok := in.(string); ok {
					body = []byte(s) // sent as it is
				}
				r := e.do("POST", "/v1/messages", single.token, body)
				replayed := r.header.Get("Idempotent-Replayed") == "true"
				if replayed != (r.status == 200) {
					t.Fatalf("single %d with Idempotent-Replayed %v", r.status, replayed)
				}
				singles = append(singles, n.of(single.token, r.status, r.body))
			}
			r, a := e.batch(batched.token, inputs...)
			want(t, r, http.StatusOK, "")
			for i, it := range a.Results {
				body := it.Message
				if it.Error != nil {
					body = []byte(`{"error": ` + string(it.Error) + `}`)
				}
				if got := n.of(batched.token, it.Status, body); got != singles[i] {
					t.Errorf("item %d (%.60v):\nsingle %s\nbatch  %s", i, inputs[i], singles[i], got)
				}
			}
			if s, b := e.countMessages(single.id), e.countMessages(batched.id); s != b {
				t.Fatalf("%d messages stored one by one, %d in a batch", s, b)
			}
		})
	}
}

// names replaces ids and sender numbers in answers by their order of
// appearance, per workspace, so that two workspaces' answers compare.
type names struct {
	numbers map[string]string
	ids     map[string]map[string]string // by workspace token
}

func newNames(single, batched string) *names {
	return &names{numbers: map[string]string{single: "<from>", batched: "<from>"}, ids: map[string]map[string]string{}}
}

var digits = regexp.MustCompile(`\b[0-9]+\b`)

// of is a status and a body, written with the names.
func (n *names) of(ws string, status int, body []byte) string {
	ids := n.ids[ws]
	if ids == nil {
		ids = map[string]string{}
		n.ids[ws] = ids
	}
	name := func(id string) string {
		if _, ok := ids[id]; !ok {
			ids[id] = fmt.Sprintf("<id%d>", len(ids))
		}
		return ids[id]
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Sprintf("%d %s", status, body)
	}
	for _, k := range []string{"id", "thread_id"} {
		if id, ok := v[k].(string); ok {
			v[k] = name(k + id)
		}
	}
	if from, ok := v["from"].(string); ok && n.numbers[from] != "" {
		v["from"] = n.numbers[from]
	}
	if e, ok := v["error"].(map[string]any); ok && e["code"] == "client_ref_conflict" {
		// "client_ref was used for message 12 with ..."
		e["message"] = digits.ReplaceAllStringFunc(e["message"].(string), func(id string) string { return name("id" + id) })
	}
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%d %s", status, b)
}

// TestSendBatchDatabaseError: when the store call fails (here: past
// RequestTimeout, behind a lock), the whole request is 503 unavailable
// and nothing of it is stored.
func TestSendBatchDatabaseError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.RequestTimeout = 500 * time.Millisecond })
	w := e.ready("w")
	want(t, e.do("GET", "/v1/sms", w.token, nil), 200, "") // the token is cached

	tx, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(e.ctx, `LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r, _ := e.batch(w.token, msg(contact(1), "one"), msg(contact(2), "two"), map[string]any{"text": "refused alone"})
	if err := tx.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	want(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if n := e.countMessages(w.id); n != 0 {
		t.Fatalf("%d messages stored by a failed batch", n)
	}
	r, a := e.batch(w.token, msg(contact(1), "one"), msg(contact(2), "two"))
	want(t, r, http.StatusOK, "")
	if a.Results[0].Status != 202 || a.Results[1].Status != 202 || e.countMessages(w.id) != 2 {
		t.Fatalf("after the lock: %s", r.body)
	}
}
