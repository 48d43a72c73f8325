package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// An idle process counted twice is counted once, and its pages are about
// its VmRSS; with a second process running the same binary, the union is
// less than the two VmRSS added (the binary's pages are shared).
func TestResidentUnionKiB_SharedPagesCountOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("page frame numbers need root")
	}
	var pids []int
	for range 2 {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		pids = append(pids, c.Process.Pid)
	}
	a, b := pids[0], pids[1]
	// Settled: asleep, and its VmRSS the same 20 ms apart.
	waitRSS := func(pid int) int {
		end := time.Now().Add(5 * time.Second)
		prev := -1
		for time.Now().Before(end) {
			r, err := RSSKiB(pid)
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err == nil && r == prev && strings.Contains(string(st), ") S ") {
				return r
			}
			prev = r
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("sleep (pid %d) did not settle", pid)
		return 0
	}
	ra, rb := waitRSS(a), waitRSS(b)
	one, err := ResidentUnionKiB(a)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := ResidentUnionKiB(a, a)
	if err != nil {
		t.Fatal(err)
	}
	both, err := ResidentUnionKiB(a, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sleep: VmRSS %d + %d KiB; resident once %d KiB, twice %d KiB, both processes %d KiB", ra, rb, one, twice, both)
	if twice != one || one > ra || both >= ra+rb {
		t.Fatalf("VmRSS %d + %d KiB; resident once %d KiB, twice %d KiB, both %d KiB", ra, rb, one, twice, both)
	}
}
