package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// ChromiumPath returns the path of Debian's chromium (the browser of the
// console's and the bench report's tests), or "" when it is not installed.
func ChromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// Chromium returns ChromiumPath, or skips t saying what goes unchecked
// (what) and how to install the browser. When SB_REQUIRE_BROWSER is set,
// as .ci/run sets it, a missing browser fails t instead.
func Chromium(t testing.TB, what string) string {
	t.Helper()
	if p := ChromiumPath(); p != "" {
		return p
	}
	why := "chromium is not installed, so " + what + ": apt-get install -y chromium (.ci/run does)"
	if os.Getenv("SB_REQUIRE_BROWSER") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}
