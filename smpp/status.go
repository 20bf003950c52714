package smpp

//go:generate go run ./internal/gen

// Status is a command_status value (SMPP 3.4 §5.1.3). Its constants, names
// and classes are generated from status.tsv into zstatus.go.
type Status uint32

// StatusClass says what a status means for the request that got it.
type StatusClass uint8

const (
	// ClassOK is ESME_ROK alone.
	ClassOK StatusClass = iota
	// ClassTemporary: the request may succeed later (throttled, queue full,
	// system error, the receiver's temporary error); retry it with backoff.
	ClassTemporary
	// ClassPermanent: the request will never succeed as it is. Unknown and
	// vendor-specific codes (0x400–0x4FF) are permanent unless the carrier's
	// own documentation says otherwise.
	ClassPermanent
	// ClassBind: a bind-level problem (bad credentials, already bound); fix
	// the configuration instead of retrying each message.
	ClassBind
)

func (c StatusClass) String() string {
	switch c {
	case ClassOK:
		return "ok"
	case ClassTemporary:
		return "temporary"
	case ClassBind:
		return "bind"
	}
	return "permanent"
}

// String returns the status's SMPP name, e.g. "ESME_RTHROTTLED", or its hex
// value when SMPP 3.4 does not define it.
func (s Status) String() string {
	if name, _, _, ok := statusInfo(s); ok {
		return name
	}
	if s >= 0x400 && s <= 0x4FF {
		return "vendor status 0x" + hex8(uint32(s))
	}
	return "status 0x" + hex8(uint32(s))
}

// Description returns the spec's one-line meaning of the status, or "" for
// codes SMPP 3.4 does not define.
func (s Status) Description() string {
	_, d, _, _ := statusInfo(s)
	return d
}

// Class returns what the status means for the request that got it.
func (s Status) Class() StatusClass {
	_, _, c, _ := statusInfo(s)
	return c
}

// Temporary reports whether a request that got this status may be retried:
// ESME_RSYSERR, ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RX_T_APPN.
func (s Status) Temporary() bool { return s.Class() == ClassTemporary }

// Defined reports whether SMPP 3.4 defines the status.
func (s Status) Defined() bool {
	_, _, _, ok := statusInfo(s)
	return ok
}
