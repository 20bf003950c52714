package packaging_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// TestDockerImage builds the image (make docker) and runs the engine's
// check-config in it, where a Docker daemon answers. There is none on the
// development machines or in CI, so there it skips and says so; the image
// is for users who build elsewhere.
func TestDockerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the image build compiles every binary")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed: the Dockerfile is not built here")
	}
	if b, err := exec.Command(docker, "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker daemon answers (docker info: %v), so the Dockerfile is not built here (it is not in CI either): %s",
			err, strings.TrimSpace(lastLine(string(b))))
	}
	image := strings.ToLower(testenv.UniqueName("switchboard-test:"))
	build := exec.Command("make", "-C", "..", "docker", "IMAGE="+image)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make docker: %v\n%s", err, b)
	}
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", image).Run() })
	run := exec.Command(docker, "run", "--rm", "-e", "SIM_PASSWORD=x", "-e", "SWITCHBOARD_OPERATOR_TOKEN=0123456789abcdef0123456789abcdef",
		image, "check-config")
	run.Env = os.Environ()
	b, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "/etc/switchboard/switchboard.yaml: ok") {
		t.Fatalf("docker run %s check-config: %v\n%s", image, err, b)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
