package main

import (
	"fmt"
	"log"
	"syscall"
	"time"

	"github.com/graftlib/graft/bench/internal/cluster"
	"github.com/graftlib/graft/bench/internal/testbed"
	"github.com/graftlib/graft/internal/monotime"
)

// waits derived from a bed's timings.
func stableTimeout(b *testbed.Bed) time.Duration {
	return time.Duration(20*b.ElectionMin()) * time.Millisecond
}

func convergeTimeout(b *testbed.Bed) time.Duration {
	return time.Duration(10*b.ElectionMin()) * time.Millisecond
}

// quiet is how long nothing must happen before a leader counts as stable.
var quiet = 150 * time.Millisecond

// settle is how long after a node's restart the next trial on that cluster
// may begin: longer than graft's QUIC idle timeout (3 s), after which every
// peer has dropped its old connection to the killed process and dialled
// the new one. Before that, a peer that has not sent anything to the
// restarted node still holds the dead connection (keep-alive PINGs are too
// small to draw a stateless reset), and the first message it sends there,
// a pre-vote, is lost. The trials rotate over several clusters (see
// -beds), so the settle time of one passes while the others are measured.
var settle = 3500 * time.Millisecond

// restarted is when the harness last restarted a node of the bed.
var restarted = map[*testbed.Bed]time.Time{}

func restart(b *testbed.Bed, id string) error {
	restarted[b] = time.Now()
	return b.Start(id)
}

// stable waits for a stable leader and settle after the last restart,
// restarting dead nodes once if needed.
func stable(b *testbed.Bed) (string, error) {
	if d := settle - time.Since(restarted[b]); d > 0 {
		time.Sleep(d)
	}
	l, err := b.WaitStable(stableTimeout(b), quiet, b.AllKnowLeader)
	if err == nil {
		return l, nil
	}
	for _, id := range b.IDs() {
		if !b.Node(id).Alive {
			b.WaitExit(id, 5*time.Second)
			if err := restart(b, id); err != nil {
				return "", err
			}
		}
	}
	return b.WaitStable(stableTimeout(b), quiet, b.AllKnowLeader)
}

// Failover is the result of the SIGKILL-the-leader trials on one cluster.
type Failover struct {
	Lib         string    `json:"lib"`
	Nodes       int       `json:"nodes"`
	Heartbeat   int       `json:"heartbeat_ms"`
	ElectionMin float64   `json:"election_min_ms"`
	ElectionMax int       `json:"election_max_ms"`
	Trials      int       `json:"trials"`
	Unconverged int       `json:"unconverged"`
	NotStable   int       `json:"not_stable"`
	SamplesMs   []float64 `json:"samples_ms"`
	Contested   int       `json:"contested"` // trials with more than one candidacy before the new leader
	SettleMs    float64   `json:"settle_ms"` // wait after restarting the killed node before the next kill
}

// failover kills the stable leader trials times and measures from the
// kill to another node reporting that it became leader; the killed node is
// restarted after each trial. Other nodes keep running across trials. The
// trials rotate over beds (identical clusters).
func failover(beds []*testbed.Bed, trials int) Failover {
	b := beds[0]
	r := Failover{Lib: b.Lib, Nodes: b.Nodes, ElectionMin: b.ElectionMin(), Heartbeat: b.Timing.Heartbeat, ElectionMax: b.Timing.ElectionMax,
		SettleMs: float64(settle.Milliseconds())}
	for i := 0; i < trials; i++ {
		b := beds[i%len(beds)]
		r.Trials++
		l, err := stable(b)
		if err != nil {
			log.Printf("%s-%d failover trial %d: no stable leader: %v", b.Lib, b.Nodes, i, err)
			r.NotStable++
			continue
		}
		t0, err := b.Signal(l, syscall.SIGKILL)
		if err != nil {
			r.NotStable++
			continue
		}
		e, err := b.WaitLeader(t0, l, convergeTimeout(b))
		if err != nil {
			log.Printf("%s-%d failover trial %d: no new leader within %s", b.Lib, b.Nodes, i, convergeTimeout(b))
			r.Unconverged++
		} else {
			r.SamplesMs = append(r.SamplesMs, e.T-t0)
			// More than one candidacy before the new leader won: a
			// contested election (two candidates, or a retry).
			if candidacies(b.Events(t0), e.T) > 1 {
				r.Contested++
			}
		}
		b.WaitExit(l, 5*time.Second)
		if err := restart(b, l); err != nil {
			log.Printf("restart %s: %v", l, err)
		}
	}
	return r
}

// candidacies counts the "became candidate" events before t.
func candidacies(evs []cluster.Event, t float64) int {
	n := 0
	for _, e := range evs {
		if e.T <= t && e.Kind == "state" && e.State == "candidate" {
			n++
		}
	}
	return n
}

// Handover is the result of asking the leader to hand over.
type Handover struct {
	Lib         string    `json:"lib"`
	Nodes       int       `json:"nodes"`
	How         string    `json:"how"` // "step_down" (SIGUSR1) or "close" (SIGTERM)
	Trials      int       `json:"trials"`
	Unconverged int       `json:"unconverged"`
	Unsupported bool      `json:"unsupported,omitempty"`
	SamplesMs   []float64 `json:"samples_ms"`
}

// handover signals the stable leader (SIGUSR1: step down and keep
// running; SIGTERM: close and exit, then it is restarted) and measures
// from the signal to another node reporting leadership. The trials rotate
// over beds.
func handover(beds []*testbed.Bed, how string, trials int) Handover {
	r := Handover{Lib: beds[0].Lib, Nodes: beds[0].Nodes, How: how}
	sig := syscall.SIGUSR1
	if how == "close" {
		sig = syscall.SIGTERM
	}
	for i := 0; i < trials; i++ {
		b := beds[i%len(beds)]
		r.Trials++
		l, err := stable(b)
		if err != nil {
			log.Printf("%s handover %s trial %d: no stable leader: %v", b.Lib, how, i, err)
			r.Unconverged++
			continue
		}
		t0, _ := b.Signal(l, sig)
		e, err := b.WaitLeader(t0, l, convergeTimeout(b))
		if err != nil {
			r.Unconverged++
		} else {
			r.SamplesMs = append(r.SamplesMs, e.T-t0)
		}
		if sig == syscall.SIGTERM {
			if err := b.WaitExit(l, 10*time.Second); err != nil {
				b.Signal(l, syscall.SIGKILL)
				b.WaitExit(l, 5*time.Second)
			}
			restart(b, l)
		}
	}
	return r
}

// Disruption is the result of partition-and-return trials.
type Disruption struct {
	Lib           string  `json:"lib"`
	Nodes         int     `json:"nodes"`
	Method        string  `json:"method"`
	Trials        int     `json:"trials"`
	PartitionMs   float64 `json:"partition_ms"`
	ObserveMs     float64 `json:"observe_ms"`
	LeaderChanges int     `json:"leader_changes"`
	TermChanges   int     `json:"term_changes"`
	NotStable     int     `json:"not_stable"`
}

// disruption cuts a follower off from every peer at the relays (both
// directions, all packets dropped) for part, heals the partition, watches
// for observe, and counts leadership changes (a node becoming or ceasing
// to be leader) and trials in which the term moved.
func disruption(b *testbed.Bed, trials int, part, observe time.Duration) Disruption {
	r := Disruption{Lib: b.Lib, Nodes: b.Nodes, Method: "relay partition of one follower (all its UDP links dropped both ways)",
		PartitionMs: float64(part.Milliseconds()), ObserveMs: float64(observe.Milliseconds())}
	for i := 0; i < trials; i++ {
		r.Trials++
		l, err := stable(b)
		if err != nil {
			r.NotStable++
			continue
		}
		term := b.Node(l).Term
		var followers []string
		for _, id := range b.IDs() {
			if id != l {
				followers = append(followers, id)
			}
		}
		f := followers[i%len(followers)]
		t0 := monotime.Millis()
		b.Partition(f, true)
		time.Sleep(part)
		b.Partition(f, false)
		time.Sleep(observe)
		moved := false
		for _, e := range b.Events(t0) {
			if e.Kind == "state" && (e.State == "leader" || e.From == "leader") {
				r.LeaderChanges++
				log.Printf("%s disruption trial %d: %s %s -> %s at term %d", b.Lib, i, e.ID, e.From, e.State, e.Term)
			}
			if e.Term > term {
				moved = true
			}
		}
		if moved {
			r.TermChanges++
		}
	}
	return r
}

// Idle is the steady-state cost of an idle cluster.
type Idle struct {
	Lib             string  `json:"lib"`
	Nodes           int     `json:"nodes"`
	Heartbeat       int     `json:"heartbeat_ms"`
	ElectionMin     float64 `json:"election_min_ms"`
	Seconds         float64 `json:"seconds"`
	CPUMsPerNodeSec float64 `json:"cpu_ms_per_node_second"` // from schedstat (ns)
	// StatCPUMsPerNodeSec is the same from /proc/<pid>/stat utime+stime
	// (10 ms ticks, coarse).
	StatCPUMsPerNodeSec float64   `json:"stat_cpu_ms_per_node_second"`
	CPUMsPerSecNodes    []float64 `json:"cpu_ms_per_second_by_node"`
	ServerCPUMsPerS     float64   `json:"server_cpu_ms_per_second,omitempty"`
	BytesPerNodeSec     float64   `json:"bytes_per_node_second"`
	RSSKiB              []int     `json:"rss_kib_by_node"`
	ServerRSSKiB        int       `json:"server_rss_kib,omitempty"`
	FirstLeaderMs       float64   `json:"first_leader_ms"`
}

// idle starts b (which must use relays), waits for a leader, lets it settle,
// and then measures CPU time (utime+stime of each node process) and the
// bytes the relays forwarded over dur.
func idle(b *testbed.Bed, dur time.Duration) (Idle, error) {
	r := Idle{Lib: b.Lib, Nodes: b.Nodes, Heartbeat: b.Timing.Heartbeat, ElectionMin: b.ElectionMin()}
	t0, err := b.StartAll()
	if err != nil {
		return r, err
	}
	if e, err := b.WaitLeader(t0, "", convergeTimeout(b)); err == nil {
		r.FirstLeaderMs = e.T - t0
	}
	if _, err := b.WaitStable(stableTimeout(b), quiet, b.AllKnowLeader); err != nil {
		return r, fmt.Errorf("%s idle: no stable leader: %w", b.Lib, err)
	}
	time.Sleep(time.Second)
	pids := b.Pids()
	if b.Server != nil {
		pids["nats-server"] = b.Server.Process.Pid
	}
	type sample struct {
		ns    int64
		ticks float64
	}
	read := func() (map[string]sample, error) {
		m := map[string]sample{}
		for id, pid := range pids {
			ns, err := cluster.CPUNanos(pid)
			if err != nil {
				return nil, fmt.Errorf("%s idle: %s: %w", b.Lib, id, err)
			}
			t, _ := cluster.CPUSeconds(pid)
			m[id] = sample{ns, t}
		}
		return m, nil
	}
	c0, err := read()
	if err != nil {
		return r, err
	}
	bytes0, start := b.Bytes(), time.Now()
	time.Sleep(dur)
	c1, err := read()
	secs := time.Since(start).Seconds()
	bytes1 := b.Bytes()
	if err != nil {
		return r, err
	}
	total, ticks := 0.0, 0.0
	for _, id := range b.IDs() {
		v := float64(c1[id].ns-c0[id].ns) / 1e6 / secs
		r.CPUMsPerSecNodes = append(r.CPUMsPerSecNodes, v)
		total += v
		ticks += (c1[id].ticks - c0[id].ticks) * 1e3 / secs
		rss, _ := cluster.RSSKiB(pids[id])
		r.RSSKiB = append(r.RSSKiB, rss)
	}
	r.StatCPUMsPerNodeSec = ticks / float64(b.Nodes)
	if b.Server != nil {
		r.ServerCPUMsPerS = float64(c1["nats-server"].ns-c0["nats-server"].ns) / 1e6 / secs
		r.ServerRSSKiB, _ = cluster.RSSKiB(b.Server.Process.Pid)
	}
	r.Seconds = secs
	r.CPUMsPerNodeSec = total / float64(b.Nodes)
	r.BytesPerNodeSec = float64(bytes1-bytes0) / secs / float64(b.Nodes)
	return r, nil
}

// firstLeader starts fresh clusters made by mk and measures from starting
// the first process to the first node reporting leadership.
func firstLeader(mk func() (*testbed.Bed, error), trials int) ([]float64, error) {
	var out []float64
	for i := 0; i < trials; i++ {
		b, err := mk()
		if err != nil {
			return out, err
		}
		t0, err := b.StartAll()
		if err == nil {
			var e cluster.Event
			if e, err = b.WaitLeader(t0, "", convergeTimeout(b)); err == nil {
				out = append(out, e.T-t0)
			}
		}
		b.Close()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
