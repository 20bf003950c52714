package inbox

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PartSetKey identifies the parts of one concatenated inbound message.
type PartSetKey struct {
	Carrier     string
	Source      string // the sender's address as the carrier gave it
	Destination string
	Reference   int // the concatenation reference (UDH or SAR)
	Total       int // how many parts the set has, 1..255
}

// InboundPart is one part of a concatenated inbound message.
type InboundPart struct {
	PartSetKey
	Seq        int    // 1-based position in the set
	Payload    []byte // the part's short message, as received
	Coding     int    // the part's data coding, opaque to the inbox
	ReceivedAt time.Time
}

// Part is one part of a returned set.
type Part struct {
	Payload []byte // nil when the part is missing (a timed-out set)
	Coding  int
	Missing bool
}

// PartSet is a set of parts returned for reassembly.
type PartSet struct {
	Key      PartSetKey
	Parts    []Part // by position, len(Parts) == Key.Total
	FirstAt  time.Time
	Complete bool // every part is there
	TimedOut bool // returned by SweepInboundParts before it was complete
}

// StoreInboundParts stores parts durably and returns, at the index of the
// batch's last part of each set that is now complete, the whole set (nil
// elsewhere). Completion is seen across processes: the set row is locked by
// every store of one of its parts, so whichever stores the last part sees
// them all. A redelivered part of a complete set returns the set again,
// until AppendInbound with Inbound.Parts deletes it in the transaction that
// stores the message (so a crash between the two loses nothing, and a
// message is never stored twice). Two statements, one round trip.
func (s *Store) StoreInboundParts(ctx context.Context, parts []InboundPart) ([]*PartSet, error) {
	out := make([]*PartSet, len(parts))
	if len(parts) == 0 {
		return out, nil
	}
	n := len(parts)
	var (
		carrier = make([]string, n)
		src     = make([]string, n)
		dst     = make([]string, n)
		ref     = make([]int32, n)
		total   = make([]int16, n)
		seq     = make([]int16, n)
		payload = make([][]byte, n)
		coding  = make([]int16, n)
		at      = make([]time.Time, n)
		last    = map[PartSetKey]int{}
	)
	now := time.Now()
	for i, p := range parts {
		k := p.PartSetKey
		k.Carrier = strings.TrimSpace(k.Carrier)
		if k.Carrier == "" || k.Total < 1 || k.Total > 255 || p.Seq < 1 || p.Seq > k.Total ||
			k.Reference < 0 || p.Payload == nil {
			return nil, invalid("part %d of %d, reference %d, carrier %q", p.Seq, k.Total, k.Reference, k.Carrier)
		}
		last[k] = i
		carrier[i], src[i], dst[i], ref[i], total[i] = k.Carrier, k.Source, k.Destination, int32(k.Reference), int16(k.Total)
		seq[i], payload[i], coding[i], at[i] = int16(p.Seq), p.Payload, int16(p.Coding), p.ReceivedAt
		if at[i].IsZero() {
			at[i] = now
		}
	}
	var sets []PartSet
	err := retry(ctx, func() error {
		var err error
		sets, err = s.storeParts(ctx, carrier, src, dst, ref, total, seq, payload, coding, at)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range sets {
		if j, ok := last[sets[i].Key]; ok {
			out[j] = &sets[i]
		}
	}
	return out, nil
}

func (s *Store) storeParts(ctx context.Context, args ...any) ([]PartSet, error) {
	b := &pgx.Batch{}
	b.Queue(`
		WITH r AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int2[],
			                     $6::int2[], $7::bytea[], $8::int2[], $9::timestamptz[])
				AS r(carrier, source, destination, reference, total, seq, payload, coding, at)
		),
		sets AS (
			INSERT INTO inbound_part_sets AS s (carrier, source, destination, reference, total, first_at, last_at)
			SELECT carrier, source, destination, reference, total, min(at), max(at) FROM r
			GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
			ON CONFLICT (carrier, source, destination, reference, total) DO UPDATE
				SET last_at = greatest(s.last_at, excluded.last_at)
		)
		INSERT INTO inbound_parts (carrier, source, destination, reference, total, seq, payload, coding, received_at)
		SELECT DISTINCT ON (carrier, source, destination, reference, total, seq)
		       carrier, source, destination, reference, total, seq, payload, coding, at
		FROM r
		ORDER BY carrier, source, destination, reference, total, seq
		ON CONFLICT DO NOTHING`, args...)
	// A new statement, so a new snapshot: it sees the parts of every
	// transaction that held the set lock before this one.
	b.Queue(`
		SELECT s.carrier, s.source, s.destination, s.reference, s.total, s.first_at, s.timed_out_at,
		       array_agg(p.seq ORDER BY p.seq), array_agg(p.payload ORDER BY p.seq), array_agg(p.coding ORDER BY p.seq)
		FROM inbound_part_sets s
		JOIN inbound_parts p USING (carrier, source, destination, reference, total)
		WHERE (s.carrier, s.source, s.destination, s.reference, s.total) IN (
			SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int2[]))
		GROUP BY s.carrier, s.source, s.destination, s.reference, s.total
		HAVING count(*) = s.total`, args[:5]...)
	return s.runPartsBatch(ctx, b)
}

// SweepInboundParts flags the part sets whose first part arrived more than
// olderThan ago and returns them (at most limit, oldest first), complete or
// not, missing parts marked. They stay stored, flagged timed out, until
// AppendInbound with Inbound.Parts stores what they hold (a later sweep
// returns them again until then). One round trip.
func (s *Store) SweepInboundParts(ctx context.Context, olderThan time.Duration, limit int) ([]PartSet, error) {
	if limit <= 0 {
		limit = 1000
	}
	var sets []PartSet
	err := retry(ctx, func() error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE inbound_part_sets SET timed_out_at = now()
			WHERE timed_out_at IS NULL AND first_at < now() - $1::int8 * interval '1 microsecond'`, micros(olderThan))
		b.Queue(`
			SELECT s.carrier, s.source, s.destination, s.reference, s.total, s.first_at, s.timed_out_at,
			       array_agg(p.seq ORDER BY p.seq), array_agg(p.payload ORDER BY p.seq), array_agg(p.coding ORDER BY p.seq)
			FROM (SELECT * FROM inbound_part_sets WHERE timed_out_at IS NOT NULL
			      ORDER BY first_at LIMIT $1) s
			JOIN inbound_parts p USING (carrier, source, destination, reference, total)
			GROUP BY s.carrier, s.source, s.destination, s.reference, s.total, s.first_at, s.timed_out_at
			ORDER BY s.first_at`, limit)
		var err error
		sets, err = s.runPartsBatch(ctx, b)
		return err
	})
	return sets, err
}

// runPartsBatch sends b (one round trip, one implicit transaction): every
// statement but the last is executed, the last returns part sets.
func (s *Store) runPartsBatch(ctx context.Context, b *pgx.Batch) ([]PartSet, error) {
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	for i := 0; i < b.Len()-1; i++ {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	sets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PartSet, error) {
		var (
			ps       PartSet
			ref      int32
			total    int16
			timedOut *time.Time
			seqs     []int16
			payloads [][]byte
			codings  []int16
		)
		err := r.Scan(&ps.Key.Carrier, &ps.Key.Source, &ps.Key.Destination, &ref, &total,
			&ps.FirstAt, &timedOut, &seqs, &payloads, &codings)
		if err != nil {
			return ps, err
		}
		ps.Key.Reference, ps.Key.Total, ps.TimedOut = int(ref), int(total), timedOut != nil
		ps.Parts = make([]Part, ps.Key.Total)
		for i := range ps.Parts {
			ps.Parts[i].Missing = true
		}
		for i, q := range seqs {
			if q >= 1 && int(q) <= ps.Key.Total {
				ps.Parts[q-1] = Part{Payload: payloads[i], Coding: int(codings[i])}
			}
		}
		ps.Complete = len(seqs) == ps.Key.Total
		return ps, nil
	})
	if err != nil {
		return nil, err
	}
	return sets, br.Close()
}
