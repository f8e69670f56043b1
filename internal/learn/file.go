package learn

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// The model file (docs/CLASSIFIER-DATA.md):
//
//	vigil-model 1\n                    magic and FileVersion
//	{"kind":"logreg",...}\n            the metadata, one line of JSON
//	weights                            the model's MarshalBinary bytes
//	SHA-256                            32 bytes over everything before them

// FileVersion is the version of the model file Save writes and Load reads.
const FileVersion = 1

// FileMagic starts every model file, followed by a space, the version and
// a newline.
const FileMagic = "vigil-model"

// MaxFileBytes bounds a model file; Load reads no more.
const MaxFileBytes = 256 << 20

// maxMetaBytes bounds the metadata line.
const maxMetaBytes = 4 << 20

// Normalisation is the only normalisation a model file names: each count
// vector divided by its sum (seed 001 section 3.2).
const Normalisation = "sum"

// Errors Load wraps, for errors.Is.
var (
	ErrNotModel     = errors.New("not a Vigil model file")
	ErrVersion      = errors.New("unsupported model file version")
	ErrTooLarge     = errors.New("model file too large")
	ErrTruncated    = errors.New("model file truncated")
	ErrCorrupted    = errors.New("model file corrupted (checksum mismatch)")
	ErrUnknownKind  = errors.New("unknown model kind")
	ErrInconsistent = errors.New("model file inconsistent")
)

// File is a trained model with what it needs to be used: the classes it
// names, the features its input counts, and how it was trained.
type File struct {
	Kind     string
	Classes  []string
	Features []uint16
	SeqLen   int
	Interval time.Duration
	// Novelty holds, per class, the confidence (probability of the class)
	// below which a sequence of a process presenting that class's name is
	// novel; NoveltyQuantile is the quantile of held-out confidences it
	// was set at.
	Novelty         map[string]float64
	NoveltyQuantile float64
	Trained         TrainInfo
	Model           Model
}

// TrainInfo says how a model was trained.
type TrainInfo struct {
	At      time.Time
	Samples int
	Epochs  int
	Seed    int64
	Groups  []string // the groups (hosts) of the training samples
	Options string   // the training options, as the trainer wrote them
}

// Dim is the number of entries of the model's input vectors.
func (f *File) Dim() int { return len(f.Features) + 1 }

// meta is the metadata line's JSON.
type meta struct {
	Kind            string             `json:"kind"`
	Classes         []string           `json:"classes"`
	Features        []uint16           `json:"features"`
	Dim             int                `json:"dim"`
	SeqLen          int                `json:"seq_len"`
	Interval        string             `json:"interval"`
	Normalisation   string             `json:"normalisation"`
	Novelty         map[string]float64 `json:"novelty"`
	NoveltyQuantile float64            `json:"novelty_quantile"`
	Trained         trainMeta          `json:"trained"`
	WeightsBytes    int64              `json:"weights_bytes"`
}

type trainMeta struct {
	At      time.Time `json:"at"`
	Samples int       `json:"samples"`
	Epochs  int       `json:"epochs"`
	Seed    int64     `json:"seed"`
	Groups  []string  `json:"groups"`
	Options string    `json:"options"`
}

// check says what is inconsistent in f's metadata.
func (f *File) check() error {
	if err := checkClasses(f.Classes); err != nil {
		return fmt.Errorf("classes: %w", err)
	}
	if err := checkFeatures(f.Features); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if f.SeqLen != SeqLen {
		return fmt.Errorf("seq_len %d, want %d", f.SeqLen, SeqLen)
	}
	if f.Interval <= 0 {
		return fmt.Errorf("interval %v is not positive", f.Interval)
	}
	if !(f.NoveltyQuantile >= 0 && f.NoveltyQuantile <= 1) {
		return fmt.Errorf("novelty quantile %v outside [0,1]", f.NoveltyQuantile)
	}
	known := make(map[string]bool, len(f.Classes))
	for _, c := range f.Classes {
		known[c] = true
	}
	for c, t := range f.Novelty {
		if !known[c] {
			return fmt.Errorf("novelty threshold for %q, which is not a class", short(c))
		}
		if !(t >= 0 && t <= 1) {
			return fmt.Errorf("novelty threshold %v for %q outside [0,1]", t, short(c))
		}
	}
	if f.Trained.Samples < 0 || f.Trained.Epochs < 0 {
		return fmt.Errorf("trained: negative samples or epochs")
	}
	for i, g := range f.Trained.Groups {
		if err := checkText(g); err != nil {
			return fmt.Errorf("trained: group %d: %w", i, err)
		}
	}
	if err := checkTextLen(f.Trained.Options, maxOptionsLen); err != nil {
		return fmt.Errorf("trained: options: %w", err)
	}
	return nil
}

// Save writes f as a model file: the magic and version line, the metadata
// as one line of JSON, the model's MarshalBinary bytes and a SHA-256 of
// everything before it. It refuses inconsistent metadata.
func Save(w io.Writer, f *File) error {
	if f.Model == nil {
		return fmt.Errorf("save model: no model")
	}
	if f.Kind == "" {
		f.Kind = f.Model.Kind()
	}
	if f.Kind != f.Model.Kind() {
		return fmt.Errorf("save model: kind %q but the model is a %q", f.Kind, f.Model.Kind())
	}
	if err := f.check(); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	weights, err := f.Model.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	m := meta{
		Kind: f.Kind, Classes: f.Classes, Features: f.Features, Dim: f.Dim(),
		SeqLen: f.SeqLen, Interval: f.Interval.String(), Normalisation: Normalisation,
		Novelty: f.Novelty, NoveltyQuantile: f.NoveltyQuantile,
		Trained: trainMeta{
			At: f.Trained.At.UTC(), Samples: f.Trained.Samples, Epochs: f.Trained.Epochs,
			Seed: f.Trained.Seed, Groups: f.Trained.Groups, Options: f.Trained.Options,
		},
		WeightsBytes: int64(len(weights)),
	}
	if m.Novelty == nil {
		m.Novelty = map[string]float64{}
	}
	js, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d\n", FileMagic, FileVersion)
	b.Write(js)
	b.WriteByte('\n')
	b.Write(weights)
	if b.Len()+sha256.Size > MaxFileBytes {
		return fmt.Errorf("save model: %d bytes, over the limit of %d: %w", b.Len()+sha256.Size, MaxFileBytes, ErrTooLarge)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// SaveFile writes f to path through a temporary file renamed into place.
func SaveFile(path string, f *File) error {
	var b bytes.Buffer
	if err := Save(&b, f); err != nil {
		return fmt.Errorf("%q: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// Load reads a model file, verifies it and decodes its model with the
// registered kind. Each refusal says what is wrong and wraps one of
// ErrNotModel, ErrVersion, ErrTooLarge, ErrTruncated, ErrCorrupted,
// ErrUnknownKind or ErrInconsistent. It reads at most MaxFileBytes.
func Load(r io.Reader) (*File, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("load model: over %d bytes: %w", MaxFileBytes, ErrTooLarge)
	}
	return decodeFile(b)
}

// LoadFile loads the model file at path; errors name the path.
func LoadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%q: load model: %d bytes, over the limit of %d: %w", path, st.Size(), MaxFileBytes, ErrTooLarge)
	}
	f, err := Load(fh)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return f, nil
}

func decodeFile(b []byte) (*File, error) {
	// The magic and version line.
	head, rest, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		magic := []byte(FileMagic + " ")
		if len(b) > 0 && len(b) <= 64 && (bytes.HasPrefix(b, magic) || bytes.HasPrefix(magic, b)) {
			return nil, fmt.Errorf("load model: %d bytes, the header line is cut short: %w", len(b), ErrTruncated)
		}
		return nil, fmt.Errorf("load model: does not start with %q: %w", FileMagic, ErrNotModel)
	}
	ver, ok := bytes.CutPrefix(head, []byte(FileMagic+" "))
	if !ok {
		return nil, fmt.Errorf("load model: does not start with %q: %w", FileMagic, ErrNotModel)
	}
	v, err := strconv.Atoi(string(ver))
	if err != nil {
		return nil, fmt.Errorf("load model: version %q is not a number: %w", short(string(ver)), ErrNotModel)
	}
	if v != FileVersion {
		return nil, fmt.Errorf("load model: version %d, this build reads version %d: %w", v, FileVersion, ErrVersion)
	}

	// The metadata line; its weights_bytes says how long the file is, to
	// tell a truncated file from a corrupted one.
	line, _, ok := bytes.Cut(rest, []byte{'\n'})
	if !ok {
		if len(rest) > maxMetaBytes {
			return nil, fmt.Errorf("load model: metadata line over %d bytes: %w", maxMetaBytes, ErrInconsistent)
		}
		return nil, fmt.Errorf("load model: the metadata line does not end: %w", ErrTruncated)
	}
	if len(line) > maxMetaBytes {
		return nil, fmt.Errorf("load model: metadata line over %d bytes: %w", maxMetaBytes, ErrInconsistent)
	}
	var m meta
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	metaErr := dec.Decode(&m)
	bodyEnd := len(head) + 1 + len(line) + 1
	intact := len(b) >= bodyEnd+sha256.Size
	if intact {
		sum := sha256.Sum256(b[:len(b)-sha256.Size])
		intact = bytes.Equal(sum[:], b[len(b)-sha256.Size:])
	}
	if !intact {
		if metaErr == nil && m.WeightsBytes >= 0 && m.WeightsBytes <= MaxFileBytes {
			if want := int64(bodyEnd) + m.WeightsBytes + sha256.Size; int64(len(b)) < want {
				return nil, fmt.Errorf("load model: %d bytes, the metadata says %d: %w", len(b), want, ErrTruncated)
			}
		}
		if len(b) < bodyEnd+sha256.Size {
			return nil, fmt.Errorf("load model: no room for the checksum: %w", ErrTruncated)
		}
		return nil, fmt.Errorf("load model: %w", ErrCorrupted)
	}
	// Intact as written: what is wrong now was written so.
	if metaErr != nil {
		return nil, fmt.Errorf("load model: metadata: %v: %w", metaErr, ErrInconsistent)
	}
	if dec.More() {
		return nil, fmt.Errorf("load model: metadata: data after the JSON object: %w", ErrInconsistent)
	}
	weights := b[bodyEnd : len(b)-sha256.Size]
	if int64(len(weights)) != m.WeightsBytes {
		return nil, fmt.Errorf("load model: metadata: weights_bytes %d, but %d bytes of weights: %w", m.WeightsBytes, len(weights), ErrInconsistent)
	}
	if m.Normalisation != Normalisation {
		return nil, fmt.Errorf("load model: metadata: normalisation %q, this build knows only %q: %w", short(m.Normalisation), Normalisation, ErrInconsistent)
	}
	iv, err := time.ParseDuration(m.Interval)
	if err != nil {
		return nil, fmt.Errorf("load model: metadata: interval %q is not a duration: %w", short(m.Interval), ErrInconsistent)
	}
	for c, t := range m.Novelty {
		if math.IsNaN(t) {
			return nil, fmt.Errorf("load model: metadata: novelty threshold for %q is not a number: %w", short(c), ErrInconsistent)
		}
	}
	f := &File{
		Kind: m.Kind, Classes: m.Classes, Features: m.Features, SeqLen: m.SeqLen, Interval: iv,
		Novelty: m.Novelty, NoveltyQuantile: m.NoveltyQuantile,
		Trained: TrainInfo{
			At: m.Trained.At, Samples: m.Trained.Samples, Epochs: m.Trained.Epochs,
			Seed: m.Trained.Seed, Groups: m.Trained.Groups, Options: m.Trained.Options,
		},
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("load model: metadata: %v: %w", err, ErrInconsistent)
	}
	if m.Dim != f.Dim() {
		return nil, fmt.Errorf("load model: metadata: dim %d, but %d features make %d: %w", m.Dim, len(f.Features), f.Dim(), ErrInconsistent)
	}
	k, ok := Lookup(m.Kind)
	if !ok {
		reg := strings.Join(Kinds(), ", ")
		if reg == "" {
			reg = "none (the program imports no kind package)"
		}
		return nil, fmt.Errorf("load model: kind %q; registered kinds: %s: %w", short(m.Kind), reg, ErrUnknownKind)
	}
	model, err := k.Decode(weights, len(f.Classes), f.Dim())
	if err != nil {
		return nil, fmt.Errorf("load model: %s weights: %v: %w", m.Kind, err, ErrInconsistent)
	}
	if model.Kind() != m.Kind {
		return nil, fmt.Errorf("load model: kind %q decoded a %q model: %w", m.Kind, model.Kind(), ErrInconsistent)
	}
	f.Model = model
	return f, nil
}

// short cuts what a file says to a length an error message can show.
func short(s string) string {
	const most = 64
	if len(s) <= most {
		return s
	}
	return s[:most] + "..."
}
