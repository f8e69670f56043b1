package ingest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
)

func TestRunPublishesInBatchesAndReportsBadLines(t *testing.T) {
	input := `{"type":"PROC.CPU","host":"h1"}
not json
{"type":"PROC.MEM","host":"h2"}
{"type":"bad type","host":"h3"}
`
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	parse := func(b []byte) (event.Event, error) { return event.DecodeJSON(b) }
	next := Lines(strings.NewReader(input), 0, parse, nil, event.NewSeededIDs(1), clk, "test")
	var got []event.Event
	var bad []int
	res, err := Run(context.Background(), Options{
		Name: "in", Next: next,
		Publish: func(_ context.Context, evs []event.Event) (int, error) {
			got = append(got, evs...)
			return len(evs), nil
		},
		BadLine: func(le *event.LineError) { bad = append(bad, le.Line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 2 || res.Bad != 2 || len(got) != 2 {
		t.Fatalf("result %+v with %d published, want 2 published and 2 bad", res, len(got))
	}
	if len(bad) != 2 || bad[0] != 2 || bad[1] != 4 {
		t.Fatalf("bad lines %v, want 2 and 4", bad)
	}
	if got[0].Source != "test" || got[0].ID == "" || !got[0].Time.Equal(clk.Now()) {
		t.Fatalf("event %+v not normalised with the source, an id and the clock's time", got[0])
	}
}

func TestRunStopsOnPublishError(t *testing.T) {
	n := 0
	next := func() (event.Event, error) {
		if n++; n > 3 {
			return event.Event{}, io.EOF
		}
		return event.Event{ID: "x", Type: "PROC.CPU"}, nil
	}
	_, err := Run(context.Background(), Options{Name: "in", Next: next,
		Publish: func(context.Context, []event.Event) (int, error) { return 0, errors.New("bus away") }})
	if err == nil || !strings.Contains(err.Error(), "bus away") || !strings.Contains(err.Error(), "published 0 events") {
		t.Fatalf("error %v: want the publisher's, with the count published", err)
	}
}

func TestOpenRefusesToFollowStandardInput(t *testing.T) {
	if _, _, err := Open(context.Background(), "-", true); err == nil || !strings.Contains(err.Error(), "--follow") {
		t.Fatalf("error %v, want one about --follow", err)
	}
	if _, _, err := Open(context.Background(), "/no/such/file", false); err == nil {
		t.Fatal("opened a missing file")
	}
}
