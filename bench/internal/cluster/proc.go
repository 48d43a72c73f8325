package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux the benchmark runs on.
const clockTicks = 100

// CPUSeconds returns the CPU time (user + system) process pid has used.
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command name is in parentheses and may hold spaces: skip it.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("cluster: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("cluster: /proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cluster: /proc/%d/stat: bad utime/stime", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// RSSKiB returns VmRSS of process pid in KiB.
func RSSKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("cluster: /proc/%d/status: no VmRSS", pid)
}

// CPUNanos returns the CPU time process pid has used, in ns, as the sum of
// the first field of /proc/<pid>/task/*/schedstat (time on CPU, ns, per
// thread): far finer than the 10 ms ticks of /proc/<pid>/stat. Threads
// that have exited are not counted (a Go program rarely ends a thread).
func CPUNanos(pid int) (int64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cluster: /proc/%d/task/%s/schedstat: %v", pid, t.Name(), err)
		}
		sum += v
	}
	return sum, nil
}

// ResidentUnionKiB returns the memory resident for a set of processes with
// every physical page counted once, however many of them map it: for two
// processes running one binary, VmRSS counts its pages in each, this
// counts them once. It reads /proc/<pid>/pagemap, whose page frame numbers
// need CAP_SYS_ADMIN (root); without them it returns an error.
func ResidentUnionKiB(pids ...int) (int, error) {
	frames := map[uint64]struct{}{}
	for _, pid := range pids {
		if err := residentFrames(pid, frames); err != nil {
			return 0, err
		}
	}
	return len(frames) * os.Getpagesize() / 1024, nil
}

// residentFrames adds the page frame numbers of every present page of pid
// to frames.
func residentFrames(pid int, frames map[uint64]struct{}) error {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return err
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return err
	}
	defer pm.Close()
	page := uint64(os.Getpagesize())
	const present, pfnMask = 1 << 63, 1<<55 - 1
	sawPresent := false
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[1], "---") || strings.HasSuffix(line, "[vsyscall]") {
			continue // reserved address space (PROT_NONE) holds no pages
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		buf := make([]byte, (end-start)/page*8)
		n, err := pm.ReadAt(buf, int64(start/page*8))
		if err != nil && n == 0 {
			continue // the mapping went away meanwhile
		}
		for i := 0; i+8 <= n; i += 8 {
			e := uint64(buf[i]) | uint64(buf[i+1])<<8 | uint64(buf[i+2])<<16 | uint64(buf[i+3])<<24 |
				uint64(buf[i+4])<<32 | uint64(buf[i+5])<<40 | uint64(buf[i+6])<<48 | uint64(buf[i+7])<<56
			if e&present == 0 {
				continue
			}
			sawPresent = true
			if pfn := e & pfnMask; pfn != 0 {
				frames[pfn] = struct{}{}
			} else {
				return fmt.Errorf("cluster: /proc/%d/pagemap hides page frame numbers (needs CAP_SYS_ADMIN)", pid)
			}
		}
	}
	if !sawPresent {
		return fmt.Errorf("cluster: /proc/%d/pagemap: no page present", pid)
	}
	return nil
}
