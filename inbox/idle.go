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
//
// lease is the longest claim lease of the processes sending for carrier
// (engine.lease): a message being sent is found by its lease end (due_at),
// within (now - window, now + lease], so the check reads the messages in
// flight and never the backlog (10 million queued messages cost it
// nothing; a probe of every pending message timed out there).
func (s *Store) SentRecently(ctx context.Context, carrier string, window, lease, timeout time.Duration) (bool, error) {
	if carrier == "" || window <= 0 || lease <= 0 || timeout <= 0 {
		return true, invalid("sent recently needs a carrier and a positive window, lease and timeout")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var sent bool
	err := s.pool.QueryRow(ctx, sentRecentlySQL, carrier, micros(window), micros(lease)).Scan(&sent)
	if err != nil {
		return true, err
	}
	return sent, nil
}

// sentRecentlySQL: per number of the carrier, a range of messages_ready
// around now for a message being sent (its due_at is its lease end), then,
// per number of the carrier, a probe of messages_submitted for one
// submitted within the window; it stops at the first hit.
const sentRecentlySQL = `
SELECT EXISTS (
    SELECT 1 FROM numbers n
    WHERE n.carrier = $1
      AND EXISTS (SELECT 1 FROM messages m
                  WHERE m.number_id = n.id
                    AND m.due_at > now() - $2::int8 * interval '1 microsecond'
                    AND m.due_at <= now() + $3::int8 * interval '1 microsecond'
                    AND m.status = 'sending')
) OR EXISTS (
    SELECT 1 FROM numbers n
    WHERE n.carrier = $1
      AND EXISTS (SELECT 1 FROM messages m
                  WHERE m.number_id = n.id AND m.submitted_at IS NOT NULL
                    AND m.submitted_at > now() - $2::int8 * interval '1 microsecond')
)
`
