package stat

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRatioCI_CoversTheTrueRatio draws two samples whose medians are known
// (uniform on [0, 2m)), and checks the estimate, that the 95 % interval
// holds the true ratio and the estimate, and that it narrows with more
// samples.
func TestRatioCI_CoversTheTrueRatio(t *testing.T) {
	draw := func(rng *rand.Rand, n int, m float64) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = rng.Float64() * 2 * m
		}
		return xs
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var widths []float64
	for _, n := range []int{40, 400} {
		a, b := draw(rng, n, 300), draw(rng, n, 600)
		ci := RatioCI(a, b, Median, 0.95)
		if !(ci.Lo <= ci.Est && ci.Est <= ci.Hi) {
			t.Fatalf("n=%d: estimate %.3f outside its interval [%.3f, %.3f]", n, ci.Est, ci.Lo, ci.Hi)
		}
		if !(ci.Lo <= 0.5 && 0.5 <= ci.Hi) {
			t.Fatalf("n=%d: interval [%.3f, %.3f] misses the true ratio 0.5", n, ci.Lo, ci.Hi)
		}
		widths = append(widths, ci.Hi-ci.Lo)
	}
	if widths[1] >= widths[0] {
		t.Fatalf("interval did not narrow with 10x the samples: widths %v", widths)
	}
}

// TestRatioCI_Deterministic: the fixed seed gives the same interval twice,
// so that -render reprints the table of the run.
func TestRatioCI_Deterministic(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	b := []float64{2, 4, 6, 8, 10, 12, 14, 16}
	x, y := RatioCI(a, b, P99, 0.95), RatioCI(a, b, P99, 0.95)
	if x != y {
		t.Fatalf("two calls differ: %+v and %+v", x, y)
	}
	if x.Est != 0.5 {
		t.Fatalf("p99 ratio %.3f, want 0.5 (8/16)", x.Est)
	}
}

// TestRatioCI_ConstantSamples: no spread, so the interval is the point.
func TestRatioCI_ConstantSamples(t *testing.T) {
	ci := RatioCI([]float64{3, 3, 3}, []float64{4, 4}, Mean, 0.95)
	if ci.Est != 0.75 || ci.Lo != 0.75 || ci.Hi != 0.75 {
		t.Fatalf("got %+v, want 0.75 for all three", ci)
	}
}

// TestRatioCI_BadInput: empty samples, a zero denominator and a level
// outside (0, 1) give NaN, never a panic.
func TestRatioCI_BadInput(t *testing.T) {
	for name, ci := range map[string]Interval{
		"no a":      RatioCI(nil, []float64{1}, Median, 0.95),
		"no b":      RatioCI([]float64{1}, nil, Median, 0.95),
		"zero b":    RatioCI([]float64{1}, []float64{0, 0}, Median, 0.95),
		"level 0":   RatioCI([]float64{1}, []float64{1}, Median, 0),
		"level 1.5": RatioCI([]float64{1}, []float64{1}, Median, 1.5),
	} {
		if !math.IsNaN(ci.Est) || !math.IsNaN(ci.Lo) || !math.IsNaN(ci.Hi) {
			t.Errorf("%s: got %+v, want NaN", name, ci)
		}
	}
}

// TestDiffCI_CoversTheTrueDifference: two uniform samples whose medians
// differ by 10 (on [0, 50) and [10, 60), the kill's phase in a heartbeat
// period plus a shift): the 95 % interval holds 10 and the estimate, and
// no samples give NaN.
func TestDiffCI_CoversTheTrueDifference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := make([]float64, 200), make([]float64, 200)
	for i := range a {
		a[i], b[i] = 10+rng.Float64()*50, rng.Float64()*50
	}
	ci := DiffCI(a, b, Median, 0.95)
	if !(ci.Lo <= ci.Est && ci.Est <= ci.Hi) || !(ci.Lo <= 10 && 10 <= ci.Hi) {
		t.Fatalf("got %+v, want an interval around 10 holding its estimate", ci)
	}
	if nan := DiffCI(nil, b, Median, 0.95); !math.IsNaN(nan.Est) {
		t.Fatalf("no samples: got %+v, want NaN", nan)
	}
}
