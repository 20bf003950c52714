package config

import "reflect"

// Changes is what differs between a running configuration and a new one,
// sorted by what a reload can do about it (Diff).
type Changes struct {
	// Restart names the sections whose changes take effect only at a
	// restart: http, postgres, redis, operator, engine, throttle, webhooks,
	// api_limits, pid_file.
	Restart []string
	// LogLevel: log.level changed (it applies at once).
	LogLevel bool
	// Classes: the rate classes changed (they apply at once).
	Classes bool
	// Added and Removed name carriers only one of the two has.
	Added, Removed []string
	// Rebind names carriers whose connection settings changed (host,
	// port, tls, system_id, password, system_type, bind_mode): their binds
	// must be drained and bound again.
	Rebind []string
	// Retune names carriers with other changes (window, TPS, timers,
	// binds, coding, addresses, message ids, throttle scope): they apply to
	// the running binds.
	Retune []string
}

// None reports whether nothing changed.
func (c Changes) None() bool {
	return len(c.Restart) == 0 && !c.LogLevel && !c.Classes && len(c.Added) == 0 && len(c.Removed) == 0 &&
		len(c.Rebind) == 0 && len(c.Retune) == 0
}

// Diff compares the running configuration old with next (both complete:
// from Load or Parse).
func Diff(old, next *Config) Changes {
	var ch Changes
	for _, s := range []struct {
		name string
		a, b any
	}{
		{"http", old.HTTP, next.HTTP}, {"postgres", old.Postgres, next.Postgres}, {"redis", old.Redis, next.Redis},
		{"operator", old.Operator, next.Operator}, {"engine", old.Engine, next.Engine},
		{"throttle", old.Throttle, next.Throttle}, {"webhooks", old.Webhooks, next.Webhooks}, {"api_limits", old.APILimits, next.APILimits},
		{"pid_file", old.PIDFile, next.PIDFile},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			ch.Restart = append(ch.Restart, s.name)
		}
	}
	ch.LogLevel = old.Log != next.Log
	ch.Classes = !reflect.DeepEqual(old.Classes, next.Classes)
	for i := range next.Carriers {
		k := &next.Carriers[i]
		o, ok := old.Carrier(k.Name)
		switch {
		case !ok:
			ch.Added = append(ch.Added, k.Name)
		case !o.SameConnection(k):
			ch.Rebind = append(ch.Rebind, k.Name)
		case !reflect.DeepEqual(*o, *k):
			ch.Retune = append(ch.Retune, k.Name)
		}
	}
	for _, k := range old.Carriers {
		if _, ok := next.Carrier(k.Name); !ok {
			ch.Removed = append(ch.Removed, k.Name)
		}
	}
	return ch
}

// SameConnection reports whether k and o bind the same way: same host,
// port, TLS, system_id, password, system_type and bind mode. Anything else
// of a carrier can change on its running binds.
func (k *Carrier) SameConnection(o *Carrier) bool {
	return k.Host == o.Host && k.Port == o.Port && reflect.DeepEqual(k.TLS, o.TLS) && k.SystemID == o.SystemID &&
		k.Password == o.Password && k.SystemType == o.SystemType && k.BindMode == o.BindMode
}
