// Package grafana holds the Grafana dashboard shipped with raftkv; its test
// checks that the dashboard is well-formed. That every metric it queries
// exists on a real node is checked in server/monitoring_test.go.
package grafana

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type dashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Type    string `json:"type"`
		GridPos struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboard_WellFormed(t *testing.T) {
	b, err := os.ReadFile("raftkv.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("raftkv.json is not valid JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard needs a title and a uid, got %q %q", d.Title, d.UID)
	}
	if len(d.Panels) == 0 {
		t.Fatal("dashboard has no panels")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Type == "" {
			t.Errorf("panel %d needs a title and a type", p.ID)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, q := range p.Targets {
			if q.RefID == "" || !strings.Contains(q.Expr, "raftkv_") && !strings.Contains(q.Expr, "up{") {
				t.Errorf("panel %q: query %q needs a refId and a raftkv metric", p.Title, q.Expr)
			}
		}
	}
}
