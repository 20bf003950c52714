package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

const unitPath = "../configs/systemd/switchboard.service"

// unitSettings reads a unit file's "Key=Value" lines of section (repeated
// keys in order).
func unitSettings(t *testing.T, text, section string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			cur = strings.Trim(line, "[]")
		case cur == section:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: [%s] line %q is not Key=Value", unitPath, section, line)
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnitSettings checks what the issue asks of the unit: restarted
// on failure, a dedicated user, reload by SIGHUP, the config and the secrets
// from the environment file, and the usual hardening.
func TestSystemdUnitSettings(t *testing.T) {
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	svc := unitSettings(t, string(b), "Service")
	want := map[string]string{
		"Restart":               "on-failure",
		"User":                  "switchboard",
		"Group":                 "switchboard",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"EnvironmentFile":       "/etc/switchboard/switchboard.env",
		"ExecStart":             "/usr/bin/switchboard serve --config /etc/switchboard/switchboard.yaml",
		"KillSignal":            "SIGTERM",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"CapabilityBoundingSet": "",
	}
	for k, v := range want {
		got, ok := svc[k]
		if !ok || got[len(got)-1] != v {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if ins := unitSettings(t, string(b), "Install"); strings.Join(ins["WantedBy"], " ") != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %q, want multi-user.target", ins["WantedBy"])
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit (any
// warning fails: an unknown or misspelt key is only a warning there) and
// its offline security review, whose exposure must stay low. verify looks
// for the binaries the unit runs, so it reads a copy that runs a stand-in
// for /usr/bin/switchboard; every other line is the file's own.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testenv.Tool(t, "systemd-analyze", "systemd")
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stand := filepath.Join(dir, "switchboard")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "switchboard.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/bin/switchboard", stand)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for switchboard\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
		t.Errorf("the unit's exposure level is %.1f, want at most 2.0 (systemd-analyze security --offline=true):\n%s", level, out)
	} else {
		t.Logf("systemd-analyze security: exposure %.1f", level)
	}
}
