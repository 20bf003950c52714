package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageAndBadArguments(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "smppbench window") {
		t.Fatalf("--help: %d %q", code, out.String())
	}
	for _, args := range [][]string{{"nope"}, {"window", "--windows", "x"}, {"window", "--no-such-flag"}, {"advise", "--target", "127.0.0.1:1"},
		{"fairness", "--order", "random"}, {"fairness", "--numbers", "0"}, {"fairness", "--rates", "0.5,3"}, {"fairness", "--rates", "1,x"}, {"fairness", "--engine", "http://127.0.0.1:1", "--operator-token", "t"}} {
		out.Reset()
		errb.Reset()
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
	errb.Reset()
	if code := run([]string{"window", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "window.windows") {
		t.Errorf("window -h: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"fairness", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "fairness.backlog_seconds") || !strings.Contains(errb.String(), "-window") {
		t.Errorf("fairness -h: %d %q", code, errb.String())
	}
}

// One command runs a scenario and writes its report.
func TestWindowCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	code := run([]string{"window", "--short", "--windows", "2,8", "--duration", "300ms", "--out", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"Window sweep", "W/RTT limit", "ok   every submit answered ESME_ROK", "window sweep (2 points)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{"report.json", "report.html", "summary.txt", "scenario.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// The scenario it wrote runs again.
	out.Reset()
	if code := run([]string{"--scenario", filepath.Join(dir, "scenario.yaml"), "--quiet", "--out", ""}, &out, &errb); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, errb.String())
	}
	if strings.Contains(out.String(), "window sweep (2 points)") {
		t.Error("--quiet printed progress")
	}
}
