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
	case *floatsVal:
		return "2,5"
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
		"rate below 1":     "scenario: fairness\nfairness: {rates: [0.5, 3]}\n",
		"rate not whole":   "scenario: fairness\nfairness: {rates: [1, 2.5]}\n",
		"rate too high":    "scenario: fairness\nfairness: {rates: [1, 20000]}\n",
		"over not whole":   "scenario: fairness\nfairness: {rates: [1, 3, 10], over: 20}\n",
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

// fairness.rates: number i gets rates[i mod len], and without numbers
// given (by the file or a flag) there is one number per rate.
func TestFairnessRates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o644)
		return path
	}
	for _, c := range []struct {
		name    string
		args    []string
		numbers int
	}{
		{"flag", []string{"fairness", "--rates", "1,3,10"}, 3},
		{"flag and numbers", []string{"fairness", "--rates", "1,3,10", "--numbers", "7"}, 7},
		{"short", []string{"fairness", "--short", "--rates", "1,3"}, 2},
		{"file", []string{"--scenario", write("rates.yaml", "scenario: fairness\nfairness: {rates: [1, 3, 10, 10]}\n")}, 4},
		{"file with numbers", []string{"--scenario", write("numbers.yaml", "scenario: fairness\nfairness: {rates: [1, 3, 10], numbers: 5}\n")}, 5},
		{"file, flag numbers", []string{"--scenario", write("rates2.yaml", "scenario: fairness\nfairness: {rates: [1, 3, 10]}\n"), "--numbers", "6"}, 6},
		{"file numbers, flag rates", []string{"--scenario", write("numbers2.yaml", "scenario: fairness\nfairness: {numbers: 5}\n"), "--rates", "2,4"}, 5},
		{"no rates", []string{"fairness"}, 10},
	} {
		sc, err := ParseArgs(c.args, io.Discard)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if sc.Fairness.Numbers != c.numbers {
			t.Errorf("%s: %d numbers, want %d", c.name, sc.Fairness.Numbers, c.numbers)
		}
		// What the run writes runs again the same.
		back, err := LoadScenario(write(strings.ReplaceAll(c.name, " ", "_")+".out.yaml", string(sc.YAML())))
		if err != nil || !reflect.DeepEqual(back.Fairness, sc.Fairness) {
			t.Errorf("%s: scenario.yaml gives %+v, %v; want %+v", c.name, back.Fairness, err, sc.Fairness)
		}
	}
	sc, err := LoadScenario(write("file.yaml", "scenario: fairness\nfairness: {rates: [1, 3, 10], backlog_seconds: 60}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := sc.Fairness
	if sc.Fairness.Numbers != 3 {
		t.Errorf("LoadScenario: %d numbers", sc.Fairness.Numbers)
	}
	// The example is the goal's run: 1, 3 and 10/s, 60 s of work each.
	if ex, err := LoadScenario("../configs/bench/fairness.yaml"); err != nil || ex.Fairness.Numbers != 3 ||
		!reflect.DeepEqual(ex.Fairness.Rates, []float64{1, 3, 10}) || ex.Fairness.BacklogSeconds != 60 {
		t.Errorf("configs/bench/fairness.yaml: %+v, %v", ex.Fairness, err)
	}
	p.Numbers = 7
	var got []float64
	var segs []int
	for i := range p.Numbers {
		got, segs = append(got, p.RateOf(i)), append(segs, p.SegmentsOf(i))
	}
	if !reflect.DeepEqual(got, []float64{1, 3, 10, 1, 3, 10, 1}) || !reflect.DeepEqual(segs, []int{60, 180, 600, 60, 180, 600, 60}) {
		t.Errorf("rates %v, segments %v", got, segs)
	}
	// --over: the first number's rate, over % higher, whole after rounding.
	p.Rates, p.Over = []float64{10, 3}, 10
	if r := p.OverRate(); r != 11 {
		t.Errorf("10 + 10%%: %v", r)
	}
	p.Rates, p.NumberRate = nil, 7
	if p.RateOf(3) != 7 || p.SegmentsOf(3) != 420 {
		t.Errorf("without rates: %v, %d", p.RateOf(3), p.SegmentsOf(3))
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
