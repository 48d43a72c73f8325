// Package testbed starts the clusters the benchmark measures: graft
// (cmd/graftnode, or the C leader_worker), nats-io/graft (cmd/natsnode and
// cmd/natsserver) and hashicorp/raft (cmd/hraftnode), each node a separate
// process on loopback, optionally with every link going through a relay
// (package relay) that counts bytes, delays packets or cuts a node off.
package testbed

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/graftlib/graft/bench/internal/cluster"
	"github.com/graftlib/graft/bench/internal/relay"
	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// Library names, as the report shows them.
const (
	Graft     = "graft"
	GraftC    = "graft (C leader_worker)"
	NatsGraft = "nats-io/graft"
	HRaft     = "hashicorp/raft"
)

// Timing is a library-neutral statement of the timings (ms). For graft
// it is Heartbeat, ElectionMin, ElectionMax; for hashicorp/raft see HRaft;
// nats-io/graft cannot be configured (100, 500, 1000).
type Timing struct {
	Heartbeat, ElectionMin, ElectionMax int
}

// Env holds the built programs and a work folder.
type Env struct {
	Bin    string    // folder with graftnode, natsnode, natsserver, hraftnode
	Worker string    // path of build/leader_worker ("" if absent)
	Work   string    // scratch folder
	Log    io.Writer // every node line goes here
	certs  string
	seq    atomic.Int64
}

// NewEnv builds the node programs with goTool (from the bench module
// folder, the current one) into work/bin and writes certificates for n1..n9.
func NewEnv(goTool, work, worker string, log io.Writer) (*Env, error) {
	e := &Env{Bin: filepath.Join(work, "bin"), Worker: worker, Work: work, Log: log, certs: filepath.Join(work, "certs")}
	cmd := exec.Command(goTool, "build", "-o", e.Bin+"/", "./cmd/graftnode", "./cmd/natsnode", "./cmd/natsserver", "./cmd/hraftnode")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("testbed: building the node programs: %w", err)
	}
	if err := transport.GenerateCerts(e.certs, IDs(9)); err != nil {
		return nil, err
	}
	return e, nil
}

// BuildRoot builds packages of the graft module itself (paths relative to
// root, the repository: "./transport/internal/flooder") into e.Bin, for the
// programs the graft module keeps internal (the flood test's node and
// flooder), which the bench module cannot import but can run.
func (e *Env) BuildRoot(goTool, root string, pkgs ...string) error {
	cmd := exec.Command(goTool, append([]string{"build", "-o", e.Bin + "/"}, pkgs...)...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testbed: building %v in %s: %w", pkgs, root, err)
	}
	return nil
}

// Certs returns the folder with the certificates of n1..n9 and their CA.
func (e *Env) Certs() string { return e.certs }

// Dir makes a new scratch folder named after name in the work folder.
func (e *Env) Dir(name string) (string, error) { return e.dir(name) }

// IDs returns n1..nN.
func IDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	return ids
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addrs returns a free loopback address ("127.0.0.1:PORT") per id.
func Addrs(network string, ids []string) (map[string]string, error) {
	m := map[string]string{}
	for _, id := range ids {
		p, err := FreePort(network)
		if err != nil {
			return nil, err
		}
		m[id] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return m, nil
}

// Options are the optional parts of a testbed.
type Options struct {
	// Relay routes every link through a relay (counting bytes).
	Relay bool
	// Delay, if set (with Relay), delays every packet.
	Delay relay.Delay
	// Quiet passes -poll-ms 0 to nats-io/graft nodes (no leader polling,
	// for the idle-cost runs); followers then never report their leader.
	Quiet bool
	// Ranks makes graftnode print RANK lines (its rank, and as leader its
	// successor, read from Stats every 10 ms), so that the harness knows
	// the first successor; graft's Go node only.
	Ranks bool
}

// Bed is one cluster of one library, not yet started.
type Bed struct {
	*cluster.Cluster
	Lib    string
	Nodes  int
	Timing Timing
	// Server is the nats-server process (nats-io/graft only).
	Server *exec.Cmd
	// AllKnowLeader is false when followers cannot report their leader.
	AllKnowLeader bool

	udp     map[[2]string]*relay.UDP
	tcp     []*relay.TCP
	closers []func()
}

// Bytes returns the bytes counted by all the relays so far.
func (b *Bed) Bytes() uint64 {
	var n uint64
	for _, u := range b.udp {
		n += u.Bytes.Load()
	}
	for _, t := range b.tcp {
		n += t.Bytes.Load()
	}
	return n
}

// Partition cuts node id off from every peer (graft with relays only), or
// heals it.
func (b *Bed) Partition(id string, cut bool) error {
	if len(b.udp) == 0 {
		return fmt.Errorf("testbed: %s has no UDP relays to partition with", b.Lib)
	}
	for k, u := range b.udp {
		if k[0] == id || k[1] == id {
			u.Block(cut)
		}
	}
	return nil
}

// Close stops every process and relay.
func (b *Bed) Close() {
	if b.Cluster != nil {
		b.Cluster.Close()
	}
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

func (e *Env) dir(name string) (string, error) {
	d := filepath.Join(e.Work, fmt.Sprintf("%s-%d", strings.NewReplacer("/", "_", " ", "_", "(", "", ")", "").Replace(name), e.seq.Add(1)))
	return d, os.MkdirAll(d, 0o755)
}

// Graft returns a graft cluster of n nodes (cmd/graftnode, or the C
// leader_worker when c is set). Zero timings are graft's defaults.
func (e *Env) Graft(n int, t Timing, c bool, o Options) (*Bed, error) {
	lib, bin := Graft, filepath.Join(e.Bin, "graftnode")
	if c {
		lib, bin = GraftC, e.Worker
	}
	ids := IDs(n)
	dir, err := e.dir(fmt.Sprintf("%s-%d", lib, n))
	if err != nil {
		return nil, err
	}
	listen, err := Addrs("udp", ids)
	if err != nil {
		return nil, err
	}
	b := &Bed{Lib: lib, Nodes: n, Timing: t, AllKnowLeader: true, udp: map[[2]string]*relay.UDP{}}
	peerAddr := func(from, to string) string { return listen[to] }
	if o.Relay {
		for _, a := range ids {
			for _, p := range ids {
				if a == p {
					continue
				}
				u, err := relay.NewUDP(listen[p], o.Delay)
				if err != nil {
					b.Close()
					return nil, err
				}
				b.udp[[2]string{a, p}] = u
				b.closers = append(b.closers, u.Close)
			}
		}
		peerAddr = func(from, to string) string { return b.udp[[2]string{from, to}].Addr() }
	}
	dash := "-"
	if c {
		dash = "--"
	}
	b.Cluster = cluster.New(cluster.Spec{Name: lib, IDs: ids, Log: e.Log, Command: func(id string) (string, []string) {
		args := []string{dash + "id", id, dash + "listen", listen[id], dash + "state", filepath.Join(dir, id+".graft"), dash + "certs", e.certs}
		for _, p := range ids {
			if p != id {
				args = append(args, dash+"peer", p+"="+peerAddr(id, p))
			}
		}
		if o.Ranks && !c {
			args = append(args, "-rank-poll-ms", "10")
		}
		if t.Heartbeat > 0 {
			args = append(args, dash+"heartbeat-ms", fmt.Sprint(t.Heartbeat), dash+"election-min-ms", fmt.Sprint(t.ElectionMin), dash+"election-max-ms", fmt.Sprint(t.ElectionMax))
		}
		return bin, args
	}})
	return b, nil
}

// HRaft returns a hashicorp/raft cluster of n servers with
// HeartbeatTimeout = ElectionTimeout = LeaderLeaseTimeout = t.ElectionMin:
// a follower campaigns after a time drawn from [HeartbeatTimeout,
// 2×HeartbeatTimeout] without contact, a candidate retries after
// [ElectionTimeout, 2×ElectionTimeout], and the leader sends heartbeats
// every [HeartbeatTimeout/10, HeartbeatTimeout/5] (not configurable).
func (e *Env) HRaft(n int, t Timing, o Options) (*Bed, error) {
	ids := IDs(n)
	listen, err := Addrs("tcp", ids)
	if err != nil {
		return nil, err
	}
	b := &Bed{Lib: HRaft, Nodes: n, Timing: t, AllKnowLeader: true}
	adv := listen
	if o.Relay {
		adv = map[string]string{}
		for _, id := range ids {
			r, err := relay.NewTCP(listen[id])
			if err != nil {
				b.Close()
				return nil, err
			}
			b.tcp = append(b.tcp, r)
			b.closers = append(b.closers, r.Close)
			adv[id] = r.Addr()
		}
	}
	b.Cluster = cluster.New(cluster.Spec{Name: HRaft, IDs: ids, Log: e.Log, Command: func(id string) (string, []string) {
		args := []string{"-id", id, "-listen", listen[id], "-advertise", adv[id],
			"-heartbeat-timeout-ms", fmt.Sprint(t.ElectionMin), "-election-timeout-ms", fmt.Sprint(t.ElectionMin), "-lease-ms", fmt.Sprint(t.ElectionMin)}
		for _, p := range ids {
			if p != id {
				args = append(args, "-peer", p+"="+adv[p])
			}
		}
		return filepath.Join(e.Bin, "hraftnode"), args
	}})
	return b, nil
}

// NatsGraft returns a nats-io/graft cluster of n nodes and starts its
// nats-server process. Its timings are fixed: 100, 500, 1000 ms.
func (e *Env) NatsGraft(n int, o Options) (*Bed, error) {
	ids := IDs(n)
	dir, err := e.dir(fmt.Sprintf("nats-%d", n))
	if err != nil {
		return nil, err
	}
	b := &Bed{Lib: NatsGraft, Nodes: n, Timing: Timing{100, 500, 1000}, AllKnowLeader: !o.Quiet}
	srv := exec.Command(filepath.Join(e.Bin, "natsserver"))
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := srv.StdoutPipe()
	if err != nil {
		return nil, err
	}
	srv.Stderr = e.Log
	if err := srv.Start(); err != nil {
		return nil, err
	}
	b.Server = srv
	b.closers = append(b.closers, func() { srv.Process.Kill(); srv.Wait() })
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			for _, f := range strings.Fields(sc.Text()) {
				if v, ok := strings.CutPrefix(f, "url="); ok {
					url <- v
				}
			}
		}
	}()
	var u string
	select {
	case u = <-url:
	case <-time.After(15 * time.Second):
		b.Close()
		return nil, fmt.Errorf("testbed: nats-server did not start")
	}
	nodeURL := map[string]string{}
	for _, id := range ids {
		nodeURL[id] = u
		if o.Relay {
			r, err := relay.NewTCP(strings.TrimPrefix(u, "nats://"))
			if err != nil {
				b.Close()
				return nil, err
			}
			b.tcp = append(b.tcp, r)
			b.closers = append(b.closers, r.Close)
			nodeURL[id] = "nats://" + r.Addr()
		}
	}
	poll := "10"
	if o.Quiet {
		poll = "0"
	}
	b.Cluster = cluster.New(cluster.Spec{Name: NatsGraft, IDs: ids, Log: e.Log, Command: func(id string) (string, []string) {
		return filepath.Join(e.Bin, "natsnode"), []string{"-id", id, "-nats", nodeURL[id], "-size", fmt.Sprint(n),
			"-state", filepath.Join(dir, id+".log"), "-poll-ms", poll}
	}})
	return b, nil
}

// ElectionMin returns the minimum election timeout of b in ms (the unit
// failover is reported in): graft's default when unset.
func (b *Bed) ElectionMin() float64 {
	if b.Timing.ElectionMin == 0 {
		return float64(election.DefaultElectionMin.Milliseconds())
	}
	return float64(b.Timing.ElectionMin)
}

// Heartbeat returns the heartbeat interval of b in ms: graft's default
// when unset (nats-io/graft's is 100 ms; hashicorp/raft's varies in
// [HeartbeatTimeout/10, HeartbeatTimeout/5], reported as Timing.Heartbeat).
func (b *Bed) Heartbeat() float64 {
	if b.Timing.Heartbeat == 0 {
		return float64(election.DefaultHeartbeat.Milliseconds())
	}
	return float64(b.Timing.Heartbeat)
}
