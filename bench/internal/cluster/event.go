package cluster

import (
	"strconv"
	"strings"
)

// Event is one EVENT line of a node program, in the format of
// examples/c/leader_worker.c, which the benchmark's own node programs
// (bench/cmd/*node) copy:
//
//	EVENT t=<CLOCK_MONOTONIC ms> id=<id> kind=state from=<s> state=<s> term=<n> leader=<id or ->
//	EVENT t=<ms> id=<id> kind=leader state=<s> term=<n> leader=<id or ->
type Event struct {
	T      float64 // host CLOCK_MONOTONIC, ms
	ID     string
	Kind   string // "state" or "leader"
	From   string
	State  string
	Term   uint64
	Leader string // "" when none
}

// Fields splits "KEY a=b c=d" into its key=value pairs.
func Fields(line string) map[string]string {
	f := map[string]string{}
	words := strings.Fields(line)
	if len(words) == 0 {
		return f
	}
	for _, kv := range words[1:] {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

// parseEvent parses an EVENT line; ok is false for any other line.
func parseEvent(line string) (Event, bool) {
	if !strings.HasPrefix(line, "EVENT ") {
		return Event{}, false
	}
	f := Fields(line)
	t, err := strconv.ParseFloat(f["t"], 64)
	if err != nil {
		return Event{}, false
	}
	term, _ := strconv.ParseUint(f["term"], 10, 64)
	l := f["leader"]
	if l == "-" {
		l = ""
	}
	return Event{T: t, ID: f["id"], Kind: f["kind"], From: f["from"], State: f["state"], Term: term, Leader: l}, true
}
