// Package forest holds the process classifier's random forest baseline of
// seed 001 section 5.1 ("forest"): CART trees on Gini impurity, each grown
// on a bootstrap sample of single count vectors (normalised by their sum)
// with sqrt(dim) candidate features per split. A vector's class is the
// majority of its trees' votes; a sample's is the majority vote of its
// vectors: Predict returns each class's share of those votes.
//
// Split thresholds are taken from at most Config.Bins quantiles of each
// feature's training values, which makes a split's search linear in the
// node's vectors (as histogram-based tree learners do).
package forest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/vigil-ids/vigil/internal/learn"
)

// Kind is the registered kind's name.
const Kind = "forest"

func init() {
	learn.Register(learn.Kind{
		Name: Kind,
		Doc:  "random forest of CART trees (Gini, bootstrap, sqrt(dim) features per split) over single vectors, majority vote",
		Train: func(ctx context.Context, d *learn.Data, o learn.Options) (learn.Model, error) {
			return Train(ctx, d, o, Default)
		},
		Decode: Decode,
	})
}

// Config are the forest's settings.
type Config struct {
	Trees    int // trees in the forest
	MaxDepth int // a node this deep is a leaf
	MinLeaf  int // vectors a leaf holds at least
	// Features is the number of candidate features per split (0 = the
	// square root of the dimension, rounded).
	Features int
	// Bins is the most thresholds tried per feature, at most 255.
	Bins int
}

// Default are the settings the registered kind trains with.
var Default = Config{Trees: 100, MaxDepth: 32, MinLeaf: 1, Bins: 64}

// leaf marks a leaf node's feature.
const leaf = math.MaxUint16

// node is a tree node: an inner node sends a vector whose entry feat is
// at most thr to node left, else to left+1; a leaf (feat == leaf) votes
// for class left.
type node struct {
	feat uint16
	thr  float32
	left uint32
}

type tree []node

func (t tree) classify(v []float64) int {
	i := 0
	for {
		n := &t[i]
		if n.feat == leaf {
			return int(n.left)
		}
		if v[n.feat] <= float64(n.thr) {
			i = int(n.left)
		} else {
			i = int(n.left) + 1
		}
	}
}

// model is a trained forest.
type model struct {
	k, dim int
	trees  []tree
}

func (m *model) Kind() string { return Kind }

// Predict returns the share of a sample's vectors voting for each class.
func (m *model) Predict(x [][]float64) []float64 {
	votes := make([]int, m.k)
	return learn.VoteShares(x, m.dim, m.k, func(v []float64) int {
		clear(votes)
		for _, t := range m.trees {
			c := t.classify(v)
			votes[c]++
			if 2*votes[c] > len(m.trees) { // a majority of all the trees: no other class can win
				return c
			}
		}
		best := 0
		for c, n := range votes {
			if n > votes[best] {
				best = c
			}
		}
		return best
	})
}

// Train grows cfg.Trees trees on d's single vectors over Options.Workers
// goroutines. Tree i draws its bootstrap sample and candidate features
// from Options.Seed and i, so the forest depends on the seed alone.
// Options.Epochs is not used. Progress is called after each tree (Done
// trees of Total).
func Train(ctx context.Context, d *learn.Data, o learn.Options, cfg Config) (learn.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Trees < 1 || cfg.MaxDepth < 1 || cfg.MinLeaf < 1 || cfg.Bins < 2 || cfg.Bins > 255 || cfg.Features < 0 {
		return nil, fmt.Errorf("forest: bad settings %+v", cfg)
	}
	k, dim := len(d.Classes), d.Dim
	if k == 0 || dim < 1 || dim > leaf {
		return nil, fmt.Errorf("forest: %d classes over %d entries", k, dim)
	}
	x, y := learn.SingleVectors(d)
	n := len(y)
	if n == 0 {
		return nil, fmt.Errorf("forest: no non-zero vector to learn from")
	}
	mtry := cfg.Features
	if mtry == 0 {
		mtry = max(1, int(math.Round(math.Sqrt(float64(dim)))))
	}
	mtry = min(mtry, dim)
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	bs := binning(x, n, dim, cfg.Bins, workers)
	trees := make([]tree, cfg.Trees)
	next := make(chan int, cfg.Trees)
	for i := range cfg.Trees {
		next <- i
	}
	close(next)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		done     int
		firstErr error
	)
	for range min(workers, cfg.Trees) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGrower(bs, y, k, mtry, cfg)
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				t, err := g.grow(ctx, rand.New(rand.NewPCG(uint64(o.Seed), uint64(i))))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				trees[i] = t
				done++
				if err == nil && o.Progress != nil {
					o.Progress(learn.Progress{Kind: Kind, Epoch: 1, Epochs: 1, Done: done, Total: cfg.Trees})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return &model{k: k, dim: dim, trees: trees}, nil
}

// bins is the training vectors binned: column j of row i in bin
// col[j*n+i], which holds the values v with edges[j][bin-1] < v <=
// edges[j][bin] (the last bin those over every edge).
type bins struct {
	n, dim int
	col    []uint8
	edges  [][]float32
}

// binning chooses each feature's thresholds from the quantiles of its
// distinct values (float32 values, so that a tree compares as it learnt)
// and bins every vector.
func binning(x []float64, n, dim, maxBins, workers int) *bins {
	b := &bins{n: n, dim: dim, col: make([]uint8, n*dim), edges: make([][]float32, dim)}
	// Quantiles from at most 50000 rows, evenly spaced.
	step := max(1, n/50000)
	var wg sync.WaitGroup
	next := make(chan int, dim)
	for j := range dim {
		next <- j
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := make([]float64, 0, n/step+1)
			for j := range next {
				vals = vals[:0]
				for i := 0; i < n; i += step {
					vals = append(vals, x[i*dim+j])
				}
				slices.Sort(vals)
				vals = slices.Compact(vals)
				var edges []float32
				// Every distinct value but the largest is an edge, or
				// maxBins-1 quantiles of them.
				m := len(vals) - 1
				for q := 1; q < maxBins && m > 0; q++ {
					i := q - 1
					if m > maxBins-1 {
						i = q * m / maxBins
					}
					if i >= m {
						break
					}
					e := float32(vals[i])
					if float64(e) < vals[i] {
						e = math.Nextafter32(e, float32(math.Inf(1)))
					}
					if len(edges) == 0 || e > edges[len(edges)-1] {
						edges = append(edges, e)
					}
				}
				b.edges[j] = edges
				col := b.col[j*n : (j+1)*n]
				for i := range n {
					v := x[i*dim+j]
					bin, _ := slices.BinarySearchFunc(edges, v, func(e float32, v float64) int { return cmp.Compare(float64(e), v) })
					col[i] = uint8(bin)
				}
			}
		}()
	}
	wg.Wait()
	return b
}

// grower grows trees; one per goroutine, its scratch reused.
type grower struct {
	b          *bins
	y          []int
	k, mtry    int
	cfg        Config
	idx        []int32
	feats      []int
	hist       []int // (bins+1) x k
	left, righ []int
	pairs      []pair
	nodes      tree
}

type pair struct {
	bin   uint8
	class int32
}

func newGrower(b *bins, y []int, k, mtry int, cfg Config) *grower {
	return &grower{b: b, y: y, k: k, mtry: mtry, cfg: cfg, idx: make([]int32, b.n), feats: make([]int, b.dim),
		hist: make([]int, (cfg.Bins+1)*k), left: make([]int, k), righ: make([]int, k)}
}

func (g *grower) grow(ctx context.Context, rng *rand.Rand) (tree, error) {
	for i := range g.idx {
		g.idx[i] = int32(rng.IntN(g.b.n))
	}
	g.nodes = append(g.nodes[:0], node{})
	if err := g.split(ctx, rng, 0, g.idx, 0); err != nil {
		return nil, err
	}
	return slices.Clone(g.nodes), nil
}

// split makes node at of the vectors idx: a leaf, or an inner node whose
// children it appends and splits.
func (g *grower) split(ctx context.Context, rng *rand.Rand, at int, idx []int32, depth int) error {
	if len(idx) > 4096 && ctx.Err() != nil {
		return ctx.Err()
	}
	counts := g.left // the node's class counts, for now
	clear(counts)
	for _, i := range idx {
		counts[g.y[i]]++
	}
	major, classes := 0, 0
	sq := 0.0
	for c, m := range counts {
		if m > counts[major] {
			major = c
		}
		if m > 0 {
			classes++
		}
		sq += float64(m) * float64(m)
	}
	g.nodes[at] = node{feat: leaf, left: uint32(major)}
	if classes == 1 || depth >= g.cfg.MaxDepth || len(idx) < 2*g.cfg.MinLeaf {
		return nil
	}
	parentScore := sq / float64(len(idx))
	feat, bin, score := -1, 0, parentScore+1e-9
	// Candidate features: a fresh random order; mtry of those that vary
	// in the node are tried.
	for i := range g.feats {
		g.feats[i] = i
	}
	tried := 0
	for f := 0; f < len(g.feats) && tried < g.mtry; f++ {
		r := f + rng.IntN(len(g.feats)-f)
		g.feats[f], g.feats[r] = g.feats[r], g.feats[f]
		j := g.feats[f]
		b, s, varies := g.best(j, idx)
		if !varies {
			continue
		}
		tried++
		if s > score {
			feat, bin, score = j, b, s
		}
	}
	if feat < 0 {
		return nil
	}
	col := g.b.col[feat*g.b.n : (feat+1)*g.b.n]
	lo, hi := 0, len(idx)
	for lo < hi {
		if int(col[idx[lo]]) <= bin {
			lo++
		} else {
			hi--
			idx[lo], idx[hi] = idx[hi], idx[lo]
		}
	}
	l := len(g.nodes)
	g.nodes = append(g.nodes, node{}, node{})
	g.nodes[at] = node{feat: uint16(feat), thr: g.b.edges[feat][bin], left: uint32(l)}
	if err := g.split(ctx, rng, l, idx[:lo], depth+1); err != nil {
		return err
	}
	return g.split(ctx, rng, l+1, idx[lo:], depth+1)
}

// best returns feature j's best split of idx: the bin whose vectors and
// those below go left, and the split's score, the sum over both sides of
// the squared class counts over the side's size (the higher, the lower the
// weighted Gini impurity); varies says whether j takes two values in idx.
func (g *grower) best(j int, idx []int32) (bin int, score float64, varies bool) {
	col := g.b.col[j*g.b.n : (j+1)*g.b.n]
	k, n := g.k, len(idx)
	nEdges := len(g.b.edges[j])
	minLeaf := g.cfg.MinLeaf
	bin, score = -1, -1
	left, right := g.left, g.righ
	clear(left)
	clear(right)
	sqL, sqR := 0.0, 0.0
	for _, i := range idx {
		right[g.y[i]]++
	}
	for _, m := range right {
		sqR += float64(m) * float64(m)
	}
	nL := 0
	consider := func(b int) {
		nR := n - nL
		if nL < minLeaf || nR < minLeaf || b >= nEdges {
			return
		}
		if s := sqL/float64(nL) + sqR/float64(nR); s > score {
			bin, score = b, s
		}
	}
	move := func(c, m int) {
		l, r := float64(left[c]), float64(right[c])
		sqL += 2*l*float64(m) + float64(m*m)
		sqR += -2*r*float64(m) + float64(m*m)
		left[c] += m
		right[c] -= m
		nL += m
	}
	if n*8 < (nEdges+1)*k {
		// Few vectors: sort them by bin and move them one by one.
		ps := g.pairs[:0]
		for _, i := range idx {
			ps = append(ps, pair{col[i], int32(g.y[i])})
		}
		slices.SortFunc(ps, func(a, b pair) int { return cmp.Compare(a.bin, b.bin) })
		g.pairs = ps
		if ps[0].bin == ps[len(ps)-1].bin {
			return -1, -1, false
		}
		for p, q := range ps {
			move(int(q.class), 1)
			if p+1 < len(ps) && ps[p+1].bin != q.bin {
				consider(int(q.bin))
			}
		}
		return bin, score, true
	}
	hist := g.hist[:(nEdges+1)*k]
	clear(hist)
	for _, i := range idx {
		hist[int(col[i])*k+g.y[i]]++
	}
	used := 0
	for b := 0; b <= nEdges; b++ {
		row := hist[b*k : (b+1)*k]
		had := nL
		for c, m := range row {
			if m > 0 {
				move(c, m)
			}
		}
		if nL > had {
			used++
			if nL < n {
				consider(b)
			}
		}
	}
	return bin, score, used > 1
}
