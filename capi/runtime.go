package main

import (
	"os"
	"runtime"
)

// extraProcs is how many Go processors the library adds to the number of
// CPUs. A host thread that calls into the library holds one of the Go
// runtime's GOMAXPROCS processors while it runs Go code, and between two
// quick calls the runtime leaves that processor parked with the thread
// (it assumes a short system call) instead of handing it to the election.
// With GOMAXPROCS = CPUs (Go's default), as many host threads polling
// graft_node_state in a tight loop as there are CPUs starve the election
// loop completely: on 2 cores, 6 polling threads kept a 3-node cluster from
// electing anyone for 10 s (the Rust binding's ignored test tight_query).
// Idle processors cost nothing, so the library keeps spare ones for hosts
// that poll from many threads.
const extraProcs = 16

// init raises GOMAXPROCS unless the host set it explicitly (GOMAXPROCS in
// the environment is the host's choice and is kept).
func init() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.NumCPU() + extraProcs)
	}
}
