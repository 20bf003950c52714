package api

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/webhook"
)

// FuzzRequestBodies feeds arbitrary bytes to the strict JSON decoding of
// every request body and to the checks of POST /v1/messages (text,
// send_at, validity: what runs before anything reaches the store). Nothing may panic; every refusal must
// be an API error with a status, never a bare error that would become a 500.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"to":"+447911123456","text":"hello","client_ref":"r1"}`,
		`{"to":"+447911123456","text":"\ud83d\ude00 emoji","from":"+14155552671"}`,
		`{"to":"x","text":"\ud800"}`,
		`{"name":"acme","sms_addon":true}`,
		`{"sms_addon":false}`,
		`{"number":"+14155552671","kind":"dedicated","workspace":"12","carrier":"sim","class":"dedicated"}`,
		`{"url":"https://example.com/hook","description":"crm","event_types":["message.status","number.*"]}`,
		`{"url":null,"enabled":false,"event_types":[]}`,
		`{"to":"+447911123456","text":"later","send_at":"2030-01-02T09:00:00Z","validity":3600}`,
		`{"to":"+447911123456","text":"x","send_at":"2030-01-02T09:00:00.123+05:30","validity":"60"}`,
		`{"to":"+447911123456","text":"x","send_at":"9999-99-99T99:99:99Z","validity":1e400}`,
		`{"to":"+447911123456","text":"x","send_at":null,"validity":-0.5}`,
		`{"to":1}`, `[]`, `{"to":"a"} trailing`, `{"text":"` + "\xff" + `"}`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("decode error %T %v is not an API error", err, err)
			}
		}
		o, err := parseOutgoing(body)
		check(err)
		if err == nil && (o.validity < 0 || o.sendAt.After(time.Now().Add(inbox.MaxScheduleAhead))) {
			t.Fatalf("accepted validity %v, send_at %v", o.validity, o.sendAt)
		}
		check(decodeStrict(body, &createWorkspaceRequest{}, false))
		check(decodeStrict(body, &patchWorkspaceRequest{}, false))
		check(decodeStrict(body, &addNumberRequest{}, false))
		var hook createWebhookRequest
		if err := decodeStrict(body, &hook, false); err == nil {
			inbox.CheckWebhookURL(hook.URL)
			(&webhook.Guard{}).CheckURL(hook.URL)
		} else {
			check(err)
		}
		check(decodeStrict(body, &patchWebhookRequest{}, false))
	})
}
