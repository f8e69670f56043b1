// Package syscalls reads recorded system calls into the count vectors the
// system call counter sends (event.CountVector, seed 001 sections 3.1
// and 3.2): sysdig's text output, and LID-DS recordings made of it.
package syscalls

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/readlimit"
)

// Read is what a recording held: its count vectors, and the events that
// are not x86-64 system calls (sysdig's procexit, signaldeliver ...),
// counted by name and left out of the vectors.
type Read struct {
	Vectors []event.CountVector
	Skipped map[string]int64
}

// ReadSysdig reads sysdig's text output, a line per event:
//
//	timestamp_ns uid pid process tid syscall direction args...
//
// and counts the system calls entered (direction ">") per process (pid)
// and interval (aligned to multiples of interval since the Unix epoch).
// A malformed line stops the reading with its number; the vectors come
// out by interval, then pid.
func ReadSysdig(r io.Reader, interval time.Duration, host string) (*Read, error) {
	type key struct {
		slot int64
		pid  int32
	}
	type acc struct {
		process string
		counts  map[uint16]uint64
	}
	vecs := map[key]*acc{}
	out := &Read{Skipped: map[string]int64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 7 {
			return nil, fmt.Errorf("line %d: %d fields, want timestamp uid pid process tid syscall direction", line, len(fs))
		}
		ns, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil || ns < 0 {
			return nil, fmt.Errorf("line %d: timestamp %q: not a time in nanoseconds", line, fs[0])
		}
		pid, err := strconv.ParseInt(fs[2], 10, 32)
		if err != nil || pid < 0 {
			return nil, fmt.Errorf("line %d: pid %q: not a process id", line, fs[2])
		}
		switch fs[6] {
		case ">":
		case "<":
			continue // the exit of a call counted at its entry
		default:
			return nil, fmt.Errorf("line %d: direction %q, want > or <", line, fs[6])
		}
		nr, ok := event.SyscallNr(fs[5])
		if !ok || nr > event.MaxSyscallNr {
			out.Skipped[fs[5]]++
			continue
		}
		k := key{ns / int64(interval), int32(pid)}
		a := vecs[k]
		if a == nil {
			a = &acc{process: fs[3], counts: map[uint16]uint64{}}
			vecs[k] = a
		}
		a.counts[nr]++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	keys := make([]key, 0, len(vecs))
	for k := range vecs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.slot != b.slot {
			return int(a.slot - b.slot)
		}
		return int(a.pid - b.pid)
	})
	for _, k := range keys {
		a := vecs[k]
		v := event.CountVector{Host: host, PID: k.pid, Process: a.process, Start: time.Unix(0, k.slot*int64(interval)).UTC(), Interval: interval}
		for nr, c := range a.counts {
			v.Counts = append(v.Counts, event.SyscallCount{Nr: nr, Count: c})
		}
		slices.SortFunc(v.Counts, func(x, y event.SyscallCount) int { return int(x.Nr) - int(y.Nr) })
		out.Vectors = append(out.Vectors, v)
	}
	return out, nil
}

// Recording is one LID-DS recording: what its sysdig file held, and when
// its exploit began (zero when it has none).
type Recording struct {
	Name string
	*Read
	Exploit time.Time
}

// ReadLIDDS reads a LID-DS 2021 recording from its zip (NAME.sc, sysdig's
// text output, and NAME.json, its metadata) into count vectors of the
// given interval; the vectors' host is the recording's name.
func ReadLIDDS(zipPath string, interval time.Duration) (*Recording, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	rec := &Recording{}
	var sc, meta *zip.File
	for _, f := range zr.File {
		switch path.Ext(f.Name) {
		case ".sc":
			sc = f
		case ".json":
			meta = f
		}
	}
	if sc == nil {
		return nil, fmt.Errorf("%s: no .sc (sysdig) file in the recording", zipPath)
	}
	rec.Name = strings.TrimSuffix(path.Base(sc.Name), ".sc")
	if meta != nil {
		data, err := readZipFile(meta)
		if err != nil {
			return nil, err
		}
		var m struct {
			Exploit bool `json:"exploit"`
			Time    struct {
				Exploit []struct {
					Absolute float64 `json:"absolute"`
				} `json:"exploit"`
			} `json:"time"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", zipPath, meta.Name, err)
		}
		if m.Exploit && len(m.Time.Exploit) > 0 {
			rec.Exploit = time.Unix(0, int64(m.Time.Exploit[0].Absolute*1e9)).UTC()
		}
	}
	data, err := readZipFile(sc)
	if err != nil {
		return nil, err
	}
	if rec.Read, err = ReadSysdig(bytes.NewReader(data), interval, rec.Name); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", zipPath, sc.Name, err)
	}
	return rec, nil
}

// MaxRecordingBytes bounds one recording read from an archive.
const MaxRecordingBytes = 1 << 30

func readZipFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readlimit.ReadAll(rc, f.Name, MaxRecordingBytes)
}
