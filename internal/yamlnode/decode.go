package yamlnode

import (
	"math"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Unmarshaler is a type that reads itself from a node with the Reader's
// readers (Decode calls it).
type Unmarshaler interface {
	ReadYAML(r *Reader, n *yaml.Node, path string)
}

var (
	unmarshalerType = reflect.TypeOf((*Unmarshaler)(nil)).Elem()
	nodeType        = reflect.TypeOf(yaml.Node{})
	durationType    = reflect.TypeOf(time.Duration(0))
)

// Decode fills v, a pointer, from n found at path: struct fields by their
// yaml tags (",inline" structs flattened, "-" skipped), maps, lists,
// pointers and scalars with the readers above, yaml.Node fields as the
// node itself, Unmarshalers by themselves. Unknown keys and keys given
// twice are problems; an empty value leaves a struct, map, list or
// pointer as it is (its defaults) and is a mistake for a scalar. What was
// not given keeps the value v had.
func (r *Reader) Decode(n *yaml.Node, v any, path string) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("yamlnode: Decode needs a non-nil pointer")
	}
	r.decode(n, rv.Elem(), path)
}

func (r *Reader) at(path string, n *yaml.Node) {
	if r.Pos != nil {
		if _, seen := r.Pos[path]; !seen {
			r.Pos[path] = Pos{n.Line, n.Column}
		}
	}
}

func (r *Reader) decode(n *yaml.Node, v reflect.Value, path string) {
	n = Resolve(n)
	r.at(path, n)
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		v.Addr().Interface().(Unmarshaler).ReadYAML(r, n, path)
		return
	}
	t := v.Type()
	before := len(r.Problems)
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case t == durationType:
		if x := r.Duration(n, path, true); r.ok(before) {
			v.SetInt(int64(x))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if IsNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		r.decode(n, v.Elem(), path)
	case reflect.Struct:
		if IsNull(n) {
			return
		}
		if !r.Mapping(n, path, "a mapping") {
			return
		}
		r.decodeStruct(n, v, path, map[string]*yaml.Node{})
	case reflect.Map:
		if IsNull(n) {
			return
		}
		if t.Key().Kind() != reflect.String || !r.Mapping(n, path, "a mapping") {
			if t.Key().Kind() != reflect.String {
				r.Addf(n, path, "cannot read a mapping into %s", t)
			}
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		seen := map[string]*yaml.Node{}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, kv := n.Content[j], n.Content[j+1]
			kp := Join(path, k.Value)
			if r.twice(k, kp, seen) {
				continue
			}
			e := reflect.New(t.Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(k.Value).Convert(t.Key())); old.IsValid() {
				e.Set(old)
			}
			r.decode(kv, e, kp)
			if r.Pos != nil {
				r.Pos[kp] = Pos{k.Line, k.Column}
			}
			v.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
		}
	case reflect.Slice:
		if IsNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			r.Addf(n, path, "want a list, not %s", Describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, it := range n.Content {
			r.decode(it, s.Index(i), Index(path, i))
		}
		v.Set(s)
	case reflect.String:
		if x := r.String(n, path); r.ok(before) {
			v.SetString(x)
		}
	case reflect.Bool:
		if x := r.Bool(n, path); r.ok(before) {
			v.SetBool(x)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		if x := r.Int64(n, path, -1<<(bits-1), 1<<(bits-1)-1); r.ok(before) {
			v.SetInt(x)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		max := int64(math.MaxInt64)
		if t.Bits() < 64 {
			max = 1<<t.Bits() - 1
		}
		if x := r.Int64(n, path, 0, max); r.ok(before) {
			v.SetUint(uint64(x))
		}
	case reflect.Float32, reflect.Float64:
		if x := r.Number(n, path); r.ok(before) {
			v.SetFloat(x)
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			r.Addf(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		r.Addf(n, path, "cannot read a value into %s", t)
	}
}

// ok tells whether no problem was added since there were before.
func (r *Reader) ok(before int) bool { return len(r.Problems) == before }

// twice records a key given twice in one mapping.
func (r *Reader) twice(k *yaml.Node, path string, seen map[string]*yaml.Node) bool {
	if first, dup := seen[k.Value]; dup {
		r.Addf(k, path, "key %q is given twice (first on line %d)", k.Value, first.Line)
		return true
	}
	seen[k.Value] = k
	return false
}

func (r *Reader) decodeStruct(n *yaml.Node, v reflect.Value, path string, seen map[string]*yaml.Node) {
	fields := fieldsOf(v.Type())
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, kv := n.Content[j], n.Content[j+1]
		if k.Value == "<<" { // a merge: the merged mappings' keys, unless given here
			merged := Resolve(kv)
			switch merged.Kind {
			case yaml.MappingNode:
				r.mergeStruct(merged, v, path, n)
			case yaml.SequenceNode:
				for _, m := range merged.Content {
					if m = Resolve(m); r.Mapping(m, path, "a mapping to merge") {
						r.mergeStruct(m, v, path, n)
					}
				}
			default:
				r.Addf(kv, path, "want a mapping to merge, not %s", Describe(kv))
			}
			continue
		}
		kp := Join(path, k.Value)
		if r.twice(k, kp, seen) {
			continue
		}
		idx, ok := fields.byName[k.Value]
		if !ok {
			r.UnknownKey(k, kp, fields.names)
			continue
		}
		r.decode(kv, v.FieldByIndex(idx), kp)
		if r.Pos != nil {
			r.Pos[kp] = Pos{k.Line, k.Column}
		}
	}
}

// mergeStruct decodes the keys of m that the mapping n does not give.
func (r *Reader) mergeStruct(m *yaml.Node, v reflect.Value, path string, n *yaml.Node) {
	own := &yaml.Node{Kind: yaml.MappingNode, Line: m.Line, Column: m.Column}
	for j := 0; j+1 < len(m.Content); j += 2 {
		if Lookup(n, m.Content[j].Value) == nil {
			own.Content = append(own.Content, m.Content[j], m.Content[j+1])
		}
	}
	r.decodeStruct(own, v, path, map[string]*yaml.Node{})
}

type structFields struct {
	byName map[string][]int
	names  []string
}

// fieldsOf maps the yaml names of t's exported fields (inline structs
// flattened) to their indexes.
func fieldsOf(t reflect.Type) structFields {
	out := structFields{byName: map[string][]int{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			idx := append(append([]int(nil), prefix...), i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out.byName[name] = idx
			out.names = append(out.names, name)
		}
	}
	walk(t, nil)
	return out
}
