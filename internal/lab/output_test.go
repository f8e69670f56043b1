package lab

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// sample is an outcome like the lab's, with fixed times.
func sample() *Result {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	f := func(v float64) *float64 { return &v }
	r := &Result{Start: t0, ScanStart: at(16), ScanEnd: at(16.1), FloodStart: at(24.1), FloodEnd: at(54.3), End: at(176), Timeout: 150 * time.Second,
		Hosts: map[string]*HostResult{}, Dashboard: "http://10.1.250.2:8080",
		Table2: map[string]map[string]int64{
			"host1": {networkRow: 52}, "host2": {networkRow: 52},
			"host3": {"PROC.MEM": 176, "PROC.SPAWN": 31, "PROC.CPU": 2, "PROC.TERM": 1, networkRow: 52},
			"host4": {"PROC.SPAWN": 2, networkRow: 53},
		},
		Timeline: []string{"    0.0s  baseline", "   16.0s  scan"},
	}
	for i, name := range hostNames() {
		h := &HostResult{IP: "10.10.0." + string(rune('1'+i)), YellowAfter: f(-8.1), MaxScore: 0.62, SeverityAtFloodEnd: "yellow", MaxSeverityAfterFlood: "green", FinalScore: 0.09, FinalSeverity: "green"}
		r.Series = append(r.Series, Point{At: 16.1, Host: name, Score: 0.55, Severity: "yellow", State: "Questionable"}, Point{At: 16.1, Host: name, Score: 0.62, Severity: "yellow", State: "Questionable"})
		if name == "host3" {
			h.RedAfter, h.MaxScore, h.SeverityAtFloodEnd, h.MaxSeverityAfterFlood, h.FinalScore, h.FinalSeverity = f(3.6), 0.98, "red", "", 0.98, "red"
			r.Series = append(r.Series, Point{At: 27.7, Host: name, Score: 0.93, Severity: "red", State: "Compromised"}, Point{At: 27.7, Host: name, Score: 0.98, Severity: "red", State: "Compromised"})
		} else {
			r.Series = append(r.Series, Point{At: 166.1, Host: name, Score: 0.09, Severity: "green", State: "Nominal"})
		}
		r.Hosts[name] = h
	}
	return r
}

// TestOutputs checks the files the lab writes against golden copies: the
// Figure 5 series and Table 2 as CSV, Figure 5 as SVG, Table 2 as text.
func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	r := sample()
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := WriteTable2(&table, r.Table2); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "table2.txt"), table.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"figure5.csv", "table2.csv", "figure5.svg", "table2.txt"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", name)
		testutil.Golden(t, golden, got)
	}
	// Table 2's rows: the paper's order, then the others, the network
	// observations last.
	rows := table2Rows(r.Table2)
	if rows[0] != "PROC.MEM" || rows[len(rows)-1] != networkRow || !strings.Contains(strings.Join(rows, ","), "SYS.PROCS.GROWTH,PROC.TERM") {
		t.Errorf("rows %v", rows)
	}
}

// TestResultJSON checks the JSON form: the times and host1 .. host4 at the
// top level, never-reached bands as null, and that it reads back.
func TestResultJSON(t *testing.T) {
	r := sample()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"flood_start", "scan_start", "host1", "host2", "host3", "host4", "table2", "figure5", "timeline"} {
		if _, ok := top[k]; !ok {
			t.Errorf("no %q in %s", k, data)
		}
	}
	var h1 map[string]any
	if err := json.Unmarshal(top["host1"], &h1); err != nil {
		t.Fatal(err)
	}
	if v, ok := h1["red_s"]; !ok || v != nil {
		t.Errorf("host1's red_s is %v (present %v), want null", v, ok)
	}
	var back Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !back.FloodStart.Equal(r.FloodStart) || back.Timeout != r.Timeout || len(back.Hosts) != 4 || *back.Hosts["host3"].RedAfter != 3.6 || back.Table2["host3"]["PROC.MEM"] != 176 {
		t.Errorf("read back %+v", back)
	}
}

// TestPrepareDir checks that the lab takes a new or empty directory, or
// an earlier lab's (clearing it), and refuses any other.
func TestPrepareDir(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "new")
	if err := prepareDir(fresh); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(fresh, "data", "vigil.db")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an earlier run's store is still there: %v", err)
	}
	other := filepath.Join(base, "home")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(other); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a directory with other files: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Errorf("the user's file is gone: %v", err)
	}
}
