package api

import (
	"net/http"

	"github.com/switchboard-sms/switchboard/inbox"
)

// listThreads: GET /v1/threads, newest first.
func (c *call) listThreads() error {
	p, err := c.page()
	if err != nil {
		return err
	}
	list, next, err := c.s.store.ListThreads(c.ctx, c.ws, p)
	if err != nil {
		return err
	}
	out := struct {
		Threads    []threadView `json:"threads"`
		NextCursor *string      `json:"next_cursor"`
	}{Threads: make([]threadView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		out.Threads[i] = threadOf(&list[i])
	}
	return c.json(http.StatusOK, out)
}

// listThreadMessages: GET /v1/threads/{id}/messages, oldest first.
func (c *call) listThreadMessages() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	list, next, err := c.s.store.ListMessages(c.ctx, c.ws, inbox.ThreadID(id), p)
	if err != nil {
		return err
	}
	out := struct {
		Messages   []messageView `json:"messages"`
		NextCursor *string       `json:"next_cursor"`
	}{Messages: make([]messageView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		out.Messages[i] = messageOf(&list[i])
	}
	return c.json(http.StatusOK, out)
}

// markThreadRead: POST /v1/threads/{id}/read sets the unread count to 0.
func (c *call) markThreadRead() error {
	id, err := c.pathID("id")
	if err != nil {
		return err
	}
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	if err := c.s.store.MarkThreadRead(c.ctx, c.ws, inbox.ThreadID(id)); err != nil {
		return err
	}
	return c.noContent()
}
