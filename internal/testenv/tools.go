package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Tool returns the path of a command-line tool a test checks the project
// with (systemd-analyze, dpkg-deb, lintian, promtool...), or skips t saying
// which Debian package brings it. When SB_REQUIRE_TOOLS is set, as .ci/run
// sets it after installing them, a missing tool fails t instead: CI never
// skips these checks.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	why := name + " is not installed, so this check does not run: apt-get install -y " + debianPackage + " (.ci/run does)"
	if os.Getenv("SB_REQUIRE_TOOLS") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}
