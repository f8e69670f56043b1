package lab

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-ids/vigil/internal/chart"
)

// resultJSON is the JSON form of a Result: the times, and each host at the
// top level.
type resultJSON struct {
	Start      time.Time                   `json:"experiment_start"`
	ScanStart  time.Time                   `json:"scan_start"`
	ScanEnd    time.Time                   `json:"scan_end"`
	FloodStart time.Time                   `json:"flood_start"`
	FloodEnd   time.Time                   `json:"flood_end"`
	End        time.Time                   `json:"end"`
	TimeoutS   float64                     `json:"m3_timeout_s"`
	Table2     map[string]map[string]int64 `json:"table2"`
	Series     []Point                     `json:"figure5"`
	Timeline   []string                    `json:"timeline"`
	Dashboard  string                      `json:"dashboard"`
	Files      []string                    `json:"files"`
	Respond    *RespondResult              `json:"respond,omitempty"`
}

// MarshalJSON writes the result with host1 .. host4 at the top level.
func (r *Result) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(resultJSON{Start: r.Start, ScanStart: r.ScanStart, ScanEnd: r.ScanEnd, FloodStart: r.FloodStart,
		FloodEnd: r.FloodEnd, End: r.End, TimeoutS: r.Timeout.Seconds(), Table2: r.Table2, Series: r.Series,
		Timeline: r.Timeline, Dashboard: r.Dashboard, Files: r.Files, Respond: r.Respond})
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(base, &all); err != nil {
		return nil, err
	}
	for name, h := range r.Hosts {
		if all[name], err = json.Marshal(h); err != nil {
			return nil, err
		}
	}
	return json.Marshal(all)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(data []byte) error {
	var base resultJSON
	if err := json.Unmarshal(data, &base); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	*r = Result{Start: base.Start, ScanStart: base.ScanStart, ScanEnd: base.ScanEnd, FloodStart: base.FloodStart, FloodEnd: base.FloodEnd,
		End: base.End, Timeout: time.Duration(base.TimeoutS * float64(time.Second)), Table2: base.Table2, Series: base.Series,
		Timeline: base.Timeline, Dashboard: base.Dashboard, Files: base.Files, Respond: base.Respond, Hosts: map[string]*HostResult{}}
	for name, raw := range all {
		if !strings.HasPrefix(name, "host") {
			continue
		}
		h := &HostResult{}
		if err := json.Unmarshal(raw, h); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.Hosts[name] = h
	}
	return nil
}

// hostNames are the servers in order.
func hostNames() []string {
	names := make([]string, nHosts)
	for i := range names {
		names[i] = fmt.Sprintf("host%d", i+1)
	}
	return names
}

// table2Rows orders the observation types as seed 000's Table 2 does, then
// any others by name, the network observations last.
func table2Rows(t map[string]map[string]int64) []string {
	paper := []string{"PROC.MEM", "PROC.CPU", "SYS.MEM", "SYS.CPU", "PROC.SPAWN", "SYS.PROCS.GROWTH"}
	seen := map[string]bool{}
	for _, counts := range t {
		for typ := range counts {
			seen[typ] = true
		}
	}
	var others []string
	for typ := range seen {
		if !slices.Contains(paper, typ) && typ != networkRow {
			others = append(others, typ)
		}
	}
	slices.Sort(others)
	return append(append(paper, others...), networkRow)
}

// networkRow is Table 2's row of network observations: the gateway
// signatures' reports about each server (Snort's alerts in the paper).
const networkRow = "gateway-signatures"

// write saves the outputs in dir and lists them in r.Files.
func (r *Result) write(dir string) error {
	var fig5, tab2 bytes.Buffer
	w := csv.NewWriter(&fig5)
	_ = w.Write([]string{"t_s", "host", "score", "severity", "state"})
	for _, p := range r.Series {
		_ = w.Write([]string{strconv.FormatFloat(p.At, 'f', 3, 64), p.Host, strconv.FormatFloat(p.Score, 'f', 4, 64), p.Severity, p.State})
	}
	w.Flush()
	w = csv.NewWriter(&tab2)
	_ = w.Write(append([]string{"observation"}, hostNames()...))
	for _, typ := range table2Rows(r.Table2) {
		row := []string{typ}
		for _, h := range hostNames() {
			row = append(row, strconv.FormatInt(r.Table2[h][typ], 10))
		}
		_ = w.Write(row)
	}
	w.Flush()
	var timeline bytes.Buffer
	for _, line := range r.Timeline {
		timeline.WriteString(line + "\n")
	}
	files := []struct {
		name string
		data []byte
	}{
		{"figure5.csv", fig5.Bytes()},
		{"table2.csv", tab2.Bytes()},
		{"figure5.svg", r.figure5SVG()},
		{"timeline.txt", timeline.Bytes()},
	}
	r.Files = nil
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return err
		}
		r.Files = append(r.Files, path)
	}
	path := filepath.Join(dir, "result.json")
	r.Files = append(r.Files, path)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// figure5SVG draws Figure 5: each server's M3 score over the experiment,
// as steps, over the green, yellow and red bands, with the scan and the
// flood marked.
func (r *Result) figure5SVG() []byte {
	c := chart.Scores{Title: "M3 score per server (seed 000, Figure 5)", Width: 800, Height: 420, Yellow: 0.5, Red: 0.9,
		XMin: 0, XMax: r.End.Sub(r.Start).Seconds(), XTitle: "seconds into the experiment"}
	for _, p := range r.Series {
		c.XMax = max(c.XMax, p.At)
	}
	for _, m := range []struct {
		at    time.Time
		label string
	}{{r.ScanStart, "scan"}, {r.FloodStart, "flood"}, {r.FloodEnd, "flood ends"}} {
		if !m.at.IsZero() {
			c.Marks = append(c.Marks, chart.Mark{X: m.at.Sub(r.Start).Seconds(), Label: m.label})
		}
	}
	for _, h := range hostNames() {
		s := chart.Series{Name: h}
		for _, p := range r.Series {
			if p.Host == h {
				s.Points = append(s.Points, chart.Point{X: p.At, Y: p.Score})
			}
		}
		c.Series = append(c.Series, s)
	}
	return c.SVG()
}

// WriteTable2 prints Table 2 as aligned text: a row per observation type,
// a column per server.
func WriteTable2(w io.Writer, t map[string]map[string]int64) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "observation\t%s\t\n", strings.Join(hostNames(), "\t"))
	for _, typ := range table2Rows(t) {
		cells := []string{typ}
		for _, h := range hostNames() {
			cells = append(cells, strconv.FormatInt(t[h][typ], 10))
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
