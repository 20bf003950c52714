package bench

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"gopkg.in/yaml.v3"
)

func TestDefaultsAreValid(t *testing.T) {
	for _, name := range Scenarios {
		for _, short := range []bool{false, true} {
			sc := Defaults(name, short)
			if err := sc.Check(); err != nil {
				t.Errorf("%s short=%v: %v", name, short, err)
			}
		}
	}
}

// sample returns a value for a flag that differs from its default.
func sample(t *testing.T, v flag.Value) string {
	switch v.(type) {
	case *stringVal:
		return "x" + v.String()
	case *boolVal:
		if v.String() == "true" {
			return "false"
		}
		return "true"
	case *intVal, *uint64Val:
		return "7"
	case *floatVal:
		return "3.5"
	case *durVal:
		return "1m30s"
	case *intsVal:
		return "3,9"
	case *dursVal:
		return "15ms,2s"
	case *classesVal:
		return "a:2:3:1,b:0.5:1:2"
	}
	t.Fatalf("no sample for %T", v)
	return ""
}

// Every flag sets a field of the scenario file: set through the flag, the
// value survives the trip through the file (scenario.yaml) and is found
// at the flag's path.
func TestEveryFlagHasAYAMLField(t *testing.T) {
	for _, name := range Scenarios {
		for _, d := range Flags(name) {
			sc := Defaults(name, false)
			v := d.Bind(&sc)
			if err := v.Set(sample(t, v)); err != nil {
				t.Fatalf("%s --%s: %v", name, d.Name, err)
			}
			if d.Path == "target.password" || d.Path == "engine.operator_token" {
				continue // never written to a report
			}
			y := sc.YAML()
			var m map[string]any
			if err := yaml.Unmarshal(y, &m); err != nil {
				t.Fatal(err)
			}
			var cur any = m
			for _, k := range strings.Split(d.Path, ".") {
				mm, ok := cur.(map[string]any)
				if !ok {
					t.Fatalf("%s --%s: %s is not in the scenario file:\n%s", name, d.Name, d.Path, y)
				}
				if cur, ok = mm[k]; !ok {
					t.Fatalf("%s --%s: %s is not in the scenario file:\n%s", name, d.Name, d.Path, y)
				}
			}
			back := Defaults(name, false)
			if err := decodeScenario(y, &back); err != nil {
				t.Fatalf("%s --%s: %v", name, d.Name, err)
			}
			if !reflect.DeepEqual(back, sc) {
				t.Errorf("%s --%s=%s: the scenario file does not carry it:\n%s", name, d.Name, v, y)
			}
		}
	}
}

func TestFlagsOverrideTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	os.WriteFile(path, []byte("scenario: window\nwindow:\n  windows: [3, 6]\n  tps: 42\n"), 0o644)
	sc, err := ParseArgs([]string{"--scenario", path, "--tps", "99", "--seed", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Scenario != "window" || sc.Window.TPS != 99 || sc.Seed != 5 || !reflect.DeepEqual(sc.Window.Windows, []int{3, 6}) {
		t.Fatalf("got %+v", sc.Window)
	}
	// The file's scenario must match the command's.
	if _, err := ParseArgs([]string{"advise", "--scenario", path}, io.Discard); err == nil {
		t.Fatal("an advise command ran a window file")
	}
	// --short picks the short defaults under the file.
	sc, err = ParseArgs([]string{"window", "--scenario", path, "--short"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Window.Duration != Defaults("window", true).Window.Duration || !sc.Short {
		t.Fatalf("short defaults not applied: %+v", sc.Window)
	}
}

func TestScenarioFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown field":    "scenario: window\nwindow:\n  windowz: [1]\n",
		"unknown scenario": "scenario: nope\n",
		"bad value":        "scenario: window\nwindow:\n  windows: [0]\n",
		"unsafe advise":    "scenario: advise\ntarget: {addr: 127.0.0.1:1}\nadvise: {rate: 100, dest: '+15555550123'}\n",
		"advise no dest":   "scenario: advise\ntarget: {addr: 127.0.0.1:1}\n",
		"too many probes":  "scenario: advise\nadvise: {count: 5000}\n",
		"window target":    "scenario: window\ntarget: {addr: 127.0.0.1:1}\n",
		"fairness order":   "scenario: fairness\nfairness: {order: random}\n",
		"fairness engine":  "scenario: fairness\nengine: {url: 'http://127.0.0.1:1', operator_token: t}\n",
		"fairness numbers": "scenario: fairness\nfairness: {numbers: 0}\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		os.WriteFile(path, []byte(body), 0o644)
		if _, err := LoadScenario(path); err == nil {
			t.Errorf("%s: loaded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// Every example in configs/bench loads, and names the scenario of its file
// name.
func TestExampleScenarios(t *testing.T) {
	files, _ := filepath.Glob("../configs/bench/*.yaml")
	if len(files) < len(Scenarios) {
		t.Fatalf("want an example per scenario in configs/bench, found %v", files)
	}
	for _, f := range files {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); sc.Scenario != want {
			t.Errorf("%s: scenario %q", f, sc.Scenario)
		}
	}
}

// The numbers the bench adds and writes to are valid E.164 numbers, as
// the API checks.
func TestNumbersAreValid(t *testing.T) {
	var all []string
	all = append(all, ourNumbers(50, 0)...)
	all = append(all, ourNumbers(5, 8900)...)
	for _, i := range []int{0, 1, 999, 123456} {
		all = append(all, contact(i))
	}
	for _, n := range all {
		p, err := phonenumbers.Parse(n, "ZZ")
		if err != nil || !phonenumbers.IsValidNumber(p) {
			t.Errorf("%s is not a valid number", n)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine("e2e", 45, 100, "msgs", 10, 3*time.Second)
	if !strings.Contains(got, " 45%") || !strings.Contains(got, "ETA 6s") || !strings.Contains(got, "10/s") {
		t.Fatalf("%q", got)
	}
	var b strings.Builder
	p := NewProgress(&b, false)
	p.Start("phase one", 10, "x")
	p.Add(10)
	p.Done()
	if !strings.Contains(b.String(), "phase one") || strings.Contains(b.String(), "\r") {
		t.Fatalf("plain progress: %q", b.String())
	}
}
