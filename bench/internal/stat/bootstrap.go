package stat

import (
	"math"
	"math/rand/v2"
	"sort"
)

// BootstrapSeed is the seed RatioCI draws its resamples with: fixed, so that
// redrawing the table from results.json prints the same intervals.
const BootstrapSeed = 16

// BootstrapReps is how many resamples RatioCI draws: enough that the 2.5th
// and 97.5th percentiles of the ratio move by well under 1 % between seeds.
const BootstrapReps = 10000

// Interval is a point estimate with a confidence interval.
type Interval struct {
	Est float64 `json:"est"`
	Lo  float64 `json:"lo"`
	Hi  float64 `json:"hi"`
}

// Undefined is the Interval of a statistic that has no value (no samples,
// a zero denominator): every field NaN.
var Undefined = Interval{math.NaN(), math.NaN(), math.NaN()}

// Median and P99 are statistics for RatioCI (nearest rank, as Summarize).
func Median(sorted []float64) float64 { return Percentile(sorted, 50) }

// P99 is the 99th percentile by nearest rank: the largest sample below 100.
func P99(sorted []float64) float64 { return Percentile(sorted, 99) }

// Mean is the arithmetic mean (sorted or not); 0 for no samples.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// RatioCI returns f(a)/f(b) and its percentile-bootstrap confidence
// interval at level conf (0.95 for 95 %): a and b are resampled with
// replacement, each on its own (the two libraries' trials are independent
// samples), BootstrapReps times with BootstrapSeed, f is applied to each
// sorted resample, and the interval runs between the (1-conf)/2 and
// (1+conf)/2 quantiles of the ratios. f gets its samples sorted. With no
// samples on either side, or f(b) = 0, every field is NaN.
func RatioCI(a, b []float64, f func(sorted []float64) float64, conf float64) Interval {
	return compareCI(a, b, f, conf, func(x, y float64) (float64, bool) { return x / y, y != 0 })
}

// DiffCI is RatioCI for the difference f(a) - f(b): how much two rows of
// independent trials differ, in their unit. With no samples on either
// side every field is NaN.
func DiffCI(a, b []float64, f func(sorted []float64) float64, conf float64) Interval {
	return compareCI(a, b, f, conf, func(x, y float64) (float64, bool) { return x - y, true })
}

// compareCI is the bootstrap of RatioCI and DiffCI: combine(f(a), f(b))
// and its interval; combine's false leaves a resample out (and the
// estimate itself undefined: all NaN).
func compareCI(a, b []float64, f func(sorted []float64) float64, conf float64, combine func(x, y float64) (float64, bool)) Interval {
	if len(a) == 0 || len(b) == 0 || conf <= 0 || conf >= 1 {
		return Undefined
	}
	est, ok := combine(f(sorted(a)), f(sorted(b)))
	if !ok {
		return Undefined
	}
	out := Interval{Est: est}
	rng := rand.New(rand.NewPCG(BootstrapSeed, BootstrapSeed))
	ra, rb := make([]float64, len(a)), make([]float64, len(b))
	vals := make([]float64, 0, BootstrapReps)
	for i := 0; i < BootstrapReps; i++ {
		resample(rng, a, ra)
		resample(rng, b, rb)
		if v, ok := combine(f(ra), f(rb)); ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return Undefined
	}
	sort.Float64s(vals)
	out.Lo = quantile(vals, (1-conf)/2)
	out.Hi = quantile(vals, (1+conf)/2)
	return out
}

func sorted(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s
}

// resample fills dst with len(dst) draws from src and sorts them.
func resample(rng *rand.Rand, src, dst []float64) {
	for i := range dst {
		dst[i] = src[rng.IntN(len(src))]
	}
	sort.Float64s(dst)
}

// quantile is the q-quantile (0 <= q <= 1) of sorted xs by nearest rank.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
