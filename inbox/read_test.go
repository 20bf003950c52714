package inbox_test

import (
	"fmt"
	"testing"

	"github.com/switchboard-sms/switchboard/inbox"
)

func TestListThreadsPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	var order []inbox.ThreadID // oldest first
	for i := range 7 {
		r := e.send(msg(ws, contact(i), "x"))[0]
		order = append(order, r.Thread)
	}
	// Contact 2 replies: its thread moves to the front.
	e.inbound(mo(contact(2), n.E164, "bump"))
	want := []inbox.ThreadID{order[2], order[6], order[5], order[4], order[3], order[1], order[0]}
	var got []inbox.ThreadID
	cursor := ""
	pages := 0
	for {
		list, next, err := e.s.ListThreads(e.ctx, ws, inbox.Page{Cursor: cursor, Limit: 3})
		ok(t, err)
		pages++
		for _, th := range list {
			got = append(got, th.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages %d, threads %v, want %v", pages, got, want)
	}
	_, _, err := e.s.ListThreads(e.ctx, ws, inbox.Page{Cursor: "garbage!"})
	wantCode(t, err, inbox.CodeInvalidCursor)
	// A messages cursor is not a threads cursor.
	th := order[0]
	e.send(msg(ws, contact(0), "2"), msg(ws, contact(0), "3"))
	_, mnext, err := e.s.ListMessages(e.ctx, ws, th, inbox.Page{Limit: 1})
	ok(t, err)
	_, _, err = e.s.ListThreads(e.ctx, ws, inbox.Page{Cursor: mnext})
	wantCode(t, err, inbox.CodeInvalidCursor)
	_, _, err = e.s.ListThreads(e.ctx, 31337, inbox.Page{})
	wantCode(t, err, inbox.CodeNotFound)
}

func TestListMessagesPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws, n := e.ready("w", inbox.Dedicated)
	var thread inbox.ThreadID
	var bodies []string
	for i := range 5 {
		body := fmt.Sprint("out ", i)
		thread = e.send(msg(ws, contact(1), body))[0].Thread
		bodies = append(bodies, body)
		body = fmt.Sprint("in ", i)
		e.inbound(mo(contact(1), n.E164, body))
		bodies = append(bodies, body)
	}
	var got []string
	cursor := ""
	for {
		list, next, err := e.s.ListMessages(e.ctx, ws, thread, inbox.Page{Cursor: cursor, Limit: 4})
		ok(t, err)
		for _, m := range list {
			got = append(got, m.Body)
			if m.Thread != thread || m.Workspace != ws {
				t.Fatalf("message %+v", m)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(bodies) {
		t.Fatalf("messages %q, want %q", got, bodies)
	}
	list, next, err := e.s.ListMessages(e.ctx, ws, thread, inbox.Page{Limit: 1000})
	ok(t, err)
	if len(list) != 10 || next != "" {
		t.Fatalf("one big page: %d, %q", len(list), next)
	}
	_, _, err = e.s.ListMessages(e.ctx, ws, 999999, inbox.Page{})
	wantCode(t, err, inbox.CodeNotFound)
}
