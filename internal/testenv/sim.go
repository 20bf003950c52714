package testenv

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/switchboard-sms/switchboard/smscsim"
)

// StartSim starts the carrier simulator from YAML, with one plain listener
// on a free port of 127.0.0.1 (sim.Addr("")), and closes it at the end.
func StartSim(t testing.TB, yaml string) *smscsim.Sim {
	t.Helper()
	cfg, err := smscsim.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listeners = []smscsim.ListenerConfig{{Name: "plain", Addr: "127.0.0.1:0"}}
	sim, err := smscsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// SimLogLine is one line of the simulator's JSONL log of accepted submit_sm.
type SimLogLine struct {
	T              time.Time // when the simulator read the submit_sm
	Src, Dst, Text string
	Segments       int
	Part, Parts    int
	Validity       string // validity_period, as written ("" when none)
}

// ReadSimLog reads the simulator's log at path (its config's log: path).
func ReadSimLog(t testing.TB, path string) []SimLogLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []SimLogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l SimLogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("sim log: %v: %s", err, sc.Text())
		}
		out = append(out, l)
	}
	return out
}
