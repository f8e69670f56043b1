package config

import (
	"fmt"

	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Problem is one mistake in a resource object (or a file it names).
type Problem = yamlnode.Problem

// Error is the error returned by Load when a resource object has problems:
// every one of them, in file order.
type Error = yamlnode.Error

// Problems collects every mistake found while loading a resource object, so
// that all of them are reported at once. Validate methods add to it by path;
// the loader turns paths into file positions.
type Problems struct {
	// BaseDir is the directory of the file being loaded, against which
	// relative paths in the document resolve.
	BaseDir string
	list    yamlnode.Problems
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
	out := append(yamlnode.Problems(nil), p.list...)
	out.Sort()
	return out
}

// Join builds a path below parent.
func Join(parent, child string) string { return yamlnode.Join(parent, child) }

// Index builds the path of item i of the list at parent.
func Index(parent string, i int) string { return yamlnode.Index(parent, i) }
