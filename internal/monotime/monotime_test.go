package monotime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftlib/graft/election"
)

func TestFromSystemClock_NeverLateAndClose(t *testing.T) {
	clock := election.SystemClock()
	for range 1000 {
		g := clock.Now()
		after := Now()
		conv := FromSystemClock(g)
		// g was read before after: its conversion may not be later.
		require.LessOrEqual(t, conv, after, "a converted instant came out late")
	}
	// And not early by much: the gap is the time between two clock reads.
	before := Now()
	conv := FromSystemClock(clock.Now())
	require.GreaterOrEqual(t, conv, before-int64(time.Millisecond))
}

func TestMillis_IsNowInMilliseconds(t *testing.T) {
	a := Now()
	m := Millis()
	b := Now()
	require.GreaterOrEqual(t, m*1e6, float64(a)-1)
	require.LessOrEqual(t, m*1e6, float64(b)+1)
}
