package host

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
)

// BenchmarkSnapshot reads this machine's /proc, as the agent does every
// interval; the ns/op divided by the number of processes is the cost per
// process.
func BenchmarkSnapshot(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc")
	}
	ex, err := NewExtractor("/proc", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	var procs int
	for b.Loop() {
		s, err := ex.Snapshot(time.Now())
		if err != nil {
			b.Fatal(err)
		}
		procs = len(s.Procs)
	}
	b.ReportMetric(float64(procs), "procs")
}

// BenchmarkEvaluate measures the evaluator on a snapshot of this machine.
func BenchmarkEvaluate(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc")
	}
	ex, _ := NewExtractor("/proc", slog.New(slog.DiscardHandler))
	s, err := ex.Snapshot(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ev := NewEvaluator(EvalConfig{Window: 5})
	t := time.Now()
	for b.Loop() {
		t = t.Add(time.Second)
		s.Time = t
		ev.Evaluate(s)
	}
}

// BenchmarkEvaluateLevels is BenchmarkEvaluate with the default levels on
// (every process followed against its CPU and memory levels).
func BenchmarkEvaluateLevels(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc")
	}
	ex, _ := NewExtractor("/proc", slog.New(slog.DiscardHandler))
	s, err := ex.Snapshot(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ev := NewEvaluator(EvalConfig{Window: 5, Levels: LevelsFrom(config.DefaultLevels())})
	t := time.Now()
	for b.Loop() {
		t = t.Add(time.Second)
		s.Time = t
		ev.Evaluate(s)
	}
}
