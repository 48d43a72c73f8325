// Command stability runs `make bench-stability`: an idle three-node graft
// cluster at the default timings for -duration (10 minutes by default),
// with every packet between the nodes delayed by -delay ± -jitter (drawn
// uniformly per packet, so packets also get reordered) by userspace UDP
// relays, because this machine has no tc netem. It counts spurious leader
// changes: any node becoming or ceasing to be leader after the first
// leader was stable (target: zero). It prints a Markdown summary and
// writes stability.json into -out.
//
//	go run ./cmd/stability -duration 1m
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/graftlib/graft/bench/internal/relay"
	"github.com/graftlib/graft/bench/internal/testbed"
	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/internal/monotime"
)

// Result is written as stability.json.
type Result struct {
	Date            string   `json:"date"`
	Nodes           int      `json:"nodes"`
	HeartbeatMs     int64    `json:"heartbeat_ms"`
	ElectionMinMs   int64    `json:"election_min_ms"`
	ElectionMaxMs   int64    `json:"election_max_ms"`
	DelayMs         float64  `json:"delay_ms"`
	JitterMs        float64  `json:"jitter_ms"`
	Seconds         float64  `json:"seconds"`
	FirstLeaderMs   float64  `json:"first_leader_ms"`
	LeaderChanges   int      `json:"spurious_leader_changes"`
	Changes         []string `json:"changes"`
	TermAtStart     uint64   `json:"term_at_start"`
	TermAtEnd       uint64   `json:"term_at_end"`
	BytesPerNodeSec float64  `json:"bytes_per_node_second"`
	Leaders         []string `json:"leaders"`
}

func main() {
	dur := flag.Duration("duration", 10*time.Minute, "how long to watch the idle cluster")
	delay := flag.Duration("delay", 20*time.Millisecond, "mean one-way delay added to every packet between nodes")
	jitter := flag.Duration("jitter", 10*time.Millisecond, "the delay is uniform in [delay-jitter, delay+jitter]")
	out := flag.String("out", "../docs/bench", "folder for stability.json")
	goTool := flag.String("go", "go", "the go command, to build the node program")
	keep := flag.Bool("keep", false, "keep the work folder (node logs)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("stability: ")

	work, err := os.MkdirTemp("", "graft-stability-")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	lf, err := os.Create(filepath.Join(work, "nodes.log"))
	if err != nil {
		log.Fatal(err)
	}
	defer lf.Close()
	env, err := testbed.NewEnv(*goTool, work, "", lf)
	if err != nil {
		log.Fatal(err)
	}
	b, err := env.Graft(3, testbed.Timing{}, false, testbed.Options{Relay: true, Delay: relay.Uniform(*delay, *jitter)})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	r := Result{Date: time.Now().UTC().Format(time.RFC3339), Nodes: 3,
		HeartbeatMs: election.DefaultHeartbeat.Milliseconds(), ElectionMinMs: election.DefaultElectionMin.Milliseconds(), ElectionMaxMs: election.DefaultElectionMax.Milliseconds(),
		DelayMs: float64(delay.Microseconds()) / 1e3, JitterMs: float64(jitter.Microseconds()) / 1e3}
	log.Printf("3 nodes, default timings, %s ± %s per packet, watching for %s", *delay, *jitter, *dur)
	t0, err := b.StartAll()
	if err != nil {
		log.Fatal(err)
	}
	e, err := b.WaitLeader(t0, "", 10*time.Second)
	if err != nil {
		log.Fatal("no first leader: ", err)
	}
	r.FirstLeaderMs = e.T - t0
	leader, err := b.WaitStable(10*time.Second, 500*time.Millisecond, true)
	if err != nil {
		log.Fatal("no stable leader: ", err)
	}
	r.Leaders = append(r.Leaders, leader)
	r.TermAtStart = b.Node(leader).Term
	start, startT, bytes0 := monotime.Millis(), time.Now(), b.Bytes()
	log.Printf("leader %s at term %d after %.0f ms; watching", leader, r.TermAtStart, r.FirstLeaderMs)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	end := time.After(*dur)
	seen := 0
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-end:
			done = true
		}
		evs := b.Events(start)
		for _, e := range evs[seen:] {
			if e.Kind == "state" && (e.State == "leader" || e.From == "leader") {
				r.LeaderChanges++
				c := fmt.Sprintf("+%.1fs %s %s -> %s at term %d", (e.T-start)/1e3, e.ID, e.From, e.State, e.Term)
				r.Changes = append(r.Changes, c)
				if e.State == "leader" {
					r.Leaders = append(r.Leaders, e.ID)
				}
				log.Print(c)
			}
		}
		seen = len(evs)
		for _, id := range b.IDs() {
			if !b.Node(id).Alive {
				log.Fatalf("node %s died", id)
			}
		}
		log.Printf("%s: %d leader changes", time.Since(startT).Round(time.Second), r.LeaderChanges)
	}
	r.Seconds = time.Since(startT).Seconds()
	r.BytesPerNodeSec = float64(b.Bytes()-bytes0) / r.Seconds / 3
	for _, id := range b.IDs() {
		if t := b.Node(id).Term; t > r.TermAtEnd {
			r.TermAtEnd = t
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	j, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "stability.json"), append(j, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	verdict := "met"
	if r.LeaderChanges > 0 {
		verdict = "**missed**"
	}
	fmt.Printf("### Stability: idle 3-node graft cluster, default timings (hb %d ms, election %d–%d ms), %.0f ± %.0f ms per packet (userspace UDP relay)\n\n",
		r.HeartbeatMs, r.ElectionMinMs, r.ElectionMaxMs, r.DelayMs, r.JitterMs)
	fmt.Printf("| watched | spurious leader changes | term at start → end | bytes/s per node | target (zero) |\n|---|---|---|---|---|\n")
	fmt.Printf("| %.0f s | %d | %d → %d | %.0f | %s |\n", r.Seconds, r.LeaderChanges, r.TermAtStart, r.TermAtEnd, r.BytesPerNodeSec, verdict)
	log.Printf("wrote %s", filepath.Join(*out, "stability.json"))
}
