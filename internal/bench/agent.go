package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
)

// AgentBenchOptions configure `vigil bench agent`.
type AgentBenchOptions struct {
	// Vigil is the vigil binary whose agent is measured.
	Vigil string
	// NodeExporter is the peer measured beside it; empty or missing skips
	// it (and says so).
	NodeExporter string
	// Duration of each measurement (default 60 s).
	Duration time.Duration
	// Intervals to measure at (default 4 s and 1 s).
	Intervals []time.Duration
	// Procs is how many processes at least must run during the
	// measurement (default 500); sleeping children make up the number.
	Procs    int
	Progress io.Writer
}

// AgentMeasure is one subject measured at one interval.
type AgentMeasure struct {
	Subject      string        `json:"subject"`
	Interval     time.Duration `json:"interval_ns"`
	Seconds      float64       `json:"seconds"`
	Samples      int           `json:"samples"`
	CPUSeconds   float64       `json:"cpu_s"`
	CPUPct       float64       `json:"cpu_pct_of_one_core"`
	CPUPerSample time.Duration `json:"cpu_per_sample_ns"`
	PeakRSSMB    float64       `json:"peak_rss_mb"`
	Processes    int           `json:"processes"`
}

// AgentBenchResult is the whole run.
type AgentBenchResult struct {
	Measures []AgentMeasure `json:"measures"`
	// PeerMissing says why the peer was not measured.
	PeerMissing string `json:"peer_missing,omitempty"`
}

// RunAgent measures the host sensor's own cost, and the peer's.
func RunAgent(ctx context.Context, o AgentBenchOptions) (AgentBenchResult, error) {
	var res AgentBenchResult
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if len(o.Intervals) == 0 {
		o.Intervals = []time.Duration{config.DefaultAgentInterval, time.Second}
	}
	if o.Procs <= 0 {
		o.Procs = 500
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.NodeExporter == "" {
		res.PeerMissing = "no node_exporter given"
	} else if _, err := os.Stat(o.NodeExporter); err != nil {
		res.PeerMissing = fmt.Sprintf("node_exporter not found at %s (Debian: apt-get install prometheus-node-exporter)", o.NodeExporter)
		o.NodeExporter = ""
	}
	stop, err := fillProcesses(o.Procs)
	if err != nil {
		return res, err
	}
	defer stop()
	for _, iv := range o.Intervals {
		// Both run at once: each is measured by its own CPU time, so they
		// barely disturb each other (each uses a few percent of a core).
		type result struct {
			m   AgentMeasure
			err error
		}
		results := make(chan result, 2)
		go func() {
			m, err := measureAgent(ctx, o, iv)
			results <- result{m, err}
		}()
		n := 1
		if o.NodeExporter != "" {
			n++
			go func() {
				m, err := measureNodeExporter(ctx, o, iv)
				results <- result{m, err}
			}()
		}
		for range n {
			r := <-results
			if r.err != nil {
				return res, r.err
			}
			res.Measures = append(res.Measures, r.m)
			fmt.Fprintln(o.Progress, r.m.String())
		}
	}
	return res, nil
}

func (m AgentMeasure) String() string {
	return fmt.Sprintf("%-14s every %-4v %5d samples in %3.0f s, %4d processes: CPU %6.3f s = %5.2f%% of one core, %6.2f ms per sample; peak RSS %5.1f MB",
		m.Subject, m.Interval, m.Samples, m.Seconds, m.Processes, m.CPUSeconds, m.CPUPct, float64(m.CPUPerSample)/1e6, m.PeakRSSMB)
}

// fillProcesses starts sleeping children until at least n processes run.
func fillProcesses(n int) (stop func(), err error) {
	have := countProcesses()
	var kids []*exec.Cmd
	stop = func() {
		for _, c := range kids {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	for i := have; i < n; i++ {
		c := exec.Command("sleep", "86400")
		if err := c.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("starting process %d of %d: %w", i, n, err)
		}
		kids = append(kids, c)
	}
	return stop, nil
}

func countProcesses() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n
}

// procCPU returns a process's user+system CPU time in seconds and its peak
// resident memory in MB.
func procCPU(pid int) (cpu float64, peakMB float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	r := strings.LastIndexByte(s, ')')
	if r < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[r+2:])
	if len(f) < 13 {
		return 0, 0, errors.New("malformed stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	cpu = (ut + st) / 100 // USER_HZ
	st2, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return cpu, 0, err
	}
	defer st2.Close()
	sc := bufio.NewScanner(st2)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			peakMB = kb / 1024
		}
	}
	return cpu, peakMB, nil
}

// measure runs cmd for o.Duration (after a 2-second start-up that is not
// counted) and measures its CPU time and peak memory; during it, tick is
// called every interval.
func measure(ctx context.Context, o AgentBenchOptions, subject string, iv time.Duration, cmd *exec.Cmd, tick func()) (AgentMeasure, error) {
	m := AgentMeasure{Subject: subject, Interval: iv}
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("starting %s: %w", subject, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case <-ctx.Done():
		return m, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	pid := cmd.Process.Pid
	cpu0, _, err := procCPU(pid)
	if err != nil {
		return m, fmt.Errorf("%s exited early: %w", subject, err)
	}
	start := time.Now()
	t := time.NewTicker(iv)
	defer t.Stop()
	for time.Since(start) < o.Duration {
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-t.C:
			if tick != nil {
				tick()
			}
		}
	}
	cpu1, peak, err := procCPU(pid)
	if err != nil {
		return m, fmt.Errorf("%s exited during the measurement: %w", subject, err)
	}
	m.Seconds = time.Since(start).Seconds()
	m.Samples = int(m.Seconds / iv.Seconds())
	m.CPUSeconds = cpu1 - cpu0
	m.CPUPct = m.CPUSeconds / m.Seconds * 100
	if m.Samples > 0 {
		m.CPUPerSample = time.Duration(m.CPUSeconds / float64(m.Samples) * float64(time.Second))
	}
	m.PeakRSSMB = peak
	m.Processes = countProcesses()
	return m, nil
}

func measureAgent(ctx context.Context, o AgentBenchOptions, iv time.Duration) (AgentMeasure, error) {
	cmd := exec.CommandContext(ctx, o.Vigil, "agent", "--stdout", "--interval", iv.String(), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	return measure(ctx, o, "vigil agent", iv, cmd, nil)
}

func measureNodeExporter(ctx context.Context, o AgentBenchOptions, iv time.Duration) (AgentMeasure, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return AgentMeasure{}, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, o.NodeExporter, "--web.listen-address="+addr, "--log.level=warn",
		"--collector.textfile.directory="+filepath.Join(os.TempDir(), "vigil-bench-no-textfiles"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	client := &http.Client{Timeout: iv}
	scrape := func() {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return measure(ctx, o, "node_exporter", iv, cmd, scrape)
}
