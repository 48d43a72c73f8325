package main

import (
	"os"
	"runtime"
	"testing"
)

func TestStatThreads(t *testing.T) {
	for _, c := range []struct {
		stat string
		n    int
		ok   bool
	}{
		{"5350 (cat) R 5289 5289 3090 0 -1 4194304 128 0 0 0 0 0 0 0 20 0 1 0 2695211 8192", 1, true},
		{"42 (a b) c) S 1 42 42 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 17 0 99 1", 17, true},
		{"42 (x) S 1 42 42 0 -1 4194560 1 0 0 0 5 3 0 0 20 0", 0, false}, // cut before field 20
		{"garbage", 0, false},
	} {
		if n, ok := statThreads([]byte(c.stat)); n != c.n || ok != c.ok {
			t.Errorf("%q: %d %v, want %d %v", c.stat, n, ok, c.n, c.ok)
		}
	}
}

// The count read from /proc/self/stat is the number of entries of
// /proc/self/task, which keep used to list on every wake-up.
func TestPriority_ThreadCountMatchesTheTaskList(t *testing.T) {
	runtime.LockOSThread() // no thread comes or goes between the two reads
	defer runtime.UnlockOSThread()
	var p priority
	for i := 0; i < 3; i++ { // again with the descriptor open
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		n, ok := p.threadCount()
		if !ok {
			t.Fatal("num_threads not read")
		}
		if n == len(tasks) {
			return
		}
	}
	t.Fatal("num_threads never matched /proc/self/task")
}

func TestStatField(t *testing.T) {
	stat := []byte("7 (a) b) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 99\n")
	for _, c := range []struct {
		n    int
		want string
		ok   bool
	}{{3, "Z", true}, {4, "1", true}, {20, "3", true}, {22, "99", true}, {23, "", false}} {
		f, ok := statField(stat, c.n)
		if string(f) != c.want || ok != c.ok {
			t.Errorf("field %d: %q %v, want %q %v", c.n, f, ok, c.want, c.ok)
		}
	}
}
