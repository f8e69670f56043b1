package hostevents

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
)

// BenchmarkConvertExec measures what user space does for one exec record
// of a live process: decoding, the tree, /proc/PID/cwd and cgroup, the
// event (go test -bench ConvertExec ./internal/sensor/hostevents).
func BenchmarkConvertExec(b *testing.B) {
	o := Options{Host: "h", Events: config.DefaultAgentEvents(), Spawn: true}
	if err := o.defaults(); err != nil {
		b.Fatal(err)
	}
	c := newConverter(o, 0, o.Clock.Now())
	c.tree.Seed()
	raw := execRec("/usr/bin/sh", []string{"sh", "-c", "id"}, 0)
	binary.LittleEndian.PutUint32(raw[16:], uint32(os.Getpid()))
	binary.LittleEndian.PutUint32(raw[24:], uint32(os.Getppid()))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		c.reset()
		c.add(&r)
	}
}

// BenchmarkConvertOpen measures what user space does for one record of a
// watched open (the event flood's records): decoding, the process's
// context from the tree, the event in compact form (go test -bench
// ConvertOpen ./internal/sensor/hostevents).
func BenchmarkConvertOpen(b *testing.B) {
	o := Options{Host: "h", Events: config.DefaultAgentEvents()}
	if err := o.defaults(); err != nil {
		b.Fatal(err)
	}
	c := newConverter(o, 0, o.Clock.Now())
	c.tree.Seed()
	raw := rec(KindFile, 0, uint32(os.Getpid()), "cat", []uint32{OpOpen, 0, 0, 0, 11}, []byte("/etc/shadow\x00"))
	binary.LittleEndian.PutUint32(raw[24:], uint32(os.Getppid()))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		c.reset()
		c.add(&r)
	}
}
