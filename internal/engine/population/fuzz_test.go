package population

import (
	"testing"
	"time"
)

// FuzzDecodeState: any bytes are either refused with an error or give a
// state that imports and exports again without a panic.
func FuzzDecodeState(f *testing.F) {
	c := &Config{Field: "type", HostField: "host", HalfLife: time.Minute, MaxHosts: 10, MaxTypes: 4,
		Classes: []Class{{Name: "web", Hosts: []string{"web-*"}}}, Measures: []Measure{{Name: "b", Field: "bytes", Threshold: 5}}}
	f.Add([]byte(`{"version":1,"hosts":[{"host":"web-1","class":"web","ref":"2026-03-02T09:00:00Z","last":"2026-03-02T09:00:00Z","events":3,"counts":{"A":1,"B":2},"measures":{"b":[10,2]}}]}`))
	f.Add([]byte(`{"version":1,"hosts":[{"host":"web-1","class":"db","ref":"2026-03-02T09:00:00Z","last":"2026-03-02T09:00:00Z","events":3,"counts":{"A":-1}}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := New(c)
		if _, err := p.Import(data); err != nil {
			return
		}
		if p.Hosts() > c.MaxHosts {
			t.Fatalf("%d hosts imported, at most %d", p.Hosts(), c.MaxHosts)
		}
		for _, h := range p.hosts {
			if len(h.counts) > c.MaxTypes {
				t.Fatalf("%d values, at most %d", len(h.counts), c.MaxTypes)
			}
		}
		q := New(c)
		if _, err := q.Import(p.Export()); err != nil {
			t.Fatalf("an exported state does not import: %v", err)
		}
	})
}
