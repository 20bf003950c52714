package engine

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// logLines parses the engine's JSON log lines.
func logLines(t *testing.T, logs *testenv.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// findLine returns the first line whose message contains msg and whose
// fields include want (field → value; "" accepts any value), or nil.
func findLine(lines []map[string]any, msg string, want map[string]string) map[string]any {
next:
	for _, l := range lines {
		if m, _ := l["msg"].(string); !strings.Contains(m, msg) {
			continue
		}
		for k, v := range want {
			got, ok := l[k]
			if !ok {
				continue next
			}
			if s, _ := got.(string); v != "" && s != v {
				continue next
			}
		}
		return l
	}
	return nil
}

// Issue 18 §5: the faults an operator must act on are logged at error
// level, what degrades sending at warn, state changes at info, each with
// the fields carrier, bind and number where they apply: a bind refused for
// its password, a carrier unreachable longer than unreachable_after, Redis
// stopped, carrier refusals (0x58).
func TestLogLevelsAndFieldsOfFaults(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSim(t, `accounts:
  - {system_id: sb, password: "", latency: 2ms, receipts: {delay: 5ms}, faults: {fail: "0x58:30%"}}
  - {system_id: sb2, password: secret}`)
	rs := testenv.StartRedisServer(t)
	closedPort := strconv.Itoa(testenv.FreePort(t))
	cfg := engineConfig(t, testenv.NewDatabase(t), sim.Addr(""), func(c *config.Config) {
		c.Log.Level = "info"
		c.Redis.URL = rs.URL()
		good := c.Carriers[0]
		bad := good
		bad.Name, bad.SystemID, bad.Password = "bad", "sb2", "wrongpw"
		down := good
		down.Name, down.Port, down.UnreachableAfter = "down", 0, config.Duration(time.Second)
		down.Port, _ = strconv.Atoi(closedPort)
		c.Carriers = append(c.Carriers, bad, down)
		fastClasses(c)
	})
	var logs testenv.LogBuffer
	te := startEngineLogged(t, cfg, &logs)
	ws := testenv.Seed(t, te.store, "+14155552671")
	enqueueLoad(t, te.store, ws, "logs", 40, 40)
	te.dispatcher.Kick()

	type expect struct {
		what, msg, level string
		fields           map[string]string
	}
	checks := []expect{
		{"a bind refused for its password", "bind refused by the carrier", "error", map[string]string{"carrier": "bad", "bind": "0/transceiver"}},
		{"a carrier unreachable past unreachable_after", "carrier unreachable", "error", map[string]string{"carrier": "down", "bind": "0/transceiver"}},
		{"a failing connection", "bind down; reconnecting", "warn", map[string]string{"carrier": "down", "bind": "0/transceiver"}},
		{"a bind coming up", "bind state", "info", map[string]string{"carrier": "sim", "bind": "0/transceiver", "state": "bound"}},
		{"a carrier refusal (0x58)", "carrier refused a submit", "warn", map[string]string{"carrier": "sim", "number": "+14155552671", "status": "0x58"}},
	}
	for _, c := range checks {
		var l map[string]any
		testenv.Eventually(t, c.what+" in the log", func() bool {
			l = findLine(logLines(t, &logs), c.msg, c.fields)
			return l != nil
		})
		if l["level"] != c.level {
			t.Errorf("%s: logged at %v, want %s: %v", c.what, l["level"], c.level, l)
		}
	}

	rs.Stop()
	var l map[string]any
	testenv.Eventually(t, "Redis unavailable in the log", func() bool {
		l = findLine(logLines(t, &logs), "redis unavailable", map[string]string{"dependency": "redis"})
		return l != nil
	})
	if l["level"] != "error" {
		t.Errorf("Redis unavailable logged at %v, want error", l["level"])
	}
	rs.Start()
	testenv.Eventually(t, "Redis back in the log", func() bool {
		return findLine(logLines(t, &logs), "redis answers again", map[string]string{"dependency": "redis"}) != nil
	})
	// Once per outage, not once per check.
	n := 0
	for _, l := range logLines(t, &logs) {
		if m, _ := l["msg"].(string); strings.Contains(m, "redis unavailable") {
			n++
		}
		if m, _ := l["msg"].(string); strings.Contains(m, "carrier unreachable") && l["carrier"] == "down" {
			n += 100
		}
	}
	if n != 101 {
		t.Errorf("redis unavailable logged %d times, carrier unreachable %d times; want once each", n%100, n/100)
	}
}
