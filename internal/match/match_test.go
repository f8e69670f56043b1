package match

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

func node(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return doc.Content[0]
}

func mustParse(t *testing.T, src string, lists map[string][]string) *Match {
	t.Helper()
	r := &yamlnode.Reader{File: "m.yaml"}
	m := Parse(r, node(t, src), "match", lists)
	if len(r.Problems) > 0 || m == nil {
		t.Fatalf("%s: %v", src, r.Problems)
	}
	return m
}

// TestMatches runs each operator and modifier against events that meet
// it and events that do not.
func TestMatches(t *testing.T) {
	http := &event.Event{Type: "NET.HTTP", IP: "10.0.0.3", Attrs: map[string]any{
		"src": "203.0.113.7", "dst": "10.0.0.3", "path": "/a/%2e%2e/ETC/passwd", "status": int64(404),
		"agent": "curl/8.0", "streams": []string{"web", "Admin"}, "bytes": 1500.5, "tls": true, "peer": "203.0.113.7",
	}}
	lists := map[string][]string{"bad": {"198.51.100.1", "203.0.113.7"}, "ports": {"22", "23"}}
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"type: NET.HTTP", true},
		{"type: NET.*", true},
		{"type: [PROC.SPAWN, '*']", true},
		{"type: NET.CONN", false},
		{"{type: NET.HTTP, where: {status: 404}}", true},
		{"{type: NET.HTTP, where: {status: '404'}}", true},
		{"{type: NET.HTTP, where: {status: [200, 302]}}", false},
		{"{type: NET.HTTP, where: {status|gte: 400, status|lt: 500}}", true},
		{"{type: NET.HTTP, where: {bytes|gt: 1500}}", true},
		{"{type: NET.HTTP, where: {bytes|lte: 1500}}", false},
		{"{type: NET.HTTP, where: {path|contains: etc/PASSWD}}", true},
		{"{type: NET.HTTP, where: {path|contains|cased: etc/PASSWD}}", false},
		{"{type: NET.HTTP, where: {path|urldecode|contains: /../}}", true},
		{"{type: NET.HTTP, where: {path|contains: /../}}", false},
		{"{type: NET.HTTP, where: {path|startswith: /A/}}", true},
		{"{type: NET.HTTP, where: {path|endswith: passwd}}", true},
		{"{type: NET.HTTP, where: {path: '*passwd'}}", true},
		{"{type: NET.HTTP, where: {path: '/?/*'}}", true},
		{"{type: NET.HTTP, where: {path: '/b/*'}}", false},
		{"{type: NET.HTTP, where: {agent|re: '^curl/[0-9]+'}}", true},
		{"{type: NET.HTTP, where: {agent|re: '^CURL'}}", false},
		{"{type: NET.HTTP, where: {agent|lower|re: '^curl'}}", true},
		{"{type: NET.HTTP, where: {src|cidr: 203.0.113.0/24}}", true},
		{"{type: NET.HTTP, where: {src|cidr: ['10.0.0.0/8', '::ffff:203.0.113.0/120']}}", true},
		{"{type: NET.HTTP, where: {dst|cidr: 192.168.0.0/16}}", false},
		{"{type: NET.HTTP, where: {src: '@bad'}}", true},
		{"{type: NET.HTTP, where: {status: '@ports'}}", false},
		{"{type: NET.HTTP, where: {streams: admin}}", true},
		{"{type: NET.HTTP, where: {streams|cased: admin}}", false},
		{"{type: NET.HTTP, where: {path|contains|all: [etc, passwd]}}", true},
		{"{type: NET.HTTP, where: {path|contains|all: [etc, shadow]}}", false},
		{"{type: NET.HTTP, where: {user|exists: false, path|exists: true}}", true},
		{"{type: NET.HTTP, where: {user|exists: true}}", false},
		{"{type: NET.HTTP, where: {tls: true}}", true},
		{"{type: NET.HTTP, where: {src|fieldref: peer}}", true},
		{"{type: NET.HTTP, where: {src|fieldref: dst}}", false},
		{"{type: NET.HTTP, where: {ip: 10.0.0.3, type: net.http}}", true},
		{"{type: NET.HTTP, where: {not: {status: 404}}}", false},
		{"{type: NET.HTTP, where: {any: [{status: 200}, {agent|startswith: curl}]}}", true},
		{"{type: NET.HTTP, where: {all: [{status: 404}, {agent|startswith: wget}]}}", false},
		{"{type: NET.HTTP, where: [{status: 200}, {status: 404}]}", true},
		{"{type: NET.HTTP, where: {missing: x}}", false},
	} {
		m := mustParse(t, c.src, lists)
		if got := m.Matches(http); got != c.want {
			t.Errorf("%s: got %v, want %v", c.src, got, c.want)
		}
		// A caching context agrees with the plain one, event after event.
		var s Slots
		s.Assign(m.Cond())
		ctx := s.NewCtx()
		for range 3 {
			ctx.Reset(http)
			if got := m.TypeMatches(http.Type) && m.Cond().Eval(&ctx); got != c.want {
				t.Errorf("%s with slots: got %v, want %v", c.src, got, c.want)
			}
		}
	}
}

// TestProblems checks that mistakes are all reported, each naming what
// is wrong and where.
func TestProblems(t *testing.T) {
	src := `type: [NET.HTTP, "bad type"]
where:
  path|sometimes: x
  status|gt: many
  src|cidr: not-an-address
  agent|re: "("
  user: ~
  dst: "@nolist"
  peer: "$v"
  "bad field": 1
  all: x
`
	r := &yamlnode.Reader{File: "m.yaml"}
	Parse(r, node(t, src), "match", nil)
	var got []string
	for _, p := range r.Problems {
		if p.Line == 0 || p.File != "m.yaml" {
			t.Errorf("no position: %v", p)
		}
		got = append(got, p.String())
	}
	for _, want := range []string{
		`m.yaml:1:7: match.type: event type "bad type"`,
		`m.yaml:3:3: match.where.path|sometimes: unknown modifier "sometimes"`,
		`m.yaml:4:3: match.where.status|gt: "many" is not a number`,
		`m.yaml:5:3: match.where.src|cidr: "not-an-address" is not an address or prefix`,
		`m.yaml:6:3: match.where.agent|re: regular expression "("`,
		`m.yaml:7:9: match.where.user: an empty value`,
		`m.yaml:8:3: match.where.dst: @nolist: no such list`,
		`m.yaml:9:3: match.where.peer: $v: variables belong to sequence steps`,
		`m.yaml:10:3: match.where.bad field: field "bad field"`,
		`m.yaml:11:8: match.where.all: all takes a list of conditions`,
	} {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, want)
		}
		if !found {
			t.Errorf("missing %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	r = &yamlnode.Reader{File: "m.yaml"}
	if m := Parse(r, node(t, "[a]"), "match", nil); m != nil || len(r.Problems) != 1 || r.Problems[0].String() != `m.yaml:1:1: match: want a mapping with type and where, not a list` {
		t.Errorf("a list for a match: %v %v", m, r.Problems)
	}
}

// TestVariables compiles a condition with sequence variables and checks
// joins, misplaced variables and evaluation against bound values.
func TestVariables(t *testing.T) {
	r := &yamlnode.Reader{File: "m.yaml"}
	d := ReadCondition(r, node(t, "{src: $attacker, dport: 22}"), "where")
	if len(r.Problems) > 0 || d.MisplacedVar() {
		t.Fatalf("%v misplaced=%v", r.Problems, d.MisplacedVar())
	}
	c, probs := Compile(d, CompileOptions{Vars: map[string]int{"attacker": 0}})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	joins := VarJoins(c)
	if len(joins) != 1 || joins[0].Var != 0 || joins[0].Field.Name() != "src" {
		t.Errorf("joins %+v", joins)
	}
	ev := &event.Event{Type: "NET.CONN", Attrs: map[string]any{"src": "192.0.2.9", "dport": int64(22)}}
	var ctx Ctx
	ctx.Reset(ev)
	ctx.SetVars([]string{"192.0.2.9"})
	if !c.Eval(&ctx) {
		t.Error("bound value does not match")
	}
	ctx.SetVars([]string{"192.0.2.10"})
	if c.Eval(&ctx) {
		t.Error("another value matches")
	}
	d = ReadCondition(r, node(t, "{any: [{src: $attacker}]}"), "where")
	if !d.MisplacedVar() {
		t.Error("a variable under any is not reported misplaced")
	}
	if _, probs := Compile(d, CompileOptions{Vars: map[string]int{}}); len(probs) != 1 || !strings.Contains(probs[0].Msg, "not bound") {
		t.Errorf("unbound variable: %v", probs)
	}
}

// TestEqualities checks what an index may file a condition under.
func TestEqualities(t *testing.T) {
	d := ReadCondition(&yamlnode.Reader{}, node(t, "{dport: [22, 23], path|contains: admin, user: 'ro*', src|lower: X, type: NET.CONN}"), "where")
	c, probs := Compile(d, CompileOptions{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	eq := Equalities(c)
	if len(eq) != 1 || eq[0].Field().Name() != "dport" || fmt.Sprint(eq[0].EqualityValues()) != "[22 23]" {
		t.Fatalf("equalities %v", eq)
	}
	var lits []string
	for _, l := range TopLeaves(c) {
		if ls, ok := l.Literals(); ok {
			lits = append(lits, ls...)
		}
	}
	if fmt.Sprint(lits) != "[admin ro]" {
		t.Errorf("literals %q", lits)
	}
}

// TestLiteralsAreNecessary checks the promise of Leaf.Literals on random
// conditions and texts: whenever a condition holds, the prepared text
// contains one of its literals.
func TestLiteralsAreNecessary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"admin", "ETC", "passwd", "%2e%2e", "..", "\u212aelvin", "\u017fecret", "sel", "x"}
	word := func() string { return words[rng.IntN(len(words))] }
	mods := []string{"contains", "startswith", "endswith", "urldecode|contains", "contains|all", "cased|contains", "re", "eq"}
	checked := 0
	for range 3000 {
		mod := mods[rng.IntN(len(mods))]
		var val string
		switch mod {
		case "re":
			val = fmt.Sprintf("'(?i)(%s|%s)[a-z]*'", word(), word())
		case "eq":
			val = fmt.Sprintf("'*%s*'", word())
		default:
			val = fmt.Sprintf("[%q, %q]", word(), word())
		}
		r := &yamlnode.Reader{}
		d := ReadCondition(r, node(t, fmt.Sprintf("{path|%s: %s}", mod, val)), "where")
		if len(r.Problems) > 0 {
			t.Fatal(r.Problems)
		}
		c, probs := Compile(d, CompileOptions{})
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		l := TopLeaves(c)[0]
		lits, ok := l.Literals()
		if !ok {
			continue
		}
		var s Slots
		s.Assign(c)
		lt := s.LiteralText(l.Field(), l.URLDecode())
		var text strings.Builder
		for range 1 + rng.IntN(4) {
			text.WriteString(word())
		}
		ev := &event.Event{Type: "X", Attrs: map[string]any{"path": text.String()}}
		var ctx Ctx
		ctx.Reset(ev)
		if !c.Eval(&ctx) {
			continue
		}
		checked++
		prepared := lt.Text(text.String())
		found := false
		for _, lit := range lits {
			found = found || strings.Contains(prepared, lit)
		}
		if !found {
			t.Fatalf("path|%s: %s holds for %q (prepared %q) but no literal of %q occurs", mod, val, text.String(), prepared, lits)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d conditions held", checked)
	}
}
