package inbox

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// UnroutedMessage is an inbound message no workspace could claim.
type UnroutedMessage struct {
	ID         UnroutedID
	Carrier    string
	From, To   string
	Body       string
	Encoding   string
	Segments   int
	Reason     string // unknown_number (no active number) or no_writer (a shared number nobody wrote from)
	ReceivedAt time.Time
}

const unroutedColumns = `u.id, u.carrier, u.source, u.destination, u.body, u.encoding, u.segments, u.reason, u.received_at`

func scanUnrouted(row pgx.Row, u *UnroutedMessage) error {
	var segs int16
	err := row.Scan(&u.ID, &u.Carrier, &u.From, &u.To, &u.Body, &u.Encoding, &segs, &u.Reason, &u.ReceivedAt)
	u.Segments = int(segs)
	return err
}

// ListUnrouted returns unrouted inbound messages, newest first (operator view).
func (s *Store) ListUnrouted(ctx context.Context, p Page) ([]UnroutedMessage, string, error) {
	return s.ListUnroutedTo(ctx, "", p)
}

// ListUnroutedTo returns the unrouted inbound messages to one destination
// ("" for every destination), newest first (operator view).
func (s *Store) ListUnroutedTo(ctx context.Context, to string, p Page) ([]UnroutedMessage, string, error) {
	at, id := int64(1<<53), int64(1<<62)
	if p.Cursor != "" {
		f, err := decodeCursor(p.Cursor, "u1", 2)
		if err != nil {
			return nil, "", err
		}
		at, id = f[0], f[1]
	}
	if to != "" {
		to = normalizeAddress(to)
	}
	lim := p.limit()
	rows, err := s.pool.Query(ctx, `
		SELECT `+unroutedColumns+`
		FROM unrouted_messages u
		WHERE ($4 = '' OR u.destination = $4) AND (u.received_at, u.id) < ($1::timestamptz, $2)
		ORDER BY u.received_at DESC, u.id DESC
		LIMIT $3`, time.UnixMicro(at), id, lim+1, to)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UnroutedMessage, error) {
		var u UnroutedMessage
		err := scanUnrouted(r, &u)
		return u, err
	})
	if err != nil {
		return nil, "", err
	}
	list, next := trimPage(list, lim, func(last *UnroutedMessage) string {
		return encodeCursor("u1", last.ReceivedAt.UnixMicro(), int64(last.ID))
	})
	return list, next, nil
}

// UnroutedGroup is the unrouted messages to one destination: most often a
// number provisioned at the carrier but not (or not yet) in Switchboard.
type UnroutedGroup struct {
	To            string
	Messages      int
	Contacts      int // distinct senders
	FirstReceived time.Time
	LastReceived  time.Time
	Reasons       []string // the distinct reasons, sorted
	Latest        UnroutedMessage
	// Number is the active number with this E.164 Switchboard has now, nil
	// when it has none (the messages can be assigned once it does).
	Number *Number
}

// ListUnroutedGroups returns the unrouted messages grouped by destination,
// the group with the latest message first (operator view). It aggregates
// the whole unrouted table (index order, one pass), which holds only what
// nobody claimed.
func (s *Store) ListUnroutedGroups(ctx context.Context, p Page) ([]UnroutedGroup, string, error) {
	at, dest := int64(1<<53), ""
	if p.Cursor != "" {
		var err error
		if at, dest, err = decodeGroupCursor(p.Cursor); err != nil {
			return nil, "", err
		}
	}
	lim := p.limit()
	rows, err := s.pool.Query(ctx, `
		WITH g AS (
			SELECT destination, count(*) AS n, count(DISTINCT source) AS contacts,
			       min(received_at) AS first_at, max(received_at) AS last_at,
			       array_agg(DISTINCT reason ORDER BY reason) AS reasons
			FROM unrouted_messages
			GROUP BY destination
		)
		SELECT g.destination, g.n, g.contacts, g.first_at, g.last_at, g.reasons, `+unroutedColumns+`,
		       `+numberColumns+`
		FROM g
		CROSS JOIN LATERAL (
			SELECT * FROM unrouted_messages u WHERE u.destination = g.destination
			ORDER BY u.received_at DESC, u.id DESC LIMIT 1
		) u
		LEFT JOIN LATERAL (
			SELECT * FROM numbers n WHERE n.e164 = g.destination AND n.status = 'active' LIMIT 1
		) n ON true
		WHERE $2 = '' OR (g.last_at, g.destination) < ($1::timestamptz, $2)
		ORDER BY g.last_at DESC, g.destination DESC
		LIMIT $3`, time.UnixMicro(at), dest, lim+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UnroutedGroup, error) {
		var (
			g                      UnroutedGroup
			segs                   int16
			nid, owner             *int64
			e164, kind, class, crr *string
			status                 *string
			created                *time.Time
		)
		u := &g.Latest
		err := r.Scan(&g.To, &g.Messages, &g.Contacts, &g.FirstReceived, &g.LastReceived, &g.Reasons,
			&u.ID, &u.Carrier, &u.From, &u.To, &u.Body, &u.Encoding, &segs, &u.Reason, &u.ReceivedAt,
			&nid, &e164, &kind, &class, &crr, &owner, &status, &created)
		u.Segments = int(segs)
		if err == nil && nid != nil {
			g.Number = &Number{ID: NumberID(*nid), E164: *e164, Kind: NumberKind(*kind), RateClass: *class, Carrier: *crr,
				Owner: WorkspaceID(*owner), Status: NumberStatus(*status), CreatedAt: *created}
		}
		return g, err
	})
	if err != nil {
		return nil, "", err
	}
	list, next := trimPage(list, lim, func(last *UnroutedGroup) string { return encodeGroupCursor(last.LastReceived.UnixMicro(), last.To) })
	return list, next, nil
}

// Group cursors carry a destination, which is text: "u2:<µs>:<destination>".
func encodeGroupCursor(at int64, dest string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("u2:" + strconv.FormatInt(at, 10) + ":" + dest))
}

func decodeGroupCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrInvalidCursor
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || parts[0] != "u2" || parts[2] == "" {
		return 0, "", ErrInvalidCursor
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, "", ErrInvalidCursor
	}
	return at, parts[2], nil
}

// Assignment moves unrouted messages into a workspace's threads.
type Assignment struct {
	Workspace WorkspaceID
	To        string       // the destination: an active number Switchboard has
	IDs       []UnroutedID // only these messages (all to To); empty: every message to To
}

// Assigned says where assigned messages went.
type Assigned struct {
	Messages []MessageID // in the order they were received
	Threads  []ThreadID  // the threads they landed in, created if new
}

// AssignUnrouted moves unrouted messages to a destination into the
// workspace's threads on that number (one per sender, created if new), as
// received messages in the order they arrived, in one transaction: they
// leave the unrouted list and appear in the workspace's change feed. An
// opt-out or opt-in keyword among them is applied as AppendInbound would.
// The destination must be an active number the workspace may use (shared,
// or dedicated to it): add it first when Switchboard does not have it.
// Refusals: ErrNotFound (no such workspace; no unrouted message to To; an
// id that is not one of them), ErrInvalidArgument, ErrUnknownNumber,
// ErrNumberDedicated (dedicated to another workspace).
func (s *Store) AssignUnrouted(ctx context.Context, a Assignment) (Assigned, error) {
	to, ok := NormalizeE164(a.To)
	if !ok {
		return Assigned{}, invalid("to %q is not a valid E.164 number", a.To)
	}
	ids := []int64{} // not nil: a nil slice is NULL
	for _, id := range a.IDs {
		if !slices.Contains(ids, int64(id)) {
			ids = append(ids, int64(id))
		}
	}
	var out Assigned
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = Assigned{}
		if _, err := lockWorkspace(ctx, tx, a.Workspace); err != nil {
			return err
		}
		var n Number
		err := scanNumber(tx.QueryRow(ctx, `SELECT `+numberColumns+` FROM numbers n
			WHERE n.e164 = $1 AND n.status = 'active' FOR SHARE`, to), &n)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrUnknownNumber
		case err != nil:
			return err
		case n.Kind == Dedicated && n.Owner != a.Workspace:
			return ErrNumberDedicated
		}
		rows, err := tx.Query(ctx, `DELETE FROM unrouted_messages u
			WHERE u.destination = $1 AND (cardinality($2::int8[]) = 0 OR u.id = ANY ($2::int8[]))
			RETURNING `+unroutedColumns, to, ids)
		if err != nil {
			return err
		}
		moved, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UnroutedMessage, error) {
			var u UnroutedMessage
			err := scanUnrouted(r, &u)
			return u, err
		})
		if err != nil {
			return err
		}
		if len(moved) == 0 || (len(ids) > 0 && len(moved) != len(ids)) {
			return ErrNotFound
		}
		slices.SortFunc(moved, func(x, y UnroutedMessage) int {
			if c := x.ReceivedAt.Compare(y.ReceivedAt); c != 0 {
				return c
			}
			return int(x.ID - y.ID)
		})
		kws, err := keywordSettingsTx(ctx, tx, a.Workspace)
		if err != nil {
			return err
		}
		var (
			src, body, enc, kwnorm []string
			segs, kw               []int16
			at                     []time.Time
		)
		for _, u := range moved {
			src, body, enc = append(src, u.From), append(body, u.Body), append(enc, u.Encoding)
			segs, at = append(segs, int16(u.Segments)), append(at, u.ReceivedAt)
			k, norm := kws.Match(u.Body)
			kw, kwnorm = append(kw, int16(k)), append(kwnorm, norm)
		}
		rows, err = tx.Query(ctx, assignSQL, a.Workspace, n.ID, src, body, enc, segs, at, kw, kwnorm)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m MessageID
			var th ThreadID
			if err := rows.Scan(&m, &th); err != nil {
				return err
			}
			out.Messages = append(out.Messages, m)
			if !slices.Contains(out.Threads, th) {
				out.Threads = append(out.Threads, th)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return Assigned{}, err
	}
	return out, nil
}

// assignSQL files assigned messages as AppendInbound files routed ones:
// ids drawn in arrival order, threads upserted, keywords applied under the
// workspace's settings (the last of each contact wins). No keyword reply
// is sent: the keywords are old news by the time an operator files them.
const assignSQL = `
WITH r AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::int2[], $7::timestamptz[], $8::int2[], $9::text[])
        WITH ORDINALITY AS r(src, body, enc, segs, at, kw, kwnorm, ord)
),
ids AS MATERIALIZED (
    SELECT nextval('messages_id_seq') AS id, x.* FROM (SELECT * FROM r ORDER BY ord) x
),
th AS (
    INSERT INTO threads AS t (workspace_id, channel, number_id, contact, last_message_at, unread_count)
    SELECT $1, 'sms', $2, src, now(), count(*) FROM ids
    GROUP BY src
    ORDER BY src
    ON CONFLICT (workspace_id, channel, number_id, contact) DO UPDATE
        SET last_message_at = excluded.last_message_at,
            unread_count = t.unread_count + excluded.unread_count
    RETURNING t.id, t.contact
),
ins AS (
    INSERT INTO messages (id, workspace_id, thread_id, number_id, contact, direction, body,
                          encoding, segments, status, created_at, received_at)
    SELECT i.id, $1, th.id, $2, i.src, 'in', i.body, i.enc, i.segs, 'received', now(), i.at
    FROM ids i JOIN th ON th.contact = i.src
    RETURNING id, thread_id
),
opt AS (
    INSERT INTO contacts AS c (workspace_id, contact, opted_out, source, keyword, changed_at)
    SELECT DISTINCT ON (src) $1, src, kw = 1, 'keyword', kwnorm, now() FROM r
    WHERE kw IN (1, 2)
    ORDER BY src, ord DESC
    ON CONFLICT (workspace_id, contact) DO UPDATE
        SET opted_out = excluded.opted_out, source = excluded.source, keyword = excluded.keyword,
            changed_at = excluded.changed_at
)
SELECT id, thread_id FROM ins ORDER BY id
`
