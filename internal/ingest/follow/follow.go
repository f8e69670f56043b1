// Package follow reads a growing file the way tail -F does: what the file
// holds, then what is appended to it, across rotation and truncation, until
// its context is done. A Follower is an io.Reader, so event.NewLineReader
// reads lines from it.
//
// It polls: when it has read all there is, it looks every Poll interval
// for growth, for a new file at the path (a rotation: the old file renamed
// and a new one created; the old file is drained first), and for a file
// shorter than what was read (a truncation, as copytruncate does: reading
// starts again at its beginning). Like tail, it cannot see a truncation
// that the writer outgrows within one interval.
package follow

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// DefaultPoll is how often a follower that has read everything looks for
// more.
const DefaultPoll = 200 * time.Millisecond

// Options configure a follower; zero values take the defaults.
type Options struct {
	Poll time.Duration // how often to look for more (DefaultPoll)
}

// Follower follows one path. Read is for one goroutine at a time; Close
// may be called from another, and ends a Read that waits.
type Follower struct {
	path   string
	poll   time.Duration
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	file  *os.File // nil once closed
	info  os.FileInfo
	off   int64 // bytes read from file
	last  byte  // the last byte returned, to end a cut-off line on a switch
	files int   // files opened, the first included
}

// Open opens path and follows it until ctx is done or Close is called.
func Open(ctx context.Context, path string, o Options) (*Follower, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, &os.PathError{Op: "follow", Path: path, Err: errors.New("not a regular file")}
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	ctx, cancel := context.WithCancel(ctx)
	return &Follower{path: path, poll: o.Poll, ctx: ctx, cancel: cancel, file: f, info: info, last: '\n', files: 1}, nil
}

// Read reads what the file holds, waiting for more when it has none. It
// returns io.EOF only once the context is done or the follower closed.
// When it moves to another file (a rotation or a truncation) after a
// last line without its newline, it supplies the newline, so the cut-off
// line does not run into the next one.
func (f *Follower) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.file == nil || f.ctx.Err() != nil {
			return 0, io.EOF
		}
		n, err := f.file.Read(p)
		if n > 0 {
			f.off += int64(n)
			f.last = p[n-1]
			return n, nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		// At the end of the open file: was it replaced or truncated?
		next, err := f.check()
		if err != nil {
			return 0, err
		}
		switch next {
		case again:
			continue
		case switched:
			if f.last != '\n' {
				f.last = '\n'
				p[0] = '\n'
				return 1, nil
			}
			continue
		}
		f.mu.Unlock()
		t := time.NewTimer(f.poll)
		select {
		case <-f.ctx.Done():
		case <-t.C:
		}
		t.Stop()
		f.mu.Lock()
	}
}

// What to do at the end of the open file.
const (
	wait     = iota // nothing new: wait for the next poll
	again           // more arrived in the open file: read it
	switched        // reading a new file, or the truncated one, from its start
)

// check looks, at the end of the open file, for a new file at the path
// and for a truncated one, and switches to read it from its start.
func (f *Follower) check() (int, error) {
	cur, err := f.file.Stat()
	if err != nil {
		return wait, err
	}
	if st, err := os.Stat(f.path); err == nil && !os.SameFile(st, f.info) {
		// Rotated. The writer may have added to the old file since the
		// last read: drain it first.
		if cur.Size() > f.off {
			return again, nil
		}
		nf, err := os.Open(f.path)
		if err != nil {
			return wait, nil // gone again: look at the next poll
		}
		info, err := nf.Stat()
		if err != nil {
			nf.Close()
			return wait, nil
		}
		f.file.Close()
		f.file, f.info, f.off = nf, info, 0
		f.files++
		return switched, nil
	}
	// The same file, or the path is gone (renamed, no new file yet): look
	// for growth and for a truncation of the open one.
	if cur.Size() > f.off {
		return again, nil
	}
	if cur.Size() < f.off {
		if _, err := f.file.Seek(0, io.SeekStart); err != nil {
			return wait, err
		}
		f.off = 0
		return switched, nil
	}
	return wait, nil
}

// Files returns how many files the follower has opened (1 plus the
// rotations seen); for tests and statistics.
func (f *Follower) Files() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files
}

// Close stops the follower: a Read that waits returns io.EOF, and so does
// every later one.
func (f *Follower) Close() error {
	f.cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return nil
	}
	err := f.file.Close()
	f.file = nil
	return err
}
