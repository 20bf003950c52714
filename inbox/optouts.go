package inbox

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// OptOutSource says who changed a contact's opt-out state.
type OptOutSource string

// Opt-out sources.
const (
	SourceKeyword  OptOutSource = "keyword"  // the contact texted a keyword
	SourceAPI      OptOutSource = "api"      // the workspace, through the API
	SourceOperator OptOutSource = "operator" // an operator
)

// ContactState is a contact's opt-out state in one workspace.
type ContactState struct {
	Contact  string
	OptedOut bool
	// Source and ChangedAt say who set the state and when; Source is ""
	// for a contact whose state was never set (opted in).
	Source    OptOutSource
	Keyword   string // the keyword, NormalizeKeyword form, when Source is SourceKeyword
	ChangedAt time.Time
}

// GetKeywordSettings returns a workspace's keyword settings, or
// ErrNotFound.
func (s *Store) GetKeywordSettings(ctx context.Context, ws WorkspaceID) (KeywordSettings, error) {
	var k KeywordSettings
	var out, in, help *string
	var encs []string
	var segs []int16
	err := s.pool.QueryRow(ctx, `SELECT keyword_languages, opt_out_reply, opt_in_reply, help_reply,
			reply_encodings, reply_segments FROM workspaces WHERE id = $1`, ws).
		Scan(&k.Languages, &out, &in, &help, &encs, &segs)
	if errors.Is(err, pgx.ErrNoRows) {
		return KeywordSettings{}, ErrNotFound
	}
	if err != nil {
		return KeywordSettings{}, err
	}
	for i, p := range []struct {
		text *string
		r    *Reply
	}{{out, &k.OptOutReply}, {in, &k.OptInReply}, {help, &k.HelpReply}} {
		if p.text != nil && i < len(encs) && i < len(segs) {
			*p.r = Reply{Text: *p.text, Encoding: encs[i], Segments: int(segs[i])}
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT keyword, action FROM workspace_keywords
		WHERE workspace_id = $1 ORDER BY keyword`, ws)
	if err != nil {
		return KeywordSettings{}, err
	}
	k.Custom, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CustomKeyword, error) {
		var c CustomKeyword
		var a int16
		err := r.Scan(&c.Keyword, &a)
		c.Action = Keyword(a)
		return c, err
	})
	if err != nil {
		return KeywordSettings{}, err
	}
	return k, nil
}

// SetKeywordSettings replaces a workspace's keyword settings: ErrNotFound,
// ErrInvalidArgument (an unknown language, a keyword that normalizes to
// nothing or too long, one given twice, a reply without its encoding),
// ErrMessageTooLong (a reply longer than MaxSegments). Custom keywords are
// stored in NormalizeKeyword form. It returns the settings as stored.
func (s *Store) SetKeywordSettings(ctx context.Context, ws WorkspaceID, k KeywordSettings) (KeywordSettings, error) {
	if err := k.check(); err != nil {
		return KeywordSettings{}, err
	}
	var words []string
	var actions []int16
	for _, c := range k.Custom {
		words, actions = append(words, c.Keyword), append(actions, int16(c.Action))
	}
	text := func(r Reply) *string {
		if r.Text == "" {
			return nil
		}
		return &r.Text
	}
	rs := []Reply{k.OptOutReply, k.OptInReply, k.HelpReply}
	encs, segs := make([]string, 3), make([]int16, 3)
	for i, r := range rs {
		encs[i], segs[i] = r.Encoding, int16(r.Segments)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE workspaces SET keyword_languages = $2, opt_out_reply = $3,
				opt_in_reply = $4, help_reply = $5, reply_encodings = $6, reply_segments = $7, updated_at = now()
			WHERE id = $1`, ws, k.Languages, text(rs[0]), text(rs[1]), text(rs[2]), encs, segs)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM workspace_keywords WHERE workspace_id = $1`, ws); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO workspace_keywords (workspace_id, keyword, action)
			SELECT $1, w, a FROM unnest($2::text[], $3::int2[]) AS x(w, a)`, ws, words, actions)
		return err
	})
	if err != nil {
		return KeywordSettings{}, err
	}
	return s.GetKeywordSettings(ctx, ws)
}

const contactColumns = `contact, opted_out, source, coalesce(keyword, ''), changed_at`

func scanContact(row pgx.Row, c *ContactState) error {
	var src string
	err := row.Scan(&c.Contact, &c.OptedOut, &src, &c.Keyword, &c.ChangedAt)
	c.Source = OptOutSource(src)
	return err
}

// ListOptOuts returns a workspace's opted-out contacts in contact order,
// and the cursor of the next page ("" after the last).
func (s *Store) ListOptOuts(ctx context.Context, ws WorkspaceID, p Page) ([]ContactState, string, error) {
	after := ""
	if p.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil || !strings.HasPrefix(string(raw), "o1:") {
			return nil, "", ErrInvalidCursor
		}
		after = string(raw[3:])
	}
	lim := p.limit()
	rows, err := s.pool.Query(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE workspace_id = $1 AND opted_out AND contact > $2
		ORDER BY contact LIMIT $3`, ws, after, lim+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ContactState, error) {
		var c ContactState
		err := scanContact(r, &c)
		return c, err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > lim {
		list = list[:lim]
		next = base64.RawURLEncoding.EncodeToString([]byte("o1:" + list[lim-1].Contact))
	}
	return list, next, nil
}

// GetContactState returns a contact's opt-out state in a workspace; a
// contact never opted out is OptedOut false with no Source. contact must
// be E.164 (ErrInvalidRecipient). ErrNotFound for no such workspace.
func (s *Store) GetContactState(ctx context.Context, ws WorkspaceID, contact string) (ContactState, error) {
	e, ok := NormalizeE164(contact)
	if !ok {
		return ContactState{}, ErrInvalidRecipient
	}
	var c ContactState
	err := scanContact(s.pool.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE workspace_id = $1 AND contact = $2`, ws, e), &c)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.GetWorkspace(ctx, ws); err != nil {
			return ContactState{}, err
		}
		return ContactState{Contact: e}, nil
	}
	return c, err
}

// SetOptOut opts a contact out of a workspace (out true) or back in, on
// behalf of source (SourceAPI or SourceOperator), and returns the new
// state. Setting the state it already has changes nothing (the source and
// time of the last change stay). ErrInvalidRecipient, ErrNotFound (no such
// workspace), ErrInvalidArgument (another source).
func (s *Store) SetOptOut(ctx context.Context, ws WorkspaceID, contact string, out bool, source OptOutSource) (ContactState, error) {
	if source != SourceAPI && source != SourceOperator {
		return ContactState{}, invalid("source %q", source)
	}
	e, ok := NormalizeE164(contact)
	if !ok {
		return ContactState{}, ErrInvalidRecipient
	}
	var c ContactState
	err := retry(ctx, func() error {
		return scanContact(s.pool.QueryRow(ctx, `
			INSERT INTO contacts AS c (workspace_id, contact, opted_out, source, keyword, changed_at)
			VALUES ($1, $2, $3, $4, NULL, now())
			ON CONFLICT (workspace_id, contact) DO UPDATE
				SET opted_out = excluded.opted_out, source = excluded.source, keyword = NULL, changed_at = now()
				WHERE c.opted_out <> excluded.opted_out
			RETURNING `+contactColumns, ws, e, out, string(source)), &c)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows): // already in that state
		return s.GetContactState(ctx, ws, e)
	case isForeignKeyViolation(err):
		return ContactState{}, ErrNotFound
	}
	return c, err
}

// keywordSettingsTx reads the keyword settings Match needs (languages and
// custom keywords, not the replies) inside tx.
func keywordSettingsTx(ctx context.Context, tx pgx.Tx, ws WorkspaceID) (KeywordSettings, error) {
	var k KeywordSettings
	if err := tx.QueryRow(ctx, `SELECT keyword_languages FROM workspaces WHERE id = $1`, ws).Scan(&k.Languages); err != nil {
		return k, err
	}
	rows, err := tx.Query(ctx, `SELECT keyword, action FROM workspace_keywords WHERE workspace_id = $1`, ws)
	if err != nil {
		return k, err
	}
	k.Custom, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CustomKeyword, error) {
		var c CustomKeyword
		var a int16
		err := r.Scan(&c.Keyword, &a)
		c.Action = Keyword(a)
		return c, err
	})
	return k, err
}
