package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are inline SVG drawn on the server: one line per member, the cluster average as a
// thicker line, the scaling threshold as a dashed line and each scaling decision as a vertical
// mark that links to its trace.

type sample struct {
	T time.Time
	V float64
}

type series struct {
	Name    string
	Samples []sample
	Average bool // the cluster average: drawn thicker
}

type decisionMark struct {
	T     time.Time
	Label string // the action and the reason, shown as the mark's tooltip
	Href  string
}

type chart struct {
	Title        string
	From, To     time.Time
	Series       []series
	Threshold    float64
	HasThreshold bool
	Marks        []decisionMark
}

const (
	chartW, chartH                = 640.0, 220.0
	padL, padR, padTop, padBottom = 44.0, 12.0, 22.0, 26.0
)

// SVG renders the chart.
func (ch chart) SVG() template.HTML {
	top := 1.0
	for _, s := range ch.Series {
		for _, p := range s.Samples {
			top = math.Max(top, p.V)
		}
	}
	if ch.HasThreshold {
		top = math.Max(top, ch.Threshold)
	}
	top *= 1.1
	span := ch.To.Sub(ch.From).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 {
		return padL + (chartW-padL-padR)*math.Min(1, math.Max(0, t.Sub(ch.From).Seconds()/span))
	}
	y := func(v float64) float64 { return chartH - padBottom - (chartH-padTop-padBottom)*v/top }
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s">`, chartW, chartH, html.EscapeString(ch.Title))
	p(`<title>%s</title>`, html.EscapeString(ch.Title))
	p(`<text x="%g" y="14" class="chart-title">%s</text>`, padL, html.EscapeString(ch.Title))
	p(`<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, padL, chartH-padBottom, chartW-padR, chartH-padBottom)
	p(`<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, padL, padTop, padL, chartH-padBottom)
	p(`<text class="tick" x="%g" y="%g" text-anchor="end">%.3g</text>`, padL-4, padTop+4, top)
	p(`<text class="tick" x="%g" y="%g" text-anchor="end">0</text>`, padL-4, chartH-padBottom)
	p(`<text class="tick" x="%g" y="%g">%s</text>`, padL, chartH-8, ch.From.UTC().Format("15:04:05"))
	p(`<text class="tick" x="%g" y="%g" text-anchor="end">%s UTC</text>`, chartW-padR, chartH-8, ch.To.UTC().Format("15:04:05"))
	if ch.HasThreshold {
		ty := y(ch.Threshold)
		p(`<line class="threshold" x1="%g" y1="%.1f" x2="%g" y2="%.1f"><title>threshold %g</title></line>`, padL, ty, chartW-padR, ty, ch.Threshold)
		p(`<text class="threshold-label" x="%g" y="%.1f" text-anchor="end">threshold %g</text>`, chartW-padR, ty-3, ch.Threshold)
	}
	for i, s := range ch.Series {
		if len(s.Samples) == 0 {
			continue
		}
		class := fmt.Sprintf("series series-%d", i%6)
		if s.Average {
			class = "series average"
		}
		p(`<polyline class="%s" points="`, class)
		for _, pt := range s.Samples {
			p("%.1f,%.1f ", x(pt.T), y(pt.V))
		}
		p(`"><title>%s</title></polyline>`, html.EscapeString(s.Name))
	}
	for _, m := range ch.Marks {
		mx := x(m.T)
		p(`<a class="decision-mark" href="%s"><title>%s</title>`, html.EscapeString(m.Href), html.EscapeString(m.Label))
		p(`<line x1="%.1f" y1="%g" x2="%.1f" y2="%g"/>`, mx, padTop, mx, chartH-padBottom)
		p(`<path d="M%.1f %g l-5 -8 h10 z"/></a>`, mx, padTop)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text and attribute above is escaped or a number
}
