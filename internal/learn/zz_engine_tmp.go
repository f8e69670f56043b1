package learn

// Temporary: the part of the model-file API the classify engine needs,
// until the real one is merged. Deleted before merging.

import (
	"errors"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

func Dense(cv *event.CountVector, features []uint16) []float64 {
	out := make([]float64, len(features)+1)
	for _, c := range cv.Counts {
		i, found := searchU16(features, c.Nr)
		if found {
			out[i] += float64(c.Count)
		} else {
			out[len(features)] += float64(c.Count)
		}
	}
	return out
}

func searchU16(a []uint16, x uint16) (int, bool) {
	for i, v := range a {
		if v == x {
			return i, true
		}
	}
	return 0, false
}

type TrainInfo struct {
	At      time.Time
	Samples int
	Epochs  int
	Seed    int64
	Groups  []string
	Options string
}

type File struct {
	Kind            string
	Classes         []string
	Features        []uint16
	SeqLen          int
	Interval        time.Duration
	Novelty         map[string]float64
	NoveltyQuantile float64
	Trained         TrainInfo
	Model           Model
}

func LoadFile(path string) (*File, error) { return nil, errors.New("model files: not yet") }
const FileMagic = "vigil-model"
