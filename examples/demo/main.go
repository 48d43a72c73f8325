// Command demo runs `make demo`: a real three-node graft cluster on
// loopback, twice, each node a separate process talking QUIC with mutual
// TLS, in about 20 seconds.
//
// Act 1, the library (library.go): the C leader-only worker
// (examples/c/leader_worker.c) links libgraft; a live view shows every
// node's state, term and leader while the leader is killed with SIGKILL
// (failover), restarted (it rejoins without unseating the new leader) and
// asked to step down (handover).
//
// Act 2, any program (command.go): `graft run -- sh worker.sh` on three
// nodes; the shell script prints its fencing token (GRAFT_TERM) as it works
// and runs only while its node holds the lease. The leading graft is
// killed with SIGKILL (its watchdog stops the script at once, another node
// takes over), the next one is frozen with SIGSTOP (the watchdog stops the
// script before the lease deadline although graft cannot run), and the
// last one gets SIGTERM (it stops the script and hands over). A timeline
// shows each step to the millisecond.
//
// Run it with `make demo`, or after `make examples-c graft`:
//
//	go run ./examples/demo -bin build
//
// It leaves nothing behind: the certificates and state files live in a
// temporary folder, and every process is killed on exit, on Ctrl-C too.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "build", "folder with leader_worker, gencerts and graft")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	for _, p := range []string{"leader_worker", "gencerts", "graft"} {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			return fmt.Errorf("%v (make examples-c graft builds it)", err)
		}
	}
	dir, err := os.MkdirTemp("", "graft-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	reg := &registry{}
	defer reg.killAll()

	// Ctrl-C: kill every process and remove the folder, then leave.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		reg.killAll()
		os.RemoveAll(dir)
		fmt.Println("\ndemo: interrupted, every process stopped")
		os.Exit(130)
	}()

	fmt.Printf("== certificates: a CA and one certificate per node, in %s\n", dir)
	gen := exec.Command(filepath.Join(bin, "gencerts"), append([]string{dir}, ids...)...)
	gen.Stdout, gen.Stderr = os.Stdout, os.Stderr
	if err := gen.Run(); err != nil {
		return fmt.Errorf("gencerts: %w", err)
	}
	addrs, err := freePorts(len(ids))
	if err != nil {
		return err
	}
	if err := libraryAct(bin, dir, addrs, reg); err != nil {
		return err
	}
	fmt.Println()
	if addrs, err = freePorts(len(ids)); err != nil {
		return err
	}
	if err := commandAct(bin, dir, addrs, reg); err != nil {
		return err
	}
	fmt.Println("demo: done, nothing left behind")
	return nil
}

// registry holds the process groups the demo started, to kill them all on
// any exit.
type registry struct {
	mu   sync.Mutex
	pids []int
}

func (r *registry) add(pid int) {
	r.mu.Lock()
	r.pids = append(r.pids, pid)
	r.mu.Unlock()
}

// killAll sends SIGKILL to every group started (a group already gone is
// no error). graft's watchdogs and commands are in groups of their own:
// each stops its command as soon as its graft is gone.
func (r *registry) killAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pids {
		syscall.Kill(-p, syscall.SIGCONT)
		syscall.Kill(-p, syscall.SIGKILL)
	}
}

// freePorts returns n loopback addresses with a free UDP port each.
func freePorts(n int) ([]string, error) {
	var addrs []string
	var conns []net.PacketConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		conns = append(conns, pc)
		addrs = append(addrs, pc.LocalAddr().String())
	}
	return addrs, nil
}

// stopAll sends SIGTERM to the process of each of ids, then waits up to 5 s
// for each to exit (exited gives the channel closed when it was reaped). It
// returns the first that did not, and false.
func stopAll(ids []string, signal func(string, syscall.Signal), exited func(string) chan struct{}) (string, bool) {
	for _, id := range ids {
		signal(id, syscall.SIGTERM)
	}
	for _, id := range ids {
		select {
		case <-exited(id):
		case <-time.After(5 * time.Second):
			return id, false
		}
	}
	return "", true
}
