package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one mistake in a resource object.
type Problem struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int
	Path string // e.g. "engines[2].kind"
	Msg  string
	// byLine marks a decoder's problem, whose path is found from its line.
	byLine bool
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Line, p.Col)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems collects every mistake found while loading a resource object, so
// that all of them are reported at once. Validate methods add to it by path;
// the loader turns paths into file positions.
type Problems struct {
	// BaseDir is the directory of the file being loaded, against which
	// relative paths in the document resolve.
	BaseDir string
	list    []Problem
}

// Addf records a problem at path (a dotted path with [i] for list items;
// "" for the document).
func (p *Problems) Addf(path, format string, args ...any) {
	p.list = append(p.list, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Add records a problem found elsewhere (a file the document names): a
// problem with a line keeps its file and position; one without is placed
// at its path in this document.
func (p *Problems) Add(pr Problem) {
	p.list = append(p.list, pr)
}

// Len returns the number of problems.
func (p *Problems) Len() int { return len(p.list) }

// List returns the problems in file order.
func (p *Problems) List() []Problem {
	out := append([]Problem(nil), p.list...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Col < out[j].Col
	})
	return out
}

// Error is the error returned by Load when a resource object has problems:
// every one of them, in file order.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems:\n%s", len(lines), strings.Join(lines, "\n"))
}

// Join builds a path below parent.
func Join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// Index builds the path of item i of the list at parent.
func Index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }
