package lab

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// SeqLen is the length of the sequences the classifier reads (seed 001:
// ten one-second vectors); the summary counts whole sequences of it.
const SeqLen = 10

// ServicesResult is what vigil lab services recorded.
type ServicesResult struct {
	Dir      string    `json:"dir"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration_seconds"`
	// Hosts are the hosts' recordings (DIR/hosts/<host>.jsonl).
	Hosts []HostRecording `json:"hosts"`
	// Classes are the process names of the hosts' recordings, most
	// vectors first, with their vectors and sequences per host.
	Classes []ClassCount `json:"classes"`
	// Nongrata and Masquerade are the known-bad tools' and the
	// masquerading programs' recordings (DIR/nongrata/<class>.jsonl,
	// DIR/masquerade/<name>.jsonl).
	Nongrata   []Recorded `json:"nongrata"`
	Masquerade []Recorded `json:"masquerade"`
	// Live is the live phase's outcome (--attack).
	Live *ServicesLive `json:"live,omitempty"`
}

// HostRecording is one host's recording.
type HostRecording struct {
	Name      string   `json:"name"`
	IP        string   `json:"ip"`
	Mix       string   `json:"mix"`
	File      string   `json:"file"`
	Vectors   int      `json:"vectors"`
	Processes int      `json:"processes"` // distinct pids
	Names     []string `json:"names"`     // process names seen
}

// ClassCount is one process name's share of the hosts' recordings.
type ClassCount struct {
	Class string `json:"class"`
	// Vectors and Sequences per host; Sequences counts, per process, its
	// vectors divided by SeqLen (whole sequences).
	Vectors   map[string]int `json:"vectors"`
	Sequences map[string]int `json:"sequences"`
	Total     int            `json:"total_vectors"`
	TotalSeqs int            `json:"total_sequences"`
}

// Recorded is a known-bad tool's or masquerading program's recording.
type Recorded struct {
	Name      string         `json:"name"`
	File      string         `json:"file"`
	Vectors   int            `json:"vectors"`
	Sequences int            `json:"sequences"`
	Processes map[string]int `json:"processes"` // vectors per process name
	What      string         `json:"what,omitempty"`
}

func readRecording(path string) ([]event.CountVector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vs, err := syscalls.ReadVectors(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vs, nil
}

// wholeSequences counts, per process of vs, its vectors divided by SeqLen.
func wholeSequences(vs []event.CountVector) map[string]int {
	out := map[string]int{}
	for _, s := range syscalls.Sequences(vs) {
		out[s.Label] += len(s.Vectors) / SeqLen
	}
	return out
}

// summarize reads the recordings back and counts them.
func (r *ServicesResult) summarize() error {
	classes := map[string]*ClassCount{}
	for _, h := range serviceHosts {
		path := filepath.Join(r.Dir, "hosts", h.Name+".jsonl")
		vs, err := readRecording(path)
		if err != nil {
			return err
		}
		hr := HostRecording{Name: h.Name, IP: h.IP, Mix: h.Mix, File: path, Vectors: len(vs)}
		pids, names := map[int32]bool{}, map[string]bool{}
		for _, v := range vs {
			pids[v.PID] = true
			names[v.Process] = true
			c := classes[v.Process]
			if c == nil {
				c = &ClassCount{Class: v.Process, Vectors: map[string]int{}, Sequences: map[string]int{}}
				classes[v.Process] = c
			}
			c.Vectors[h.Name]++
			c.Total++
		}
		for name, n := range wholeSequences(vs) {
			classes[name].Sequences[h.Name] += n
			classes[name].TotalSeqs += n
		}
		hr.Processes = len(pids)
		for n := range names {
			hr.Names = append(hr.Names, n)
		}
		sort.Strings(hr.Names)
		r.Hosts = append(r.Hosts, hr)
	}
	for _, c := range classes {
		r.Classes = append(r.Classes, *c)
	}
	sort.Slice(r.Classes, func(i, j int) bool {
		a, b := r.Classes[i], r.Classes[j]
		if a.TotalSeqs != b.TotalSeqs {
			return a.TotalSeqs > b.TotalSeqs
		}
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return a.Class < b.Class
	})
	recorded := func(dir, name, what string) (Recorded, error) {
		path := filepath.Join(r.Dir, dir, name+".jsonl")
		vs, err := readRecording(path)
		if err != nil {
			return Recorded{}, err
		}
		rec := Recorded{Name: name, File: path, Vectors: len(vs), Processes: map[string]int{}, What: what}
		for _, v := range vs {
			rec.Processes[v.Process]++
		}
		for _, n := range wholeSequences(vs) {
			rec.Sequences += n
		}
		return rec, nil
	}
	for _, t := range nongrata {
		rec, err := recorded("nongrata", t.class, "")
		if err != nil {
			return err
		}
		r.Nongrata = append(r.Nongrata, rec)
	}
	for _, m := range masquerades {
		rec, err := recorded("masquerade", m.name, m.what)
		if err != nil {
			return err
		}
		r.Masquerade = append(r.Masquerade, rec)
	}
	return nil
}

// ClassesWith counts the classes with at least minSeqs whole sequences
// over all hosts.
func (r *ServicesResult) ClassesWith(minSeqs int) int {
	n := 0
	for _, c := range r.Classes {
		if c.TotalSeqs >= minSeqs {
			n++
		}
	}
	return n
}

// WriteSummary prints the recordings: hosts, classes with vectors and
// sequences per host, the known-bad tools and the masquerading programs.
func (r *ServicesResult) WriteSummary(w io.Writer) error {
	if r.Duration > 0 {
		if err := r.writeRecording(w); err != nil {
			return err
		}
	}
	if r.Live != nil {
		return r.Live.WriteSummary(w)
	}
	return nil
}

// WriteSummary prints the live phase: the model, the healthy run's
// reports, each attack's report and latency, and the other reports.
func (lv *ServicesLive) WriteSummary(w io.Writer) error {
	how := "given"
	if lv.Trained {
		how = "trained on this recording"
	}
	fmt.Fprintf(w, "\nLive: the classify engine with %s (%s, %s), stride %d, persist %d\n", lv.Model, lv.Kind, how, lv.Stride, lv.Persist)
	fmt.Fprintf(w, "Healthy hosts for %.0f s: %d classifier reports (each a false alarm)\n", lv.Healthy, len(lv.HealthyReports))
	for _, r := range lv.HealthyReports {
		fmt.Fprintf(w, "  %s\n", r)
	}
	fmt.Fprintf(w, "Attacks (target: each reported within %d s of its start):\n", LiveTarget)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTACK\tHOST\tREPORTED\tAFTER\tREPORT")
	for _, a := range lv.Attacks {
		after, what := "-", a.Report
		if a.Caught {
			after = fmt.Sprintf("%.1f s", a.Seconds)
		} else if a.Error != "" {
			what = a.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", a.ID, a.Host, a.Caught, after, what)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, a := range lv.Attacks {
		if a.Caught && a.Error != "" {
			fmt.Fprintf(w, "  %s: %s\n", a.ID, a.Error)
		}
	}
	fmt.Fprintf(w, "Other reports during the attacks: %d\n", len(lv.Others))
	for _, r := range lv.Others {
		fmt.Fprintf(w, "  %s\n", r)
	}
	return nil
}

// writeRecording prints the recording's part of the summary.
func (r *ServicesResult) writeRecording(w io.Writer) error {
	fmt.Fprintf(w, "Recorded %.0f s into %s\n\nHosts:\n", r.Duration, r.Dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tIP\tVECTORS\tPROCESSES\tNAMES\tMIX")
	for _, h := range r.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", h.Name, h.IP, h.Vectors, h.Processes, len(h.Names), h.Mix)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nClasses (process names): %d, %d with at least 5 sequences of %d vectors\n", len(r.Classes), r.ClassesWith(5), SeqLen)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "CLASS\tVECTORS\tSEQUENCES\t"
	for _, h := range r.Hosts {
		head += h.Name + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, c := range r.Classes {
		line := fmt.Sprintf("%s\t%d\t%d\t", escapeName(c.Class), c.Total, c.TotalSeqs)
		for _, h := range r.Hosts {
			line += fmt.Sprintf("%d/%d\t", c.Vectors[h.Name], c.Sequences[h.Name])
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "(per host: vectors/sequences)")
	write := func(title string, recs []Recorded) {
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, rec := range recs {
			var procs []string
			for n, c := range rec.Processes {
				procs = append(procs, fmt.Sprintf("%s %d", escapeName(n), c))
			}
			sort.Strings(procs)
			fmt.Fprintf(w, "  %-14s %5d vectors %4d sequences  (%s)  %s\n", rec.Name, rec.Vectors, rec.Sequences, strings.Join(procs, ", "), rec.File)
		}
	}
	write("Known-bad tools (nongrata)", r.Nongrata)
	write("Masquerading programs", r.Masquerade)
	return nil
}

// escapeName quotes a process name when it holds anything but plain
// printable text (names are chosen by the processes).
func escapeName(s string) string {
	for _, r := range s {
		if r < 0x21 || r == 0x7f || r == '"' || r == '\\' {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
