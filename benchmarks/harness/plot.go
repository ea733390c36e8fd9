package harness

import (
	"fmt"
	"image/color"
	"io"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette colours plot series; it is long enough that a breakdown's
// segments rarely share a colour.
var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
	color.RGBA{227, 119, 194, 255}, color.RGBA{127, 127, 127, 255}, color.RGBA{188, 189, 34, 255},
	color.RGBA{23, 190, 207, 255}, color.RGBA{174, 199, 232, 255}, color.RGBA{255, 187, 120, 255},
}

func colorAt(i int) color.Color { return palette[i%len(palette)] }

// Plot sizes.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 5 * vg.Inch
)

// WriteLatencyThroughputSVG plots p50, p90, p95 and p99 latency (ms)
// against throughput, one point per level labelled with its load.
func WriteLatencyThroughputSVG(w io.Writer, title string, levels []Level) error {
	p, err := latencyThroughputPlot(title, levels)
	if err != nil {
		return err
	}
	return writeSVG(w, p)
}

func latencyThroughputPlot(title string, levels []Level) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "throughput (inferences/s)"
	p.Y.Label.Text = "latency (ms)"
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	series := []struct {
		name string
		get  func(LatencyStats) time.Duration
	}{
		{"p50", func(l LatencyStats) time.Duration { return l.P50 }},
		{"p90", func(l LatencyStats) time.Duration { return l.P90 }},
		{"p95", func(l LatencyStats) time.Duration { return l.P95 }},
		{"p99", func(l LatencyStats) time.Duration { return l.P99 }},
	}
	var measured []Level
	for _, lv := range levels {
		if lv.Requests > 0 {
			measured = append(measured, lv)
		}
	}
	if len(measured) == 0 {
		return nil, fmt.Errorf("no level served any request: nothing to plot")
	}
	for i, s := range series {
		pts := make(plotter.XYs, len(measured))
		for j, lv := range measured {
			pts[j] = plotter.XY{X: lv.Throughput, Y: msf(s.get(lv.Latency))}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = colorAt(i), colorAt(i)
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	labels := plotter.XYLabels{}
	for _, lv := range measured {
		labels.XYs = append(labels.XYs, plotter.XY{X: lv.Throughput, Y: msf(lv.Latency.P99)})
		labels.Labels = append(labels.Labels, " "+shortLoad(&lv))
	}
	lbl, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	p.Add(lbl)
	// Start both axes at 0 and leave room for the labels on the right.
	var maxX, maxY float64
	for _, lv := range measured {
		maxX, maxY = max(maxX, lv.Throughput), max(maxY, msf(lv.Latency.P99))
	}
	p.X.Min, p.X.Max = 0, maxX*1.15
	p.Y.Min, p.Y.Max = 0, maxY*1.1
	return p, nil
}

func shortLoad(lv *Level) string {
	if lv.RequestRate > 0 {
		return fmt.Sprintf("%g/s", lv.RequestRate)
	}
	return fmt.Sprintf("c=%d", lv.Concurrency)
}

func writeSVG(w io.Writer, p *plot.Plot) error {
	wt, err := p.WriterTo(plotWidth, plotHeight, "svg")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// Bar is one stacked bar of a breakdown chart.
type Bar struct {
	Label    string
	Segments []Segment
}

// Segment is one part of a bar.
type Segment struct {
	Name  string
	Value time.Duration
}

// Total is the sum of the bar's segments.
func (b Bar) Total() time.Duration {
	var t time.Duration
	for _, s := range b.Segments {
		t += s.Value
	}
	return t
}

// Segment names used by BreakdownBar.
const (
	SegClient        = "client send/recv"
	SegQueue         = "Triton queue (all stages)"
	SegStageOther    = "stage calls: Triton handling, gRPC, network"
	SegBaton         = "Baton overhead"
	SegOrchestration = "orchestration (Baton incl. hops, or ensemble)"
	SegRest          = "network + other"
)

// BreakdownBar splits a level's average latency into stacked parts: the
// client's send and receive, each stage model's compute (per request), all
// stages' queueing, the rest of the stage calls (network to Triton and
// Triton's own handling), Baton's overhead (Server-Timing) or, without it,
// the statistics' orchestration overhead, and whatever remains up to the
// average latency (network between client and server, the server's HTTP
// or gRPC handling). Parts that are not known are left out.
func BreakdownBar(label string, lv *Level) Bar {
	b := Bar{Label: label}
	add := func(name string, d time.Duration) {
		if d > 0 {
			b.Segments = append(b.Segments, Segment{name, d})
		}
	}
	add(SegClient, lv.ClientSend+lv.ClientRecv)
	var known time.Duration
	switch s := lv.Server; {
	case s != nil:
		for _, st := range s.Stages {
			add(st.Model+" compute", time.Duration(float64(st.ComputeInput+st.ComputeInfer+st.ComputeOutput)*st.CallsPerRequest))
		}
		add(SegQueue, s.Queue)
		known = s.Queue + s.Compute()
		calls := s.StageTime // Triton's request time
		if lv.Timing != nil {
			calls = lv.Timing.StageSum // Baton's time around its stage calls
		}
		if calls > known {
			add(SegStageOther, calls-known)
			known = calls
		}
	case lv.Timing != nil:
		add(SegStageOther, lv.Timing.StageSum)
		known = lv.Timing.StageSum
	}
	if lv.Timing != nil {
		add(SegBaton, lv.Timing.Baton)
		known += lv.Timing.Baton
	} else if orch, ok := lv.Server.orchestration(); ok && orch > 0 {
		add(SegOrchestration, orch)
		known += orch
	}
	add(SegRest, lv.Latency.Avg-lv.ClientSend-lv.ClientRecv-known)
	return b
}

func segmentRank(name string) int {
	switch {
	case name == SegClient:
		return 0
	case strings.HasSuffix(name, " compute"):
		return 1
	case name == SegQueue:
		return 2
	case name == SegStageOther:
		return 3
	case name == SegBaton, name == SegOrchestration:
		return 4
	case name == SegRest:
		return 5
	}
	return 6
}

// orchestration is Orchestration on a possibly nil breakdown.
func (b *ServerBreakdown) orchestration() (time.Duration, bool) {
	if b == nil {
		return 0, false
	}
	return b.Orchestration()
}

// WriteBreakdownSVG draws bars as stacked columns (ms), one colour per
// segment name.
func WriteBreakdownSVG(w io.Writer, title string, bars []Bar) error {
	p, err := breakdownPlot(title, bars)
	if err != nil {
		return err
	}
	return writeSVG(w, p)
}

func breakdownPlot(title string, bars []Bar) (*plot.Plot, error) {
	if len(bars) == 0 {
		return nil, fmt.Errorf("no bars to plot")
	}
	var names []string
	for _, b := range bars {
		for _, s := range b.Segments {
			if !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
	}
	// Stack in the order a request meets the parts, whichever bar named
	// them first: client, stage compute, queue, the rest of the stage
	// calls, the orchestrator, the remainder on top.
	slices.SortStableFunc(names, func(a, b string) int { return segmentRank(a) - segmentRank(b) })
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "mean time per request (ms)"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	labels := make([]string, len(bars))
	for i, b := range bars {
		labels[i] = b.Label
	}
	var below *plotter.BarChart
	var legend []*plotter.BarChart
	width := vg.Points(min(40, 360/float64(len(bars))))
	for i, name := range names {
		vals := make(plotter.Values, len(bars))
		for j, b := range bars {
			for _, s := range b.Segments {
				if s.Name == name {
					vals[j] += msf(s.Value)
				}
			}
		}
		bc, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bc.Color = colorAt(i)
		bc.LineStyle.Width = 0
		if below != nil {
			bc.StackOn(below)
		}
		below = bc
		p.Add(bc)
		legend = append(legend, bc)
	}
	// The legend lists segments top down, as they are stacked.
	for i := len(legend) - 1; i >= 0; i-- {
		p.Legend.Add(names[i], legend[i])
	}
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(bars))-0.4
	// Leave headroom above the tallest bar for the legend.
	var top float64
	for _, b := range bars {
		top = max(top, msf(b.Total()))
	}
	p.Y.Min, p.Y.Max = 0, top*(1.2+0.1*float64(len(names)))
	return p, nil
}
