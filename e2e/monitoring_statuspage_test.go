//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

// chromiumInstall is how CI gets a headless browser (Debian package).
const chromiumInstall = "apt-get install -y chromium"

// headlessChromium runs chromium headless on url with extra args and returns
// its stdout. The page gets a few seconds of virtual time so its scripts
// fetch and render before the DOM is dumped or the screenshot taken.
func headlessChromium(t *testing.T, url string, args ...string) string {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skipf("no chromium on PATH: install it with %q to test the status page in a browser", chromiumInstall)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		"--window-size=1200,800", "--virtual-time-budget=5000",
	}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

var rowRE = regexp.MustCompile(`<tr data-node="(n\d)" data-role="(\w+)"`)

// TestMonitoring_StatusPageInBrowser loads the built-in status page of a
// real cluster in headless Chromium, checks that it renders all three
// nodes and the leader, then kills a node and checks the page shows it
// down. Screenshots go to the test's artifact directory (go test
// -artifacts keeps them).
func TestMonitoring_StatusPageInBrowser(t *testing.T) {
	c := startCluster(t)
	leader := c.leader(30 * time.Second)
	// Some traffic, so the throughput chart has something to plot.
	for i := range 20 {
		if _, stderr, code := c.kvctl("put", fmt.Sprintf("k%d", i), "v"); code != 0 {
			t.Fatalf("kvctl put: exit %d: %s", code, stderr)
		}
	}
	follower := "n1"
	if leader == follower {
		follower = "n2"
	}
	page := "http://" + c.httpAddr(follower) + "/"
	artifacts := t.ArtifactDir()

	var dom string
	servertest.WaitFor(t, 30*time.Second, "the page to render three nodes", func() bool {
		dom = headlessChromium(t, page, "--dump-dom")
		return len(rowRE.FindAllString(dom, -1)) == 3
	})
	roles := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(dom, -1) {
		roles[m[1]] = m[2]
	}
	if roles[leader] != "leader" || len(roles) != 3 {
		t.Errorf("rendered roles %v, want 3 nodes with %s as leader", roles, leader)
	}
	if !strings.Contains(dom, "leader "+leader) || !strings.Contains(dom, `data-loaded="true"`) {
		t.Errorf("summary does not name leader %s:\n%s", leader, dom)
	}
	shot := filepath.Join(artifacts, "statuspage-healthy.png")
	headlessChromium(t, page, "--screenshot="+shot)
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)

	// A dead member shows as down on the same page.
	victim := "n3"
	if victim == follower {
		victim = "n2"
	}
	c.script("kill", victim)
	servertest.WaitFor(t, 30*time.Second, victim+" shown down", func() bool {
		dom = headlessChromium(t, page, "--dump-dom")
		return strings.Contains(dom, fmt.Sprintf(`<tr data-node="%s" data-role="down"`, victim))
	})
	shot = filepath.Join(artifacts, "statuspage-node-down.png")
	headlessChromium(t, page, "--screenshot="+shot)
	t.Logf("screenshot: %s", shot)
}
