package learn

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func testFile() *File {
	return &File{
		Kind:            "fixed",
		Classes:         []string{"cron", "nginx", "nongrata:miner"},
		Features:        []uint16{0, 1, 3, 232},
		SeqLen:          SeqLen,
		Interval:        time.Second,
		Novelty:         map[string]float64{"nginx": 0.35, "cron": 0.5},
		NoveltyQuantile: 0.01,
		Trained:         TrainInfo{At: t0, Samples: 1200, Epochs: 3, Seed: 7, Groups: []string{"h1", "h2"}, Options: "lambda=1e-4"},
		Model:           &fixedModel{p: []float64{0.25, 0.5, 0.25}},
	}
}

func saved(t testing.TB, f *File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Save(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawFile builds a model file around the given metadata and weights with a
// right checksum, to test what Load says of consistent-looking files.
func rawFile(header string, meta map[string]any, weights []byte) []byte {
	js, _ := json.Marshal(meta)
	var b bytes.Buffer
	b.WriteString(header)
	b.Write(js)
	b.WriteByte('\n')
	b.Write(weights)
	sum := sha256.Sum256(b.Bytes())
	return append(b.Bytes(), sum[:]...)
}

func testMeta(t *testing.T) (map[string]any, []byte) {
	b := saved(t, testFile())
	_, rest, _ := bytes.Cut(b, []byte{'\n'})
	line, weights, _ := bytes.Cut(rest, []byte{'\n'})
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	return m, weights[:len(weights)-sha256.Size]
}

func TestSaveLoadRoundTrip(t *testing.T) {
	want := testFile()
	b := saved(t, want)
	if !bytes.HasPrefix(b, []byte("vigil-model 1\n{")) {
		t.Fatalf("file starts %q", b[:20])
	}
	for _, field := range []string{`"normalisation":"sum"`, `"seq_len":10`, `"interval":"1s"`, `"dim":5`, `"weights_bytes":24`, `"kind":"fixed"`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("metadata lacks %s", field)
		}
	}
	got, err := Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != want.Kind || !slices.Equal(got.Classes, want.Classes) || !slices.Equal(got.Features, want.Features) ||
		got.SeqLen != SeqLen || got.Interval != time.Second || got.Novelty["nginx"] != 0.35 || got.NoveltyQuantile != 0.01 ||
		!got.Trained.At.Equal(t0) || got.Trained.Samples != 1200 || got.Trained.Seed != 7 || !slices.Equal(got.Trained.Groups, want.Trained.Groups) ||
		got.Trained.Options != "lambda=1e-4" || got.Dim() != 5 {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
	if p := got.Model.Predict(nil); !slices.Equal(p, []float64{0.25, 0.5, 0.25}) {
		t.Fatalf("loaded model predicts %v", p)
	}

	path := filepath.Join(t.TempDir(), "m.model")
	if err := SaveFile(path, want); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefusesEveryFlippedByte(t *testing.T) {
	b := saved(t, testFile())
	for i := range b {
		for _, bit := range []byte{0x01, 0x80} {
			c := slices.Clone(b)
			c[i] ^= bit
			if _, err := Load(bytes.NewReader(c)); err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, bit)
			}
		}
	}
	// After the header line, a flipped bit is a checksum mismatch (or, in
	// weights_bytes, a file the wrong size).
	c := slices.Clone(b)
	c[len(c)/2] ^= 4
	if _, err := Load(bytes.NewReader(c)); !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), "corrupted") {
		t.Fatalf("flipped weight: %v", err)
	}
}

func TestLoadRefusesEveryTruncation(t *testing.T) {
	b := saved(t, testFile())
	for n := 1; n < len(b); n++ {
		_, err := Load(bytes.NewReader(b[:n]))
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut to %d of %d bytes: %v, want truncated", n, len(b), err)
		}
	}
	if _, err := Load(bytes.NewReader(append(slices.Clone(b), 0))); err == nil {
		t.Fatal("a byte appended was accepted")
	}
}

func TestLoadSaysWhatIsWrong(t *testing.T) {
	m, w := testMeta(t)
	edit := func(k string, v any) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	good := "vigil-model 1\n"
	for _, tc := range []struct {
		name string
		file []byte
		is   error
		says string
	}{
		{"empty", nil, ErrNotModel, "does not start with"},
		{"json", []byte(`{"kind":"logreg"}` + "\n"), ErrNotModel, `"vigil-model"`},
		{"version 2", rawFile("vigil-model 2\n", m, w), ErrVersion, "version 2, this build reads version 1"},
		{"version x", rawFile("vigil-model x\n", m, w), ErrNotModel, "not a number"},
		{"kind", rawFile(good, edit("kind", "xgboost"), w), ErrUnknownKind, `kind "xgboost"; registered kinds: fixed`},
		{"no classes", rawFile(good, edit("classes", []string{}), w), ErrInconsistent, "no classes"},
		{"class twice", rawFile(good, edit("classes", []string{"a", "b", "a"}), w), ErrInconsistent, `"a" appears twice`},
		{"class control", rawFile(good, edit("classes", []string{"a", "b\x1b[31m", "c"}), w), ErrInconsistent, "control character"},
		{"features unsorted", rawFile(good, edit("features", []int{3, 1, 2, 4}), w), ErrInconsistent, "not sorted"},
		{"feature range", rawFile(good, edit("features", []int{0, 1, 3, 1024}), w), ErrInconsistent, "over 1023"},
		{"seq_len", rawFile(good, edit("seq_len", 5), w), ErrInconsistent, "seq_len 5, want 10"},
		{"dim", rawFile(good, edit("dim", 7), w), ErrInconsistent, "dim 7"},
		{"interval", rawFile(good, edit("interval", "soon"), w), ErrInconsistent, `interval "soon" is not a duration`},
		{"long kind", rawFile(good, edit("kind", strings.Repeat("k", 100000)), w), ErrUnknownKind, `kkk..."; registered`},
		{"normalisation", rawFile(good, edit("normalisation", "max"), w), ErrInconsistent, `normalisation "max"`},
		{"novelty range", rawFile(good, edit("novelty", map[string]float64{"cron": 1.5}), w), ErrInconsistent, "outside [0,1]"},
		{"novelty class", rawFile(good, edit("novelty", map[string]float64{"sshd": 0.5}), w), ErrInconsistent, `"sshd", which is not a class`},
		{"quantile", rawFile(good, edit("novelty_quantile", -0.1), w), ErrInconsistent, "quantile"},
		{"unknown field", rawFile(good, edit("colour", "red"), w), ErrInconsistent, "colour"},
		{"weights_bytes", rawFile(good, edit("weights_bytes", 16), w), ErrInconsistent, "weights_bytes 16, but 24"},
		{"weights", rawFile(good, edit("weights_bytes", 16), w[:16]), ErrInconsistent, "fixed weights: 16 bytes for 3 classes"},
		{"weights values", rawFile(good, m, bytes.Repeat([]byte{0xff}, 24)), ErrInconsistent, "fixed weights"},
	} {
		_, err := Load(bytes.NewReader(tc.file))
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.is, tc.says)
		}
	}
}

func TestLoadFileNamesThePathAndBoundsItsRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd\nname.model")
	os.WriteFile(path, []byte("hello"), 0o644)
	_, err := LoadFile(path)
	if !errors.Is(err, ErrNotModel) || !strings.Contains(err.Error(), `odd\nname.model`) {
		t.Fatalf("%v, want the path, quoted", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
	// A file over the limit is refused before it is read.
	huge := filepath.Join(dir, "huge.model")
	if err := os.WriteFile(huge, []byte("vigil-model 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, MaxFileBytes+1); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestSaveRefusesInconsistentFiles(t *testing.T) {
	for name, edit := range map[string]func(*File){
		"no model":     func(f *File) { f.Model = nil },
		"kind differs": func(f *File) { f.Kind = "logreg" },
		"seq_len":      func(f *File) { f.SeqLen = 3 },
		"features":     func(f *File) { f.Features = nil },
		"novelty":      func(f *File) { f.Novelty["x"] = 0.1 },
		"interval":     func(f *File) { f.Interval = 0 },
		"group":        func(f *File) { f.Trained.Groups = []string{"h\x00"} },
		"options":      func(f *File) { f.Trained.Options = "a\nb" },
	} {
		f := testFile()
		edit(f)
		if err := Save(&bytes.Buffer{}, f); err == nil {
			t.Errorf("%s: saved", name)
		}
	}
}

// FuzzLoad: any bytes give a model file or an error, never a crash; what
// loads saves again to the same bytes.
func FuzzLoad(f *testing.F) {
	b := saved(f, testFile())
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("vigil-model 1\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		again := saved(t, got)
		if _, err := Load(bytes.NewReader(again)); err != nil {
			t.Fatalf("a loaded file saved again does not load: %v", err)
		}
	})
}
