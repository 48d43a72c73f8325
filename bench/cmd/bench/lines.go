package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/graftlib/graft/bench/internal/cluster"
)

// Helpers for node programs that print "KIND key=value ..." lines other
// than the EVENT lines package cluster parses (transport/internal/testnode,
// the lease probes): the cluster keeps them in Node.Lines.

// linesOf returns the lines of node id that begin with kind, as key=value
// maps, in order.
func linesOf(c *cluster.Cluster, id, kind string) []map[string]string {
	var out []map[string]string
	for _, l := range c.Node(id).Lines {
		if strings.HasPrefix(l, kind+" ") {
			out = append(out, cluster.Fields(l))
		}
	}
	return out
}

// lastOfTerm returns the last line of kind that node id printed with
// term=term, if any.
func lastOfTerm(c *cluster.Cluster, id, kind string, term uint64) (map[string]string, bool) {
	ls := linesOf(c, id, kind)
	for i := len(ls) - 1; i >= 0; i-- {
		if t, _ := strconv.ParseUint(ls[i]["term"], 10, 64); t == term {
			return ls[i], true
		}
	}
	return nil, false
}

// waitLines waits until node id has printed more than n lines of kind and
// returns them all.
func waitLines(c *cluster.Cluster, id, kind string, n int, timeout time.Duration) ([]map[string]string, error) {
	end := time.Now().Add(timeout)
	for {
		ls := linesOf(c, id, kind)
		if len(ls) > n {
			return ls, nil
		}
		if time.Now().After(end) {
			return ls, fmt.Errorf("%s printed no new %s line within %s", id, kind, timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling period
	}
}

// num reads a numeric field (0 when absent or malformed).
func num(f map[string]string, key string) float64 {
	v, _ := strconv.ParseFloat(f[key], 64)
	return v
}
