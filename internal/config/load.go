package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes is the largest resource object accepted.
const MaxFileBytes = 4 << 20

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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("resource object: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("resource object %s: %w", path, err)
	}
	return Load(data, path, reg)
}

// Load is LoadFile on data already read; name is used in messages and its
// directory resolves relative paths.
func Load(data []byte, name string, reg Registries) (*ResourceObject, error) {
	l := &loader{name: name, idx: map[string]pos{}, reg: reg}
	l.p.BaseDir = filepath.Dir(name)
	ro := l.load(data)
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
	return ro, nil
}

type pos struct{ line, col int }

type loader struct {
	name string
	p    Problems
	idx  map[string]pos // path -> position of the key (or item) in the file
	reg  Registries
}

var typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)

func (l *loader) load(data []byte) *ResourceObject {
	ro := Default()
	if len(data) > MaxFileBytes {
		l.p.Addf("", "file is larger than %d bytes", MaxFileBytes)
		return ro
	}
	if len(bytes.TrimSpace(data)) == 0 {
		l.p.Addf("", "the file is empty; a resource object needs at least a monitor name")
		return ro
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		l.addYAMLError(err)
		return ro
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.addAt(pos{extra.Line, extra.Column}, "", "more than one YAML document; a file holds one resource object")
	} else if !errors.Is(err, io.EOF) {
		l.addYAMLError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		l.addAt(pos{root.Line, root.Column}, "", "a resource object is a mapping of sections (monitor, sources, engines, ...), not a %s", nodeKind(root))
		return ro
	}
	// Unknown fields first, with positions of everything; then types.
	l.walk(root, reflect.TypeOf(ro).Elem(), "")
	if err := root.Decode(ro); err != nil {
		l.addYAMLError(err)
	}
	l.decodePlugins(ro)
	ro.validate(&l.p)
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
	l.walk(rest, reflect.TypeOf(settings).Elem(), path)
	if err := rest.Decode(settings); err != nil {
		l.addYAMLError(err)
	}
	settings.Validate(&l.p, path)
	spec.Settings = settings
}

func (l *loader) addAt(at pos, path, format string, args ...any) {
	l.p.list = append(l.p.list, Problem{Line: at.line, Col: at.col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// addYAMLError turns the decoder's errors (which may hold several, each
// "line N: ...") into problems.
func (l *loader) addYAMLError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			l.addLineMsg(msg)
		}
		return
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	l.addLineMsg(msg)
}

func (l *loader) addLineMsg(msg string) {
	if m := typeErrLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		l.p.list = append(l.p.list, Problem{Line: n, Col: 1, Msg: m[2], byLine: true})
		return
	}
	l.addAt(pos{}, "", "%s", msg)
}

// resolve gives every problem recorded by path the position of the
// nearest enclosing path that appears in the file, and every problem
// recorded by line (the decoder's) the deepest path on that line.
func (l *loader) resolve(probs []Problem) []Problem {
	for i := range probs {
		if probs[i].Line > 0 {
			if probs[i].byLine {
				probs[i].Path, probs[i].Col = l.pathAt(probs[i].Line, probs[i].Col)
			}
			continue
		}
		for p := probs[i].Path; ; p = parentPath(p) {
			if at, ok := l.idx[p]; ok {
				probs[i].Line, probs[i].Col = at.line, at.col
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

// pathAt returns the longest path whose key is on line, and its column.
func (l *loader) pathAt(line, col int) (string, int) {
	best := ""
	for p, at := range l.idx {
		if at.line == line && p != "" && (len(p) > len(best) || len(p) == len(best) && p < best) {
			best, col = p, at.col
		}
	}
	return best, col
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	yamlNodeType    = reflect.TypeOf(yaml.Node{})
)

// walk records the position of every path in the document and reports keys
// that the Go type t does not have.
func (l *loader) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if _, seen := l.idx[path]; !seen {
		l.idx[path] = pos{n.Line, n.Column}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == yamlNodeType {
		return // a free-form part its settings check themselves
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if t == reflect.TypeOf(PluginSpec{}) {
			l.walkPluginCommon(n, path)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // merge key
			}
			child := Join(path, k.Value)
			l.idx[child] = pos{k.Line, k.Column}
			if seen[k.Value] {
				l.addAt(pos{k.Line, k.Column}, child, "field appears twice")
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				l.addAt(pos{k.Line, k.Column}, path, "unknown field %q%s", k.Value, suggest(k.Value, fields))
				continue
			}
			l.walk(v, ft, child)
			l.idx[child] = pos{k.Line, k.Column}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			l.walk(item, t.Elem(), Index(path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := Join(path, k.Value)
			l.walk(v, t.Elem(), child)
			l.idx[child] = pos{k.Line, k.Column}
		}
	}
}

// walkPluginCommon records positions of a plug-in's keys; the settings'
// own keys are checked once the kind is known.
func (l *loader) walkPluginCommon(n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		l.idx[Join(path, k.Value)] = pos{k.Line, k.Column}
	}
}

// yamlFields maps the yaml names of t's fields (inline structs flattened)
// to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest proposes the closest known field name for a misspelt one, or
// lists them.
func suggest(got string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	if best, ok := Closest(got, names); ok {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sort.Strings(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}

// DidYouMean is " (did you mean "NAME"?)" for the known name nearest to
// got, or "" when none is near.
func DidYouMean(got string, known []string) string {
	if best, ok := Closest(got, known); ok {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Closest returns the known name nearest to got, within two edits (the
// alphabetically first of equally near ones), for "did you mean" hints.
func Closest(got string, known []string) (string, bool) {
	best, bestD := "", 3
	for _, name := range known {
		if d := EditDistance(got, name); d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	return best, best != ""
}

// EditDistance is the Levenshtein distance between a and b, for
// "did you mean" suggestions.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "mapping"
}
