package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-sms/switchboard/inbox"
	"github.com/switchboard-sms/switchboard/smpp/coding"
)

// Opt-outs (issue 16 §3): a workspace's opted-out contacts, with who opted
// them out and when, and its keyword settings. The operator has the same
// routes under /admin/v1/workspaces/{id}/, recorded as source "operator".

type contactStateView struct {
	Contact   string     `json:"contact"`
	OptedOut  bool       `json:"opted_out"`
	Source    *string    `json:"source"`  // keyword, api, operator; null when never set
	Keyword   *string    `json:"keyword"` // the keyword texted, when source is keyword
	ChangedAt *time.Time `json:"changed_at"`
}

func contactStateOf(c *inbox.ContactState) contactStateView {
	v := contactStateView{Contact: c.Contact, OptedOut: c.OptedOut, ChangedAt: utc(c.ChangedAt)}
	if c.Source != "" {
		s := string(c.Source)
		v.Source = &s
	}
	if c.Keyword != "" {
		k := c.Keyword
		v.Keyword = &k
	}
	return v
}

// optOutTarget is the workspace of an opt-out route and the source its
// changes are recorded under: the caller's own, or the one the operator
// names in the path.
func (c *call) optOutTarget() (inbox.WorkspaceID, inbox.OptOutSource, error) {
	if c.route.access != operator {
		return c.ws, inbox.SourceAPI, nil
	}
	id, err := c.pathID("id")
	if err != nil {
		return 0, "", err
	}
	return inbox.WorkspaceID(id), inbox.SourceOperator, nil
}

// listOptOuts: GET /v1/opt-outs (and the operator's), in contact order.
func (c *call) listOptOuts() error {
	ws, _, err := c.optOutTarget()
	if err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	if c.route.access == operator {
		if _, err := c.s.store.GetWorkspace(c.ctx, ws); err != nil {
			return err
		}
	}
	list, next, err := c.s.store.ListOptOuts(c.ctx, ws, p)
	if err != nil {
		return err
	}
	out := struct {
		OptOuts    []contactStateView `json:"opt_outs"`
		NextCursor *string            `json:"next_cursor"`
	}{OptOuts: make([]contactStateView, len(list)), NextCursor: cursorOrNull(next)}
	for i := range list {
		out.OptOuts[i] = contactStateOf(&list[i])
	}
	return c.json(http.StatusOK, out)
}

type addOptOutRequest struct {
	Contact string `json:"contact"`
}

// addOptOut: POST /v1/opt-outs opts a contact out: 201 when it was opted
// in, 200 when it already was opted out (unchanged).
func (c *call) addOptOut() error {
	ws, src, err := c.optOutTarget()
	if err != nil {
		return err
	}
	var req addOptOutRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	if strings.TrimSpace(req.Contact) == "" {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "contact is required")
	}
	before, err := c.s.store.GetContactState(c.ctx, ws, req.Contact)
	if err != nil {
		return err
	}
	st, err := c.s.store.SetOptOut(c.ctx, ws, req.Contact, true, src)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if before.OptedOut {
		status = http.StatusOK
	}
	return c.json(status, contactStateOf(&st))
}

// getOptOut: GET /v1/opt-outs/{contact}, a contact's state (opted in when
// never set).
func (c *call) getOptOut() error {
	ws, _, err := c.optOutTarget()
	if err != nil {
		return err
	}
	st, err := c.s.store.GetContactState(c.ctx, ws, c.r.PathValue("contact"))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, contactStateOf(&st))
}

// removeOptOut: DELETE /v1/opt-outs/{contact} opts the contact back in and
// answers its state.
func (c *call) removeOptOut() error {
	ws, src, err := c.optOutTarget()
	if err != nil {
		return err
	}
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	st, err := c.s.store.SetOptOut(c.ctx, ws, c.r.PathValue("contact"), false, src)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, contactStateOf(&st))
}

type customKeywordView struct {
	Keyword string `json:"keyword"`
	Action  string `json:"action"` // opt_out, opt_in, help, none
}

type repliesView struct {
	OptOut *string `json:"opt_out"`
	OptIn  *string `json:"opt_in"`
	Help   *string `json:"help"`
}

type languageKeywordsView struct {
	OptOut []string `json:"opt_out"`
	OptIn  []string `json:"opt_in"`
	Help   []string `json:"help"`
}

type keywordSettingsView struct {
	Languages      []string                        `json:"languages"`
	CustomKeywords []customKeywordView             `json:"custom_keywords"`
	Replies        repliesView                     `json:"replies"`
	Defaults       map[string]languageKeywordsView `json:"default_keywords"`
}

func keywordSettingsOf(k *inbox.KeywordSettings) keywordSettingsView {
	v := keywordSettingsView{Languages: k.Languages, CustomKeywords: make([]customKeywordView, len(k.Custom)),
		Defaults: map[string]languageKeywordsView{}}
	if v.Languages == nil {
		v.Languages = []string{}
	}
	for i, ck := range k.Custom {
		v.CustomKeywords[i] = customKeywordView{Keyword: ck.Keyword, Action: ck.Action.String()}
	}
	text := func(r inbox.Reply) *string {
		if r.Text == "" {
			return nil
		}
		return &r.Text
	}
	v.Replies = repliesView{OptOut: text(k.OptOutReply), OptIn: text(k.OptInReply), Help: text(k.HelpReply)}
	for _, l := range inbox.Languages {
		out, in, help := inbox.DefaultKeywords(l)
		v.Defaults[l] = languageKeywordsView{OptOut: out, OptIn: in, Help: help}
	}
	return v
}

// keywordTarget is the workspace of a keyword settings route.
func (c *call) keywordTarget() (inbox.WorkspaceID, error) {
	ws, _, err := c.optOutTarget()
	return ws, err
}

// getKeywords: GET /v1/sms/keywords.
func (c *call) getKeywords() error {
	ws, err := c.keywordTarget()
	if err != nil {
		return err
	}
	k, err := c.s.store.GetKeywordSettings(c.ctx, ws)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, keywordSettingsOf(&k))
}

type putKeywordsRequest struct {
	Languages      *[]string           `json:"languages"`
	CustomKeywords []customKeywordView `json:"custom_keywords"`
	Replies        *repliesView        `json:"replies"`
}

// putKeywords: PUT /v1/sms/keywords replaces the settings; a field left
// out takes its default (every language, no custom keyword, no reply).
func (c *call) putKeywords() error {
	ws, err := c.keywordTarget()
	if err != nil {
		return err
	}
	var req putKeywordsRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	k := inbox.DefaultKeywordSettings()
	if req.Languages != nil {
		k.Languages = *req.Languages
	}
	for _, ck := range req.CustomKeywords {
		a, ok := inbox.ParseKeywordAction(ck.Action)
		if !ok {
			return errorf(http.StatusBadRequest, codeInvalidRequest, "custom keyword %q: action must be opt_out, opt_in, help or none", ck.Keyword)
		}
		k.Custom = append(k.Custom, inbox.CustomKeyword{Keyword: ck.Keyword, Action: a})
	}
	if r := req.Replies; r != nil {
		for _, p := range []struct {
			text *string
			dst  *inbox.Reply
		}{{r.OptOut, &k.OptOutReply}, {r.OptIn, &k.OptInReply}, {r.Help, &k.HelpReply}} {
			if p.text == nil || *p.text == "" {
				continue
			}
			rep, err := replyOf(*p.text)
			if err != nil {
				return err
			}
			*p.dst = rep
		}
	}
	got, err := c.s.store.SetKeywordSettings(c.ctx, ws, k)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, keywordSettingsOf(&got))
}

// replyOf segments a reply text as POST /v1/messages does its text.
func replyOf(text string) (inbox.Reply, error) {
	enc := coding.Choose(text)
	info, err := coding.Count(text, enc, coding.UDH8)
	if err != nil && !errors.Is(err, coding.ErrTooManyParts) {
		return inbox.Reply{}, errorf(http.StatusUnprocessableEntity, codeInvalidText, "reply text cannot be encoded: %v", err)
	}
	return inbox.Reply{Text: text, Encoding: enc.String(), Segments: info.Segments}, nil
}
