package event

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
)

// The compact form is what the bus carries; the JSON form, and
// encoding/json on a plain struct, are the baselines.

func benchEvent() Event { return sampleEvents()[0] }

func BenchmarkEncodeCompact(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendCompact(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeCompact(b *testing.B) {
	ev := benchEvent()
	data := ev.AppendCompact(nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCompact(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeJSON(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = ev.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeJSON(b *testing.B) {
	ev := benchEvent()
	data := ev.AppendJSON(nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStdJSON is encoding/json into a generic map: what a
// decoder without the checks would cost.
func BenchmarkDecodeStdJSON(b *testing.B) {
	ev := benchEvent()
	data := ev.AppendJSON(nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendAttrs writes attributes: 12, 22 and 40 (past what is
// sorted on the stack) whose names share their first eight bytes, the
// worst case of the sort's key prefixes; and the 17 of an exec's
// PROC.EXEC (go test -run XXX -bench AppendAttrs ./internal/event).
func BenchmarkAppendAttrs(b *testing.B) {
	for _, n := range []int{12, 22, 40, -1} {
		attrs := map[string]any{}
		for i := range n {
			attrs[fmt.Sprintf("attribute_%02d", (i*7)%n)] = int64(i)
		}
		name := strconv.Itoa(n)
		if n < 0 {
			// The keys of an exec's PROC.EXEC.
			name = "exec"
			for i, k := range []string{"pid", "ppid", "uid", "euid", "gid", "name", "exe", "start", "parent_name", "parent_exe",
				"ancestors", "ancestor_exes", "cgroup_id", "args", "cwd", "stdin", "stdout"} {
				attrs[k] = int64(i)
			}
		}
		b.Run(name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = appendAttrs(buf[:0], attrs)
			}
		})
	}
}
