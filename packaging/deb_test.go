package packaging_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// TestDebPackage builds the package as `make deb` does and checks what it
// holds (the three binaries, the unit, the example config as a conffile,
// the user created by postinst, no migration in any maintainer script),
// that the packaged engine reads the packaged config, and that lintian
// reports no error.
func TestDebPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the package build compiles every binary")
	}
	dpkgDeb := testenv.Tool(t, "dpkg-deb", "dpkg")
	lintian := testenv.Tool(t, "lintian", "lintian")
	out := t.TempDir()
	b, err := exec.Command("./deb.sh", out, "1.2.3").CombinedOutput()
	if err != nil {
		t.Fatalf("deb.sh: %v\n%s", err, b)
	}
	deb := strings.TrimSpace(string(b))
	if !strings.HasSuffix(deb, ".deb") || !strings.Contains(filepath.Base(deb), "switchboard_1.2.3_") {
		t.Fatalf("deb.sh printed %q, want the package's path", deb)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		b, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(b)
	}

	// Contents: path → mode, owned by root.
	files := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(run(dpkgDeb, "--contents", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", line)
		}
		if f[1] != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", f[5], f[1])
		}
		files[strings.TrimPrefix(f[5], ".")] = f[0]
	}
	for path, mode := range map[string]string{
		"/usr/bin/switchboard":                            "-rwxr-xr-x",
		"/usr/bin/smscsim":                                "-rwxr-xr-x",
		"/usr/bin/smppbench":                              "-rwxr-xr-x",
		"/lib/systemd/system/switchboard.service":         "-rw-r--r--",
		"/etc/switchboard/switchboard.yaml":               "-rw-r--r--",
		"/usr/share/switchboard/switchboard.env.example":  "-rw-r--r--",
		"/usr/share/switchboard/grafana/switchboard.json": "-rw-r--r--",
		"/usr/share/switchboard/prometheus/alerts.yml":    "-rw-r--r--",
		"/usr/share/doc/switchboard/copyright":            "-rw-r--r--",
	} {
		if got, ok := files[path]; !ok {
			t.Errorf("the package lacks %s", path)
		} else if got != mode {
			t.Errorf("%s has mode %s, want %s", path, got, mode)
		}
	}
	if cf := run(dpkgDeb, "--info", deb, "conffiles"); strings.TrimSpace(cf) != "/etc/switchboard/switchboard.yaml" {
		t.Errorf("conffiles = %q, want the example config", cf)
	}
	if dep := run(dpkgDeb, "--field", deb, "Depends"); !strings.Contains(dep, "adduser") {
		t.Errorf("Depends = %q, want adduser (postinst creates the user)", dep)
	}
	postinst := run(dpkgDeb, "--info", deb, "postinst")
	if !strings.Contains(postinst, "adduser --system --group") || !strings.Contains(postinst, "switchboard") {
		t.Errorf("postinst creates no system user:\n%s", postinst)
	}
	for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
		text, _ := exec.Command(dpkgDeb, "--info", deb, s).Output()
		for _, line := range strings.Split(string(text), "\n") {
			if l := strings.TrimSpace(line); !strings.HasPrefix(l, "#") && strings.Contains(l, "migrate") {
				t.Errorf("%s runs a migration (%q): the operator runs switchboard migrate", s, l)
			}
		}
	}

	// The packaged files are the repository's, and the packaged engine
	// accepts the packaged config.
	root := t.TempDir()
	run(dpkgDeb, "--extract", deb, root)
	for pkgPath, repoPath := range map[string]string{
		"lib/systemd/system/switchboard.service":         "../configs/systemd/switchboard.service",
		"etc/switchboard/switchboard.yaml":               "../configs/switchboard.yaml",
		"usr/share/switchboard/grafana/switchboard.json": "../configs/grafana/switchboard.json",
		"usr/share/switchboard/prometheus/alerts.yml":    "../configs/prometheus/alerts.yml",
	} {
		got, err1 := os.ReadFile(filepath.Join(root, pkgPath))
		want, err2 := os.ReadFile(repoPath)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("the package's /%s differs from %s (%v, %v)", pkgPath, repoPath, err1, err2)
		}
	}
	cmd := exec.Command(filepath.Join(root, "usr/bin/switchboard"), "check-config", "--config", filepath.Join(root, "etc/switchboard/switchboard.yaml"))
	cmd.Env = append(os.Environ(), "SIM_PASSWORD=x", "SWITCHBOARD_OPERATOR_TOKEN=0123456789abcdef0123456789abcdef")
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), ": ok") {
		t.Errorf("the packaged switchboard check-config on the packaged config: %v\n%s", err, b)
	}

	// lintian: no error (warnings and notes are listed in the log).
	lout, err := exec.Command(lintian, "--fail-on", "error", deb).CombinedOutput()
	t.Logf("lintian:\n%s", lout)
	if err != nil {
		t.Errorf("lintian reports errors (%v):\n%s", err, lout)
	}
	for _, line := range strings.Split(string(lout), "\n") {
		if strings.HasPrefix(line, "E: ") {
			t.Errorf("lintian: %s", line)
		}
	}
}
