package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff},
}

// cdf returns the empirical CDF of xs as a step line.
func cdf(xs []float64) plotter.XYs {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pts := make(plotter.XYs, 0, 2*len(s))
	for i, x := range s {
		pts = append(pts, plotter.XY{X: x, Y: float64(i) / float64(len(s))}, plotter.XY{X: x, Y: float64(i+1) / float64(len(s))})
	}
	return pts
}

type series struct {
	name string
	xs   []float64
}

// cdfChart draws one CDF line per series, with dashed vertical marks.
func cdfChart(path, title, xlabel string, ss []series, marks map[string]float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "fraction of trials"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter
	p.Legend.YOffs = vg.Millimeter * 8
	for i, s := range ss {
		if len(s.xs) == 0 {
			continue
		}
		l, err := plotter.NewLine(cdf(s.xs))
		if err != nil {
			return err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(2)
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	names := make([]string, 0, len(marks))
	for k := range marks {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, name := range names {
		x := marks[name]
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 1}})
		if err != nil {
			return err
		}
		l.Color = color.Gray{Y: 0x60}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3 + 2*float64(i))}
		p.Add(l)
		p.Legend.Add(name, l)
	}
	return p.Save(7*vg.Inch, 4.2*vg.Inch, path)
}

// drawCharts writes the PNG charts into dir and returns their file names.
func drawCharts(r *Results, dir string) ([]string, error) {
	var names []string
	if len(r.Failover) > 0 {
		var ss []series
		for _, f := range r.Failover {
			ss = append(ss, series{fmt.Sprintf("%d nodes (median %.0f ms)", f.Nodes, f.Summary.Median), f.SamplesMs})
		}
		for _, f := range r.FailoverPair {
			ss = append(ss, series{fmt.Sprintf("%d nodes, leader + 1st successor (median %.0f ms)", f.Nodes, f.Summary.Median), f.SamplesMs})
		}
		emin := float64(r.Default.ElectionMin)
		name := "failover_cdf.png"
		err := cdfChart(filepath.Join(dir, name), fmt.Sprintf("graft failover after SIGKILL of the leader (hb %d ms, election %d-%d ms)", r.Default.Heartbeat, r.Default.ElectionMin, r.Default.ElectionMax),
			"ms from SIGKILL to a new leader", ss, map[string]float64{
				fmt.Sprintf("median goal %.2f x ElectionMin", failoverMedianGoal): failoverMedianGoal * emin,
				fmt.Sprintf("p99 goal %.2f x ElectionMin", failoverP99Goal):       failoverP99Goal * emin})
		if err != nil {
			return names, err
		}
		names = append(names, name)
	}
	if len(r.Handover) > 0 {
		var ss []series
		for _, h := range r.Handover {
			ss = append(ss, series{fmt.Sprintf("%s (median %.2f ms)", h.How, h.Summary.Median), h.SamplesMs})
		}
		name := "handover_cdf.png"
		if err := cdfChart(filepath.Join(dir, name), "graft handover, 3 nodes", "ms from the signal to a new leader", ss, map[string]float64{"5 ms target": 5}); err != nil {
			return names, err
		}
		names = append(names, name)
	}
	if len(r.Compare.Failover) > 0 {
		var ss []series
		for _, f := range r.Compare.Failover {
			ss = append(ss, series{fmt.Sprintf("%s (median %.0f ms)", f.Lib, f.Summary.Median), f.SamplesMs})
		}
		t := r.Compare.Timing
		name := "compare_failover_cdf.png"
		if err := cdfChart(filepath.Join(dir, name), fmt.Sprintf("failover, 3 nodes, hb %d ms, election %d-%d ms", t.Heartbeat, t.ElectionMin, t.ElectionMax),
			"ms from SIGKILL to a new leader", ss, map[string]float64{"ElectionMin": float64(t.ElectionMin)}); err != nil {
			return names, err
		}
		names = append(names, name)
	}
	return names, nil
}
