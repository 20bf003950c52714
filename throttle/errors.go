package throttle

import "errors"

// ErrUnavailable is wrapped by every error that means Redis did not give a
// usable answer: unreachable, timed out, an error reply, a reply of the wrong
// shape. Nothing is granted then (fail closed); see Limiter.Healthy.
var ErrUnavailable = errors.New("throttle: redis unavailable")
