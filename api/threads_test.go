package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
)

type threadPage struct {
	Threads []struct {
		ID          string `json:"id"`
		Channel     string `json:"channel"`
		Number      string `json:"number"`
		Contact     string `json:"contact"`
		UnreadCount int    `json:"unread_count"`
		LastMessage *struct {
			ID        string `json:"id"`
			Direction string `json:"direction"`
			Text      string `json:"text"`
			Status    string `json:"status"`
		} `json:"last_message"`
	} `json:"threads"`
	NextCursor *string `json:"next_cursor"`
}

type messagePage struct {
	Messages []struct {
		ID        string `json:"id"`
		Direction string `json:"direction"`
		Text      string `json:"text"`
		From      string `json:"from"`
	} `json:"messages"`
	NextCursor *string `json:"next_cursor"`
}

func TestThreadsPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.ready("w")
	for i := range 5 {
		want(t, e.send(w.token, contact(i), fmt.Sprint("hello ", i)), 202, "")
	}
	// Contact 1 replies twice: its thread moves to the front, with 2 unread.
	e.inbound(contact(1), w.num.E164, "yes")
	e.inbound(contact(1), w.num.E164, "and thanks")

	var order []string
	var first threadPage
	cursor := ""
	for pages := 1; ; pages++ {
		r := e.do("GET", "/v1/threads?limit=2&cursor="+url.QueryEscape(cursor), w.token, nil)
		want(t, r, 200, "")
		var p threadPage
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if pages == 1 {
			first = p
		}
		for _, th := range p.Threads {
			order = append(order, th.Contact)
		}
		if p.NextCursor == nil {
			if pages != 3 {
				t.Fatalf("%d pages", pages)
			}
			break
		}
		cursor = *p.NextCursor
	}
	wantOrder := fmt.Sprint([]string{contact(1), contact(4), contact(3), contact(2), contact(0)})
	if fmt.Sprint(order) != wantOrder {
		t.Fatalf("threads %v, want %v", order, wantOrder)
	}
	top := first.Threads[0]
	if top.Channel != "sms" || top.UnreadCount != 2 || top.Number != w.num.E164 || top.LastMessage == nil ||
		top.LastMessage.Text != "and thanks" || top.LastMessage.Direction != "in" {
		t.Fatalf("top thread %+v", top)
	}
	if second := first.Threads[1]; second.UnreadCount != 0 || second.LastMessage.Text != "hello 4" || second.LastMessage.Status != "queued" {
		t.Fatalf("second thread %+v", second)
	}

	// The conversation, oldest first, both directions, paged.
	want(t, e.send(w.token, contact(1), "great"), 202, "")
	var texts []string
	cursor = ""
	for {
		r := e.do("GET", "/v1/threads/"+top.ID+"/messages?limit=3&cursor="+url.QueryEscape(cursor), w.token, nil)
		want(t, r, 200, "")
		var p messagePage
		json.Unmarshal(r.body, &p)
		for _, m := range p.Messages {
			texts = append(texts, m.Direction+":"+m.Text)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if got := fmt.Sprint(texts); got != "[out:hello 1 in:yes in:and thanks out:great]" {
		t.Fatalf("conversation %s", got)
	}

	// Read: the unread count goes to 0.
	r := e.do("POST", "/v1/threads/"+top.ID+"/read", w.token, nil)
	want(t, r, 204, "")
	r = e.do("GET", "/v1/threads?limit=1", w.token, nil)
	var p threadPage
	json.Unmarshal(r.body, &p)
	if p.Threads[0].ID != top.ID || p.Threads[0].UnreadCount != 0 {
		t.Fatalf("after read: %s", r.body)
	}

	want(t, e.do("GET", "/v1/threads/424242/messages", w.token, nil), 404, "not_found")
	want(t, e.do("GET", "/v1/threads/"+top.ID+"/messages?cursor="+url.QueryEscape(*first.NextCursor), w.token, nil), 400, "invalid_cursor")
	want(t, e.do("POST", "/v1/threads/424242/read", w.token, nil), 404, "not_found")
}
