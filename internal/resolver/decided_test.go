package resolver

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
)

// TestDecidedSeesEveryReportRunTakes: the Decided option is called once
// for each report Offer queued, after the report was decided on, with the
// decisions made (none for a report that only counted towards a policy).
func TestDecidedSeesEveryReportRunTakes(t *testing.T) {
	c := &calls{}
	reg := testRegistry(t, c)
	ro, err := config.Load([]byte("monitor: {name: gw}\n"+responsesYAML+`resolver:
  policies:
    - {name: twice, where: {engine: signatures}, count: 2, within: 1m, subject: "addr:src", methods: [page]}
`), "test.yaml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "vigil.db"), Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	methods, err := BuildMethods(t.Context(), reg, ro.Responses, action.Deps{Monitor: "gw", Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string][]Decision{}
	done := make(chan struct{}, 3)
	u, err := NewUnit(UnitOptions{
		Monitor: "gw", Config: ro.Resolver, Methods: methods, Audit: st, Clock: clk,
		IDs: event.NewSeededIDs(3), Logger: quiet,
		Decided: func(rep event.Report, ds []Decision) {
			mu.Lock()
			got[rep.ID] = ds
			mu.Unlock()
			done <- struct{}{}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{})
	go func() { _ = u.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	reps := []event.Report{
		report("192.0.2.7", "10.0.0.3", true, event.SeverityRed),
		report("192.0.2.7", "10.0.0.3", true, event.SeverityRed),
		report("192.0.2.8", "10.0.0.3", true, event.SeverityRed),
	}
	for _, r := range reps {
		u.Offer(r)
	}
	for range reps {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Decided called for %d of %d reports", len(got), len(reps))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got[reps[0].ID]) != 0 || len(got[reps[2].ID]) != 0 {
		t.Errorf("first reports about a source decided %+v and %+v; want nothing yet", got[reps[0].ID], got[reps[2].ID])
	}
	ds := got[reps[1].ID]
	if len(ds) != 1 || ds[0].Policy != "twice" || ds[0].Status != store.StatusPlanned {
		t.Fatalf("second report about 192.0.2.7 decided %+v, want one planned decision of policy twice", ds)
	}
	if row, err := st.GetResponse(t.Context(), ds[0].ID); err != nil || row.Status != store.StatusPlanned {
		t.Errorf("the decision is not recorded by the time Decided runs: %+v %v", row, err)
	}
}
