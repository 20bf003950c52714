package inbox

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewNumber describes a number an operator adds.
type NewNumber struct {
	E164      string     // the number; formatting characters are accepted
	Kind      NumberKind // Shared or Dedicated
	RateClass string     // "" picks RateClassShared or RateClassDedicated by kind
	Carrier   string     // the carrier that sends from it
	Owner     WorkspaceID
}

// NumberEvent is one entry of a number's history.
type NumberEvent struct {
	Number    NumberID
	Workspace WorkspaceID // 0 for events of the number itself
	Event     string      // added, dedicated, retired, connected, disabled, enabled, disconnected
	At        time.Time
}

const numberColumns = `n.id, n.e164, n.kind, n.rate_class, n.carrier, coalesce(n.workspace_id, 0), n.status, n.created_at`

func scanNumber(row pgx.Row, n *Number, extra ...any) error {
	return row.Scan(append([]any{&n.ID, &n.E164, &n.Kind, &n.RateClass, &n.Carrier, &n.Owner, &n.Status, &n.CreatedAt}, extra...)...)
}

// AddNumber adds a number to the shared pool (Kind Shared) or dedicates it
// to a workspace at once (Kind Dedicated, Owner set). An active number with
// the same E.164 is ErrNumberExists.
func (s *Store) AddNumber(ctx context.Context, nn NewNumber) (Number, error) {
	if err := nn.check(); err != nil {
		return Number{}, err
	}
	var n Number
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = insertNumber(ctx, tx, nn)
		return err
	})
	if err != nil {
		return Number{}, numberWriteError(err)
	}
	return n, nil
}

// check validates and completes nn: the E.164 form, the carrier, the owner
// and the default rate class of its kind.
func (nn *NewNumber) check() error {
	e164, ok := NormalizeE164(nn.E164)
	if !ok {
		return invalid("number %q is not a valid E.164 number", nn.E164)
	}
	nn.E164 = e164
	nn.Carrier = strings.TrimSpace(nn.Carrier)
	if nn.Carrier == "" {
		return invalid("number %s: no carrier", e164)
	}
	switch nn.Kind {
	case Shared:
		if nn.Owner != 0 {
			return invalid("shared number %s with an owner", e164)
		}
		if nn.RateClass == "" {
			nn.RateClass = RateClassShared
		}
	case Dedicated:
		if nn.Owner == 0 {
			return invalid("dedicated number %s without an owner", e164)
		}
		if nn.RateClass == "" {
			nn.RateClass = RateClassDedicated
		}
	default:
		return invalid("number kind %q", nn.Kind)
	}
	return nil
}

// insertNumber adds a number nn.check accepted, within tx.
func insertNumber(ctx context.Context, tx pgx.Tx, nn NewNumber) (Number, error) {
	var owner *WorkspaceID
	if nn.Kind == Dedicated {
		owner = &nn.Owner
	}
	var n Number
	err := scanNumber(tx.QueryRow(ctx, `INSERT INTO numbers AS n (e164, kind, rate_class, carrier, workspace_id)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+numberColumns,
		nn.E164, nn.Kind, nn.RateClass, nn.Carrier, owner), &n)
	if err != nil {
		return Number{}, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO number_events (number_id, workspace_id, event) VALUES ($1, $2, 'added')`, n.ID, owner)
	return n, err
}

// numberWriteError turns the constraint violations of adding or
// dedicating a number into refusals.
func numberWriteError(err error) error {
	switch {
	case isUniqueViolation(err, "numbers_e164_active"):
		return ErrNumberExists
	case isForeignKeyViolation(err):
		return ErrNotFound
	}
	return err
}

// GetNumber returns a number (operator view).
func (s *Store) GetNumber(ctx context.Context, id NumberID) (Number, error) {
	var n Number
	err := scanNumber(s.pool.QueryRow(ctx, `SELECT `+numberColumns+` FROM numbers n WHERE n.id = $1`, id), &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return Number{}, ErrNotFound
	}
	return n, err
}

// DedicateNumber moves a shared number to one workspace (operator). It is
// refused with ErrNumberRetired, ErrNumberDedicated, or ErrNumberInUse while
// another workspace has it connected. If the workspace itself has it
// connected, the connection stays. The system workspace's connection (a
// number used to send self-tests) does not hold it back: it ends.
// rateClass "" means RateClassDedicated.
func (s *Store) DedicateNumber(ctx context.Context, id NumberID, ws WorkspaceID, rateClass string) (Number, error) {
	var n Number
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = dedicateNumber(ctx, tx, id, ws, rateClass)
		return err
	})
	if err != nil {
		return Number{}, numberWriteError(err)
	}
	return n, nil
}

// dedicateNumber is DedicateNumber within tx.
func dedicateNumber(ctx context.Context, tx pgx.Tx, id NumberID, ws WorkspaceID, rateClass string) (Number, error) {
	if rateClass == "" {
		rateClass = RateClassDedicated
	}
	var n Number
	err := scanNumber(tx.QueryRow(ctx, `SELECT `+numberColumns+` FROM numbers n WHERE n.id = $1 FOR NO KEY UPDATE`, id), &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return Number{}, ErrNotFound
	}
	if err != nil {
		return Number{}, err
	}
	switch {
	case n.Status == NumberRetired:
		return Number{}, ErrNumberRetired
	case n.Kind == Dedicated:
		return Number{}, ErrNumberDedicated
	}
	var others bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM number_connections c JOIN workspaces w ON w.id = c.workspace_id
		WHERE c.number_id = $1 AND c.disconnected_at IS NULL AND c.workspace_id <> $2 AND NOT w.system)`, id, ws).Scan(&others); err != nil {
		return Number{}, err
	}
	if others {
		return Number{}, ErrNumberInUse
	}
	rows, err := tx.Query(ctx, `
		WITH ended AS (
			UPDATE number_connections c SET disconnected_at = now()
			FROM workspaces w
			WHERE c.number_id = $1 AND c.disconnected_at IS NULL AND w.id = c.workspace_id AND w.system
			RETURNING c.workspace_id
		), ev AS (
			INSERT INTO number_events (number_id, workspace_id, event)
			SELECT $1, workspace_id, 'disconnected' FROM ended
		)
		SELECT workspace_id FROM ended`, id)
	if err != nil {
		return Number{}, err
	}
	ended, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return Number{}, err
	}
	for _, sys := range ended {
		if _, err := tx.Exec(ctx, holdSQL, sys, id); err != nil {
			return Number{}, err
		}
	}
	err = scanNumber(tx.QueryRow(ctx, `UPDATE numbers n SET kind = 'dedicated', workspace_id = $2, rate_class = $3
		WHERE n.id = $1 RETURNING `+numberColumns, id, ws, rateClass), &n)
	if err != nil {
		return Number{}, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO number_events (number_id, workspace_id, event) VALUES ($1, $2, 'dedicated')`, id, ws)
	return n, err
}

// RetireNumber takes a number out of service (operator): every workspace
// connected to it is disconnected, outbound from it stops, and inbound to it
// is kept as unrouted. Retiring twice is ErrNumberRetired.
func (s *Store) RetireNumber(ctx context.Context, id NumberID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var status NumberStatus
		err := tx.QueryRow(ctx, `SELECT status FROM numbers WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if status == NumberRetired {
			return ErrNumberRetired
		}
		_, err = tx.Exec(ctx, `
			WITH ended AS (
				UPDATE number_connections SET disconnected_at = now()
				WHERE number_id = $1 AND disconnected_at IS NULL
				RETURNING workspace_id
			), ev AS (
				INSERT INTO number_events (number_id, workspace_id, event)
				SELECT $1, workspace_id, 'disconnected' FROM ended
			)
			UPDATE numbers SET status = 'retired', retired_at = now() WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, holdSQL, nil, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO number_events (number_id, event) VALUES ($1, 'retired')`, id)
		return err
	})
}

// NumberHistory returns a number's events, oldest first (operator view).
func (s *Store) NumberHistory(ctx context.Context, id NumberID) ([]NumberEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT number_id, coalesce(workspace_id, 0), event, at
		FROM number_events WHERE number_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (NumberEvent, error) {
		var e NumberEvent
		err := r.Scan(&e.Number, &e.Workspace, &e.Event, &e.At)
		return e, err
	})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		if _, err := s.GetNumber(ctx, id); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// ListNumbers returns the numbers a workspace can pick (the active shared
// pool) and its active dedicated ones, each with its state in the workspace:
// dedicated first, then by E.164.
func (s *Store) ListNumbers(ctx context.Context, ws WorkspaceID) ([]WorkspaceNumber, error) {
	list, err := s.listNumbers(ctx, ws, nil)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		if _, err := s.GetWorkspace(ctx, ws); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// FindNumber returns the number with this E.164 form as workspace ws sees
// it (ListNumbers' entry for it), reading that number only;
// ErrNotFound when the workspace may not use it (or has no such number).
func (s *Store) FindNumber(ctx context.Context, ws WorkspaceID, e164 string) (WorkspaceNumber, error) {
	list, err := s.listNumbers(ctx, ws, &e164)
	if err != nil {
		return WorkspaceNumber{}, err
	}
	if len(list) == 0 {
		return WorkspaceNumber{}, ErrNotFound
	}
	return list[0], nil
}

// listNumbersSQL: the numbers workspace $1 may use, or only the one whose
// E.164 form is $2 when $2 is not NULL, each with its connection. The
// connection is one probe of the unique index a number: OFFSET 0 keeps the
// LATERAL subquery from being flattened into a join, which a plan made on
// stale statistics (numbers just added in bulk) ran as a scan of all the
// workspace's connections for each number, quadratic (0.76 s for 3,000).
const listNumbersSQL = `
	SELECT ` + numberColumns + `, c.enabled, c.connected_at
	FROM numbers n
	LEFT JOIN LATERAL (
	    SELECT c.enabled, c.connected_at FROM number_connections c
	    WHERE c.workspace_id = $1 AND c.number_id = n.id AND c.disconnected_at IS NULL
	    OFFSET 0
	) c ON true
	WHERE n.status = 'active' AND (n.kind = 'shared' OR n.workspace_id = $1)
	  AND ($2::text IS NULL OR n.e164 = $2)
	  AND EXISTS (SELECT 1 FROM workspaces WHERE id = $1)
	ORDER BY n.kind = 'dedicated' DESC, n.e164`

func (s *Store) listNumbers(ctx context.Context, ws WorkspaceID, e164 *string) ([]WorkspaceNumber, error) {
	rows, err := s.pool.Query(ctx, listNumbersSQL, ws, e164)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkspaceNumber, error) {
		var wn WorkspaceNumber
		var enabled *bool
		var at *time.Time
		err := scanNumber(r, &wn.Number, &enabled, &at)
		wn.State, wn.ConnectedAt = connState(enabled), timeOrZero(at)
		return wn, err
	})
}

// holdSQL takes the queued messages of a workspace's number out of the
// claim index (due_at NULL) while the number is disabled or disconnected;
// releaseSQL puts back those that are their thread's head (the others get
// their due time when they become it). Claim checks the connection of what it picks as
// well (and holds what slipped through a race), so these keep the claim
// index free of messages that cannot go out; they are not what stops them.
// $1 workspace (NULL: every workspace), $2 number.
const (
	holdSQL = `UPDATE messages SET due_at = NULL
		WHERE number_id = $2 AND ($1::int8 IS NULL OR workspace_id = $1)
		  AND pending_since IS NOT NULL AND status = 'queued' AND due_at IS NOT NULL`
	releaseSQL = `UPDATE messages m SET due_at = greatest(coalesce(m.not_before, m.queued_at, m.created_at), coalesce(m.queued_at, m.created_at))
		WHERE m.number_id = $2 AND m.workspace_id = $1
		  AND m.pending_since IS NOT NULL AND m.status = 'queued' AND m.due_at IS NULL
		  AND m.thread_seq = (SELECT t.out_next FROM threads t WHERE t.id = m.thread_id)`
)

func connState(enabled *bool) ConnectionState {
	switch {
	case enabled == nil:
		return Available
	case *enabled:
		return Connected
	}
	return Disabled
}

// lockWorkspace locks a workspace row against concurrent number changes and
// returns its add-on flag.
func lockWorkspace(ctx context.Context, tx pgx.Tx, ws WorkspaceID) (addon bool, err error) {
	err = tx.QueryRow(ctx, `SELECT sms_addon FROM workspaces WHERE id = $1 FOR NO KEY UPDATE`, ws).Scan(&addon)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrNotFound
	}
	return addon, err
}

// visibleNumber returns a number the workspace may see (a shared one or its
// own dedicated one), locked FOR SHARE; any other is ErrNotFound.
func visibleNumber(ctx context.Context, tx pgx.Tx, ws WorkspaceID, id NumberID) (Number, error) {
	var n Number
	err := scanNumber(tx.QueryRow(ctx, `SELECT `+numberColumns+` FROM numbers n
		WHERE n.id = $1 AND (n.kind = 'shared' OR n.workspace_id = $2) FOR SHARE`, id, ws), &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return Number{}, ErrNotFound
	}
	return n, err
}

// ConnectNumber configures a number for a workspace: a shared number from
// the pool or one of its dedicated numbers; its state becomes Connected.
// A workspace has at most one shared number connected, so connecting a
// shared number switches away from the previous one; dedicated numbers are
// connected side by side. Connecting a number already connected changes
// nothing (a disabled one stays disabled). Refusals: ErrNotFound (unknown,
// or another workspace's dedicated number), ErrSMSAddonRequired,
// ErrNumberRetired.
func (s *Store) ConnectNumber(ctx context.Context, ws WorkspaceID, id NumberID) (WorkspaceNumber, error) {
	var wn WorkspaceNumber
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		addon, err := lockWorkspace(ctx, tx, ws)
		if err != nil {
			return err
		}
		n, err := visibleNumber(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if !addon {
			return ErrSMSAddonRequired
		}
		if n.Status == NumberRetired {
			return ErrNumberRetired
		}
		wn.Number = n
		var enabled bool
		var at time.Time
		err = tx.QueryRow(ctx, `SELECT enabled, connected_at FROM number_connections
			WHERE workspace_id = $1 AND number_id = $2 AND disconnected_at IS NULL`, ws, id).Scan(&enabled, &at)
		if err == nil {
			wn.State, wn.ConnectedAt = connState(&enabled), at
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if n.Kind == Shared {
			rows, err := tx.Query(ctx, `
				WITH ended AS (
					UPDATE number_connections c SET disconnected_at = now()
					FROM numbers n
					WHERE c.workspace_id = $1 AND c.disconnected_at IS NULL
					  AND n.id = c.number_id AND n.kind = 'shared'
					RETURNING c.number_id
				), ev AS (
					INSERT INTO number_events (number_id, workspace_id, event)
					SELECT number_id, $1, 'disconnected' FROM ended
				)
				SELECT number_id FROM ended`, ws)
			if err != nil {
				return err
			}
			old, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			for _, o := range old {
				if _, err := tx.Exec(ctx, holdSQL, ws, o); err != nil {
					return err
				}
			}
		}
		err = tx.QueryRow(ctx, `
			WITH c AS (
				INSERT INTO number_connections (workspace_id, number_id) VALUES ($1, $2)
				RETURNING connected_at
			), ev AS (
				INSERT INTO number_events (number_id, workspace_id, event) VALUES ($2, $1, 'connected')
			)
			SELECT connected_at FROM c`, ws, id).Scan(&at)
		if err != nil {
			return err
		}
		wn.State, wn.ConnectedAt = Connected, at
		_, err = tx.Exec(ctx, releaseSQL, ws, id)
		return err
	})
	if err != nil {
		return WorkspaceNumber{}, err
	}
	return wn, nil
}

// DisableNumber stops sending from a connected number: new outbound is
// refused with ErrNumberDisabled and queued messages wait (they are not
// claimed) until it is enabled again or they expire; inbound still lands.
// A number the workspace has not connected is ErrNoNumberConnected.
func (s *Store) DisableNumber(ctx context.Context, ws WorkspaceID, id NumberID) error {
	return s.changeConnection(ctx, ws, id, "disabled", false)
}

// EnableNumber lets a disabled number send again. It needs the SMS add-on.
func (s *Store) EnableNumber(ctx context.Context, ws WorkspaceID, id NumberID) error {
	return s.changeConnection(ctx, ws, id, "enabled", true)
}

// DisconnectNumber removes a number from a workspace: outbound is refused
// with ErrNoNumberConnected until a number is connected again; queued
// messages from it wait as for DisableNumber. Inbound to a dedicated number
// still lands in its owner's threads.
func (s *Store) DisconnectNumber(ctx context.Context, ws WorkspaceID, id NumberID) error {
	return s.changeConnection(ctx, ws, id, "disconnected", false)
}

func (s *Store) changeConnection(ctx context.Context, ws WorkspaceID, id NumberID, event string, needAddon bool) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		addon, err := lockWorkspace(ctx, tx, ws)
		if err != nil {
			return err
		}
		if _, err := visibleNumber(ctx, tx, ws, id); err != nil {
			return err
		}
		if needAddon && !addon {
			return ErrSMSAddonRequired
		}
		var set string
		switch event {
		case "disabled":
			set = "enabled = false"
		case "enabled":
			set = "enabled = true"
		default:
			set = "disconnected_at = now()"
		}
		tag, err := tx.Exec(ctx, `
			WITH c AS (
				UPDATE number_connections SET `+set+`
				WHERE workspace_id = $1 AND number_id = $2 AND disconnected_at IS NULL
				RETURNING id
			)
			INSERT INTO number_events (number_id, workspace_id, event)
			SELECT $2, $1, $3 FROM c`, ws, id, event)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNoNumberConnected
		}
		q := holdSQL
		if event == "enabled" {
			q = releaseSQL
		}
		_, err = tx.Exec(ctx, q, ws, id)
		return err
	})
}

// Use is one workspace's current connection of a number.
type Use struct {
	Workspace   WorkspaceID
	State       ConnectionState // Connected or Disabled
	ConnectedAt time.Time
}

// NumberInUse is a number with every workspace that has it connected: the
// operator's view of the pool.
type NumberInUse struct {
	Number
	Uses []Use // by workspace id; empty when nobody has it connected
}

// AllNumbers lists every number, retired ones included, in the order they
// were added, with the workspaces that have each connected. status "" lists
// all; else only numbers of that status (active, retired).
func (s *Store) AllNumbers(ctx context.Context, status NumberStatus, p Page) ([]NumberInUse, string, error) {
	after := int64(0)
	if p.Cursor != "" {
		f, err := decodeCursor(p.Cursor, "n1", 1)
		if err != nil {
			return nil, "", err
		}
		after = f[0]
	}
	lim := p.limit()
	rows, err := s.pool.Query(ctx, `
		SELECT `+numberColumns+`,
		       coalesce(array_agg(c.workspace_id ORDER BY c.workspace_id) FILTER (WHERE c.id IS NOT NULL), '{}'),
		       coalesce(array_agg(c.enabled ORDER BY c.workspace_id) FILTER (WHERE c.id IS NOT NULL), '{}'),
		       coalesce(array_agg(c.connected_at ORDER BY c.workspace_id) FILTER (WHERE c.id IS NOT NULL), '{}')
		FROM numbers n
		LEFT JOIN number_connections c ON c.number_id = n.id AND c.disconnected_at IS NULL
		WHERE n.id > $1 AND ($2 = '' OR n.status = $2)
		GROUP BY n.id
		ORDER BY n.id
		LIMIT $3`, after, string(status), lim+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (NumberInUse, error) {
		var n NumberInUse
		var wss []int64
		var enabled []bool
		var at []time.Time
		if err := scanNumber(r, &n.Number, &wss, &enabled, &at); err != nil {
			return n, err
		}
		if len(wss) != len(enabled) || len(wss) != len(at) {
			return n, errors.New("inbox: number connections do not line up")
		}
		for i := range wss {
			e := enabled[i]
			n.Uses = append(n.Uses, Use{Workspace: WorkspaceID(wss[i]), State: connState(&e), ConnectedAt: at[i]})
		}
		return n, nil
	})
	if err != nil {
		return nil, "", err
	}
	list, next := trimPage(list, lim, func(last *NumberInUse) string { return encodeCursor("n1", int64(last.ID)) })
	return list, next, nil
}
