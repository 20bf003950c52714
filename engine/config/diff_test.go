package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/engine/config"
)

func TestDiffSortsChangesByWhatAReloadDoes(t *testing.T) {
	base := `
rate_classes: [{name: shared, rate: 1}]
carriers:
  - {name: a, host: h, port: 1, system_id: s, window: 10, tps: 10}
  - {name: b, host: h, port: 2, system_id: s, tps: 1}
  - {name: c, host: h, port: 3, system_id: s, tps: 1}
`
	parse := func(y string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(y), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse(base)
	if ch := config.Diff(old, parse(base)); !ch.None() {
		t.Fatalf("the same file differs: %+v", ch)
	}
	next := parse(strings.NewReplacer(
		"window: 10, tps: 10", "window: 20, tps: 5", // a: live
		"port: 2", "port: 9", // b: rebind
		"  - {name: c, host: h, port: 3, system_id: s, tps: 1}\n", "  - {name: d, host: h, port: 4, system_id: s, tps: 1}\n",
		"rate: 1", "rate: 2",
	).Replace(base) + "log: {level: debug}\nhttp: {listen: \"127.0.0.1:9999\"}\n")
	ch := config.Diff(old, next)
	want := config.Changes{Restart: []string{"http"}, LogLevel: true, Classes: true, Added: []string{"d"}, Removed: []string{"c"},
		Rebind: []string{"b"}, Retune: []string{"a"}}
	if !reflect.DeepEqual(ch, want) {
		t.Fatalf("Diff = %+v\nwant   %+v", ch, want)
	}
	if old.Hash == next.Hash || len(old.Hash) != 12 {
		t.Fatalf("hashes %q and %q", old.Hash, next.Hash)
	}
}
