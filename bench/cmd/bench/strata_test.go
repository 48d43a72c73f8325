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

// TestPairedBed_EachRowVisitsEveryBed: over 2·n·n alternating trials each
// row (even k, odd k) runs on every bed equally often, for even n too
// (plain k mod n gave one row the even beds and the other the odd ones),
// and from three beds on no two consecutive trials share a bed.
func TestPairedBed_EachRowVisitsEveryBed(t *testing.T) {
	for n := 1; n <= 6; n++ {
		counts := [2][]int{make([]int, n), make([]int, n)}
		for k := 0; k < 2*n*n; k++ {
			b := pairedBed(k, n)
			counts[k%2][b]++
			if n >= 3 && k > 0 && b == pairedBed(k-1, n) {
				t.Fatalf("n=%d: trials %d and %d both on bed %d", n, k-1, k, b)
			}
		}
		for row, c := range counts {
			for b, got := range c {
				if got != n {
					t.Fatalf("n=%d: row %d ran %d trials on bed %d, want %d (%v)", n, row, got, b, n, c)
				}
			}
		}
	}
}
