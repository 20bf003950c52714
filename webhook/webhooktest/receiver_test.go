package webhooktest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/webhook"
	"github.com/switchboard-sms/switchboard/webhook/webhooktest"
)

const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZg=="

func post(t *testing.T, c *http.Client, url, id string, sign bool) (*http.Response, error) {
	t.Helper()
	body := []byte(`{"id":"` + id + `","type":"message.status","timestamp":"2026-01-01T00:00:00Z","data":{"id":"msg_1"}}`)
	req, _ := http.NewRequestWithContext(context.Background(), "POST", url, bytes.NewReader(body))
	ts := time.Now().Unix()
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	key, _ := webhook.ParseKey(secret)
	if !sign {
		key = webhook.Key("another key")
	}
	req.Header.Set(webhook.HeaderSignature, webhook.Signature([]webhook.Key{key}, id, ts, body))
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// The receiver answers as its Behaviour says over kept-alive connections;
// a delivery whose sender gave up before the answer (a Delay past its
// timeout) is not accepted, nor one that does not verify.
func TestReceiverAnswers(t *testing.T) {
	t.Parallel()
	r, err := webhooktest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.SetSecrets(secret)
	r.SetBehaviour(func(n int64, typ string) webhooktest.Answer {
		switch n {
		case 2:
			return webhooktest.Answer{Status: 503, RetryAfter: "5"}
		case 3:
			return webhooktest.Answer{Delay: 500 * time.Millisecond}
		case 4:
			return webhooktest.Answer{SlowBody: 100 * time.Millisecond}
		}
		return webhooktest.Answer{}
	})
	c := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := post(t, c, r.URL, "evt_1", true); err != nil || resp.StatusCode != 200 {
		t.Fatalf("1: %v %v", resp, err)
	}
	if resp, err := post(t, c, r.URL, "evt_2", true); err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("2: %v %v", resp, err)
	}
	if _, err := post(t, c, r.URL, "evt_3", true); err == nil {
		t.Fatal("3: answered before the sender's timeout")
	}
	if resp, err := post(t, c, r.URL, "evt_4", true); err != nil || resp.StatusCode != 200 {
		t.Fatalf("4: %v %v", resp, err)
	}
	if resp, err := post(t, c, r.URL, "evt_5", false); err != nil || resp.StatusCode != 401 {
		t.Fatalf("5: %v %v", resp, err)
	}
	time.Sleep(600 * time.Millisecond) // past the delay of 3
	requests, unverified, accepted := r.Stats()
	if requests != 5 || unverified != 1 || accepted != 2 {
		t.Fatalf("requests %d, unverified %d, accepted %d; want 5, 1, 2", requests, unverified, accepted)
	}
	if ev := r.Events(); len(ev) != 2 || ev["evt_1"].Times != 1 || ev["evt_4"].Times != 1 {
		t.Fatalf("events %v", ev)
	}
	// 1 and 2 on one connection, 3 closed by the sender, 4 and 5 on a
	// new one.
	if n := r.Conns(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}
