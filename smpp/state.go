package smpp

import "time"

// SessionState is where a Session stands.
type SessionState int32

const (
	// SessionConnecting: dialling and binding.
	SessionConnecting SessionState = iota
	// SessionBound: bound; requests are accepted.
	SessionBound
	// SessionBackoff: the last attempt or connection failed; waiting before
	// the next attempt.
	SessionBackoff
	// SessionRefused: the SMSC refused the credentials (ESME_RINVPASWD,
	// ESME_RINVSYSID, ESME_RINVSYSTYP). The session stopped retrying; fix the
	// configuration and start a new Session.
	SessionRefused
	// SessionClosing: Close was called; in-flight requests are finishing.
	SessionClosing
	// SessionClosed: the session is over.
	SessionClosed
)

func (s SessionState) String() string {
	switch s {
	case SessionConnecting:
		return "connecting"
	case SessionBound:
		return "bound"
	case SessionBackoff:
		return "backoff"
	case SessionRefused:
		return "refused"
	case SessionClosing:
		return "closing"
	case SessionClosed:
		return "closed"
	}
	return "unknown"
}

// StateChange reports a Session's move to a new state.
type StateChange struct {
	Session *Session
	State   SessionState
	Err     error         // why the previous state ended, when it failed
	Backoff time.Duration // in SessionBackoff: how long until the next attempt
	At      time.Time
}
