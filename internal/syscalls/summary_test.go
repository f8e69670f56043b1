package syscalls

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

func TestWriteSequenceSummary(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := func(pid int32, name string, at int) event.CountVector {
		return event.CountVector{Host: "h", PID: pid, Process: name, Start: t0.Add(time.Duration(at) * time.Second), Interval: time.Second,
			Counts: []event.SyscallCount{{Nr: 0, Count: 3}}}
	}
	vs := []event.CountVector{v(1, "nginx", 0), v(1, "nginx", 1), v(2, "nginx", 0), v(3, "sshd", 0)}
	var b bytes.Buffer
	if err := WriteSequenceSummary(&b, "out.jsonl", vs, 7); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"out.jsonl: 4 vectors, 3 sequences, 2 labels; 7 system calls lost to a full map",
		"  nginx                2 sequences       3 vectors\n  sshd                 1 sequences       1 vectors\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}
