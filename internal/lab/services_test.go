package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// writeRecording writes n one-second vectors of each (pid, name) of procs
// for host into path.
func writeRecording(t *testing.T, path, host string, n int, procs map[int32]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var vs []event.CountVector
	for i := 0; i < n; i++ {
		for pid, name := range procs {
			vs = append(vs, event.CountVector{Host: host, PID: pid, Process: name, Start: t0.Add(time.Duration(i) * time.Second),
				Interval: time.Second, Counts: []event.SyscallCount{{Nr: 0, Count: uint64(i + 1)}}})
		}
	}
	var b bytes.Buffer
	if err := syscalls.WriteVectors(&b, vs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServicesSummaryCountsClassesPerHost reads recordings laid out as the
// lab writes them and checks the counts: vectors per class and host, whole
// sequences of ten per process (a process's 25 vectors are 2; two
// processes of 5 are none), the classes with enough sequences, the tools'
// recordings, and a summary that quotes a name holding spaces or quotes.
func TestServicesSummaryCountsClassesPerHost(t *testing.T) {
	dir := t.TempDir()
	writeRecording(t, filepath.Join(dir, "hosts", "mail.jsonl"), "mail", 25, map[int32]string{10: "dovecot", 11: "master"})
	writeRecording(t, filepath.Join(dir, "hosts", "client.jsonl"), "client", 5, map[int32]string{20: "curl", 21: "curl", 22: "master"})
	writeRecording(t, filepath.Join(dir, "hosts", "web.jsonl"), "web", 12, map[int32]string{30: "postgres", 31: "odd \"name"})
	for _, b := range nongrata {
		writeRecording(t, filepath.Join(dir, "nongrata", b.class+".jsonl"), "nongrata-"+b.class, 11, map[int32]string{2: b.procs[0]})
	}
	for _, m := range masquerades {
		writeRecording(t, filepath.Join(dir, "masquerade", m.name+".jsonl"), "masquerade-"+m.name, 3, map[int32]string{2: m.name})
	}
	r := &ServicesResult{Dir: dir, Duration: 25}
	if err := r.summarize(); err != nil {
		t.Fatal(err)
	}
	if len(r.Hosts) != 3 || r.Hosts[0].Vectors != 50 || r.Hosts[1].Vectors != 15 || r.Hosts[2].Processes != 2 {
		t.Fatalf("hosts %+v", r.Hosts)
	}
	classes := map[string]ClassCount{}
	for _, c := range r.Classes {
		classes[c.Class] = c
	}
	if c := classes["master"]; c.Total != 30 || c.Vectors["mail"] != 25 || c.Vectors["client"] != 5 || c.TotalSeqs != 2 || c.Sequences["client"] != 0 {
		t.Errorf("master: %+v; want 25 vectors on mail, 5 on client, 2 sequences (mail's)", c)
	}
	if c := classes["curl"]; c.Total != 10 || c.TotalSeqs != 0 {
		t.Errorf("curl: %+v; want 10 vectors of two processes, no whole sequence", c)
	}
	if r.Classes[0].TotalSeqs < r.Classes[len(r.Classes)-1].TotalSeqs {
		t.Errorf("classes not ordered by sequences: %+v", r.Classes)
	}
	if got := r.ClassesWith(2); got != 2 {
		t.Errorf("%d classes with 2 sequences; want 2 (dovecot, master)", got)
	}
	if got := r.ClassesWith(1); got != 4 {
		t.Errorf("%d classes with a sequence; want 4", got)
	}
	if len(r.Nongrata) != len(nongrata) || r.Nongrata[0].Vectors != 11 || r.Nongrata[0].Sequences != 1 {
		t.Errorf("nongrata %+v", r.Nongrata)
	}
	if len(r.Masquerade) != 2 || r.Masquerade[0].What == "" {
		t.Errorf("masquerade %+v", r.Masquerade)
	}
	var out bytes.Buffer
	if err := r.WriteSummary(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"mail", "dovecot", "25/2", `"odd \"name"`, "reverse-shell", "masquerad"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// TestServicesSummaryNamesABadRecording: a recording that is not count
// vectors is refused with its path and line.
func TestServicesSummaryNamesABadRecording(t *testing.T) {
	dir := t.TempDir()
	writeRecording(t, filepath.Join(dir, "hosts", "mail.jsonl"), "mail", 2, map[int32]string{1: "sh"})
	if err := os.WriteFile(filepath.Join(dir, "hosts", "client.jsonl"), []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &ServicesResult{Dir: dir}
	err := r.summarize()
	if err == nil || !strings.Contains(err.Error(), "client.jsonl") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("got %v; want an error naming client.jsonl and line 1", err)
	}
}

// TestSetPostfixReplacesSettings: a main.cf setting given again replaces
// the line of the same key (postfix warns about repeated keys), others
// stay.
func TestSetPostfixReplacesSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.cf")
	if err := os.WriteFile(path, []byte("compatibility_level = 3.6\nmydestination = $myhostname, localhost\nbiff = no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	setPostfix(path, "mydestination = mail.lab.invalid\nrelayhost = [10.77.0.1]\n", &err)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	want := "compatibility_level = 3.6\nbiff = no\nmydestination = mail.lab.invalid\nrelayhost = [10.77.0.1]\n"
	if got != want {
		t.Errorf("main.cf:\n%s\nwant:\n%s", got, want)
	}
}
