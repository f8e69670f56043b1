package yamlnode

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one mistake in a file.
type Problem struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int
	Path string // e.g. "engines[2].kind"
	Msg  string
}

// String renders the problem as "file:line:column: path: message".
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

// Problems are the mistakes found in one or more files, all at once.
type Problems []Problem

// Error renders the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems:\n%s", len(lines), strings.Join(lines, "\n"))
}

// Sort orders the problems by file, line and column, keeping the order of
// those at the same place.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Error is the error a loader returns for a file with mistakes: every one
// of them.
type Error struct{ Problems Problems }

func (e *Error) Error() string { return e.Problems.Error() }

// Join builds a path below parent.
func Join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// Index builds the path of item i of the list at parent.
func Index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

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

// EditDistance is the Levenshtein distance between a and b, for "did you
// mean" suggestions.
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
