// Package learn is the process classifier's machine learning (seed 001
// sections 3-5): models that name a process from a sequence of its system
// call count vectors, the data they learn from, the versioned model file and
// the measures they are judged by. Everything is pure Go on gonum.
//
// A model sees a sample: SeqLen consecutive count vectors of one process,
// each a dense vector of Dim counts over the features a model file lists
// (system call numbers, plus one entry for every other call), not yet
// normalised. Each model normalises what it reads (seed 001 section 3.2:
// each vector divided by its sum), so that a model over longer intervals
// (the inception-like net's 2 and 3 s) can add counts before dividing.
//
// Model kinds are registered (Register) by the packages that implement
// them; a program that trains or loads models imports internal/learn/kinds,
// which registers every kind Vigil has.
package learn

import (
	"context"
	"encoding"
	"fmt"
	"sort"
	"sync"
	"time"
)

// SeqLen is the number of consecutive count vectors in a sample (seed 001:
// 1-second vectors, 10-second sequences).
const SeqLen = 10

// Sample is one labelled sequence.
type Sample struct {
	// X holds SeqLen count vectors in time order, each Dim raw counts.
	X [][]float64
	// Y is the class index in Data.Classes.
	Y int
	// Group names where the sample came from (its host), for splits that
	// keep groups apart; models never read it.
	Group string
	// Start is when the sample's first interval began, for splits by time;
	// models never read it.
	Start time.Time
}

// Data is what a model learns from or is tested on.
type Data struct {
	Classes []string // class names (process names), index = Sample.Y
	Dim     int      // entries in each count vector
	Samples []Sample
}

// Progress is what a trainer says while it trains.
type Progress struct {
	Kind          string
	Epoch, Epochs int     // 1-based epoch and how many there are
	Loss          float64 // the mean training loss of the epoch so far
	Done, Total   int     // samples (or trees) done in this epoch
}

// Options are what every trainer takes. Zero values mean the kind's
// defaults.
type Options struct {
	Seed    int64 // every random choice derives from it: same seed, same model
	Epochs  int
	Workers int // goroutines that share the work (default: GOMAXPROCS)
	// Progress, when set, is called from time to time, never concurrently.
	Progress func(Progress)
}

// Model classifies sequences. Predict is safe for concurrent use.
type Model interface {
	// Kind is the registered kind's name.
	Kind() string
	// Predict returns the probability of each class for one sample's X
	// (SeqLen vectors of the model's Dim counts); the probabilities sum
	// to 1. Models over single vectors combine their vectors' votes.
	Predict(x [][]float64) []float64
	// MarshalBinary returns the model's parameters, which the kind's
	// Decode reads back into an equal model.
	encoding.BinaryMarshaler
}

// Kind is one registered model kind.
type Kind struct {
	Name string // the name model files and --models flags use
	Doc  string // one line for help texts
	// Train learns a model from d; it returns promptly with ctx's error
	// when ctx ends.
	Train func(ctx context.Context, d *Data, o Options) (Model, error)
	// Decode reads MarshalBinary's output for a model of classes classes
	// over dim-entry vectors; malformed input is an error, never a panic.
	Decode func(b []byte, classes, dim int) (Model, error)
}

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// Register adds a kind; registering a name twice or an incomplete kind
// panics (it is a programming error, made at init).
func Register(k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if k.Name == "" || k.Train == nil || k.Decode == nil {
		panic(fmt.Sprintf("learn: incomplete kind %q", k.Name))
	}
	if _, dup := kinds[k.Name]; dup {
		panic(fmt.Sprintf("learn: kind %q registered twice", k.Name))
	}
	kinds[k.Name] = k
}

// Lookup returns the kind registered under name.
func Lookup(name string) (Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Kinds returns the registered kinds' names, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(kinds))
	for n := range kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
