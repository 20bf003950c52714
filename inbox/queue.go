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
