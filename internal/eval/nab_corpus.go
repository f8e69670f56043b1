package eval

import (
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// nabTime is the layout of NAB's timestamps; the labels' fractional
// seconds (".000000") parse with it too.
const nabTime = "2006-01-02 15:04:05"

// NABCorpus is a NAB directory: the series of every category present,
// their anomaly windows, the application profiles and, when the directory
// holds them, the published detectors' results. Two layouts are read:
// NAB's repository (data/<category>/*.csv, labels/combined_windows.json,
// config/, results/) and the same without the data/ level.
type NABCorpus struct {
	Dir string
	// Series are the labelled series whose data file is present, by
	// their label key "<category>/<file>.csv", in key order.
	Series []Series
	// Categories are the categories the series come from.
	Categories []string
	// Absent are the labelled series with no data file here.
	Absent []string
	// Profiles are config/profiles.json's application profiles, or
	// NAB's three when the directory has no config.
	Profiles []NABProfile
	// Labels is the labels file read.
	Labels  string
	dataDir string
}

// LoadNAB reads the series of every category of a NAB directory.
func LoadNAB(dir string) ([]Series, error) {
	c, err := LoadNABCorpus(dir)
	if err != nil {
		return nil, err
	}
	return c.Series, nil
}

// LoadNABCorpus reads a NAB directory (see NABCorpus).
func LoadNABCorpus(dir string) (*NABCorpus, error) {
	c := &NABCorpus{Dir: dir, dataDir: dir}
	if st, err := os.Stat(filepath.Join(dir, "data")); err == nil && st.IsDir() {
		c.dataDir = filepath.Join(dir, "data")
	}
	windows, err := c.readLabels()
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(windows))
	for k := range windows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		path := filepath.Join(c.dataDir, filepath.FromSlash(key))
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			c.Absent = append(c.Absent, key)
			continue
		}
		s, err := readNABFile(path)
		if err != nil {
			return nil, err
		}
		s.Name = key
		if s.Windows, err = parseNABWindows(c.Labels, key, windows[key]); err != nil {
			return nil, err
		}
		c.Series = append(c.Series, s)
		if cat, _, ok := strings.Cut(key, "/"); ok && !slices.Contains(c.Categories, cat) {
			c.Categories = append(c.Categories, cat)
		}
	}
	if err := c.checkUnlabelled(windows); err != nil {
		return nil, err
	}
	if len(c.Series) == 0 {
		return nil, fmt.Errorf("%s: none of the %d series labelled in %s is here (want %s/<category>/<file>.csv)", dir, len(keys), c.Labels, c.dataDir)
	}
	if c.Profiles, err = readNABProfiles(filepath.Join(dir, "config", "profiles.json")); err != nil {
		return nil, err
	}
	return c, nil
}

// parseNABWindows reads one series' windows: [start, end] timestamps in
// order, each ending at or after its start and starting after the one
// before ends.
func parseNABWindows(labels, key string, ws [][2]string) ([][2]time.Time, error) {
	var out [][2]time.Time
	for i, w := range ws {
		var pair [2]time.Time
		for j := range w {
			t, err := time.Parse(nabTime, w[j])
			if err != nil {
				return nil, fmt.Errorf("%s: %s window %d: %w", labels, key, i+1, err)
			}
			pair[j] = t
		}
		if pair[1].Before(pair[0]) {
			return nil, fmt.Errorf("%s: %s window %d ends (%s) before it starts (%s)", labels, key, i+1, w[1], w[0])
		}
		if i > 0 && !pair[0].After(out[i-1][1]) {
			return nil, fmt.Errorf("%s: %s window %d starts before window %d ends", labels, key, i+1, i)
		}
		out = append(out, pair)
	}
	return out, nil
}

// readLabels reads labels/combined_windows.json, or else every
// labels/combined_windows_*.json (a corpus shared by category).
func (c *NABCorpus) readLabels() (map[string][][2]string, error) {
	files := []string{filepath.Join(c.Dir, "labels", "combined_windows.json")}
	if _, err := os.Stat(files[0]); err != nil {
		files, _ = filepath.Glob(filepath.Join(c.Dir, "labels", "combined_windows_*.json"))
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no labels/combined_windows.json (is this a NAB directory?)", c.Dir)
		}
	}
	c.Labels = strings.Join(files, ", ")
	all := map[string][][2]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ws, err := decodeNABLabels(f, raw)
		if err != nil {
			return nil, err
		}
		for k, v := range ws {
			if _, dup := all[k]; dup {
				return nil, fmt.Errorf("%s: %s is labelled in two files", f, k)
			}
			all[k] = v
		}
	}
	return all, nil
}

// decodeNABLabels reads a NAB labels file: series key → windows.
func decodeNABLabels(name string, raw []byte) (map[string][][2]string, error) {
	var ws map[string][][2]string
	if err := json.Unmarshal(raw, &ws); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for k := range ws {
		cat, file, _ := strings.Cut(k, "/")
		if cat == "" || cat == "." || cat == ".." || strings.ContainsAny(file, "/\\") || !strings.HasSuffix(file, ".csv") || file == ".csv" {
			return nil, fmt.Errorf("%s: key %q is not <category>/<file>.csv", name, k)
		}
	}
	return ws, nil
}

// checkUnlabelled fails on a data file the labels do not name: it would
// otherwise be left out silently.
func (c *NABCorpus) checkUnlabelled(windows map[string][][2]string) error {
	files, _ := filepath.Glob(filepath.Join(c.dataDir, "*", "*.csv"))
	for _, f := range files {
		key := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		if _, ok := windows[key]; !ok {
			return fmt.Errorf("%s: no windows for it in %s", f, c.Labels)
		}
	}
	return nil
}

// readNABProfiles reads NAB's config/profiles.json: the profile names
// and their cost matrices. Without the file, NAB's three profiles.
func readNABProfiles(path string) ([]NABProfile, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return slices.Clone(NABProfiles), nil
	}
	if err != nil {
		return nil, err
	}
	return decodeNABProfiles(path, raw)
}

// decodeNABProfiles reads NAB's profiles.json: profile name → CostMatrix
// with tpWeight, fpWeight and fnWeight, none negative; NAB's three first,
// the others by name.
func decodeNABProfiles(path string, raw []byte) ([]NABProfile, error) {
	var doc map[string]struct {
		CostMatrix map[string]*float64
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []NABProfile
	for name, p := range doc {
		get := func(k string) (float64, error) {
			v := p.CostMatrix[k]
			if v == nil {
				return 0, fmt.Errorf("%s: profile %s: no CostMatrix.%s", path, name, k)
			}
			if *v < 0 {
				return 0, fmt.Errorf("%s: profile %s: CostMatrix.%s is negative (%v)", path, name, k, *v)
			}
			return *v, nil
		}
		np := NABProfile{Name: name}
		for _, k := range []string{"tpWeight", "fpWeight", "fnWeight"} {
			v, err := get(k)
			if err != nil {
				return nil, err
			}
			switch k {
			case "tpWeight":
				np.TP = v
			case "fpWeight":
				np.FP = v
			default:
				np.FN = v
			}
		}
		out = append(out, np)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no profiles", path)
	}
	order := func(n string) int {
		for i, p := range NABProfiles {
			if p.Name == n {
				return i
			}
		}
		return len(NABProfiles)
	}
	slices.SortFunc(out, func(a, b NABProfile) int {
		if d := order(a.Name) - order(b.Name); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func readNABFile(path string) (Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return Series{Name: filepath.Base(path)}, err
	}
	defer f.Close()
	return decodeNABSeries(path, f)
}

// decodeNABSeries reads a NAB data file: CSV timestamp,value with an
// optional header; timestamps may repeat but not go back.
func decodeNABSeries(name string, in io.Reader) (Series, error) {
	s := Series{Name: filepath.Base(name)}
	r := csv.NewReader(in)
	r.FieldsPerRecord = 2
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		if line == 1 && rec[0] == "timestamp" {
			continue
		}
		t, err := time.Parse(nabTime, rec[0])
		if err != nil {
			return s, fmt.Errorf("%s:%d: timestamp: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return s, fmt.Errorf("%s:%d: value: %w", name, line, err)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return s, fmt.Errorf("%s:%d: value %s is not a finite number", name, line, rec[1])
		}
		if n := len(s.Times); n > 0 && t.Before(s.Times[n-1]) {
			return s, fmt.Errorf("%s:%d: timestamp %s is before the one above it", name, line, rec[0])
		}
		s.Times = append(s.Times, t)
		s.Values = append(s.Values, v)
	}
	if len(s.Times) == 0 {
		return s, fmt.Errorf("%s: no samples", name)
	}
	return s, nil
}

// openMaybeGzip opens path, or path.gz decompressed when only that exists.
func openMaybeGzip(path string) (io.ReadCloser, string, error) {
	if f, err := os.Open(path); err == nil {
		return f, path, nil
	}
	f, err := os.Open(path + ".gz")
	if err != nil {
		return nil, path, err
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, path + ".gz", fmt.Errorf("%s: %w", path+".gz", err)
	}
	return struct {
		io.Reader
		io.Closer
	}{z, f}, path + ".gz", nil
}

// PublishedDetectors lists the detectors under results/ that have a
// result file for every series of the corpus, and those that lack some.
func (c *NABCorpus) PublishedDetectors() (complete, partial []string) {
	dirs, err := os.ReadDir(filepath.Join(c.Dir, "results"))
	if err != nil {
		return nil, nil
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		all := true
		for i := range c.Series {
			p := c.resultPath(d.Name(), c.Series[i].Name)
			if _, err := os.Stat(p); err != nil {
				if _, err := os.Stat(p + ".gz"); err != nil {
					all = false
					break
				}
			}
		}
		if all {
			complete = append(complete, d.Name())
		} else {
			partial = append(partial, d.Name())
		}
	}
	return complete, partial
}

// resultPath is NAB's place for a detector's results on one series:
// results/<detector>/<category>/<detector>_<file>.csv.
func (c *NABCorpus) resultPath(detector, key string) string {
	cat, file, _ := strings.Cut(key, "/")
	return filepath.Join(c.Dir, "results", detector, cat, detector+"_"+file)
}

// Results reads a published detector's anomaly scores, one per sample of
// each series (the result file's anomaly_score column); its timestamps
// must be the series'.
func (c *NABCorpus) Results(detector string) ([][]float64, error) {
	out := make([][]float64, len(c.Series))
	for i := range c.Series {
		sc, err := readNABResult(c.resultPath(detector, c.Series[i].Name), &c.Series[i])
		if err != nil {
			return nil, err
		}
		out[i] = sc
	}
	return out, nil
}

func readNABResult(path string, s *Series) ([]float64, error) {
	rc, name, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return decodeNABResult(name, rc, s)
}

// decodeNABResult reads a detector's result file for series s: CSV with
// a header naming timestamp and anomaly_score columns, one row per
// sample of s, at its timestamps.
func decodeNABResult(name string, rc io.Reader, s *Series) ([]float64, error) {
	r := csv.NewReader(rc)
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	ts, as := slices.Index(head, "timestamp"), slices.Index(head, "anomaly_score")
	if ts < 0 || as < 0 {
		return nil, fmt.Errorf("%s: the header has no timestamp or anomaly_score column: %v", name, head)
	}
	out := make([]float64, 0, len(s.Times))
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		i := len(out)
		if i >= len(s.Times) {
			return nil, fmt.Errorf("%s:%d: more rows than %s's %d samples", name, line, s.Name, len(s.Times))
		}
		t, err := time.Parse(nabTime, rec[ts])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: timestamp: %w", name, line, err)
		}
		if !t.Equal(s.Times[i]) {
			return nil, fmt.Errorf("%s:%d: timestamp %s, but %s's sample %d is at %s", name, line, rec[ts], s.Name, i+1, s.Times[i].Format(nabTime))
		}
		v, err := strconv.ParseFloat(rec[as], 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: anomaly_score: %w", name, line, err)
		}
		if math.IsNaN(v) {
			return nil, fmt.Errorf("%s:%d: anomaly_score is NaN", name, line)
		}
		out = append(out, v)
	}
	if len(out) != len(s.Times) {
		return nil, fmt.Errorf("%s: %d rows, but %s has %d samples", name, len(out), s.Name, len(s.Times))
	}
	return out, nil
}

// NABThreshold is an entry of NAB's config/thresholds.json: the
// threshold its optimiser chose for a detector and profile over the whole
// corpus, and the raw score there.
type NABThreshold struct {
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
}

// NABThresholds reads config/thresholds.json: detector → profile →
// threshold. A directory without it gives nil and no error.
func (c *NABCorpus) NABThresholds() (map[string]map[string]NABThreshold, error) {
	path := filepath.Join(c.Dir, "config", "thresholds.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out map[string]map[string]NABThreshold
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// nabTableRow is one row of NAB's per-file score table
// (results/<detector>/<detector>_<profile>_scores.csv).
type nabTableRow struct {
	Threshold, Score  float64
	TP, TN, FP, FN, N int
}

// readNABScoreTable reads a detector's per-file score table for a
// profile, by file key; a Totals row is skipped.
func (c *NABCorpus) readNABScoreTable(detector, profile string) (map[string]nabTableRow, error) {
	rc, name, err := openMaybeGzip(filepath.Join(c.Dir, "results", detector, detector+"_"+profile+"_scores.csv"))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return decodeNABScoreTable(name, rc)
}

// decodeNABScoreTable reads NAB's per-file score table CSV.
func decodeNABScoreTable(name string, rc io.Reader) (map[string]nabTableRow, error) {
	r := csv.NewReader(rc)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	col := map[string]int{}
	for _, k := range []string{"File", "Threshold", "Score", "TP", "TN", "FP", "FN", "Total_Count"} {
		if col[k] = slices.Index(head, k); col[k] < 0 {
			return nil, fmt.Errorf("%s: the header has no %s column", name, k)
		}
	}
	out := map[string]nabTableRow{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if rec[col["File"]] == "" || rec[col["File"]] == "Totals" {
			continue
		}
		var row nabTableRow
		var errs []error
		f := func(k string) float64 {
			v, err := strconv.ParseFloat(rec[col[k]], 64)
			errs = append(errs, err)
			return v
		}
		row.Threshold, row.Score = f("Threshold"), f("Score")
		row.TP, row.TN, row.FP, row.FN, row.N = int(f("TP")), int(f("TN")), int(f("FP")), int(f("FN")), int(f("Total_Count"))
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out[rec[col["File"]]] = row
	}
}
