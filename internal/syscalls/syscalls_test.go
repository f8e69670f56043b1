package syscalls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

const sample = `1000000000 0 10 apache2 10 read > fd=3
1000000100 0 10 apache2 10 read < res=5
1000000200 0 10 apache2 10 write > fd=4
1000000300 0 11 sh 11 getppid >
1000000400 0 11 sh 11 procexit >
1999999999 0 10 apache2 10 read >
2000000000 0 10 apache2 10 read >

2000000100 0 11 sh 11 getppid > `

// TestReadSysdig checks that calls are counted at their entry, per
// process and interval, events that are not system calls kept apart, and
// the vectors come out by interval then process, valid.
func TestReadSysdig(t *testing.T) {
	rd, err := ReadSysdig(strings.NewReader(sample), time.Second, "h")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		sec   int64
		pid   int32
		proc  string
		total uint64
	}
	var got []row
	for i := range rd.Vectors {
		v := &rd.Vectors[i]
		if err := v.Validate(); err != nil {
			t.Errorf("vector %d: %v", i, err)
		}
		got = append(got, row{v.Start.Unix(), v.PID, v.Process, v.Total()})
	}
	want := []row{{1, 10, "apache2", 3}, {1, 11, "sh", 1}, {2, 10, "apache2", 1}, {2, 11, "sh", 1}}
	if len(got) != len(want) {
		t.Fatalf("vectors %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("vector %d: %v, want %v", i, got[i], want[i])
		}
	}
	if c := rd.Vectors[0].Counts; len(c) != 2 || c[0] != (event.SyscallCount{Nr: 0, Count: 2}) || c[1] != (event.SyscallCount{Nr: 1, Count: 1}) {
		t.Errorf("counts %v", c)
	}
	if rd.Skipped["procexit"] != 1 {
		t.Errorf("skipped %v", rd.Skipped)
	}
	for _, bad := range []struct{ text, want string }{
		{"1 0 10 apache2 10 read >\n2 0 x apache2 10 read >\n", "line 2: pid"},
		{"1 0 10 apache2 10 read ?\n", "line 1: direction"},
		{"1 0 10 apache2\n", "line 1: 4 fields"},
		{"x 0 10 apache2 10 read >\n", "line 1: timestamp"},
	} {
		if _, err := ReadSysdig(strings.NewReader(bad.text), time.Second, ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.text, err, bad.want)
		}
	}
}

// TestLIDDS reads the shared LID-DS recording: every entered system call
// is counted once, the exploit's time is read, and the exploit's second
// stands out (the dataset's README: about 7,200 events in it, 260-1,300 a
// second before, entries and exits together).
func TestLIDDS(t *testing.T) {
	zip := filepath.Join("..", "..", "..", "shared", "datasets", "lid-ds-2021-sample", "aggressive_nightingale_1018.zip")
	if _, err := os.Stat(zip); err != nil {
		t.Skipf("the shared datasets are not here (%v): a fresh clone has no ../shared", err)
	}
	rec, err := ReadLIDDS(zip, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Exploit.Unix() != 1631078877 {
		t.Errorf("exploit at %v", rec.Exploit)
	}
	perSecond := map[int64]uint64{}
	var total uint64
	for i := range rec.Vectors {
		v := &rec.Vectors[i]
		if err := v.Validate(); err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		perSecond[v.Start.Unix()] += v.Total()
		total += v.Total()
		if v.Process != "apache2" {
			t.Errorf("a vector of %q", v.Process)
		}
	}
	t.Logf("%d vectors, %d calls entered, skipped %v, per second %v", len(rec.Vectors), total, rec.Skipped, perSecond)
	if total < 10000 || total > 23468 {
		t.Errorf("%d calls entered of 23,468 lines", total)
	}
	at := perSecond[1631078877]
	for sec, n := range perSecond {
		if sec < 1631078877 && n >= at {
			t.Errorf("second %d has %d calls, the exploit's %d", sec, n, at)
		}
	}
}

func FuzzReadSysdig(f *testing.F) {
	f.Add(sample)
	f.Add("1 0 10 a 10 read >\n")
	f.Fuzz(func(t *testing.T, text string) {
		rd, err := ReadSysdig(strings.NewReader(text), time.Second, "h")
		if err != nil {
			return
		}
		// The vectors are valid, and with the skipped events they add up
		// to the entered calls.
		var total uint64
		for i := range rd.Vectors {
			total += rd.Vectors[i].Total()
		}
		for _, n := range rd.Skipped {
			total += uint64(n)
		}
		entered := 0
		for _, line := range strings.Split(text, "\n") {
			if fs := strings.Fields(line); len(fs) >= 7 && fs[6] == ">" {
				entered++
			}
		}
		if total != uint64(entered) {
			t.Fatalf("%d counted, %d entered", total, entered)
		}
	})
}
