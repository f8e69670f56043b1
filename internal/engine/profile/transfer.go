package profile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vigil-ids/vigil/internal/store"
)

// ExportStore writes the profiles that the engine named name kept in the
// store of the data directory dataDir (its monitor stopped) to w, as JSON
// lines, and says when they were saved and how many bytes they are.
func ExportStore(ctx context.Context, dataDir, name string, w io.Writer, log *slog.Logger) (time.Time, int, error) {
	path := store.PathIn(dataDir)
	if _, err := os.Stat(path); err != nil {
		return time.Time{}, 0, fmt.Errorf("no store in %s: %w", dataDir, err)
	}
	st, err := store.Open(ctx, store.Options{Path: path, Logger: log})
	if err != nil {
		return time.Time{}, 0, err
	}
	defer st.Close()
	data, at, err := LoadStore(ctx, st, StateName(name))
	if err != nil {
		return at, 0, err
	}
	if data == nil {
		return at, 0, fmt.Errorf("the store in %s holds no profiles of an engine named %q", dataDir, name)
	}
	_, err = w.Write(data)
	return at, len(data), err
}

// ImportStore checks exported profiles (read from r, named src in
// messages) against the engine's classes and keeps them, as this
// configuration reads them, in the store of dataDir for the engine named
// name, saved at now. It returns how many subjects it imported; on a
// problem it imports nothing.
func ImportStore(ctx context.Context, dataDir, name string, classes []*Class, r io.Reader, src string, now time.Time, log *slog.Logger) (int, error) {
	data, err := ReadState(r, src)
	if err != nil {
		return 0, err
	}
	p := New(classes, Options{})
	n, err := p.Import(bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("%s: %w (nothing imported)", src, err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return 0, err
	}
	st, err := store.Open(ctx, store.Options{Path: store.PathIn(dataDir), Logger: log})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return n, p.SaveStore(ctx, st, StateName(name), now.UTC(), true)
}
