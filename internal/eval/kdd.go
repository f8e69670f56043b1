package eval

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/event"
)

// kddFields are the 41 features of a KDD Cup 99 / NSL-KDD record, in
// order (the dataset's Field Names), and whether each is symbolic.
var kddFields = []struct {
	name     string
	symbolic bool
}{
	{"duration", false}, {"protocol_type", true}, {"service", true}, {"flag", true}, {"src_bytes", false},
	{"dst_bytes", false}, {"land", true}, {"wrong_fragment", false}, {"urgent", false}, {"hot", false},
	{"num_failed_logins", false}, {"logged_in", true}, {"num_compromised", false}, {"root_shell", true},
	{"su_attempted", true}, {"num_root", false}, {"num_file_creations", false}, {"num_shells", false},
	{"num_access_files", false}, {"num_outbound_cmds", false}, {"is_host_login", true}, {"is_guest_login", true},
	{"count", false}, {"srv_count", false}, {"serror_rate", false}, {"srv_serror_rate", false},
	{"rerror_rate", false}, {"srv_rerror_rate", false}, {"same_srv_rate", false}, {"diff_srv_rate", false},
	{"srv_diff_host_rate", false}, {"dst_host_count", false}, {"dst_host_srv_count", false},
	{"dst_host_same_srv_rate", false}, {"dst_host_diff_srv_rate", false}, {"dst_host_same_src_port_rate", false},
	{"dst_host_srv_diff_host_rate", false}, {"dst_host_serror_rate", false}, {"dst_host_srv_serror_rate", false},
	{"dst_host_rerror_rate", false}, {"dst_host_srv_rerror_rate", false},
}

// Record is one NSL-KDD connection record.
type Record struct {
	Event    event.Event
	Label    string // normal or the attack's name
	Category string // normal, dos, probe, r2l, u2r (unknown when not mapped)
}

// LoadKDD reads an NSL-KDD file (plain or gzipped: 41 features, the
// label, the difficulty), mapping attacks to categories with the
// Attack_Types.csv beside it when there is one.
func LoadKDD(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	cats, err := attackTypes(filepath.Join(filepath.Dir(path), "Attack_Types.csv"))
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var out []Record
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if len(rec) < len(kddFields)+1 {
			return nil, fmt.Errorf("%s:%d: %d columns, want %d features and a label", path, line, len(rec), len(kddFields))
		}
		attrs := make(map[string]any, len(kddFields))
		for i, fd := range kddFields {
			if fd.symbolic {
				attrs[fd.name] = rec[i]
				continue
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %q is not a number", path, line, fd.name, rec[i])
			}
			attrs[fd.name] = v
		}
		label := rec[len(kddFields)]
		cat := "normal"
		if label != "normal" {
			if cat = cats[label]; cat == "" {
				cat = "unknown"
			}
		}
		attrs["subject"] = "connections"
		out = append(out, Record{Event: event.Event{Type: "KDD.CONN", Attrs: attrs}, Label: label, Category: cat})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return out, nil
}

// attackTypes reads name,category lines (CR, LF or CRLF ended); a
// missing file maps nothing.
func attackTypes(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.FieldsFunc(string(data), func(r rune) bool { return r == '\r' || r == '\n' }) {
		name, cat, ok := strings.Cut(line, ",")
		if ok {
			out[strings.TrimSpace(name)] = strings.TrimSpace(cat)
		}
	}
	return out, nil
}

// KDDProfileClass is the profile class the KDD evaluation gives the
// profiler: one subject (the connections), the symbolic features as
// categorical measures and the others as continuous measures with bins
// learnt from the first thousand training records, and a short-term
// profile of the record alone (each record is scored by itself).
func KDDProfileClass() *profile.Class {
	c := &profile.Class{Name: "kdd", Subject: "subject", ShortHalfLife: 0, Rare: 0.001, Alert: 0.99, Red: 0.999, MinHistory: 50}
	for _, fd := range kddFields {
		m := profile.Measure{Name: fd.name, Field: fd.name, Kind: profile.Categorical}
		if !fd.symbolic {
			m.Kind, m.AutoBins = profile.Continuous, 1000
		}
		c.Measures = append(c.Measures, m)
	}
	return c
}

// KDD trains the profiler on the normal records of train, scores every
// record of test, and reports ROC AUC and the detection rate at 1% false
// positives, overall and per attack category; a Gaussian baseline (the
// sum of squared z-scores of the continuous features and the surprisal
// of the symbolic ones, fitted to the same normal records) is scored the
// same way.
func KDD(train, test []Record, testName string) Report {
	var normal []*event.Event
	for i := range train {
		if train[i].Category == "normal" {
			normal = append(normal, &train[i].Event)
		}
	}
	p := profile.New([]*profile.Class{KDDProfileClass()}, profile.Options{})
	for pass := range 2 { // learn the profile, then the distributions of Q and T2 under it
		for _, ev := range normal {
			p.Observe(ev, true)
		}
		if pass == 0 {
			p.Fold()
		}
	}
	prof := make([]float64, len(test))
	for i := range test {
		for _, r := range p.Observe(&test[i].Event, false) {
			prof[i] = r.T2
		}
	}
	g := fitGaussian(normal)
	gauss := make([]float64, len(test))
	for i := range test {
		gauss[i] = g.score(&test[i].Event)
	}
	rep := Report{Dataset: fmt.Sprintf("nsl-kdd: trained on %d normal records, scored %d records of %s", len(normal), len(test), testName)}
	for _, d := range []struct {
		name   string
		scores []float64
	}{{"profile", prof}, {"gaussian-z", gauss}} {
		res := map[string]any{"detector": d.name}
		res["roc_auc"], res["dr_at_1pct_fpr"] = rocMetrics(test, d.scores, "")
		for _, cat := range []string{"dos", "probe", "r2l", "u2r"} {
			auc, dr := rocMetrics(test, d.scores, cat)
			if !math.IsNaN(auc) {
				res["roc_auc_"+cat], res["dr_at_1pct_fpr_"+cat] = auc, dr
			}
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

// rocMetrics are the ROC AUC of the scores separating the normal records
// from the attacks (of category cat, or all), and the fraction of those
// attacks above the normal records' 99th percentile.
func rocMetrics(recs []Record, scores []float64, cat string) (float64, float64) {
	var neg, pos []float64
	for i, r := range recs {
		switch {
		case r.Category == "normal":
			neg = append(neg, scores[i])
		case cat == "" || r.Category == cat:
			pos = append(pos, scores[i])
		}
	}
	if len(neg) == 0 || len(pos) == 0 {
		return math.NaN(), math.NaN()
	}
	slices.Sort(neg)
	// AUC: the probability that an attack outscores a normal record (ties
	// count half).
	var wins float64
	for _, s := range pos {
		lo, _ := slices.BinarySearch(neg, s)
		hi := lo
		for hi < len(neg) && neg[hi] == s {
			hi++
		}
		wins += float64(lo) + float64(hi-lo)/2
	}
	auc := wins / (float64(len(pos)) * float64(len(neg)))
	thr := neg[min(len(neg)-1, int(math.Ceil(0.99*float64(len(neg))))-1)]
	det := 0
	for _, s := range pos {
		if s > thr {
			det++
		}
	}
	return round(auc, 4), round(float64(det)/float64(len(pos)), 4)
}

// gaussian is the baseline: per continuous feature a mean and standard
// deviation, per symbolic one the frequencies, of the normal records.
type gaussian struct {
	mean, std map[string]float64
	freq      map[string]map[string]float64
}

func fitGaussian(evs []*event.Event) gaussian {
	g := gaussian{mean: map[string]float64{}, std: map[string]float64{}, freq: map[string]map[string]float64{}}
	for _, fd := range kddFields {
		if fd.symbolic {
			m := map[string]float64{}
			for _, ev := range evs {
				m[ev.Str(fd.name)]++
			}
			for k := range m {
				m[k] /= float64(len(evs))
			}
			g.freq[fd.name] = m
			continue
		}
		xs := make([]float64, len(evs))
		for i, ev := range evs {
			xs[i], _ = ev.Num(fd.name)
		}
		g.mean[fd.name], g.std[fd.name] = meanStd(xs)
	}
	return g
}

func (g gaussian) score(ev *event.Event) float64 {
	var s float64
	for _, fd := range kddFields {
		if fd.symbolic {
			s += -math.Log(math.Max(g.freq[fd.name][ev.Str(fd.name)], 1e-6))
			continue
		}
		v, _ := ev.Num(fd.name)
		if sd := g.std[fd.name]; sd > 0 {
			z := (v - g.mean[fd.name]) / sd
			s += z * z
		} else if v != g.mean[fd.name] {
			s += 100 // never varied in normal traffic
		}
	}
	return s
}
