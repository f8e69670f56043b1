package lab

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
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
}

// MarshalJSON writes the result with host1 .. host4 at the top level.
func (r *Result) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(resultJSON{Start: r.Start, ScanStart: r.ScanStart, ScanEnd: r.ScanEnd, FloodStart: r.FloodStart,
		FloodEnd: r.FloodEnd, End: r.End, TimeoutS: r.Timeout.Seconds(), Table2: r.Table2, Series: r.Series,
		Timeline: r.Timeline, Dashboard: r.Dashboard, Files: r.Files})
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
		Timeline: base.Timeline, Dashboard: base.Dashboard, Files: base.Files, Hosts: map[string]*HostResult{}}
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
	const (
		width, height          = 800.0, 420.0
		left, right, top, bott = 60.0, 130.0, 56.0, 50.0
	)
	span := r.End.Sub(r.Start).Seconds()
	for _, p := range r.Series {
		span = max(span, p.At)
	}
	if span <= 0 {
		span = 1
	}
	pw, ph := width-left-right, height-top-bott
	x := func(t float64) float64 { return left + t/span*pw }
	y := func(s float64) float64 { return top + (1-s)*ph }
	var b strings.Builder
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="12">`+"\n", f(width), f(height), f(width), f(height))
	fmt.Fprintf(&b, `<rect width="%s" height="%s" fill="white"/>`+"\n", f(width), f(height))
	fmt.Fprintf(&b, `<text x="%s" y="22" font-size="14">M3 score per server (seed 000, Figure 5)</text>`+"\n", f(left))
	bands := []struct {
		lo, hi float64
		color  string
	}{{0, 0.5, "#e3f4e3"}, {0.5, 0.9, "#fbf3d0"}, {0.9, 1, "#f8dcdc"}}
	for _, band := range bands {
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n", f(left), f(y(band.hi)), f(pw), f(y(band.lo)-y(band.hi)), band.color)
	}
	for _, s := range []float64{0, 0.25, 0.5, 0.75, 0.9, 1} {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#bbb" stroke-width="0.5"/><text x="%s" y="%s" text-anchor="end">%.2f</text>`+"\n",
			f(left), f(y(s)), f(left+pw), f(y(s)), f(left-6), f(y(s)+4), s)
	}
	step := 30.0
	if span > 600 {
		step = 120
	}
	for t := 0.0; t <= span; t += step {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%.0f</text>`+"\n", f(x(t)), f(top+ph+16), t)
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">seconds into the experiment</text>`+"\n", f(left+pw/2), f(height-12))
	marks := []struct {
		at    time.Time
		label string
	}{{r.ScanStart, "scan"}, {r.FloodStart, "flood"}, {r.FloodEnd, "flood ends"}}
	for i, m := range marks {
		if m.at.IsZero() {
			continue
		}
		t := m.at.Sub(r.Start).Seconds()
		ly := top - 4 - float64(i%2)*14 // close marks' labels on two rows
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555" stroke-dasharray="4 3"/><text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n",
			f(x(t)), f(top), f(x(t)), f(top+ph), f(x(t)), f(ly), html.EscapeString(m.label))
	}
	// Servers whose scores coincide would hide each other: each line is
	// narrower than the one drawn before it, so all show.
	colors := []string{"#1f77b4", "#2ca02c", "#d62728", "#9467bd"}
	widths := []float64{8, 5.5, 3.5, 1.8}
	for i, h := range hostNames() {
		pts := []string{f(x(0)) + "," + f(y(0))}
		last := 0.0
		for _, p := range r.Series {
			if p.Host != h {
				continue
			}
			pts = append(pts, f(x(p.At))+","+f(y(last)), f(x(p.At))+","+f(y(p.Score)))
			last = p.Score
		}
		pts = append(pts, f(x(span))+","+f(y(last)))
		color := colors[i%len(colors)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%s" stroke-linejoin="round" points="%s"/>`+"\n", color, f(widths[i%len(widths)]), strings.Join(pts, " "))
		ly := top + 20 + float64(i)*20
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/><text x="%s" y="%s">%s</text>`+"\n",
			f(left+pw+12), f(ly), f(left+pw+32), f(ly), color, f(left+pw+38), f(ly+4), html.EscapeString(h))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
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
