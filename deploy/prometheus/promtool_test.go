// Package prometheus holds the Prometheus configuration shipped with
// raftkv; its tests check the alert rules with promtool and against the
// runbook.
package prometheus

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// promtoolInstall is how CI gets promtool (Debian's prometheus package).
const promtoolInstall = "apt-get install -y prometheus"

func promtool(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skipf("promtool not on PATH: install it with %q to check the alert rules", promtoolInstall)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

func TestAlerts_CheckRules(t *testing.T) { promtool(t, "check", "rules", "alerts.yml") }

func TestAlerts_UnitTests(t *testing.T) { promtool(t, "test", "rules", "alerts_test.yml") }

func TestAlerts_ExampleConfig(t *testing.T) { promtool(t, "check", "config", "prometheus.yml") }

var (
	alertRE    = regexp.MustCompile(`(?m)^\s*- alert: (\w+)\s*$`)
	runbookRE  = regexp.MustCompile(`runbook_url: "[^"#]*docs/runbook\.md#([a-z0-9-]+)"`)
	severityRE = regexp.MustCompile(`severity: (critical|warning|info)`)
	headingRE  = regexp.MustCompile(`(?m)^## (\w+)\s*$`)
)

// TestAlerts_RunbookSections checks, without promtool, that every alert has
// a severity, a summary and a runbook_url pointing at its own section of
// docs/runbook.md, and that the section exists.
func TestAlerts_RunbookSections(t *testing.T) {
	rules, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile("../../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(string(runbook), -1) {
		sections[strings.ToLower(m[1])] = true
	}
	blocks := alertRE.Split(string(rules), -1)[1:]
	names := alertRE.FindAllStringSubmatch(string(rules), -1)
	if len(names) == 0 {
		t.Fatal("no alerts found in alerts.yml")
	}
	for i, m := range names {
		name, block := m[1], blocks[i]
		if !severityRE.MatchString(block) {
			t.Errorf("%s: no severity label", name)
		}
		if !strings.Contains(block, "summary:") {
			t.Errorf("%s: no summary annotation", name)
		}
		rb := runbookRE.FindStringSubmatch(block)
		switch {
		case rb == nil:
			t.Errorf("%s: no runbook_url into docs/runbook.md", name)
		case rb[1] != strings.ToLower(name):
			t.Errorf("%s: runbook_url anchor #%s, want #%s", name, rb[1], strings.ToLower(name))
		case !sections[rb[1]]:
			t.Errorf("%s: docs/runbook.md has no section \"## %s\"", name, name)
		}
	}
}
