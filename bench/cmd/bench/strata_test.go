package main

import "testing"

// TestStrata_OnePointPerStratum: n draws fall one in each n-th of [0, 1),
// so the row's kills cover the heartbeat period evenly; later draws are
// still in [0, 1), and a nil strata draws plainly.
func TestStrata_OnePointPerStratum(t *testing.T) {
	const n = 40
	s := newStrata(n)
	seen := make([]bool, n)
	for i := 0; i < n; i++ {
		x := s.draw()
		if x < 0 || x >= 1 {
			t.Fatalf("draw %v outside [0, 1)", x)
		}
		k := int(x * n)
		if seen[k] {
			t.Fatalf("stratum %d drawn twice", k)
		}
		seen[k] = true
	}
	for _, x := range []float64{s.draw(), (*strata)(nil).draw()} {
		if x < 0 || x >= 1 {
			t.Fatalf("draw %v outside [0, 1)", x)
		}
	}
}
