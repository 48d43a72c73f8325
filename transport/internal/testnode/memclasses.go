package main

import (
	"fmt"
	"runtime/metrics"
	"strings"
)

// runtimeFields returns the Go runtime's own view of the process's memory
// for a STATS line: "gc_cycles=<n>" (collections completed) and, for each
// class of runtime/metrics' /memory/classes/, "mem_<class>=<KiB>" (for
// example mem_heap_objects, mem_heap_released, mem_metadata_other). With
// them a reader can tell what a change of RSS is made of: the heap's
// objects, its free spans not yet returned, goroutine stacks, or the
// runtime's metadata, which it never returns (issue 18: what a flood
// leaves behind; docs/transport.md, "Floods").
func runtimeFields() string {
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") && d.Kind == metrics.KindUint64 {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	var b strings.Builder
	fmt.Fprintf(&b, "gc_cycles=%d", samples[0].Value.Uint64())
	name := strings.NewReplacer("/", "_", "-", "_")
	for _, s := range samples[1:] {
		class := strings.TrimSuffix(strings.TrimPrefix(s.Name, "/memory/classes/"), ":bytes")
		fmt.Fprintf(&b, " mem_%s=%d", name.Replace(class), s.Value.Uint64()/1024)
	}
	return b.String()
}
