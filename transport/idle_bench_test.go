package transport

import (
	"testing"
	"time"
)

// idleWindow is how long BenchmarkIdleCluster measures per iteration: long
// enough that a few milliseconds of CPU are a fair sample of an idle node.
const idleWindow = 5 * time.Second

// BenchmarkIdleCluster measures what an idle 3-node cluster costs at a
// 100ms heartbeat (election timeout 500-1000ms): CPU time per node as a
// percentage of one core (user+system of each node process, from
// getrusage; the leader separately, it does the most) and the bytes of
// messages each node sends per second (the encoded msgpack frames; QUIC,
// UDP and IP headers, ACKs and keep-alives come on top). The nodes are
// testnode processes, so neither the test binary nor the race detector is
// counted. It runs with the Go runtime's default GOMAXPROCS (all cores)
// and with GOMAXPROCS=1, which a host can set in the environment: most of
// an idle node's CPU is the runtime waking threads (sysmon, idle Ps
// spinning), not graft or quic-go code. Target: under 0.5% of a core.
//
//	go test -run '^$' -bench IdleCluster ./transport/
func BenchmarkIdleCluster(b *testing.B) {
	for _, bc := range []struct {
		name string
		env  []string
	}{
		{"gomaxprocs=default", nil},
		{"gomaxprocs=1", []string{"GOMAXPROCS=1"}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchIdleCluster(b, bc.env) })
	}
}

func benchIdleCluster(b *testing.B, env []string) {
	ids := []string{"n1", "n2", "n3"}
	c := startProcCluster(b, ids, 100*time.Millisecond, 500*time.Millisecond, 1000*time.Millisecond, env, "-poll", "0")
	leader, _ := c.leader(30 * time.Second)
	// Let the connections settle (handshakes, first keep-alives) before
	// measuring: this is warm-up, not synchronisation.
	time.Sleep(time.Second)

	var cpuUS, bytesSent, msgsSent, leaderCPU uint64
	var elapsedMS float64
	b.ResetTimer()
	for range b.N {
		before := map[string]line{}
		for _, id := range ids {
			before[id] = c.procs[id].stats(b)
		}
		time.Sleep(idleWindow) // the measurement window
		for _, id := range ids {
			after := c.procs[id].stats(b)
			d := func(k string) uint64 { return after.uint(k) - before[id].uint(k) }
			cpuUS += d("cpu_us")
			bytesSent += d("bytes_sent")
			msgsSent += d("msgs_sent")
			if id == leader {
				leaderCPU += d("cpu_us")
			}
			elapsedMS += after.ms() - before[id].ms()
		}
	}
	b.StopTimer()
	if l, _ := c.leader(time.Second); l != leader {
		b.Fatalf("the leader changed during the measurement: %s -> %s", leader, l)
	}
	nodeSeconds := elapsedMS / 1e3 // summed over the nodes
	b.ReportMetric(float64(cpuUS)/1e6/nodeSeconds*100, "cpu%/node")
	b.ReportMetric(float64(leaderCPU)/1e6/(nodeSeconds/float64(len(ids)))*100, "leader-cpu%")
	b.ReportMetric(float64(bytesSent)/nodeSeconds, "B/s/node")
	b.ReportMetric(float64(msgsSent)/nodeSeconds, "msgs/s/node")
}
