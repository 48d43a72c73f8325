package main

import (
	"fmt"
	"log"
	"math/rand/v2"
	"strconv"
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
	// Killed is how many nodes each trial kills: the leader (1), or the
	// leader and its first successor (2), and so on.
	Killed int `json:"killed"`
	// Ranked counts the trials in which the new leader had printed its
	// rank under the old leader (graftnode -rank-poll-ms); RankedWinner
	// those in which that rank was Killed: the first successor left alive
	// took over, as ranked succession intends.
	Ranked       int `json:"ranked,omitempty"`
	RankedWinner int `json:"ranked_winner,omitempty"`
	// FromContactMs: the same failovers measured from the instant the new
	// leader last heard from the old one (its CONTACT line, graftnode
	// only) instead of from the kill. The kill falls at a random point of
	// the heartbeat period, the same for every row; without it two rows
	// compare what the protocol did, with less noise.
	FromContactMs []float64 `json:"from_contact_ms,omitempty"`
	// ContactMissing counts the failovers in SamplesMs without one in
	// FromContactMs: the winner printed no CONTACT line for its term (it
	// had already won when its candidate callback ran, or the callback
	// was coalesced away). A row with any is judged from the kill.
	ContactMissing int `json:"contact_missing,omitempty"`

	// phases draws where in the heartbeat period each kill falls.
	phases *strata
}

// strata spreads the waits before a row's kills evenly over the heartbeat
// period: stratified sampling of [0, 1), one stratum per trial in random
// order and a uniform point within it. Each kill still falls at a uniformly
// random point of the period, as a crash would. With plain random draws the
// median of 100 kills' points is off by about 2.5 ms (one 7-node row's was
// 20.5 ms of 50 instead of 25), which moves the row's median failover by as
// much. The point in the period is the wait plus an offset (stable()
// returns a settle time after the previous trial's election, about 70
// heartbeat periods), and that offset jitters by a few ms, as the leader's
// timer lateness adds up over those periods: so the kills' points come out
// only somewhat more even than plain draws (measured: their distance from
// uniform 0.03-0.06 against 0.06; rows' median points 23.4-26.2 ms).
type strata struct {
	order []int
	next  int
}

func newStrata(n int) *strata { return &strata{order: rand.Perm(max(n, 1))} }

// draw returns the next point in [0, 1), uniform once the strata are used.
func (s *strata) draw() float64 {
	if s == nil || s.next >= len(s.order) {
		return rand.Float64()
	}
	k := s.order[s.next]
	s.next++
	return (float64(k) + rand.Float64()) / float64(len(s.order))
}

// failover kills the stable leader (and its first killed-1 successors)
// trials times and measures from the kill to another node reporting that
// it became leader; the killed nodes are restarted after each trial. Other
// nodes keep running across trials. The trials rotate over beds (identical
// clusters).
func failover(beds []*testbed.Bed, trials, killed int) Failover {
	r := newFailover(beds[0], killed, trials)
	for i := 0; i < trials; i++ {
		failoverTrial(beds[i%len(beds)], &r, i)
	}
	return r
}

// failoverWithPairs runs failover's trials for the leader alone (trials)
// and for the leader with its first successor (pairTrials) on the same
// beds, one of each in turn: the load of a shared machine drifts over both
// rows alike, and their difference is what issue 16's pair-kill goal
// judges. Once the shorter row is done the longer one runs alone.
func failoverWithPairs(beds []*testbed.Bed, trials, pairTrials int) (single, pair Failover) {
	single, pair = newFailover(beds[0], 1, trials), newFailover(beds[0], 2, pairTrials)
	k := 0
	for i := 0; i < max(trials, pairTrials); i++ {
		if i < trials {
			failoverTrial(beds[pairedBed(k, len(beds))], &single, i)
			k++
		}
		if i < pairTrials {
			failoverTrial(beds[pairedBed(k, len(beds))], &pair, i)
			k++
		}
	}
	return single, pair
}

// pairedBed is the bed of the k-th of two alternating rows' trials over n
// beds: k mod n, shifted by one after every n trials. Without the shift an
// even n would give one row the even beds and the other the odd ones, and
// any difference between beds would show as a difference between rows;
// with it each row visits every bed equally, and from three beds on
// consecutive trials still use different beds, so that one's settle time
// passes while the others run (two beds share one every other time).
func pairedBed(k, n int) int { return (k + k/n) % n }

// newFailover returns an empty result for trials kills of r.Killed nodes
// (the leader, then its successors in rank order) on clusters like b.
func newFailover(b *testbed.Bed, killed, trials int) Failover {
	return Failover{Lib: b.Lib, Nodes: b.Nodes, ElectionMin: b.ElectionMin(), Heartbeat: b.Timing.Heartbeat, ElectionMax: b.Timing.ElectionMax,
		SettleMs: float64(settle.Milliseconds()), Killed: killed, phases: newStrata(trials)}
}

// failoverTrial runs trial i of r on b: it waits for a stable leader,
// kills it (and its first r.Killed-1 successors, see victims) with
// SIGKILL, measures from just before the first kill to another node
// reporting leadership, and restarts the victims.
func failoverTrial(b *testbed.Bed, r *Failover, i int) {
	r.Trials++
	l, err := stable(b)
	if err != nil {
		log.Printf("%s-%d failover trial %d: no stable leader: %v", b.Lib, b.Nodes, i, err)
		r.NotStable++
		return
	}
	vs, err := victims(b, l, r.Killed)
	if err != nil {
		log.Printf("%s-%d failover trial %d: %v", b.Lib, b.Nodes, i, err)
		r.NotStable++
		return
	}
	term := b.Node(l).Term
	// A crash comes at any point of the leader's heartbeat period. Without
	// this pause the kill did not: stable() returns when the settle time
	// after the last restart has passed, 3.5 s after the previous new
	// leader's election, a multiple of its heartbeat period (50 and 100
	// ms), so most kills came just after a heartbeat, when the followers'
	// wait is longest (issue 16's breakdown: kill to the first successor's
	// pre-vote clustered at 295-300 ms instead of spreading over 250-300).
	time.Sleep(time.Duration(r.phases.draw() * b.Heartbeat() * float64(time.Millisecond)))
	t0, err := b.Signal(l, syscall.SIGKILL)
	for _, v := range vs[1:] {
		if err == nil {
			_, err = b.Signal(v, syscall.SIGKILL)
		}
	}
	if err != nil {
		r.NotStable++
	} else if e, err := waitLeaderNotIn(b, t0, vs, convergeTimeout(b)); err != nil {
		log.Printf("%s-%d failover trial %d: no new leader within %s", b.Lib, b.Nodes, i, convergeTimeout(b))
		r.Unconverged++
	} else {
		r.SamplesMs = append(r.SamplesMs, e.T-t0)
		if last, ok := lastContact(b, e.ID, e.Term); ok {
			r.FromContactMs = append(r.FromContactMs, e.T-last)
		} else {
			r.ContactMissing++
		}
		// More than one candidacy before the new leader won: a
		// contested election (two candidates, or a retry).
		if candidacies(b.Events(t0), e.T) > 1 {
			r.Contested++
		}
		if rank, ok := rankOf(b, e.ID, term); ok {
			r.Ranked++
			if rank == r.Killed {
				r.RankedWinner++
			}
		}
	}
	for _, v := range vs {
		b.Signal(v, syscall.SIGKILL) // a victim the loop above did not reach; Signal refuses the dead
		b.WaitExit(v, 5*time.Second)
		if err := restart(b, v); err != nil {
			log.Printf("restart %s: %v", v, err)
		}
	}
}

// lastContact returns when node id, as candidate for term, last heard
// from a leader (its CONTACT line), if it printed that.
func lastContact(b *testbed.Bed, id string, term uint64) (float64, bool) {
	l, ok := lastOfTerm(b.Cluster, id, "CONTACT", term)
	if !ok {
		return 0, false
	}
	last, err := strconv.ParseFloat(l["last"], 64)
	return last, err == nil
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
	for i := 0; i < trials; i++ {
		handoverTrial(beds[i%len(beds)], &r, i)
	}
	return r
}

// handoverTrial runs trial i of r on b.
func handoverTrial(b *testbed.Bed, r *Handover, i int) {
	sig := syscall.SIGUSR1
	if r.How == "close" {
		sig = syscall.SIGTERM
	}
	r.Trials++
	l, err := stable(b)
	if err != nil {
		log.Printf("%s handover %s trial %d: no stable leader: %v", b.Lib, r.How, i, err)
		r.Unconverged++
		return
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
	// CPUSlices is CPUMsPerNodeSec slice by slice of the window (one slice
	// for the whole window outside the comparison, 1 s in it), and
	// ServerCPUSlices the nats-server's ms/s in the same slices: the
	// samples the comparison's idle ratio is bootstrapped from.
	CPUSlices       []float64 `json:"cpu_ms_per_node_second_by_slice,omitempty"`
	ServerCPUSlices []float64 `json:"server_cpu_ms_per_second_by_slice,omitempty"`
}

// idle starts b (which must use relays), waits for a leader, lets it settle,
// and then measures CPU time (utime+stime of each node process) and the
// bytes the relays forwarded over dur.
func idle(b *testbed.Bed, dur time.Duration) (Idle, error) {
	r, err := idleStart(b)
	if err != nil {
		return r, err
	}
	err = measureIdle([]*testbed.Bed{b}, []*Idle{&r}, dur, dur)
	return r, err
}

// idleStart starts b, waits for a stable leader and then one second more,
// and returns the result to be measured, with the time to the first leader.
func idleStart(b *testbed.Bed) (Idle, error) {
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
	return r, nil
}

// measureIdle measures beds[i] into rs[i] over one window of dur, all in
// the same window, so that the rest of the machine weighs on them alike:
// CPU time of each process (schedstat; also read every slice, for
// CPUSlices), the bytes the relays forwarded, the RSS at the end.
func measureIdle(beds []*testbed.Bed, rs []*Idle, dur, slice time.Duration) error {
	type sample struct {
		ns    int64
		ticks float64
	}
	pids := make([]map[string]int, len(beds))
	read := func() ([]map[string]sample, error) {
		out := make([]map[string]sample, len(beds))
		for i, b := range beds {
			out[i] = map[string]sample{}
			for id, pid := range pids[i] {
				ns, err := cluster.CPUNanos(pid)
				if err != nil {
					return nil, fmt.Errorf("%s idle: %s: %w", b.Lib, id, err)
				}
				t, _ := cluster.CPUSeconds(pid)
				out[i][id] = sample{ns, t}
			}
		}
		return out, nil
	}
	bytes0 := make([]uint64, len(beds))
	for i, b := range beds {
		pids[i] = b.Pids()
		if b.Server != nil {
			pids[i]["nats-server"] = b.Server.Process.Pid
		}
		bytes0[i] = b.Bytes()
	}
	c0, err := read()
	if err != nil {
		return err
	}
	start := time.Now()
	prev, prevT := c0, start
	for time.Since(start) < dur {
		time.Sleep(min(slice, dur-time.Since(start)))
		c, err := read()
		if err != nil {
			return err
		}
		secs := time.Since(prevT).Seconds()
		for i, b := range beds {
			var ns int64
			for _, id := range b.IDs() {
				ns += c[i][id].ns - prev[i][id].ns
			}
			rs[i].CPUSlices = append(rs[i].CPUSlices, float64(ns)/1e6/secs/float64(b.Nodes))
			if b.Server != nil {
				rs[i].ServerCPUSlices = append(rs[i].ServerCPUSlices, float64(c[i]["nats-server"].ns-prev[i]["nats-server"].ns)/1e6/secs)
			}
		}
		prev, prevT = c, time.Now()
	}
	secs := time.Since(start).Seconds()
	for i, b := range beds {
		r, c1 := rs[i], prev[i]
		total, ticks := 0.0, 0.0
		for _, id := range b.IDs() {
			v := float64(c1[id].ns-c0[i][id].ns) / 1e6 / secs
			r.CPUMsPerSecNodes = append(r.CPUMsPerSecNodes, v)
			total += v
			ticks += (c1[id].ticks - c0[i][id].ticks) * 1e3 / secs
			rss, _ := cluster.RSSKiB(pids[i][id])
			r.RSSKiB = append(r.RSSKiB, rss)
		}
		r.StatCPUMsPerNodeSec = ticks / float64(b.Nodes)
		if b.Server != nil {
			r.ServerCPUMsPerS = float64(c1["nats-server"].ns-c0[i]["nats-server"].ns) / 1e6 / secs
			r.ServerRSSKiB, _ = cluster.RSSKiB(b.Server.Process.Pid)
		}
		r.Seconds = secs
		r.CPUMsPerNodeSec = total / float64(b.Nodes)
		r.BytesPerNodeSec = float64(b.Bytes()-bytes0[i]) / secs / float64(b.Nodes)
	}
	return nil
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
