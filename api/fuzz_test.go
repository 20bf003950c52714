package api

import (
	"errors"
	"testing"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/smpp/coding"
	"github.com/switchboard-sms/switchboard/webhook"
)

// FuzzRequestBodies feeds arbitrary bytes to the strict JSON decoding of
// every request body and to the text checks of POST /v1/messages (what runs
// before anything reaches the store). Nothing may panic; every refusal must
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
		var send sendRequest
		err := decodeStrict(body, &send, false)
		check(err)
		if err == nil {
			text, err := decodeText(send.Text)
			check(err)
			if err == nil {
				enc := coding.Choose(text)
				coding.Count(text, enc, coding.UDH8)
			}
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
