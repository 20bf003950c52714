package inbox

import (
	"context"
	"time"
)

// SentRecently reports whether a message of carrier may have reached the
// carrier within the last window: one of its numbers' messages is being
// sent (claimed, its outcome not yet recorded) or was submitted within
// window. When it reports false, nothing of the carrier account can still
// count in a carrier's rate window of that length, so a rate limiter that
// lost its state (a fresh install, a Redis without persistence) need not
// wait a quiet period before sending. The check gives up after timeout
// and then answers true (the safe side).
func (s *Store) SentRecently(ctx context.Context, carrier string, window, timeout time.Duration) (bool, error) {
	if carrier == "" || window <= 0 || timeout <= 0 {
		return true, invalid("sent recently needs a carrier, a positive window and a positive timeout")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var sent bool
	err := s.pool.QueryRow(ctx, sentRecentlySQL, carrier, micros(window)).Scan(&sent)
	if err != nil {
		return true, err
	}
	return sent, nil
}

// sentRecentlySQL probes, per number of the carrier, messages_pending for a
// message being sent and messages_submitted for one submitted within the
// window: index scans over the carrier's numbers, stopping at the first hit.
const sentRecentlySQL = `
SELECT EXISTS (
    SELECT 1 FROM numbers n
    WHERE n.carrier = $1
      AND (EXISTS (SELECT 1 FROM messages m
                   WHERE m.number_id = n.id AND m.pending_since IS NOT NULL AND m.status = 'sending')
        OR EXISTS (SELECT 1 FROM messages m
                   WHERE m.number_id = n.id AND m.submitted_at IS NOT NULL
                     AND m.submitted_at > now() - $2::int8 * interval '1 microsecond'))
)
`
