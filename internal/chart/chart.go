// Package chart renders the charts Vigil shows as SVG on the server: a
// score over time with its severity bands (seed 000 Figure 5), and
// observations over time by type (Figure 6). Every text that came from a
// host or the network is escaped; the SVG holds no script and refers to
// nothing outside itself, so a page shows it as an image.
package chart

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Point is one value at one x (seconds, or Unix seconds).
type Point struct{ X, Y float64 }

// Series is a named line.
type Series struct {
	Name   string
	Points []Point
}

// Mark is a labelled vertical line (an event of the experiment).
type Mark struct {
	X     float64
	Label string
}

// Scores is a chart of scores in [0, 1] over x, drawn as steps (a score
// holds until the next) over the green, yellow and red bands.
type Scores struct {
	Title         string
	Width, Height float64
	Yellow, Red   float64
	// XMin and XMax bound the x axis (from the points when equal).
	XMin, XMax float64
	// XLabel formats an x for the axis (default: the number).
	XLabel func(float64) string
	// XTitle names the x axis.
	XTitle string
	Series []Series
	Marks  []Mark
	// Dots draws each point (for a single track).
	Dots bool
}

var colors = []string{"#1d2433", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// SVG renders the chart.
func (c Scores) SVG() []byte {
	if c.Width == 0 {
		c.Width, c.Height = 520, 180
	}
	if c.Yellow == 0 && c.Red == 0 {
		c.Yellow, c.Red = 0.5, 0.9
	}
	legend := len(c.Series) > 1
	top, bottom, left, right := 10.0, 22.0, 36.0, 8.0
	if c.Title != "" {
		top = 48
	}
	if c.XTitle != "" {
		bottom = 38
	}
	if legend {
		right = 110
	}
	lo, hi := c.XMin, c.XMax
	if lo == hi {
		lo, hi = xRange(c.Series)
	}
	pw, ph := c.Width-left-right, c.Height-top-bottom
	x := func(v float64) float64 { return left + (v-lo)/(hi-lo)*pw }
	y := func(s float64) float64 { return top + (1-math.Max(0, math.Min(1, s)))*ph }
	label := c.XLabel
	if label == nil {
		label = func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	}
	var b strings.Builder
	open(&b, c.Width, c.Height)
	if c.Title != "" {
		fmt.Fprintf(&b, `<text x="%s" y="16" font-size="14">%s</text>`+"\n", num(left), html.EscapeString(c.Title))
	}
	for _, band := range []struct {
		lo, hi float64
		fill   string
	}{{0, c.Yellow, "#d6eedb"}, {c.Yellow, c.Red, "#f8ecc2"}, {c.Red, 1, "#f7d4d0"}} {
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n", num(left), num(y(band.hi)), num(pw), num(y(band.lo)-y(band.hi)), band.fill)
	}
	for _, v := range []float64{0, c.Yellow, c.Red, 1} {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%.2f</text>`+"\n", num(left-4), num(y(v)+4), v)
	}
	ticks := 2
	if c.Width >= 700 {
		ticks = 6
	}
	for i := 0; i <= ticks; i++ {
		v := lo + (hi-lo)*float64(i)/float64(ticks)
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case ticks:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="%s">%s</text>`+"\n", num(x(v)), num(top+ph+15), anchor, html.EscapeString(label(v)))
	}
	if c.XTitle != "" {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(left+pw/2), num(c.Height-8), html.EscapeString(c.XTitle))
	}
	for i, m := range c.Marks {
		ly := top - 4 - float64(i%2)*13 // close marks' labels on two rows
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555" stroke-dasharray="4 3"/><text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n",
			num(x(m.X)), num(top), num(x(m.X)), num(top+ph), num(x(m.X)), num(ly), html.EscapeString(m.Label))
	}
	// Series whose scores coincide would hide each other: each line is
	// narrower than the one drawn before it, so all show.
	for i, s := range c.Series {
		width := 1.5
		if legend {
			width = math.Max(1.8, 8-2.2*float64(i))
		}
		color := colors[i%len(colors)]
		if len(s.Points) > 0 {
			var d strings.Builder
			fmt.Fprintf(&d, "M%s %s", num(x(s.Points[0].X)), num(y(s.Points[0].Y)))
			if legend { // from 0 at the start of the axis
				d.Reset()
				fmt.Fprintf(&d, "M%s %s", num(x(lo)), num(y(0)))
			}
			for _, p := range s.Points {
				fmt.Fprintf(&d, "H%sV%s", num(x(p.X)), num(y(p.Y)))
			}
			fmt.Fprintf(&d, "H%s", num(x(hi))) // the latest score holds
			fmt.Fprintf(&b, `<path class="score-line" d="%s" fill="none" stroke="%s" stroke-width="%s" stroke-linejoin="round"/>`+"\n", d.String(), color, num(width))
			if c.Dots {
				for _, p := range s.Points {
					fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`+"\n", num(x(p.X)), num(y(p.Y)), color)
				}
			}
		}
		if legend {
			ly := top + 14 + float64(i)*18
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/><text x="%s" y="%s">%s</text>`+"\n",
				num(left+pw+10), num(ly), num(left+pw+28), num(ly), color, num(left+pw+34), num(ly+4), html.EscapeString(s.Name))
		}
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func open(b *strings.Builder, w, h float64) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="11">`+"\n", num(w), num(h), num(w), num(h))
	fmt.Fprintf(b, `<rect width="%s" height="%s" fill="white"/>`+"\n", num(w), num(h))
}

func xRange(ss []Series) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.Points {
			lo, hi = math.Min(lo, p.X), math.Max(hi, p.X)
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	if hi-lo < 1 {
		hi = lo + 1
	}
	return lo, hi
}

// Observations is a chart of observations over x, one row per type.
type Observations struct {
	Width, Height float64
	XMin, XMax    float64
	XLabel        func(float64) string
	// Rows are the types, in order; Points put an observation on a row.
	Rows   []string
	Points []Point // Y is the row's index
}

// MaxRows is how many types an observations chart shows.
const MaxRows = 14

// SVG renders the chart.
func (c Observations) SVG() []byte {
	if c.Width == 0 {
		c.Width, c.Height = 520, 180
	}
	rows := c.Rows
	if len(rows) > MaxRows {
		rows = rows[:MaxRows]
	}
	top, bottom, left, right := 8.0, 22.0, 118.0, 8.0
	lo, hi := c.XMin, c.XMax
	if lo == hi {
		lo, hi = xRange([]Series{{Points: c.Points}})
	}
	pw := c.Width - left - right
	row := (c.Height - top - bottom) / math.Max(1, float64(len(rows)))
	x := func(v float64) float64 { return left + (v-lo)/(hi-lo)*pw }
	label := c.XLabel
	if label == nil {
		label = func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	}
	var b strings.Builder
	open(&b, c.Width, c.Height)
	for i, r := range rows {
		fmt.Fprintf(&b, `<text x="2" y="%s">%s</text>`+"\n", num(top+row*(float64(i)+0.5)+4), html.EscapeString(r))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`+"\n", num(left), num(c.Height-6), html.EscapeString(label(lo)))
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(c.Width-right), num(c.Height-6), html.EscapeString(label(hi)))
	for _, p := range c.Points {
		i := int(p.Y)
		if i < 0 || i >= len(rows) {
			continue
		}
		fmt.Fprintf(&b, `<circle class="obs" cx="%s" cy="%s" r="2.5" fill="#3b5bdb" fill-opacity="0.6"/>`+"\n", num(x(p.X)), num(top+row*(float64(i)+0.5)))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
