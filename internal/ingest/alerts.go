package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/ingest/nids"
)

// AlertFormat is one alert format a verb reads: its flag, the file given
// with it ("" for none, "-" for standard input) and its decoder.
type AlertFormat struct {
	Flag  string
	File  string
	Parse func(*nids.Parser) func([]byte) (event.Event, error)
}

// Alerts is the input of the one format whose file was given.
type Alerts struct {
	Name   string // of the input, for messages
	Next   Reader
	in     io.Closer
	others atomic.Int64
}

// OpenAlerts opens the one format of formats whose file was given (with
// followFile, followed as it grows): each alert line becomes a NIDS.ALERT
// event normalised with the parser's source; records that are not alerts
// are counted (Others) and skipped.
func OpenAlerts(ctx context.Context, formats []AlertFormat, o nids.Options, followFile bool) (*Alerts, error) {
	var chosen *AlertFormat
	var names []string
	for i := range formats {
		names = append(names, "--"+formats[i].Flag)
		if formats[i].File == "" {
			continue
		}
		if chosen != nil {
			return nil, fmt.Errorf("--%s and --%s: give one input", chosen.Flag, formats[i].Flag)
		}
		chosen = &formats[i]
	}
	if chosen == nil {
		return nil, fmt.Errorf("no input: give %s with a file, or - for standard input", strings.Join(names, " or "))
	}
	p, err := nids.NewParser(o)
	if err != nil {
		return nil, err
	}
	in, name, err := Open(ctx, chosen.File, followFile)
	if err != nil {
		return nil, err
	}
	a := &Alerts{Name: name, in: in}
	skip := func(err error) bool {
		if errors.Is(err, nids.ErrNotAlert) {
			a.others.Add(1)
			return true
		}
		return false
	}
	a.Next = Lines(in, nids.MaxLineBytes, chosen.Parse(p), skip, event.NewRandomIDs(), nil, o.Source)
	return a, nil
}

// Others is how many records that are not alerts were skipped.
func (a *Alerts) Others() int64 { return a.others.Load() }

// Close closes the input.
func (a *Alerts) Close() error { return a.in.Close() }

// WriteSkipped says how many records that are not alerts were skipped,
// when there were any.
func (a *Alerts) WriteSkipped(w io.Writer) {
	if n := a.Others(); n == 1 {
		fmt.Fprintln(w, "skipped 1 record that is not an alert")
	} else if n > 1 {
		fmt.Fprintf(w, "skipped %d records that are not alerts\n", n)
	}
}
