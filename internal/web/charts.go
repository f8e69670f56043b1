package web

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/chart"
	"github.com/vigil-ids/vigil/internal/store"
)

// chartLimit is how many records a chart draws at most (the newest).
const chartLimit = 2000

// clockLabel labels a chart's time axis (Unix seconds) in UTC.
func clockLabel(v float64) string {
	return time.Unix(0, int64(v*1e9)).UTC().Format("15:04:05")
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// getScoreChart draws a track's score over time with its severity bands
// (seed 000 Figure 5), as SVG: the reports of a subject (host or ip) and
// model, the comparisons' verdicts left out.
func (s *Server) getScoreChart(w http.ResponseWriter, r *http.Request) {
	f, ok := s.chartFilter(w, r, "monitor", "engine", "model")
	if !ok {
		return
	}
	rs, err := s.o.Store.Reports(r.Context(), f)
	if err != nil {
		s.o.Logger.Error("querying a score chart", "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("query failed"))
		return
	}
	slices.Reverse(rs) // oldest first
	c := chart.Scores{Yellow: 0.5, Red: 0.9, Dots: true, XLabel: clockLabel, Series: []chart.Series{{Name: f.Model}}}
	for i := range rs {
		rep := &rs[i]
		if rep.State == "Verdict" {
			continue
		}
		if y, ok := rep.Attrs["band_yellow"].(float64); ok {
			c.Yellow = y
		}
		if red, ok := rep.Attrs["band_red"].(float64); ok {
			c.Red = red
		}
		c.Series[0].Points = append(c.Series[0].Points, chart.Point{X: unixSeconds(rep.Time), Y: rep.Score})
	}
	writeSVG(w, c.SVG())
}

// getObservationsChart draws a subject's observations over time, a row
// per type (seed 000 Figure 6), as SVG.
func (s *Server) getObservationsChart(w http.ResponseWriter, r *http.Request) {
	f, ok := s.chartFilter(w, r, "type")
	if !ok {
		return
	}
	evs, err := s.o.Store.Events(r.Context(), f)
	if err != nil {
		s.o.Logger.Error("querying an observations chart", "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("query failed"))
		return
	}
	c := chart.Observations{XLabel: clockLabel}
	row := map[string]int{}
	for i := range evs {
		if _, ok := row[evs[i].Type]; !ok {
			row[evs[i].Type] = 0
			c.Rows = append(c.Rows, evs[i].Type)
		}
	}
	slices.Sort(c.Rows)
	for i, t := range c.Rows {
		row[t] = i
	}
	for i := range evs {
		c.Points = append(c.Points, chart.Point{X: unixSeconds(evs[i].Time), Y: float64(row[evs[i].Type])})
	}
	writeSVG(w, c.SVG())
}

// chartFilter reads a chart's parameters: a subject (host or ip), the
// others allowed, and at, the page's key to draw the chart afresh (not
// used). It answers the request itself when they are wrong.
func (s *Server) chartFilter(w http.ResponseWriter, r *http.Request, allowed ...string) (store.Filter, bool) {
	f, err := s.parseFilter(r, append([]string{"host", "ip", "at"}, allowed...)...)
	if err == nil && f.Host == "" && f.IP == "" {
		err = errors.New("a chart is of one subject: give host or ip")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return f, false
	}
	f.Limit = chartLimit
	return f, true
}

func writeSVG(w http.ResponseWriter, svg []byte) {
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(svg)
}
