package syscalls

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// WriteSummary writes what a recording read into interval-long vectors
// holds: vectors, processes and system calls, the exploit's time, and the
// calls of each interval, the exploit's marked.
func (rec *Recording) WriteSummary(w io.Writer, interval time.Duration) error {
	per := map[time.Time]uint64{}
	pids := map[int32]bool{}
	var total uint64
	for i := range rec.Vectors {
		v := &rec.Vectors[i]
		per[v.Start] += v.Total()
		pids[v.PID] = true
		total += v.Total()
	}
	times := make([]time.Time, 0, len(per))
	for t := range per {
		times = append(times, t)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var skipped int64
	for _, n := range rec.Skipped {
		skipped += n
	}
	fmt.Fprintf(w, "%s: %d vectors of %v, %d processes, %d system calls entered (%d other events left out)\n", rec.Name, len(rec.Vectors), interval, len(pids), total, skipped)
	if !rec.Exploit.IsZero() {
		fmt.Fprintf(w, "exploit at %s\n", rec.Exploit.Format(time.RFC3339Nano))
	}
	for _, t := range times {
		mark := ""
		if !rec.Exploit.IsZero() && !t.After(rec.Exploit) && t.Add(interval).After(rec.Exploit) {
			mark = "  <- the exploit"
		}
		if _, err := fmt.Fprintf(w, "  %s %8d%s\n", t.Format("15:04:05.000"), per[t], mark); err != nil {
			return err
		}
	}
	return nil
}

// WriteSequenceSummary writes what a recording of vectors (written to
// name) holds: vectors, sequences and labels, the calls lost to a full map,
// and the 20 labels with the most vectors.
func WriteSequenceSummary(w io.Writer, name string, vs []event.CountVector, lost uint64) error {
	seqs := Sequences(vs)
	byLabel := map[string][2]int{} // sequences, vectors
	for _, s := range seqs {
		n := byLabel[s.Label]
		byLabel[s.Label] = [2]int{n[0] + 1, n[1] + len(s.Vectors)}
	}
	labels := make([]string, 0, len(byLabel))
	for l := range byLabel {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool {
		if byLabel[labels[i]][1] != byLabel[labels[j]][1] {
			return byLabel[labels[i]][1] > byLabel[labels[j]][1]
		}
		return labels[i] < labels[j]
	})
	fmt.Fprintf(w, "%s: %d vectors, %d sequences, %d labels", name, len(vs), len(seqs), len(labels))
	if lost > 0 {
		fmt.Fprintf(w, "; %d system calls lost to a full map (raise --syscall-map-entries)", lost)
	}
	fmt.Fprintln(w)
	for i, l := range labels {
		if i == 20 {
			fmt.Fprintf(w, "  ... %d more labels\n", len(labels)-20)
			break
		}
		if _, err := fmt.Fprintf(w, "  %-16s %5d sequences %7d vectors\n", l, byLabel[l][0], byLabel[l][1]); err != nil {
			return err
		}
	}
	return nil
}
