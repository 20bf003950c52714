package inbox

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// A number self-test answers "do replies to this number reach us?": a
// probe message goes from one of our numbers to the number under test, as
// an ordinary outbound message of the system workspace (so any engine
// process sends it, within the number's rate, and no tenant thread holds
// it), and its text carries a random token. AppendInbound recognises an
// inbound message carrying the token of a self-test, whichever way the
// carrier delivers it (to the number under test, or from it as an echo to
// our number), records it on the self-test and stores it nowhere else.
// The caller polls GetSelfTest until it came back or its timeout passed.

// SelfTestID names a self-test.
type SelfTestID int64

// selfTestMarker starts a self-test token: "SBT-" and 16 base32 letters
// (80 random bits), GSM 7-bit safe.
const (
	selfTestMarker   = "SBT-"
	selfTestTokenLen = len(selfTestMarker) + 16
)

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

func newSelfTestToken() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return selfTestMarker + base32NoPad.EncodeToString(b[:])
}

// selfTestToken returns the self-test token an inbound text carries, or "".
// It costs one substring search on an ordinary message.
func selfTestToken(body string) string {
	i := strings.Index(body, selfTestMarker)
	if i < 0 || len(body)-i < selfTestTokenLen {
		return ""
	}
	tok := body[i : i+selfTestTokenLen]
	for _, c := range tok[len(selfTestMarker):] {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return ""
		}
	}
	return tok
}

// SelfTestText is the text of a self-test's probe message.
func SelfTestText(token string) string { return "Switchboard number self-test " + token }

// NewSelfTest asks for a self-test.
type NewSelfTest struct {
	Number string // the number under test, E.164
	// From is the E.164 of the number to send from: an active shared
	// number, or one dedicated to the system workspace. "" picks one: a
	// number the system workspace already sends from, else the oldest
	// active shared number (on the carrier of the number under test when
	// Switchboard has it).
	From string
}

// SelfTest is a self-test and what became of it.
type SelfTest struct {
	ID        SelfTestID
	Token     string
	Number    string // under test
	From      string // our number the probe is sent from
	Carrier   string // the carrier of From
	Message   MessageID
	CreatedAt time.Time
	// Probe is the probe message as it is now (its status, submit time,
	// carrier error); zero if it could not be queued.
	Probe Message
	// Returned is when a message carrying the token came in, zero while
	// none has; ReturnedFrom, ReturnedTo and ReturnedCarrier are its
	// addresses and the carrier that delivered it.
	Returned                                  time.Time
	ReturnedFrom, ReturnedTo, ReturnedCarrier string
	// NumberKnown says whether Switchboard has the number under test
	// (active), and NumberWorkspace its owner when it is dedicated.
	NumberKnown     bool
	NumberWorkspace WorkspaceID
}

// StartSelfTest queues a self-test's probe message. Refusals:
// ErrInvalidArgument (a number or From that is not E.164, From equal to
// the number), ErrUnknownNumber (From is not an active number),
// ErrNumberDedicated (From is dedicated to a tenant), ErrNumberRetired,
// ErrNoProbeNumber (no number to send from), and the refusals of Enqueue
// (ErrRecipientOptedOut when the number under test opted out of the
// system workspace). The self-test is recorded before the probe is queued,
// so a probe that comes back is always recognised.
func (s *Store) StartSelfTest(ctx context.Context, nt NewSelfTest) (SelfTest, error) {
	number, ok := NormalizeE164(nt.Number)
	if !ok {
		return SelfTest{}, invalid("number %q is not a valid E.164 number", nt.Number)
	}
	from := ""
	if nt.From != "" {
		if from, ok = NormalizeE164(nt.From); !ok {
			return SelfTest{}, invalid("from %q is not a valid E.164 number", nt.From)
		}
		if from == number {
			return SelfTest{}, invalid("a number cannot test itself")
		}
	}
	st := SelfTest{Token: newSelfTestToken(), Number: number}
	var sys WorkspaceID
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if sys, err = systemWorkspace(ctx, tx); err != nil {
			return err
		}
		n, err := probeNumber(ctx, tx, sys, number, from)
		if err != nil {
			return err
		}
		st.From, st.Carrier = n.E164, n.Carrier
		// The system workspace sends from the number: a connection of its
		// own, besides any tenant's (Claim sends only from connected
		// numbers).
		if _, err := tx.Exec(ctx, `
			WITH c AS (
				INSERT INTO number_connections (workspace_id, number_id) VALUES ($1, $2)
				ON CONFLICT (workspace_id, number_id) WHERE disconnected_at IS NULL DO NOTHING
				RETURNING id
			)
			INSERT INTO number_events (number_id, workspace_id, event) SELECT $2, $1, 'connected' FROM c`, sys, n.ID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO self_tests (token, number, from_number_id) VALUES ($1, $2, $3)
			RETURNING id, created_at`, st.Token, number, n.ID).Scan(&st.ID, &st.CreatedAt)
	})
	if err != nil {
		return SelfTest{}, err
	}
	text := SelfTestText(st.Token)
	res, err := s.Enqueue(ctx, []OutboundRequest{{Workspace: sys, From: st.From, To: number, Body: text,
		Encoding: "GSM7", Segments: 1, IdempotencyKey: "self-test:" + st.Token}})
	if err != nil {
		return SelfTest{}, err
	}
	if res[0].Err != nil {
		return SelfTest{}, res[0].Err
	}
	st.Message = res[0].ID
	if _, err := s.pool.Exec(ctx, `UPDATE self_tests SET message_id = $2 WHERE id = $1`, st.ID, st.Message); err != nil {
		return SelfTest{}, err
	}
	return s.GetSelfTest(ctx, st.ID)
}

// systemWorkspace returns the system workspace, creating it the first time.
func systemWorkspace(ctx context.Context, tx pgx.Tx) (WorkspaceID, error) {
	var id WorkspaceID
	err := tx.QueryRow(ctx, `SELECT id FROM workspaces WHERE system`).Scan(&id)
	if !errors.Is(err, pgx.ErrNoRows) {
		return id, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO workspaces (name, sms_addon, system) VALUES ('switchboard system', true, true)
		ON CONFLICT (system) WHERE system DO NOTHING`)
	if err != nil {
		return 0, err
	}
	err = tx.QueryRow(ctx, `SELECT id FROM workspaces WHERE system`).Scan(&id)
	return id, err
}

// probeNumber picks the number a self-test is sent from (see NewSelfTest.From).
func probeNumber(ctx context.Context, tx pgx.Tx, sys WorkspaceID, number, from string) (Number, error) {
	var n Number
	if from != "" {
		err := scanNumber(tx.QueryRow(ctx, `SELECT `+numberColumns+` FROM numbers n
			WHERE n.e164 = $1 ORDER BY n.status = 'active' DESC, n.id DESC LIMIT 1`, from), &n)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return Number{}, ErrUnknownNumber
		case err != nil:
			return Number{}, err
		case n.Status == NumberRetired:
			return Number{}, ErrNumberRetired
		case n.Kind == Dedicated && n.Owner != sys:
			return Number{}, ErrNumberDedicated
		}
		return n, nil
	}
	err := scanNumber(tx.QueryRow(ctx, `
		SELECT `+numberColumns+` FROM numbers n
		LEFT JOIN number_connections c
		       ON c.number_id = n.id AND c.workspace_id = $1 AND c.disconnected_at IS NULL AND c.enabled
		WHERE n.status = 'active' AND n.e164 <> $2 AND (n.kind = 'shared' OR n.workspace_id = $1)
		ORDER BY c.id IS NOT NULL DESC,
		         n.carrier = (SELECT t.carrier FROM numbers t WHERE t.e164 = $2 AND t.status = 'active') DESC NULLS LAST,
		         n.id
		LIMIT 1`, sys, number), &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return Number{}, ErrNoProbeNumber
	}
	return n, err
}

// GetSelfTest returns a self-test and what became of its probe.
func (s *Store) GetSelfTest(ctx context.Context, id SelfTestID) (SelfTest, error) {
	var (
		st       SelfTest
		returned *time.Time
		msg      *int64
		owner    *int64
	)
	err := s.pool.QueryRow(ctx, `
		SELECT st.id, st.token, st.number, f.e164, f.carrier, st.message_id, st.created_at, st.returned_at,
		       coalesce(st.returned_from, ''), coalesce(st.returned_to, ''), coalesce(st.returned_carrier, ''),
		       u.id IS NOT NULL, u.workspace_id
		FROM self_tests st
		JOIN numbers f ON f.id = st.from_number_id
		LEFT JOIN numbers u ON u.e164 = st.number AND u.status = 'active'
		WHERE st.id = $1`, id).
		Scan(&st.ID, &st.Token, &st.Number, &st.From, &st.Carrier, &msg, &st.CreatedAt, &returned,
			&st.ReturnedFrom, &st.ReturnedTo, &st.ReturnedCarrier, &st.NumberKnown, &owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return SelfTest{}, ErrNotFound
	}
	if err != nil {
		return SelfTest{}, err
	}
	st.Returned = timeOrZero(returned)
	if owner != nil {
		st.NumberWorkspace = WorkspaceID(*owner)
	}
	if msg != nil {
		st.Message = MessageID(*msg)
		err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageColumns+`
			FROM messages m JOIN numbers n ON n.id = m.number_id WHERE m.id = $1`, st.Message), &st.Probe)
		if err != nil {
			return SelfTest{}, err
		}
	}
	return st, nil
}
