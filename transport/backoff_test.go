package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoff_GrowsWithJitterAndResets(t *testing.T) {
	r := 0.0
	b := backoff{min: 10 * time.Millisecond, max: 100 * time.Millisecond, rand: func() float64 { return r }}
	var lows []time.Duration
	for range 8 {
		lows = append(lows, b.next())
	}
	// With r = 0 each delay is half its ceiling: 5, 10, 20, 40, 50, 50 ...
	require.Equal(t, []time.Duration{5, 10, 20, 40, 50, 50, 50, 50}, scale(lows, time.Millisecond))
	r = 0.999
	require.InDelta(t, float64(100*time.Millisecond), float64(b.next()), float64(time.Millisecond))
	b.reset()
	require.InDelta(t, float64(10*time.Millisecond), float64(b.next()), float64(time.Millisecond))

	t.Run("default randomness stays in range", func(t *testing.T) {
		b := backoff{min: backoffMin, max: backoffMax}
		for i := range 100 {
			d := b.next()
			require.GreaterOrEqual(t, d, backoffMin/2, "attempt %d", i)
			require.LessOrEqual(t, d, backoffMax, "attempt %d", i)
		}
	})
}

func scale(ds []time.Duration, unit time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / unit
	}
	return out
}
