package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
)

// Unrouted inbound messages, for operators: grouped by destination (many
// messages to one number Switchboard does not have are the usual sign of
// a number provisioned at the carrier but not here), listed, and assigned
// to a workspace's threads once the number is in Switchboard.

type unroutedView struct {
	ID         string    `json:"id"`
	Carrier    string    `json:"carrier"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	Encoding   string    `json:"encoding"`
	Segments   int       `json:"segments"`
	Reason     string    `json:"reason"`
	ReceivedAt time.Time `json:"received_at"`
}

func unroutedOf(u *inbox.UnroutedMessage) unroutedView {
	return unroutedView{ID: idString(int64(u.ID)), Carrier: u.Carrier, From: u.From, To: u.To,
		Text: u.Body, Encoding: encodingName(u.Encoding), Segments: u.Segments, Reason: u.Reason,
		ReceivedAt: u.ReceivedAt.UTC()}
}

type unroutedGroupView struct {
	To              string           `json:"to"`
	Messages        int              `json:"messages"`
	Contacts        int              `json:"contacts"`
	FirstReceivedAt time.Time        `json:"first_received_at"`
	LastReceivedAt  time.Time        `json:"last_received_at"`
	Reasons         []string         `json:"reasons"`
	Latest          unroutedView     `json:"latest"`
	Number          *adminNumberView `json:"number"`
}

// listUnroutedGroups: GET /admin/v1/unrouted, grouped by destination, the
// group with the latest message first.
func (c *call) listUnroutedGroups() error {
	p, err := c.page()
	if err != nil {
		return err
	}
	list, next, err := c.s.store.ListUnroutedGroups(c.ctx, p)
	if err != nil {
		return err
	}
	out := struct {
		Destinations []unroutedGroupView `json:"destinations"`
		NextCursor   *string             `json:"next_cursor"`
	}{Destinations: make([]unroutedGroupView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		g := &list[i]
		v := unroutedGroupView{To: g.To, Messages: g.Messages, Contacts: g.Contacts, FirstReceivedAt: g.FirstReceived.UTC(),
			LastReceivedAt: g.LastReceived.UTC(), Reasons: g.Reasons, Latest: unroutedOf(&g.Latest)}
		if g.Number != nil {
			n := adminNumberOf(g.Number)
			v.Number = &n
		}
		out.Destinations[i] = v
	}
	return c.json(http.StatusOK, out)
}

// listUnrouted: GET /admin/v1/unrouted/messages[?to=], newest first.
func (c *call) listUnrouted() error {
	p, err := c.page()
	if err != nil {
		return err
	}
	list, next, err := c.s.store.ListUnroutedTo(c.ctx, c.r.URL.Query().Get("to"), p)
	if err != nil {
		return err
	}
	out := struct {
		Messages   []unroutedView `json:"messages"`
		NextCursor *string        `json:"next_cursor"`
	}{Messages: make([]unroutedView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		out.Messages[i] = unroutedOf(&list[i])
	}
	return c.json(http.StatusOK, out)
}

type assignBody struct {
	Workspace idParam   `json:"workspace"`
	To        string    `json:"to"`
	IDs       []idParam `json:"ids"`
}

// assignUnrouted: POST /admin/v1/unrouted/assign moves the unrouted
// messages to a number (or some of them) into a workspace's threads.
func (c *call) assignUnrouted() error {
	var body assignBody
	if err := c.decodeBody(&body, false); err != nil {
		return err
	}
	if body.Workspace == 0 || strings.TrimSpace(body.To) == "" {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "workspace and to are required")
	}
	if _, ok := inbox.NormalizeE164(body.To); !ok {
		return errorf(http.StatusUnprocessableEntity, codeInvalidNumber, "to is not a valid E.164 number")
	}
	a := inbox.Assignment{Workspace: inbox.WorkspaceID(body.Workspace), To: body.To}
	for _, id := range body.IDs {
		a.IDs = append(a.IDs, inbox.UnroutedID(id))
	}
	res, err := c.s.store.AssignUnrouted(c.ctx, a)
	switch inbox.ErrorCode(err) {
	case inbox.CodeUnknownNumber:
		return errorf(http.StatusConflict, codeUnknownNumber,
			"Switchboard does not have %s: add it (POST /admin/v1/numbers) before assigning its messages", body.To)
	case inbox.CodeNotFound:
		return errorf(http.StatusNotFound, codeNotFound, "no such workspace, or no such unrouted messages to %s", body.To)
	}
	if err != nil {
		return err
	}
	c.s.notify()
	out := struct {
		Workspace string   `json:"workspace"`
		Messages  []string `json:"messages"`
		Threads   []string `json:"threads"`
	}{Workspace: idString(int64(body.Workspace)), Messages: make([]string, len(res.Messages)), Threads: make([]string, len(res.Threads))}
	for i, m := range res.Messages {
		out.Messages[i] = idString(int64(m))
	}
	for i, t := range res.Threads {
		out.Threads[i] = idString(int64(t))
	}
	return c.json(http.StatusOK, out)
}
