package event

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleVector() CountVector {
	return CountVector{
		Host: "web-3", IP: "10.0.0.3", PID: 812, Process: "httpd", Exe: "/usr/sbin/httpd",
		Start: t0, Interval: time.Second,
		Counts: []SyscallCount{{0, 120}, {1, 14}, {59, 1}, {469, 2}, {1000, 3}},
	}
}

func TestCountVectorRoundTrip(t *testing.T) {
	v := sampleVector()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	js := v.AppendJSON(nil)
	want := `"counts":{"read":120,"write":14,"execve":1,"file_setattr":2,"sys_1000":3},"syscalls":{"0":120,"1":14,"59":1,"469":2,"1000":3}`
	if !strings.Contains(string(js), want) {
		t.Errorf("JSON form %s lacks %s", js, want)
	}
	for name, decode := range map[string]func([]byte) (CountVector, error){
		"json":    DecodeCountVectorJSON,
		"compact": DecodeCountVectorCompact,
	} {
		in := js
		if name == "compact" {
			in = v.AppendCompact(nil)
		}
		got, err := decode(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Start.Equal(v.Start) {
			t.Errorf("%s: start %v", name, got.Start)
		}
		got.Start = v.Start
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%s round trip:\nwant %+v\ngot  %+v", name, v, got)
		}
	}
	// Names alone suffice.
	byName, err := DecodeCountVectorJSON([]byte(`{"time":"2005-01-06T18:33:04Z","host":"h","pid":1,"process":"sh","interval_ms":1000,"counts":{"write":2,"read":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byName.Counts, []SyscallCount{{0, 1}, {1, 2}}) {
		t.Errorf("counts by name: %v", byName.Counts)
	}
}

func TestCountVectorNormalized(t *testing.T) {
	v := sampleVector()
	d := v.Normalized(NumSyscalls())
	sum := 0.0
	for _, x := range d {
		sum += x
	}
	// sys_1000 is beyond the table and dropped; the rest is a share of the total.
	total := float64(v.Total())
	if wantSum := (total - 3) / total; d[0] != 120/total || sum < wantSum-1e-12 || sum > wantSum+1e-12 {
		t.Errorf("normalised: d[0]=%v sum=%v", d[0], sum)
	}
	zero := CountVector{}
	for _, x := range zero.Normalized(4) {
		if x != 0 {
			t.Fatal("all-zero vector did not stay zero")
		}
	}
}

func TestCountVectorErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"host":"h","pid":1,"process":"p","interval_ms":1000,"counts":{}}`, `field "time": missing`},
		{`{"time":"2005-01-06T18:33:04Z","host":"h","pid":-1,"process":"p","interval_ms":1000}`, `field "pid": -1 out of range`},
		{`{"time":"2005-01-06T18:33:04Z","host":"h","pid":1,"process":"p","interval_ms":0}`, `field "interval_ms": 0 out of range`},
		{`{"time":"2005-01-06T18:33:04Z","host":"h","pid":1,"process":"p","interval_ms":1,"counts":{"frobnicate":1}}`, `unknown system call "frobnicate"`},
		{`{"time":"2005-01-06T18:33:04Z","host":"h","pid":1,"process":"p","interval_ms":1,"counts":{"read":1},"syscalls":{"0":2}}`, `disagrees`},
		{`{"time":"2005-01-06T18:33:04Z","host":"h","pid":1,"process":"p","interval_ms":1,"syscalls":{"0":-2}}`, `negative count`},
		{`{"time":"2005-01-06T18:33:04Z","host":"h","pid":"1","process":"p","interval_ms":1}`, `field "pid": want an integer, got a string`},
		{`{"time":"2005-01-06T18:33:04Z","host":"h","pid":1,"process":"p","interval_ms":1,"extra":1}`, `field "extra": unknown field`},
	}
	for _, tc := range tests {
		if _, err := DecodeCountVectorJSON([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
	sv := sampleVector()
	good := sv.AppendCompact(nil)
	for i := range len(good) {
		if _, err := DecodeCountVectorCompact(good[:i]); err == nil {
			t.Errorf("truncated at %d decoded", i)
		}
	}
}

func TestSyscallNames(t *testing.T) {
	for _, tc := range []struct {
		nr   uint16
		name string
	}{{0, "read"}, {59, "execve"}, {231, "exit_group"}, {334, "rseq"}, {435, "clone3"}, {462, "mseal"}, {999, "sys_999"}} {
		if got := SyscallName(tc.nr); got != tc.name {
			t.Errorf("SyscallName(%d) = %q, want %q", tc.nr, got, tc.name)
		}
		if nr, ok := SyscallNr(tc.name); !ok || nr != tc.nr {
			t.Errorf("SyscallNr(%q) = %d, %v", tc.name, nr, ok)
		}
	}
	if _, ok := SyscallNr("sys_99999"); ok {
		t.Error("out-of-range sys_ number accepted")
	}
}
