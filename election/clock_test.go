package election

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClock_SkewedAndSystem(t *testing.T) {
	base := &fakeClock{}
	c := SkewedClock(base, 1.5, time.Second)
	require.Equal(t, time.Second, c.Now())
	base.Advance(time.Second, false)
	require.Equal(t, 2500*time.Millisecond, c.Now())
	fired := make(chan struct{})
	stop := c.AfterFunc(3*time.Second, func() { close(fired) }) // 2s of base time
	base.Advance(1999*time.Millisecond, true)
	select {
	case <-fired:
		t.Fatal("fired early")
	default:
	}
	base.Advance(time.Millisecond, true)
	<-fired
	require.False(t, stop())

	s := SystemClock()
	a := s.Now()
	require.GreaterOrEqual(t, s.Now(), a)
	require.WithinDuration(t, time.Now(), MonotonicAt(s.Now()), time.Second)
	ch := make(chan struct{})
	s.AfterFunc(time.Millisecond, func() { close(ch) })
	<-ch
}
