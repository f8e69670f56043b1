package config

import (
	"strings"
	"testing"
)

// TestCheckHierarchy: the hierarchy several resource objects declare
// together, each problem at the file and key it is about.
func TestCheckHierarchy(t *testing.T) {
	const (
		ent  = "monitor: {name: ent, layer: enterprise, children: [dom1, dom2]}\n"
		dom1 = "monitor: {name: dom1, layer: domain, parent: ent, peers: [dom2]}\nsubscriptions: [{monitor: web1}]\n"
		dom2 = "monitor: {name: dom2, layer: domain, parent: ent, peers: [dom1]}\n"
		web1 = "monitor: {name: web1, layer: service, parent: dom1}\n"
	)
	for _, c := range []struct {
		name     string
		files    []string // contents; file i is named fi.yml
		problems []string // each a line of the output, in order
		warnings []string
	}{
		{name: "a consistent tree", files: []string{ent, dom1, dom2, web1}},
		{name: "parent missing", files: []string{dom1, web1, dom2},
			problems: []string{
				`f0.yml:1:38: monitor.parent: parent "ent" is none of the monitors checked (f0.yml, f1.yml, f2.yml)`,
				`f2.yml:1:38: monitor.parent: parent "ent" is none of the monitors checked`,
			}},
		{name: "same name in two files", files: []string{ent, dom1, "monitor: {name: dom1, layer: domain, parent: ent}\n"},
			problems: []string{`f2.yml:1:11: monitor.name: monitor "dom1" is also f1.yml:1; each monitor has its own name`},
			warnings: []string{`f0.yml:1:58: monitor.children[1]: warning: child "dom2" is none of the monitors checked`, `f1.yml:1:59: monitor.peers[0]: warning: peer "dom2" is none of the monitors checked`}},
		{name: "a child claimed by another than its parent", files: []string{ent, dom1, dom2, web1, "monitor: {name: dom3, layer: domain, children: [web1]}\n"},
			problems: []string{`f4.yml:1:49: monitor.children[0]: "web1" is claimed as a child by "dom3", but names "dom1" as its parent (f3.yml:1)`}},
		{name: "a child claimed by two with no parent named", files: []string{
			"monitor: {name: d1, layer: domain, children: [s]}\n", "monitor: {name: d2, layer: domain, children: [s]}\n", "monitor: {name: s}\n"},
			problems: []string{`f1.yml:1:47: monitor.children[0]: "s" is claimed as a child by "d2" and by "d1" (f0.yml:1); a monitor has one parent`}},
		{name: "a child listed by a parent it does not name", files: []string{"monitor: {name: d1, layer: domain, children: [s]}\n", "monitor: {name: s}\n"},
			warnings: []string{`f0.yml:1:47: monitor.children[0]: warning: "d1" lists "s" as a child, which does not name it as monitor.parent (f1.yml:1): the child takes configuration requests from any monitor`}},
		{name: "a loop of parents", files: []string{
			"monitor: {name: a, layer: domain, parent: b}\n", "monitor: {name: b, layer: domain, parent: a}\n"},
			problems: []string{`f0.yml:1:35: monitor.parent: parent links loop: a -> b -> a`},
			warnings: []string{`f0.yml:1:35: monitor.parent: warning: parent "b" neither lists "a" in monitor.children nor subscribes to it`, `f1.yml:1:35: monitor.parent: warning: parent "a" neither lists "b"`}},
		{name: "a loop through a children list", files: []string{
			"monitor: {name: a, layer: enterprise, parent: c}\nsubscriptions: [{monitor: b}]\n",
			"monitor: {name: b, layer: enterprise, parent: a, children: [c]}\n",
			"monitor: {name: c, layer: enterprise, parent: b}\n"},
			problems: []string{`f0.yml:1:39: monitor.parent: parent links loop: a -> c -> b -> a`},
			warnings: []string{`f0.yml:1:39: monitor.parent: warning: parent "c" neither lists "a"`}},
		{name: "layers out of order", files: []string{
			"monitor: {name: s1, layer: service, children: [s2]}\n",
			"monitor: {name: s2, layer: service, parent: s1}\n",
			"monitor: {name: d, layer: domain, parent: s1}\nsubscriptions: [{monitor: e}]\n",
			"monitor: {name: e, layer: enterprise, parent: d}\n",
			"monitor: {name: e2, layer: enterprise, parent: e}\nsubscriptions: [{monitor: e}]\n"},
			problems: []string{
				`f4.yml:2:18: subscriptions[0].monitor: "e" is this monitor's parent; reports flow up to the parent, not down from it`,
				`f1.yml:1:37: monitor.parent: a service monitor's parent is at a higher layer: "s1" is a service monitor (f0.yml:1)`,
				`f2.yml:1:35: monitor.parent: a domain monitor's parent is at a higher layer: "s1" is a service monitor`,
				`f3.yml:1:39: monitor.parent: an enterprise monitor's parent is at a higher layer: "d" is a domain monitor (f2.yml:1)`,
			},
			warnings: []string{`f2.yml:1:35: monitor.parent: warning: parent "s1" neither lists "d" in monitor.children nor subscribes to it (f0.yml:1): it will not watch its heartbeats nor take its reports`}},
		{name: "JetStream domains of sites joined by leaf nodes", files: []string{
			"monitor: {name: ent, layer: enterprise}\nsubscriptions: [{monitor: dom1, domain: d1}, {monitor: dom2, domain: d9}, {monitor: dom3}]\nserver: {jetstream: {domain: hub}}\n",
			"monitor: {name: dom1, layer: domain, parent: ent}\nserver: {jetstream: {domain: d1}}\n",
			"monitor: {name: dom2, layer: domain, parent: ent}\nserver: {jetstream: {domain: d1}}\n",
			"monitor: {name: dom3, layer: domain, parent: ent}\nserver: {jetstream: {domain: d3}}\n"},
			problems: []string{
				`f0.yml:2:62: subscriptions[1].domain: domain "d9": "dom2"'s bus has JetStream domain "d1"`,
				`f2.yml:2:22: server.jetstream.domain: JetStream domain "d1" is also the bus of "dom1" (f1.yml:2)`,
			},
			warnings: []string{`f0.yml:2:75: subscriptions[2]: warning: "dom3"'s reports are on the bus of JetStream domain "d3" (f3.yml:2): say domain: d3 to consume them there`}},
		{name: "a peer on one side only", files: []string{ent, dom1, "monitor: {name: dom2, layer: domain, parent: ent}\n"},
			warnings: []string{`f1.yml:1:59: monitor.peers[0]: warning: peer "dom2" does not name "dom1" among its peers (f2.yml:1): its sensitise requests are taken here, this monitor's are refused there`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ros []*ResourceObject
			var loadProblems []string
			for i, text := range c.files {
				name := "f" + string(rune('0'+i)) + ".yml"
				ro, err := Load([]byte(text), name, testRegistries)
				if err != nil {
					loadProblems = append(loadProblems, err.Error())
					continue
				}
				ros = append(ros, ro)
			}
			problems, warnings := CheckHierarchy(ros)
			got := append(loadProblems, render(problems)...)
			matchLines(t, "problems", got, c.problems)
			matchLines(t, "warnings", render(warnings), c.warnings)
		})
	}
}

func render(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// matchLines wants each of want as the start (or a part) of the line in the
// same place of got, and no more lines.
func matchLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d, want %d:\n%s", what, len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("%s[%d]:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
}

// FuzzCheckHierarchy: whatever three resource objects declare, checking
// their hierarchy ends, and every problem names a file.
func FuzzCheckHierarchy(f *testing.F) {
	f.Add("monitor: {name: a, parent: b}\n", "monitor: {name: b, layer: domain, parent: c, children: [a]}\n", "monitor: {name: c, layer: enterprise, parent: a, peers: [b]}\n")
	f.Add("monitor: {name: a, children: [b, c]}\n", "monitor: {name: b, parent: c}\n", "monitor: {name: b, peers: [a]}\n")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var ros []*ResourceObject
		for i, text := range []string{a, b, c} {
			if ro, err := Load([]byte(text), "f"+string(rune('0'+i))+".yml", testRegistries); err == nil {
				ros = append(ros, ro)
			}
		}
		problems, warnings := CheckHierarchy(ros)
		for _, p := range append(problems, warnings...) {
			if p.File == "" {
				t.Fatalf("a problem without its file: %v", p)
			}
		}
	})
}
