package syscalls

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

func TestRecordingRoundTripAndSequences(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	vec := func(pid int32, name string, sec int, counts ...event.SyscallCount) event.CountVector {
		return event.CountVector{Host: "h", PID: pid, Process: name, Start: t0.Add(time.Duration(sec) * time.Second), Interval: time.Second, Counts: counts}
	}
	vs := []event.CountVector{
		vec(20, "nginx", 1, event.SyscallCount{Nr: 0, Count: 3}),
		vec(10, "sshd", 0, event.SyscallCount{Nr: 1, Count: 1}),
		vec(20, "nginx", 0, event.SyscallCount{Nr: 0, Count: 2}, event.SyscallCount{Nr: 232, Count: 7}),
		vec(20, "bash", 2, event.SyscallCount{Nr: 59, Count: 1}), // the pid ran another program
	}
	var buf bytes.Buffer
	if err := WriteVectors(&buf, vs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadVectors(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(vs) {
		t.Fatalf("read %d vectors, wrote %d", len(got), len(vs))
	}
	seqs := Sequences(got)
	var summary []string
	for _, s := range seqs {
		line := s.Label
		for _, v := range s.Vectors {
			line += fmt.Sprintf(" %s:%s=%d", v.Start.Format("05"), event.SyscallName(v.Counts[0].Nr), v.Counts[0].Count)
		}
		summary = append(summary, line)
	}
	want := []string{"bash 02:execve=1", "nginx 00:read=2 01:read=3", "sshd 00:write=1"}
	if strings.Join(summary, "|") != strings.Join(want, "|") {
		t.Errorf("sequences %q, want %q", summary, want)
	}
}

func TestReadVectorsNamesTheBadLine(t *testing.T) {
	in := `{"time":"2026-11-22T10:00:00Z","host":"h","pid":1,"process":"init","interval_ms":1000,"counts":{"read":1}}
{"time":"2026-11-22T10:00:01Z","host":"h","pid":1,"process":"init","interval_ms":1000,"counts":{"no_such_call":1}}
`
	got, err := ReadVectors(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "no_such_call") {
		t.Fatalf("error %v, want one naming line 2 and the unknown call", err)
	}
	if len(got) != 1 {
		t.Errorf("kept %d vectors before the bad line, want 1", len(got))
	}
}

// FuzzReadVectors: any input either reads or fails naming a line, and what
// was read before the failure is valid.
func FuzzReadVectors(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-22T10:00:00Z","host":"h","pid":1,"process":"init","interval_ms":1000,"counts":{"read":1}}` + "\n"))
	f.Add([]byte("\n\n{\"time\":1}\n"))
	f.Add([]byte(`{"time":"2026-11-22T10:00:00Z","host":"h","pid":1,"process":"a","interval_ms":5,"syscalls":{"0":2},"counts":{"read":2}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, err := ReadVectors(bytes.NewReader(data))
		if err != nil && !strings.Contains(err.Error(), "line ") {
			t.Fatalf("error %q names no line", err)
		}
		for i := range vs {
			if verr := vs[i].Validate(); verr != nil {
				t.Fatalf("vector %d read but invalid: %v", i, verr)
			}
		}
		_ = Sequences(vs)
	})
}
