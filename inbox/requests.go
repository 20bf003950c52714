package inbox

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// RequestID names a custom number request.
type RequestID int64

// RequestStatus is where a number request stands.
type RequestStatus string

// Request statuses. A request is open until an operator fulfils or
// declines it or the workspace cancels it; the other statuses are final.
const (
	RequestOpen      RequestStatus = "open"
	RequestFulfilled RequestStatus = "fulfilled" // a number was dedicated to the workspace
	RequestDeclined  RequestStatus = "declined"  // with a reason
	RequestCancelled RequestStatus = "cancelled" // by the workspace
)

// NumberRequest is a workspace's request for a dedicated (custom, local)
// number.
type NumberRequest struct {
	ID        RequestID
	Workspace WorkspaceID
	Country   string // ISO 3166-1 alpha-2, upper case
	AreaCode  string // digits; "" for any
	Note      string // the workspace's note (sender branding)
	Status    RequestStatus
	// NumberID and Number name the number dedicated to the workspace
	// (Fulfilled only).
	NumberID      NumberID
	Number        string
	DeclineReason string // Declined only
	CreatedAt     time.Time
	ClosedAt      time.Time // zero while open
}

// NewNumberRequest is what a workspace asks for.
type NewNumberRequest struct {
	Country  string // ISO 3166-1 alpha-2 ("US", "gb")
	AreaCode string // optional, 1 to 6 digits
	Note     string // optional, at most MaxRequestNote characters
}

// Limits of number requests.
const (
	// MaxOpenRequests is how many open requests a workspace may have.
	MaxOpenRequests = 5
	// MaxRequestNote is the longest note or decline reason, in characters.
	MaxRequestNote = 500
)

const requestColumns = `r.id, r.workspace_id, r.country, coalesce(r.area_code, ''), r.note, r.status,
	coalesce(r.number_id, 0), coalesce((SELECT n.e164 FROM numbers n WHERE n.id = r.number_id), ''),
	coalesce(r.decline_reason, ''), r.created_at, r.closed_at`

func requestDest(q *NumberRequest, closed **time.Time) []any {
	return []any{&q.ID, &q.Workspace, &q.Country, &q.AreaCode, &q.Note, &q.Status, &q.NumberID, &q.Number,
		&q.DeclineReason, &q.CreatedAt, closed}
}

func scanRequest(row pgx.Row, q *NumberRequest) error {
	var closed *time.Time
	if err := row.Scan(requestDest(q, &closed)...); err != nil {
		return err
	}
	q.ClosedAt = timeOrZero(closed)
	return nil
}

func collectRequests(rows pgx.Rows) ([]NumberRequest, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (NumberRequest, error) {
		var q NumberRequest
		err := scanRequest(r, &q)
		return q, err
	})
}

// check validates and normalises a request.
func (nr *NewNumberRequest) check() error {
	nr.Country = strings.ToUpper(strings.TrimSpace(nr.Country))
	if len(nr.Country) != 2 || nr.Country[0] < 'A' || nr.Country[0] > 'Z' || nr.Country[1] < 'A' || nr.Country[1] > 'Z' {
		return invalid("country must be an ISO 3166-1 alpha-2 code, like US")
	}
	nr.AreaCode = strings.TrimSpace(nr.AreaCode)
	if len(nr.AreaCode) > 6 || strings.Trim(nr.AreaCode, "0123456789") != "" {
		return invalid("area_code must be 1 to 6 digits")
	}
	nr.Note = strings.TrimSpace(nr.Note)
	if utf8.RuneCountInString(nr.Note) > MaxRequestNote {
		return invalid("note longer than %d characters", MaxRequestNote)
	}
	return nil
}

// RequestNumber records a workspace's request for a dedicated number.
// Refusals: ErrNotFound (no such workspace), ErrSMSAddonRequired,
// ErrInvalidArgument, ErrRequestLimit (MaxOpenRequests already open).
func (s *Store) RequestNumber(ctx context.Context, ws WorkspaceID, nr NewNumberRequest) (NumberRequest, error) {
	if err := nr.check(); err != nil {
		return NumberRequest{}, err
	}
	var q NumberRequest
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The workspace row's lock serialises the open-request count.
		addon, err := lockWorkspace(ctx, tx, ws)
		if err != nil {
			return err
		}
		if !addon {
			return ErrSMSAddonRequired
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM number_requests WHERE workspace_id = $1 AND status = 'open'`, ws).
			Scan(&open); err != nil {
			return err
		}
		if open >= MaxOpenRequests {
			return ErrRequestLimit
		}
		return scanRequest(tx.QueryRow(ctx, `
			INSERT INTO number_requests AS r (workspace_id, country, area_code, note)
			VALUES ($1, $2, nullif($3, ''), $4)
			RETURNING `+requestColumns, ws, nr.Country, nr.AreaCode, nr.Note), &q)
	})
	return q, err
}

// GetNumberRequest returns one of a workspace's requests; another
// workspace's is ErrNotFound.
func (s *Store) GetNumberRequest(ctx context.Context, ws WorkspaceID, id RequestID) (NumberRequest, error) {
	var q NumberRequest
	err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM number_requests r
		WHERE r.id = $1 AND r.workspace_id = $2`, id, ws), &q)
	if errors.Is(err, pgx.ErrNoRows) {
		return NumberRequest{}, ErrNotFound
	}
	return q, err
}

// ListNumberRequests returns a workspace's requests, newest first, and the
// cursor of the next page ("" after the last).
func (s *Store) ListNumberRequests(ctx context.Context, ws WorkspaceID, p Page) ([]NumberRequest, string, error) {
	before := int64(1 << 62)
	if p.Cursor != "" {
		f, err := decodeCursor(p.Cursor, "r1", 1)
		if err != nil {
			return nil, "", err
		}
		before = f[0]
	}
	lim := p.limit()
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM number_requests r
		WHERE r.workspace_id = $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3`, ws, before, lim+1)
	if err != nil {
		return nil, "", err
	}
	list, err := collectRequests(rows)
	if err != nil {
		return nil, "", err
	}
	if len(list) == 0 && p.Cursor == "" {
		if _, err := s.GetWorkspace(ctx, ws); err != nil {
			return nil, "", err
		}
	}
	list, next := trimPage(list, lim, func(last *NumberRequest) string { return encodeCursor("r1", int64(last.ID)) })
	return list, next, nil
}

// ListAllNumberRequests returns the requests of every workspace with the
// given status ("" for all), oldest first, for operators: with
// RequestOpen, the queue of requests to handle.
func (s *Store) ListAllNumberRequests(ctx context.Context, status RequestStatus, p Page) ([]NumberRequest, string, error) {
	switch status {
	case "", RequestOpen, RequestFulfilled, RequestDeclined, RequestCancelled:
	default:
		return nil, "", invalid("request status %q", status)
	}
	after := int64(0)
	if p.Cursor != "" {
		f, err := decodeCursor(p.Cursor, "r2", 1)
		if err != nil {
			return nil, "", err
		}
		after = f[0]
	}
	lim := p.limit()
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM number_requests r
		WHERE ($1 = '' OR r.status = $1) AND r.id > $2 ORDER BY r.id LIMIT $3`, string(status), after, lim+1)
	if err != nil {
		return nil, "", err
	}
	list, err := collectRequests(rows)
	if err != nil {
		return nil, "", err
	}
	list, next := trimPage(list, lim, func(last *NumberRequest) string { return encodeCursor("r2", int64(last.ID)) })
	return list, next, nil
}

// CancelNumberRequest cancels one of a workspace's open requests. A
// request no longer open is ErrRequestClosed; another workspace's is
// ErrNotFound.
func (s *Store) CancelNumberRequest(ctx context.Context, ws WorkspaceID, id RequestID) (NumberRequest, error) {
	var q NumberRequest
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockRequest(ctx, tx, id, ws); err != nil {
			return err
		}
		return closeRequest(ctx, tx, id, RequestCancelled, 0, "", &q)
	})
	return q, err
}

// Fulfilment says which number fulfils a request.
type Fulfilment struct {
	// Number is the E.164 of the number to dedicate to the workspace: an
	// active shared number (it becomes dedicated), a number already
	// dedicated to that workspace, or a number Switchboard does not have
	// yet, which is added (then Carrier is required).
	Number    string
	Carrier   string // for a number that is added
	RateClass string // "" means RateClassDedicated
}

// FulfilNumberRequest dedicates a number to the requesting workspace and
// closes the request as fulfilled, in one transaction; the number is then
// among those the workspace can connect (ListNumbers). Refusals:
// ErrNotFound (no such request), ErrRequestClosed, ErrInvalidArgument,
// ErrUnknownNumber (a number Switchboard does not have, and no Carrier to
// add it with), ErrNumberDedicated (dedicated to another workspace),
// ErrNumberInUse (a shared number another workspace has connected),
// ErrNumberRetired.
func (s *Store) FulfilNumberRequest(ctx context.Context, id RequestID, f Fulfilment) (NumberRequest, Number, error) {
	e164, ok := NormalizeE164(f.Number)
	if !ok {
		return NumberRequest{}, Number{}, invalid("number %q is not a valid E.164 number", f.Number)
	}
	var (
		q NumberRequest
		n Number
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		ws, err := lockRequest(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		err = scanNumber(tx.QueryRow(ctx, `SELECT `+numberColumns+` FROM numbers n
			WHERE n.e164 = $1 AND n.status = 'active' FOR NO KEY UPDATE`, e164), &n)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if strings.TrimSpace(f.Carrier) == "" {
				return ErrUnknownNumber
			}
			nn := NewNumber{E164: e164, Kind: Dedicated, RateClass: f.RateClass, Carrier: f.Carrier, Owner: ws}
			if err := nn.check(); err != nil {
				return err
			}
			if n, err = insertNumber(ctx, tx, nn); err != nil {
				return err
			}
		case err != nil:
			return err
		case n.Kind == Shared:
			if n, err = dedicateNumber(ctx, tx, n.ID, ws, f.RateClass); err != nil {
				return err
			}
		case n.Owner != ws:
			return ErrNumberDedicated
		}
		return closeRequest(ctx, tx, id, RequestFulfilled, n.ID, "", &q)
	})
	if err != nil {
		return NumberRequest{}, Number{}, numberWriteError(err)
	}
	return q, n, nil
}

// DeclineNumberRequest closes an open request as declined, with the reason
// the workspace is shown. Refusals: ErrNotFound, ErrRequestClosed,
// ErrInvalidArgument (no reason, or one longer than MaxRequestNote).
func (s *Store) DeclineNumberRequest(ctx context.Context, id RequestID, reason string) (NumberRequest, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > MaxRequestNote {
		return NumberRequest{}, invalid("a decline needs a reason of 1 to %d characters", MaxRequestNote)
	}
	var q NumberRequest
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockRequest(ctx, tx, id, 0); err != nil {
			return err
		}
		return closeRequest(ctx, tx, id, RequestDeclined, 0, reason, &q)
	})
	return q, err
}

// lockRequest locks an open request and returns its workspace. ws, when
// not 0, must be the request's workspace (else ErrNotFound).
func lockRequest(ctx context.Context, tx pgx.Tx, id RequestID, ws WorkspaceID) (WorkspaceID, error) {
	var (
		owner  WorkspaceID
		status RequestStatus
	)
	err := tx.QueryRow(ctx, `SELECT workspace_id, status FROM number_requests WHERE id = $1 FOR NO KEY UPDATE`, id).
		Scan(&owner, &status)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && ws != 0 && owner != ws):
		return 0, ErrNotFound
	case err != nil:
		return 0, err
	case status != RequestOpen:
		return 0, ErrRequestClosed
	}
	return owner, nil
}

// closeRequest gives a locked open request its final status; the change
// feed sees it (change_xid).
func closeRequest(ctx context.Context, tx pgx.Tx, id RequestID, status RequestStatus, number NumberID, reason string, q *NumberRequest) error {
	return scanRequest(tx.QueryRow(ctx, `
		UPDATE number_requests r SET status = $2, number_id = nullif($3::int8, 0), decline_reason = nullif($4, ''),
			closed_at = now(), change_xid = pg_current_xact_id()
		WHERE r.id = $1
		RETURNING `+requestColumns, id, status, number, reason), q)
}
