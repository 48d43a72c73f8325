package main

import (
	"encoding/binary"
	"os"
	"runtime/debug"
	"testing"
)

// exeMapped counts the pages of this binary's read-only mappings that are
// mapped (present in /proc/self/pagemap) and the size of those mappings.
func exeMapped(t *testing.T) (present, total int) {
	t.Helper()
	spans, err := binaryReadOnly()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	page := uintptr(os.Getpagesize())
	for _, m := range spans {
		buf := make([]byte, (m.end-m.start)/page*8)
		if _, err := pm.ReadAt(buf, int64(m.start/page*8)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i+8 <= len(buf); i += 8 {
			if binary.LittleEndian.Uint64(buf[i:])&(1<<63) != 0 {
				present++
			}
		}
		total += len(buf) / 8
	}
	return present, total
}

// trimProbe lives in the binary's writable data, which trimBinary must
// leave alone.
var trimProbe = 1

func TestTrimBinary_UnmapsCodeAndKeepsData(t *testing.T) {
	trimProbe = 42
	before, total := exeMapped(t)
	if total == 0 {
		t.Fatal("no read-only mapping of the binary found in /proc/self/maps")
	}
	if err := trimBinary(); err != nil {
		t.Fatal(err)
	}
	after, _ := exeMapped(t)
	t.Logf("pages of the binary's code and constant data mapped: %d before, %d after, of %d", before, after, total)
	// What runs between the trim and the count maps its pages back (64 KiB
	// around each): a few dozen pages, against the thousands the tests ran.
	if after*2 >= before {
		t.Errorf("trimBinary left %d of %d pages mapped", after, before)
	}
	if trimProbe != 42 {
		t.Errorf("a variable of the binary's data changed from 42 to %d", trimProbe)
	}
}

func TestTuneGC_EnvironmentWins(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	for _, tc := range []struct {
		env  string
		want int
	}{{"", gcPercent}, {"100", 100}, {"off", 100}} {
		debug.SetGCPercent(100)
		t.Setenv("GOGC", tc.env)
		tuneGC(gcPercent)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: GC percent %d, want %d", tc.env, got, tc.want)
		}
	}
}
