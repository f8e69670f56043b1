package config

import (
	"fmt"
	"slices"
	"strings"
)

// layerRank orders the layers from the bottom up.
var layerRank = map[string]int{"service": 0, "domain": 1, "enterprise": 2}

// CheckHierarchy checks the hierarchy that several monitors' resource
// objects declare together (vigil check with two or more): names are
// unique; a monitor's parent is one of them and no monitor is claimed as
// a child by another than its declared parent; parent links do not loop;
// a parent sits at the child's layer or above (a service monitor's at
// domain or enterprise). Each problem names the file and the position of
// the key it is about. Warnings are what works but is likely a mistake:
// a peer declared on one side only, a parent that neither lists nor
// subscribes to a child naming it, a child listed by a parent it does not
// name.
//
// Objects without a monitor name (a sensor's) are left out.
func CheckHierarchy(ros []*ResourceObject) (problems, warnings []Problem) {
	h := hierarchy{byName: map[string]*ResourceObject{}}
	var files []string
	for _, ro := range ros {
		if ro == nil || ro.Monitor.Name == "" {
			continue
		}
		name := ro.Monitor.Name
		if first, ok := h.byName[name]; ok {
			h.problem(ro, "monitor.name", "monitor %q is also %s; each monitor has its own name", name, h.where(first, "monitor.name"))
			continue
		}
		h.byName[name] = ro
		h.list = append(h.list, ro)
		files = append(files, ro.File)
	}
	checked := strings.Join(files, ", ")

	// The parent each monitor is given: by its own monitor.parent, else
	// by the monitor listing it in monitor.children.
	claimedBy := map[string][]claim{} // child -> the monitors listing it
	for _, ro := range h.list {
		for i, c := range ro.Monitor.Children {
			path := Index("monitor.children", i)
			claimedBy[c] = append(claimedBy[c], claim{ro, path})
			if h.byName[c] == nil {
				h.warn(ro, path, "child %q is none of the monitors checked", c)
			}
		}
	}
	for _, ro := range h.list {
		m := ro.Monitor
		if m.Parent != "" {
			p, ok := h.byName[m.Parent]
			switch {
			case !ok:
				h.problem(ro, "monitor.parent", "parent %q is none of the monitors checked (%s)", m.Parent, checked)
			default:
				h.layers(ro, p, "monitor.parent")
				if !slices.Contains(p.Monitor.Children, m.Name) && !subscribes(p, m.Name) {
					h.warn(ro, "monitor.parent", "parent %q neither lists %q in monitor.children nor subscribes to it (%s): it will not watch its heartbeats nor take its reports", m.Parent, m.Name, h.where(p, "monitor"))
				}
			}
		}
		claims := claimedBy[m.Name]
		for i, c := range claims {
			switch {
			case m.Parent != "" && c.by.Monitor.Name != m.Parent:
				h.problem(c.by, c.path, "%q is claimed as a child by %q, but names %q as its parent (%s)", m.Name, c.by.Monitor.Name, m.Parent, h.where(ro, "monitor.parent"))
			case m.Parent == "" && i > 0:
				h.problem(c.by, c.path, "%q is claimed as a child by %q and by %q (%s); a monitor has one parent", m.Name, c.by.Monitor.Name, claims[0].by.Monitor.Name, h.where(claims[0].by, claims[0].path))
			case m.Parent == "" && len(claims) == 1:
				h.layers(ro, c.by, "")
				h.warn(c.by, c.path, "%q lists %q as a child, which does not name it as monitor.parent (%s): the child takes configuration requests from any monitor", c.by.Monitor.Name, m.Name, h.where(ro, "monitor"))
			}
		}
		for i, peer := range m.Peers {
			path := Index("monitor.peers", i)
			p, ok := h.byName[peer]
			switch {
			case !ok:
				h.warn(ro, path, "peer %q is none of the monitors checked", peer)
			case !slices.Contains(p.Monitor.Peers, m.Name):
				h.warn(ro, path, "peer %q does not name %q among its peers (%s): its sensitise requests are taken here, this monitor's are refused there", peer, m.Name, h.where(p, "monitor.peers"))
			case p.Monitor.Layer != m.Layer:
				h.warn(ro, path, "peer %q is a %s monitor, this one a %s monitor: peers sit at the same layer", peer, p.Monitor.Layer, m.Layer)
			}
		}
	}
	h.domains()
	h.loops()
	problems, warnings = h.problems, h.warnings
	sortProblems(problems)
	sortProblems(warnings)
	return problems, warnings
}

type claim struct {
	by   *ResourceObject
	path string
}

type hierarchy struct {
	byName             map[string]*ResourceObject
	list               []*ResourceObject // unique names, in the order given
	problems, warnings []Problem
}

func (h *hierarchy) at(ro *ResourceObject, path, format string, args ...any) Problem {
	line, col := ro.Position(path)
	return Problem{File: ro.File, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (h *hierarchy) problem(ro *ResourceObject, path, format string, args ...any) {
	h.problems = append(h.problems, h.at(ro, path, format, args...))
}

func (h *hierarchy) warn(ro *ResourceObject, path, format string, args ...any) {
	p := h.at(ro, path, format, args...)
	p.Msg = "warning: " + p.Msg
	h.warnings = append(h.warnings, p)
}

// where names a key of another object: "FILE:LINE".
func (h *hierarchy) where(ro *ResourceObject, path string) string {
	line, _ := ro.Position(path)
	if line == 0 {
		return ro.File
	}
	return fmt.Sprintf("%s:%d", ro.File, line)
}

// layers checks that parent p of child sits at its layer or above, and
// that a service monitor's parent is not a service monitor; path is the
// child's key declaring the link ("" when only the parent lists it).
func (h *hierarchy) layers(child, p *ResourceObject, path string) {
	cl, pl := child.Monitor.Layer, p.Monitor.Layer
	if layerRank[pl] > layerRank[cl] || layerRank[pl] == layerRank[cl] && cl != "service" {
		return
	}
	if path == "" {
		path = "monitor.layer"
	}
	article := "a"
	if cl == "enterprise" {
		article = "an"
	}
	h.problem(child, path, "%s %s monitor's parent is at a higher layer: %q is a %s monitor (%s)", article, cl, p.Monitor.Name, pl, h.where(p, "monitor.layer"))
}

// loops reports each cycle of parent links (monitor.parent, and
// monitor.children read upward) once, at the first monitor on it.
func (h *hierarchy) loops() {
	up := map[string][]string{}
	for _, ro := range h.list {
		if p := ro.Monitor.Parent; p != "" {
			up[ro.Monitor.Name] = append(up[ro.Monitor.Name], p)
		}
		for _, c := range ro.Monitor.Children {
			if !slices.Contains(up[c], ro.Monitor.Name) {
				up[c] = append(up[c], ro.Monitor.Name)
			}
		}
	}
	state := map[string]int{} // 0 new, 1 on the path, 2 done
	var path []string
	var visit func(n string)
	visit = func(n string) {
		state[n] = 1
		path = append(path, n)
		for _, p := range up[n] {
			switch state[p] {
			case 0:
				visit(p)
			case 1:
				i := slices.Index(path, p)
				cycle := append(slices.Clone(path[i:]), p)
				at := 0
				for j := range cycle[:len(cycle)-1] {
					if h.order(cycle[j]) < h.order(cycle[at]) {
						at = j
					}
				}
				// The key declaring the link from cycle[at] up: its own
				// parent, or its place in the next one's children.
				ro, key := h.byName[cycle[at]], "monitor.parent"
				if next := cycle[at+1]; ro.Monitor.Parent != next {
					ro = h.byName[next]
					key = Index("monitor.children", slices.Index(ro.Monitor.Children, cycle[at]))
				}
				names := cycle[:len(cycle)-1]
				names = append(slices.Clone(names[at:]), names[:at]...)
				h.problem(ro, key, "parent links loop: %s -> %s", strings.Join(names, " -> "), names[0])
			}
		}
		path = path[:len(path)-1]
		state[n] = 2
	}
	for _, ro := range h.list {
		if state[ro.Monitor.Name] == 0 {
			visit(ro.Monitor.Name)
		}
	}
}

// order is the place of monitor name among the objects (unknown last).
func (h *hierarchy) order(name string) int {
	for i, ro := range h.list {
		if ro.Monitor.Name == name {
			return i
		}
	}
	return len(h.list)
}

func subscribes(ro *ResourceObject, monitor string) bool {
	for _, s := range ro.Subscriptions {
		if s.Monitor == monitor {
			return true
		}
	}
	return false
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}

// domains checks the JetStream domains of buses joined by leaf nodes: each
// bus that dials out or whose monitor is subscribed to across a domain has
// its own, and a subscription's domain is the one its child's bus says.
func (h *hierarchy) domains() {
	owner := map[string]*ResourceObject{}
	for _, ro := range h.list {
		d := ro.Server.JetStream.Domain
		if d == "" {
			continue
		}
		if first, ok := owner[d]; ok {
			h.problem(ro, "server.jetstream.domain", "JetStream domain %q is also the bus of %q (%s); each site's bus has its own", d, first.Monitor.Name, h.where(first, "server.jetstream.domain"))
			continue
		}
		owner[d] = ro
	}
	for _, ro := range h.list {
		for i, sc := range ro.Subscriptions {
			child, ok := h.byName[sc.Monitor]
			if !ok {
				continue
			}
			path := Join(Index("subscriptions", i), "domain")
			switch got := child.Server.JetStream.Domain; {
			case sc.Domain != "" && got != sc.Domain:
				h.problem(ro, path, "domain %q: %q's bus has JetStream domain %q (%s)", sc.Domain, sc.Monitor, got, h.where(child, "server"))
			case sc.Domain == "" && got != "" && got != ro.Server.JetStream.Domain:
				h.warn(ro, Index("subscriptions", i), "%q's reports are on the bus of JetStream domain %q (%s): say domain: %s to consume them there", sc.Monitor, got, h.where(child, "server.jetstream.domain"), got)
			}
		}
	}
}
