package webhook_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/webhook"
)

// The signatures are checked by the Standard Webhooks reference library,
// not by our own code: what a tenant's receiver runs.
func TestSignatureVerifiesWithReferenceLibrary(t *testing.T) {
	t.Parallel()
	cur, old := inbox.NewWebhookSecret(), inbox.NewWebhookSecret()
	kc, err := webhook.ParseKey(cur)
	if err != nil {
		t.Fatal(err)
	}
	ko, _ := webhook.ParseKey(old)
	body := []byte(`{"id":"evt_1","type":"message.status","data":{"status":"delivered","text":"héllo"}}`)
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set(webhook.HeaderID, "evt_1")
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderSignature, webhook.Signature([]webhook.Key{kc, ko}, "evt_1", ts, body))
	if n := len(strings.Fields(h.Get(webhook.HeaderSignature))); n != 2 {
		t.Fatalf("%d signatures, want 2: %s", n, h.Get(webhook.HeaderSignature))
	}
	for _, s := range []string{cur, old} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("secret %s: %v", s[:10], err)
		}
	}
	// A changed body, id, timestamp or another secret does not verify.
	other, _ := standardwebhooks.NewWebhook(inbox.NewWebhookSecret())
	if other.Verify(body, h) == nil {
		t.Fatal("a foreign secret verified")
	}
	wh, _ := standardwebhooks.NewWebhook(cur)
	if wh.Verify(append([]byte(nil), append(body, ' ')...), h) == nil {
		t.Fatal("a changed body verified")
	}
	h2 := h.Clone()
	h2.Set(webhook.HeaderID, "evt_2")
	if wh.Verify(body, h2) == nil {
		t.Fatal("a changed id verified")
	}
	h2 = h.Clone()
	h2.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts+1, 10))
	if wh.Verify(body, h2) == nil {
		t.Fatal("a changed timestamp verified")
	}
}

// A known answer, computed independently (Python's hmac module):
// base64(HMAC-SHA256(key, "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}")) with
// the Standard Webhooks test secret.
func TestSignatureKnownAnswer(t *testing.T) {
	t.Parallel()
	k, err := webhook.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Signature([]webhook.Key{k}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	for _, bad := range []string{"whsec_***", "whsec_", ""} {
		if _, err := webhook.ParseKey(bad); err == nil {
			t.Fatalf("ParseKey(%q) accepted", bad)
		}
	}
}

// A Signer signs as Signature does, from many goroutines at once, each
// reusing the HMAC states of the others.
func TestSignerMatchesSignature(t *testing.T) {
	t.Parallel()
	var keys []webhook.Key
	for range 2 {
		k, err := webhook.ParseKey(inbox.NewWebhookSecret())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	known, _ := webhook.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if got := webhook.NewSigner([]webhook.Key{known}).Signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`)); got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("known answer: %s", got)
	}
	s := webhook.NewSigner(keys)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := "evt_" + strconv.Itoa(g*1000+i)
				body := []byte(strings.Repeat("x", i))
				ts := int64(1700000000 + i)
				if got, want := s.Signature(id, ts, body), webhook.Signature(keys, id, ts, body); got != want {
					t.Errorf("%s: %s, want %s", id, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkSignature(b *testing.B) {
	k, _ := webhook.ParseKey(inbox.NewWebhookSecret())
	body := []byte(strings.Repeat("x", 400))
	b.Run("Signature", func(b *testing.B) {
		for i := range b.N {
			webhook.Signature([]webhook.Key{k}, "evt_1", int64(i), body)
		}
	})
	b.Run("Signer", func(b *testing.B) {
		s := webhook.NewSigner([]webhook.Key{k})
		for i := range b.N {
			s.Signature("evt_1", int64(i), body)
		}
	})
}
