// Package stat summarises samples: median and percentiles by the
// nearest-rank method, so that p99 of 50 samples is the largest but none.
package stat

import (
	"math"
	"sort"
)

// Summary describes a set of samples (ms).
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
	Min    float64 `json:"min"`
	Mean   float64 `json:"mean"`
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted xs by
// the nearest-rank method; NaN for no samples.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

// Summarize returns the summary of xs (not modified).
func Summarize(xs []float64) Summary {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	out := Summary{N: len(s), Median: Percentile(s, 50), P90: Percentile(s, 90), P99: Percentile(s, 99)}
	if len(s) == 0 {
		// all zero: N says there is nothing
		return out
	}
	out.Min, out.Max = s[0], s[len(s)-1]
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	out.Mean = sum / float64(len(s))
	return out
}
