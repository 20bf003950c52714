package packaging_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// TestPrometheusRules: promtool accepts the alert rules, and their unit
// test (configs/prometheus/alerts_test.yml: each alert fires on the series
// that mean it, with its labels and text) passes. That every metric they
// name is exported is engine's TestDashboardAndAlertMetricsExported.
func TestPrometheusRules(t *testing.T) {
	promtool := testenv.Tool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "../configs/prometheus/alerts.yml"},
		{"test", "rules", "../configs/prometheus/alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
