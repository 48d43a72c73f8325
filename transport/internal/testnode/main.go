// Command testnode runs one graft node over QUIC, configured by flags, for
// the multi-process tests and benchmarks of package transport. It prints
// one machine-readable line per change, to stdout:
//
//	READY  ms=<t> id=<id> addr=<udp addr>
//	EVENT  ms=<t> id=<id> state=<state> term=<n> leader=<id or -> lead=<0|1>
//	STATS  ms=<t> id=<id> cpu_us=<n> bytes_sent=<n> bytes_recv=<n> msgs_sent=<n> msgs_recv=<n> dropped=<n>
//	       handshake_failed=<n> rss_kb=<n> goroutines=<n> hb_n=<n> hb_p50_us=<n> hb_p99_us=<n> hb_max_us=<n>
//	       sock_drops_peers=<n> sock_drops_strangers=<n> gc_cycles=<n> mem_<class>=<KiB>...
//	ERROR  ms=<t> id=<id> msg=<quoted>
//	LOG    ms=<t> id=<id> msg=<quoted>      (with -log: the transport's Logf lines)
//	CLOSED ms=<t> id=<id> term=<n>
//
// ms is CLOCK_MONOTONIC in milliseconds (comparable between processes of
// one host). An EVENT line is printed whenever the state, term, leader or
// IsLeader changes; IsLeader is polled every -poll (0: only in bursts
// after a state or leader change, so that an idle node is not woken up).
// SIGUSR1 prints a STATS line (cpu_us: user+system CPU of the process;
// hb_*: how late heartbeats and their answers came since the previous
// STATS line, see watched; gc_cycles and mem_*: the Go runtime's view
// of its memory, see runtimeFields);
// SIGTERM or SIGINT closes the node (a leader hands over) and exits 0.
//
// Run:
//
//	go run ./transport/internal/testnode -id n1 -listen 127.0.0.1:7401 \
//	    -peer n2=127.0.0.1:7402 -peer n3=127.0.0.1:7403 -state /tmp/n1.state -certs /tmp/certs
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/internal/monotime"
	"github.com/graftlib/graft/transport"
)

// peerFlags collects repeated -peer id=addr flags.
type peerFlags map[string]string

func (p peerFlags) String() string { return fmt.Sprint(map[string]string(p)) }

func (p peerFlags) Set(s string) error {
	id, addr, ok := strings.Cut(s, "=")
	if !ok || id == "" || addr == "" {
		return fmt.Errorf("want id=host:port, got %q", s)
	}
	p[id] = addr
	return nil
}

var outMu sync.Mutex

// say prints one line: the kind, the time, then the fields.
func say(kind, id, format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(os.Stdout, "%s ms=%.3f id=%s %s\n", kind, monotime.Millis(), id, fmt.Sprintf(format, args...))
}

func main() {
	peers := peerFlags{}
	var (
		cluster = flag.String("cluster", "graft-test", "cluster name")
		id      = flag.String("id", "", "node id (its certificate is <certs>/<id>.pem)")
		listen  = flag.String("listen", "127.0.0.1:0", "UDP host:port to listen on")
		state   = flag.String("state", "", "state file (term and vote)")
		certs   = flag.String("certs", "", "directory with ca.pem, <id>.pem, <id>-key.pem")
		hb      = flag.Duration("heartbeat", election.DefaultHeartbeat, "heartbeat interval")
		emin    = flag.Duration("election-min", election.DefaultElectionMin, "minimum election timeout")
		emax    = flag.Duration("election-max", election.DefaultElectionMax, "maximum election timeout")
		poll    = flag.Duration("poll", 2*time.Millisecond, "IsLeader poll interval (0: only after changes)")
		logs    = flag.Bool("log", false, "print the transport's diagnostic lines (LOG lines)")
	)
	flag.Var(peers, "peer", "a peer as id=host:port (repeat)")
	flag.Parse()
	if *id == "" || *state == "" || *certs == "" {
		fmt.Fprintln(os.Stderr, "testnode: -id, -state and -certs are required")
		os.Exit(2)
	}

	var logf func(string, ...any)
	if *logs {
		logf = func(format string, args ...any) { say("LOG", *id, "msg=%q", fmt.Sprintf(format, args...)) }
	}
	q, err := transport.New(transport.Config{
		Cluster:  *cluster,
		ID:       *id,
		Listen:   *listen,
		Peers:    peers,
		CertFile: filepath.Join(*certs, *id+".pem"),
		KeyFile:  filepath.Join(*certs, *id+"-key.pem"),
		CAFile:   filepath.Join(*certs, "ca.pem"),
		Logf:     logf,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testnode:", err)
		os.Exit(1)
	}
	tr := watch(q, *hb)
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	cfg := election.DefaultConfig()
	cfg.Cluster, cfg.ID, cfg.StatePath = *cluster, *id, *state
	cfg.Heartbeat, cfg.ElectionMin, cfg.ElectionMax = *hb, *emin, *emax
	for p := range peers {
		cfg.Peers = append(cfg.Peers, p)
	}
	cfg.OnStateChange = func(_, _ election.State, _ uint64) { poke() }
	cfg.OnLeaderChange = func(string, uint64) { poke() }
	cfg.OnError = func(err error) { say("ERROR", *id, "msg=%q", err.Error()) }
	node, err := election.New(cfg, tr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testnode:", err)
		os.Exit(1)
	}
	say("READY", *id, "addr=%s", tr.Addr())

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	last := ""
	var burstUntil time.Time
	for {
		leader := node.Leader()
		if leader == "" {
			leader = "-"
		}
		lead := 0
		if node.IsLeader() {
			lead = 1
		}
		if s := fmt.Sprintf("state=%s term=%d leader=%s lead=%d", node.State(), node.Term(), leader, lead); s != last {
			say("EVENT", *id, "%s", s)
			last = s
		}
		var tick <-chan time.Time
		switch {
		case *poll > 0:
			tick = time.After(*poll)
		case time.Now().Before(burstUntil):
			tick = time.After(time.Millisecond)
		}
		select {
		case <-wake:
			// A leader's lease starts about one round trip after it is
			// elected, without a callback: watch closely for a while.
			burstUntil = time.Now().Add(*emax)
		case <-tick:
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				var ru syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
				cpu := int64(ru.Utime.Sec)*1e6 + int64(ru.Utime.Usec) + int64(ru.Stime.Sec)*1e6 + int64(ru.Stime.Usec)
				st := tr.Stats()
				n, p50, p99, worst := tr.take()
				peerDrops, strangerDrops := socketDrops(st)
				say("STATS", *id, "cpu_us=%d bytes_sent=%d bytes_recv=%d msgs_sent=%d msgs_recv=%d dropped=%d "+
					"handshake_failed=%d rss_kb=%d goroutines=%d hb_n=%d hb_p50_us=%d hb_p99_us=%d hb_max_us=%d "+
					"sock_drops_peers=%d sock_drops_strangers=%d %s",
					cpu, st.BytesSent, st.BytesReceived, st.MessagesSent, st.MessagesReceived, st.Dropped.Total(),
					st.Dropped.HandshakeFailed, rssKB(), runtime.NumGoroutine(), n, p50, p99, worst,
					peerDrops, strangerDrops, runtimeFields())
				continue
			}
			if err := node.Close(); err != nil {
				say("ERROR", *id, "msg=%q", err.Error())
			}
			say("CLOSED", *id, "term=%d", node.Term())
			return
		}
	}
}

// socketDrops returns Stats.SocketDrops (peers', strangers'), read by name:
// the bench builds this program on the transport of a commit before the
// field existed too (bench/cmd/bench/flood.go, buildBefore), which reports
// zeros.
func socketDrops(st any) (peers, strangers uint64) {
	v := reflect.ValueOf(st).FieldByName("SocketDrops")
	if !v.IsValid() {
		return 0, 0
	}
	return v.FieldByName("Peers").Uint(), v.FieldByName("Strangers").Uint()
}
