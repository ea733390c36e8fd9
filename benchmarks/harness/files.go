package harness

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Outputs names the files WriteFiles writes; empty names are skipped.
type Outputs struct {
	CSV, JSON string
	// SVGDir receives latency-throughput.svg and breakdown.svg.
	SVGDir string
}

// SVG file names inside Outputs.SVGDir.
const (
	LatencyThroughputSVG = "latency-throughput.svg"
	BreakdownSVG         = "breakdown.svg"
)

// CheckOutputs fails early, before any load, if an output cannot be
// written: a missing parent directory, or an SVG directory that cannot be
// created.
func CheckOutputs(o Outputs) error {
	for _, f := range []string{o.CSV, o.JSON} {
		if f == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(f)); err != nil || !st.IsDir() {
			return fmt.Errorf("%w: output %s: directory %s does not exist", ErrBadFlag, f, filepath.Dir(f))
		}
	}
	if o.SVGDir != "" {
		if err := os.MkdirAll(o.SVGDir, 0o755); err != nil {
			return fmt.Errorf("%w: SVG directory: %w", ErrBadFlag, err)
		}
	}
	return nil
}

// LevelBars is one BreakdownBar per level that served requests, labelled
// with its load.
func LevelBars(levels []Level) []Bar {
	var bars []Bar
	for i := range levels {
		if levels[i].Requests > 0 {
			bars = append(bars, BreakdownBar(shortLoad(&levels[i]), &levels[i]))
		}
	}
	return bars
}

// WriteFiles writes r's CSV, JSON and SVG plots and returns the paths it
// wrote. It writes every file it can and joins the errors of the others.
func WriteFiles(r *Result, o Outputs) ([]string, error) {
	var written []string
	var errs []error
	write := func(path string, f func(io.Writer) error) {
		if err := writeFile(path, f); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", path, err))
			return
		}
		written = append(written, path)
	}
	if o.CSV != "" {
		write(o.CSV, func(w io.Writer) error { return WriteCSV(w, r.Levels) })
	}
	if o.JSON != "" {
		write(o.JSON, func(w io.Writer) error { return WriteJSON(w, r) })
	}
	if o.SVGDir != "" {
		title := fmt.Sprintf("%s (%s %s)", r.Meta.Target.Model, r.Meta.Target.Protocol, r.Meta.Target.Door)
		if bars := LevelBars(r.Levels); len(bars) > 0 {
			write(filepath.Join(o.SVGDir, LatencyThroughputSVG), func(w io.Writer) error {
				return WriteLatencyThroughputSVG(w, "latency vs throughput: "+title, r.Levels)
			})
			write(filepath.Join(o.SVGDir, BreakdownSVG), func(w io.Writer) error {
				return WriteBreakdownSVG(w, "where a request's time goes: "+title, bars)
			})
		} else {
			errs = append(errs, errors.New("no level served any request: SVG plots skipped"))
		}
	}
	return written, errors.Join(errs...)
}

func writeFile(path string, f func(io.Writer) error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
