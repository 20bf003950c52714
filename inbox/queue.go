package inbox

import (
	"context"
	"time"
)

// QueueStats describes the outbound queue as a whole, for metrics.
type QueueStats struct {
	// Pending is how many outbound messages are queued or being sent
	// (counted up to QueueCountCap, a cost bound for a scrape).
	Pending int64
	// Segments is their segments (within the same cap of messages).
	Segments int64
	// Oldest is the age of the oldest pending message; 0 when none.
	Oldest time.Duration
}

// QueueCountCap bounds the rows QueueStats counts, so that a scrape stays
// cheap however long the queue grows; Pending equal to it means "at least".
const QueueCountCap = 100000

// QueueStats reads the size and age of the outbound queue over every
// workspace. One round trip.
func (s *Store) QueueStats(ctx context.Context) (QueueStats, error) {
	var q QueueStats
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), coalesce(sum(segments), 0),
		       (SELECT min(pending_since) FROM messages WHERE pending_since IS NOT NULL)
		FROM (SELECT segments FROM messages WHERE pending_since IS NOT NULL LIMIT $1) p`, QueueCountCap).
		Scan(&q.Pending, &q.Segments, &oldest)
	if err != nil {
		return q, err
	}
	if oldest != nil {
		q.Oldest = time.Since(*oldest)
	}
	return q, nil
}

// NumberQueue is one sender number's part of the outbound queue, for
// metrics.
type NumberQueue struct {
	Number    string // E.164
	Carrier   string
	RateClass string
	// Pending is how many outbound messages from the number are queued or
	// being sent, Segments their segments.
	Pending  int64
	Segments int64
	// Oldest is the age of its oldest pending message (PostgreSQL's clock).
	Oldest time.Duration
}

// QueueByNumber reads the queue of each sender number with pending
// outbound messages: at most limit numbers, those whose oldest pending
// message is oldest first. One round trip; it reads every pending message
// (the partial index messages_pending and the rows), as QueueStats' oldest
// does, so callers refresh it seconds apart, not per message.
func (s *Store) QueueByNumber(ctx context.Context, limit int) ([]NumberQueue, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT n.e164, n.carrier, n.rate_class, q.pending, q.segments,
		       extract(epoch FROM now() - q.oldest)::float8
		FROM (SELECT number_id, count(*) AS pending, sum(segments) AS segments, min(pending_since) AS oldest
		      FROM messages WHERE pending_since IS NOT NULL
		      GROUP BY number_id ORDER BY min(pending_since) LIMIT $1) q
		JOIN numbers n ON n.id = q.number_id
		ORDER BY q.oldest, n.e164`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NumberQueue
	for rows.Next() {
		var q NumberQueue
		var age float64
		if err := rows.Scan(&q.Number, &q.Carrier, &q.RateClass, &q.Pending, &q.Segments, &age); err != nil {
			return nil, err
		}
		q.Oldest = time.Duration(max(0, age) * float64(time.Second))
		out = append(out, q)
	}
	return out, rows.Err()
}
