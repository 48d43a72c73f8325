// Command leader-worker runs a task on exactly one node of a cluster: the
// leader. It shows graft from Go: graft.Start runs a node over QUIC with
// mutual TLS from one configuration; the program acts only while the lease
// holds, with the term as a fencing token, and a clean step-down on SIGINT/SIGTERM (Close hands
// leadership to a peer, so the next node takes over in about a round trip).
//
// Run three nodes on one host:
//
//	go run ./examples/go -gencerts /tmp/certs n1 n2 n3
//	go run ./examples/go -id n1 -listen 127.0.0.1:7001 -peer n2=127.0.0.1:7002 \
//	    -peer n3=127.0.0.1:7003 -state /tmp/n1.graft -certs /tmp/certs
//	... likewise n2 and n3; stop or kill the leader and watch another take over.
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/graftlib/graft"
	"github.com/graftlib/graft/transport"
)

func main() {
	id := flag.String("id", "", "this node's id (its certificate is <certs>/<id>.pem)")
	listen := flag.String("listen", "127.0.0.1:7001", "UDP host:port to listen on")
	state := flag.String("state", "", "file that keeps the term and vote across restarts")
	certs := flag.String("certs", "", "directory with ca.pem, <id>.pem and <id>-key.pem")
	gencerts := flag.String("gencerts", "", "write dev certificates for the ids given as arguments into this directory, and exit")
	peers := map[string]string{}
	flag.Func("peer", "a peer as id=host:port (repeat)", func(s string) error {
		pid, addr, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want id=host:port, got %q", s)
		}
		peers[pid] = addr
		return nil
	})
	flag.Parse()
	if *gencerts != "" {
		if err := transport.GenerateCerts(*gencerts, flag.Args()); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *id == "" || *state == "" || *certs == "" {
		log.Fatal("-id, -state and -certs are required (see -h)")
	}

	// One configuration for the whole node: election and QUIC transport.
	node, err := graft.Start(graft.Config{
		Cluster: "example", ID: *id, Listen: *listen, Peers: peers, StatePath: *state,
		CertFile: filepath.Join(*certs, *id+".pem"),
		KeyFile:  filepath.Join(*certs, *id+"-key.pem"),
		CAFile:   filepath.Join(*certs, "ca.pem"),
		Logger:   slog.Default(),
		OnLeaderChange: func(leader string, term uint64) {
			log.Printf("leader is %q at term %d", leader, term)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			log.Printf("stopping at term %d", node.Term())
			if err := node.Close(); err != nil { // a leader hands over first
				log.Fatal(err)
			}
			return
		case <-tick.C:
			// Work only while the lease holds; send the term with every write
			// so that the resource can refuse writes of an older leader.
			if lease, ok := node.Lease(); ok {
				log.Printf("leading: work with fencing token %d (lease %s left)", lease.Term, lease.Remaining().Round(time.Millisecond))
			}
		}
	}
}
