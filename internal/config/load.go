package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// MaxFileBytes is the largest resource object accepted (the limit of
// every file Vigil reads).
const MaxFileBytes = yamlnode.MaxFileBytes

// Settings is the configuration of one plug-in (an engine, a response
// method): a pointer to a struct with yaml tags, filled with its defaults
// before decoding. Validate adds every mistake it finds below path.
type Settings interface {
	Validate(p *Problems, path string)
}

// Kinds tells the loader which plug-in kinds exist and how to make their
// settings. The engine and resolver registries implement it.
type Kinds interface {
	// NewSettings returns fresh settings with defaults for kind, or false
	// when no such kind is registered.
	NewSettings(kind string) (Settings, bool)
	// Kinds lists the registered kinds, for messages.
	Kinds() []string
}

// Registries are the plug-in kinds a resource object may name.
type Registries struct {
	Engines   Kinds
	Responses Kinds
}

// LoadFile reads, decodes, fills defaults into and validates the resource
// object in path. On any mistake it returns an *Error listing all of them
// with file:line:column.
func LoadFile(path string, reg Registries) (*ResourceObject, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resource object: %w", err)
	}
	return Load(data, path, reg)
}

// LoadSensorFile is LoadFile for a sensor's resource object (vigil agent
// and vigil netsensor read its agent or netsensor section and its bus
// section): it may leave out the monitor section, whose name only a
// monitor needs.
func LoadSensorFile(path string, reg Registries) (*ResourceObject, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resource object: %w", err)
	}
	return load(data, path, reg, true)
}

// ReadFile reads a file Vigil's YAML readers take (a resource object, a
// rule file, a model) through the MaxFileBytes limit; one over it, or an
// endless one, is refused once past the limit.
func ReadFile(path string) ([]byte, error) { return yamlnode.ReadFile(path) }

// Load is LoadFile on data already read; name is used in messages and its
// directory resolves relative paths.
func Load(data []byte, name string, reg Registries) (*ResourceObject, error) {
	return load(data, name, reg, false)
}

func load(data []byte, name string, reg Registries, sensor bool) (*ResourceObject, error) {
	l := &loader{name: name, reg: reg, sensor: sensor, r: &yamlnode.Reader{File: name, Pos: map[string]yamlnode.Pos{}}}
	l.p.BaseDir = filepath.Dir(name)
	ro := l.load(data)
	for _, pr := range l.r.Problems {
		l.p.Add(pr)
	}
	if l.p.Len() > 0 {
		probs := l.p.List()
		for i := range probs {
			if probs[i].File == "" {
				probs[i].File = name
			}
		}
		return nil, &Error{Problems: l.resolve(probs)}
	}
	ro.File = name
	ro.pos = l.r.Pos
	return ro, nil
}

type loader struct {
	name string
	// sensor: the object configures a sensor, which needs no monitor name.
	sensor bool
	p      Problems
	r      *yamlnode.Reader // reads the file; its Pos has every path's position
	reg    Registries
}

func (l *loader) load(data []byte) *ResourceObject {
	ro := Default()
	if len(bytes.TrimSpace(data)) == 0 {
		l.p.Addf("", "the file is empty; a resource object needs at least a monitor name")
		return ro
	}
	var root *yaml.Node
	more := false
	l.r.Documents(data, func(i int, n *yaml.Node) {
		switch {
		case root == nil:
			root = n
		case !more:
			more = true
			l.r.Addf(n, "", "more than one YAML document; a file holds one resource object")
		}
	})
	if root == nil {
		if len(l.r.Problems) == 0 {
			l.p.Addf("", "the file is empty; a resource object needs at least a monitor name")
		}
		return ro
	}
	if root = yamlnode.Resolve(root); root.Kind != yaml.MappingNode {
		l.r.Addf(root, "", "a resource object is a mapping of sections (monitor, sources, engines, ...), not a %s", yamlnode.KindName(root))
		return ro
	}
	l.r.Decode(root, ro, "")
	l.decodePlugins(ro)
	ro.validate(&l.p, !l.sensor || ro.Monitor.Name != "")
	l.checkPolicyNeeds(ro)
	return ro
}

// decodePlugins decodes each engine's and response method's settings with
// the type its kind registered.
func (l *loader) decodePlugins(ro *ResourceObject) {
	for i := range ro.Engines {
		l.decodePlugin(&ro.Engines[i], Index("engines", i), l.reg.Engines, "engine")
	}
	for i := range ro.Responses {
		l.decodePlugin(&ro.Responses[i], Index("responses", i), l.reg.Responses, "response")
		if len(ro.Responses[i].ReportsFrom) > 0 {
			l.p.Addf(Join(Index("responses", i), "reports_from"), "only engines take reports_from")
		}
	}
	l.checkReportsFrom(ro)
}

// checkReportsFrom checks that engines name existing other engines in
// reports_from, without a cycle (an engine's reports could then come back
// to it).
func (l *loader) checkReportsFrom(ro *ResourceObject) {
	byName := map[string]int{}
	for i, e := range ro.Engines {
		name := e.Name
		if name == "" {
			name = e.Kind // the default name
		}
		byName[name] = i
	}
	for i, e := range ro.Engines {
		for j, from := range e.ReportsFrom {
			p := Index(Join(Index("engines", i), "reports_from"), j)
			k, ok := byName[from]
			switch {
			case !ok:
				l.p.Addf(p, "no engine named %q in this monitor", from)
			case k == i:
				l.p.Addf(p, "an engine cannot receive its own reports")
			}
		}
	}
	// A cycle through several engines.
	state := make([]int, len(ro.Engines)) // 0 new, 1 on the path, 2 done
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = 1
		for _, from := range ro.Engines[i].ReportsFrom {
			k, ok := byName[from]
			if !ok || k == i {
				continue
			}
			if state[k] == 1 || state[k] == 0 && visit(k) {
				return true
			}
		}
		state[i] = 2
		return false
	}
	for i := range ro.Engines {
		if state[i] == 0 && visit(i) {
			l.p.Addf(Join(Index("engines", i), "reports_from"), "engines feed each other's reports in a cycle")
			return
		}
	}
}

func (l *loader) decodePlugin(spec *PluginSpec, path string, kinds Kinds, what string) {
	if spec.node == nil {
		return
	}
	if spec.Kind == "" {
		l.p.Addf(path, "missing %q", "kind")
		return
	}
	var settings Settings
	ok := false
	if kinds != nil {
		settings, ok = kinds.NewSettings(spec.Kind)
	}
	if !ok {
		known := "none are available"
		if kinds != nil && len(kinds.Kinds()) > 0 {
			known = "known: " + strings.Join(kinds.Kinds(), ", ")
		}
		l.p.Addf(Join(path, "kind"), "unknown %s kind %q (%s)", what, spec.Kind, known)
		return
	}
	// The settings are the mapping without the common keys.
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: spec.node.Line, Column: spec.node.Column}
	for j := 0; j+1 < len(spec.node.Content); j += 2 {
		switch spec.node.Content[j].Value {
		case "kind", "name", "reports_from":
			continue
		}
		rest.Content = append(rest.Content, spec.node.Content[j], spec.node.Content[j+1])
	}
	l.r.Decode(rest, settings, path)
	settings.Validate(&l.p, path)
	spec.Settings = settings
}

// resolve gives every problem recorded by path the position of the
// nearest enclosing path that appears in the file.
func (l *loader) resolve(probs []Problem) []Problem {
	for i := range probs {
		if probs[i].Line > 0 {
			continue
		}
		for p := probs[i].Path; ; p = parentPath(p) {
			if at, ok := l.r.Pos[p]; ok {
				probs[i].Line, probs[i].Col = at.Line, at.Col
				break
			}
			if p == "" {
				break
			}
		}
	}
	sort.SliceStable(probs, func(i, j int) bool {
		if probs[i].Line != probs[j].Line {
			return probs[i].Line < probs[j].Line
		}
		return probs[i].Col < probs[j].Col
	})
	return probs
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
