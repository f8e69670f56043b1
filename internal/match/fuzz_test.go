package match

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// FuzzParse reads arbitrary YAML as a match: problems with positions, or
// a match that evaluates events without panicking, cached or not.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"type: NET.HTTP",
		"{type: '*', where: {path|urldecode|contains|all: [a, b], status|gte: 400}}",
		"{type: NET.*, where: {any: [{src|cidr: 10.0.0.0/8}, {not: {user|exists: true}}]}}",
		"{type: X, where: [{a|re: '(?i)ab+c'}, {b: 'x*y?'}, {c|fieldref: d}]}",
		"{type: X, where: {a: '@l', b: $v}}",
		"{type: [X, Y], where: {a|lower|startswith: Q, b|endswith|cased: Z}}",
	} {
		f.Add([]byte(s))
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	evs := []event.Event{
		{ID: "a", Time: t0, Type: "NET.HTTP", IP: "10.0.0.3", Attrs: map[string]any{"src": "10.1.2.3", "path": "/%41b", "status": int64(404), "a": "abbc", "b": []string{"xzy", "Q"}}},
		{ID: "b", Time: t0, Type: "X", Attrs: map[string]any{"a": 1.5, "c": "v", "d": "v", "user": ""}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
			return
		}
		r := &yamlnode.Reader{File: "f.yaml"}
		m := Parse(r, doc.Content[0], "match", map[string][]string{"l": {"x", "1"}})
		probs := r.Problems
		for _, p := range probs {
			if p.Msg == "" || p.File != "f.yaml" {
				t.Fatalf("problem without a message or file: %+v", p)
			}
		}
		if m == nil || len(probs) > 0 {
			return
		}
		var s Slots
		s.Assign(m.Cond())
		ctx := s.NewCtx()
		for i := range evs {
			ctx.Reset(&evs[i])
			cached := m.TypeMatches(evs[i].Type) && m.Cond().Eval(&ctx)
			if plain := m.Matches(&evs[i]); plain != cached {
				t.Fatalf("event %s: plain %v, cached %v", evs[i].ID, plain, cached)
			}
		}
	})
}
