package signature

import (
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
)

// tmpl is a report text with {name} placeholders: a field of the event
// that fired the rule, a sequence variable, or one of the values the rule
// adds (count, window, distinct, values, rule, title). "{{" and "}}" are
// literal braces.
type tmpl []tpart

type tpart struct {
	lit  string
	name string // a placeholder when not empty
	f    match.Field
}

func (c *compiler) template(d *ruleDoc, s string) tmpl {
	var out tmpl
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			lit.WriteByte('{')
			i++
		case strings.HasPrefix(s[i:], "}}"):
			lit.WriteByte('}')
			i++
		case s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				c.addAt(d.line, d.col, "report", "unclosed { in %q", s)
				return append(out, tpart{lit: s})
			}
			name := s[i+1 : i+end]
			if !match.ValidField(name) {
				c.addAt(d.line, d.col, "report", "placeholder {%s}: a field name", name)
			}
			if lit.Len() > 0 {
				out = append(out, tpart{lit: lit.String()})
				lit.Reset()
			}
			out = append(out, tpart{name: name, f: match.NewField(name)})
			i += end
		default:
			lit.WriteByte(s[i])
		}
	}
	if lit.Len() > 0 {
		out = append(out, tpart{lit: lit.String()})
	}
	return out
}

// render fills the placeholders: extra values first, then variables, then
// the event's fields; a missing one is "-". The result is cut to a
// report's limit.
func (t tmpl) render(ev *event.Event, extra map[string]string, vars map[string]string) string {
	var b strings.Builder
	for _, p := range t {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		if v, ok := extra[p.name]; ok {
			b.WriteString(v)
			continue
		}
		if v, ok := vars[p.name]; ok {
			b.WriteString(v)
			continue
		}
		if ev != nil {
			if v := p.f.Text(ev); v != "" {
				b.WriteString(v)
				continue
			}
		}
		b.WriteByte('-')
	}
	s := b.String()
	if len(s) > event.MaxExplanationLen {
		s = strings.ToValidUTF8(s[:event.MaxExplanationLen], "")
	}
	return s
}
