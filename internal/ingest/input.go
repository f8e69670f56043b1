package ingest

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/vigil-ids/vigil/internal/ingest/follow"
)

// Open opens an input: the file arg, or standard input for "-" (always
// read as it comes). With followFile, a file is followed as it grows,
// across rotation and truncation (like tail -F), until ctx ends. It
// returns the input's name for messages.
func Open(ctx context.Context, arg string, followFile bool) (io.ReadCloser, string, error) {
	switch {
	case arg == "-" && followFile:
		return nil, "", errors.New("--follow follows a file; standard input is always read as it comes")
	case arg == "-":
		return io.NopCloser(os.Stdin), "stdin", nil
	case followFile:
		f, err := follow.Open(ctx, arg, follow.Options{})
		if err != nil {
			return nil, "", err
		}
		return f, arg, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, "", err
	}
	return f, arg, nil
}
