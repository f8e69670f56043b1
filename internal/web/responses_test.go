package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
)

// undoRecorder is a response method kind of this test: it records what it
// was asked to execute and undo.
type undoRecorder struct {
	mu     sync.Mutex
	undone []string
}

func (m *undoRecorder) Plan(req action.Request) (string, error) {
	return "mark " + req.Subject.Host, nil
}
func (m *undoRecorder) Execute(context.Context, action.Request) (action.Outcome, error) {
	return action.Outcome{Detail: "marked", Undo: json.RawMessage(`{}`)}, nil
}
func (m *undoRecorder) Undo(_ context.Context, req action.Request, _ action.Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.undone = append(m.undone, req.ID)
	return nil
}

type emptySettings struct{}

func (*emptySettings) Validate(*config.Problems, string) {}

// decided is a decision unit over a real store that has made one
// decision in force (by a method of this test's kind) about a red report
// whose explanation is explanation.
func decided(t *testing.T, explanation string) (*store.Store, *resolver.Unit, *undoRecorder, resolver.Decision) {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := &undoRecorder{}
	reg := action.NewRegistry()
	if err := reg.Register(action.Factory{Kind: "marker", Undoable: true, NewSettings: func() config.Settings { return &emptySettings{} },
		New: func(context.Context, config.Settings, action.Deps) (action.Method, error) { return rec, nil }}); err != nil {
		t.Fatal(err)
	}
	ro, err := config.Load([]byte(`monitor: {name: m}
responses: [{kind: marker, name: mark}]
resolver:
  mode: enforce
  policies:
    - {name: mark-red, where: {severity: red}, methods: [mark]}
`), "m.yaml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	methods, err := resolver.BuildMethods(ctx, reg, ro.Responses, action.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	unit, err := resolver.NewUnit(resolver.UnitOptions{Monitor: "m", Config: ro.Resolver, Methods: methods, Audit: st, Clock: clk, IDs: event.NewSeededIDs(2), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ds := unit.Decide(ctx, event.Report{ID: "r1", Time: t0, Monitor: "m", Engine: "e", Host: "web-3", Score: 1, Severity: event.SeverityRed, Explanation: explanation})
	if len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Fatalf("decisions %+v", ds)
	}
	return st, unit, rec, ds[0]
}

// undoStatus maps the decision unit's errors as the node does.
func undoStatus(err error) int {
	switch {
	case errors.Is(err, resolver.ErrUnknownDecision):
		return http.StatusNotFound
	case errors.Is(err, resolver.ErrNotActive):
		return http.StatusConflict
	case errors.Is(err, resolver.ErrBadRequest):
		return http.StatusBadRequest
	}
	return 0
}

// TestResponsesAPI lists a decision unit's decisions, shows one, and
// undoes one in force through the API; undoing it again, or an unknown
// one, answers 409 and 404.
func TestResponsesAPI(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	st, unit, rec, d := decided(t, "<b>bad</b>")
	ds := []resolver.Decision{d}
	clk := clock.NewManual(t0)
	s, err := New(Options{Listen: "127.0.0.1:0", Store: st, Gatherer: prometheus.NewRegistry(), Clock: clk, Logger: quiet,
		Responder: unit, UndoStatus: undoStatus})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	f := &fixture{srv: httptest.NewServer(s.Handler()), st: st}
	t.Cleanup(f.srv.Close)

	code, body := f.do(t, http.MethodGet, "/api/responses", "")
	var list []responseJSON
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != 1 || list[0].ID != ds[0].ID || list[0].Status != "done" ||
		list[0].Policy != "mark-red" || string(list[0].Subject) != `{"host":"web-3"}` || len(list[0].Reports) != 1 || !list[0].InForce {
		t.Fatalf("list: %d %s (%v)", code, body, err)
	}
	if strings.Contains(body, "<b>") {
		t.Errorf("markup from a report reached the API unescaped: %s", body)
	}
	if code, body := f.do(t, http.MethodGet, "/api/responses?status=refused", ""); code != 200 || body != "[]\n" {
		t.Errorf("by status: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodGet, "/api/responses?status=bogus", ""); code != 400 {
		t.Errorf("bad status: %d", code)
	}
	if code, body := f.do(t, http.MethodGet, "/api/responses/"+ds[0].ID, ""); code != 200 || !strings.Contains(body, `"status":"done"`) {
		t.Errorf("show: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodGet, "/api/responses/nope", ""); code != 404 {
		t.Errorf("show unknown: %d", code)
	}
	if code, body := f.do(t, http.MethodPost, "/api/responses/"+ds[0].ID+"/undo", ""); code != 200 || !strings.Contains(body, ds[0].ID) {
		t.Fatalf("undo: %d %s", code, body)
	}
	if len(rec.undone) != 1 || rec.undone[0] != ds[0].ID {
		t.Errorf("the method undid %v", rec.undone)
	}
	if code, body := f.do(t, http.MethodPost, "/api/responses/"+ds[0].ID+"/undo", ""); code != 409 || !strings.Contains(body, "undone already") {
		t.Errorf("second undo: %d %s", code, body)
	}
	if code, _ := f.do(t, http.MethodPost, "/api/responses/nope/undo", ""); code != 404 {
		t.Errorf("undo unknown: %d", code)
	}
	// An operator's own request.
	if code, body := f.do(t, http.MethodPost, "/api/responses", `{"method":"mark","subject":{"host":"web-4"},"duration":"1h","reason":"<b>x</b>"}`); code != 200 ||
		!strings.Contains(body, `"status":"done"`) || !strings.Contains(body, `"key":"mark|host=web-4"`) || strings.Contains(body, "<b>") {
		t.Errorf("request: %d %s", code, body)
	}
	for _, bad := range []string{`{"method":"nope","subject":{"host":"web-4"}}`, `{"method":"mark","subjct":{}}`, `{"method":"mark","duration":"soon"}`, `[`} {
		if code, body := f.do(t, http.MethodPost, "/api/responses", bad); code != 400 {
			t.Errorf("request %s: %d %s", bad, code, body)
		}
	}
	row, _ := st.GetResponse(ctx, ds[0].ID)
	if row.Status != store.StatusUndone || !strings.Contains(row.Reason, "undone by the HTTP API") || row.Undone.IsZero() {
		t.Errorf("stored %+v", row)
	}
}
