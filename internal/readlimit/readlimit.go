// Package readlimit reads input from outside the process (files an
// operator names, uploads, recordings) through a size limit, so that
// memory is bounded by configuration and never by the input: a file is
// read up to its limit plus one byte, and one byte more is an error naming
// the file and the limit. /dev/zero or a runaway file is refused as soon
// as the limit is passed.
package readlimit

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is wrapped by the errors of input over its limit.
var ErrTooLarge = errors.New("over the size limit")

// TooLargeError is input over its limit.
type TooLargeError struct {
	// Name names the input (a path, stdin).
	Name  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the limit of %d bytes (%s)", e.Name, e.Limit, human(e.Limit))
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// ReadAll reads r to its end, or fails with a *TooLargeError once more
// than max bytes have come. name names r in errors.
func ReadAll(r io.Reader, name string, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, &TooLargeError{Name: name, Limit: max}
	}
	return data, nil
}

// ReadFile reads the file at path, or fails with a *TooLargeError once
// more than max bytes have come (whatever the file claims its size is:
// devices and pipes claim none). Errors name the file.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > max {
		return nil, &TooLargeError{Name: path, Limit: max}
	}
	return ReadAll(f, path, max)
}

// human writes n bytes in the largest binary unit that divides it.
func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
