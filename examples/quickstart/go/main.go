// Command quickstart runs one node of a 3-node cluster and prints its
// fencing token while it leads.
//
//	make certs; go run ./examples/quickstart/go n1 & (likewise n2, n3)
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

func main() {
	addrs := map[string]string{"n1": "127.0.0.1:7401", "n2": "127.0.0.1:7402", "n3": "127.0.0.1:7403"}
	me := os.Args[1]
	cfg := election.DefaultConfig()
	cfg.Cluster, cfg.ID, cfg.StatePath = "quickstart", me, "/tmp/quickstart-go-"+me+".state"
	cfg.OnLease = func(held bool, lease election.Lease) { // act only between acquired and lost
		if held {
			fmt.Printf("%s leads: fencing token %d\n", me, lease.Term)
		} else {
			fmt.Printf("%s lost the lease of term %d\n", me, lease.Term)
		}
	}
	peers := map[string]string{}
	for id, addr := range addrs {
		if id != me {
			peers[id] = addr
			cfg.Peers = append(cfg.Peers, id)
		}
	}
	tr, err := transport.New(transport.Config{
		Cluster: cfg.Cluster, ID: me, Listen: addrs[me], Peers: peers,
		CertFile: "build/certs/" + me + ".pem", KeyFile: "build/certs/" + me + "-key.pem", CAFile: "build/certs/ca.pem",
	})
	if err != nil {
		log.Fatal(err)
	}
	node, err := election.New(cfg, tr) // the node owns tr from here on
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	select {} // OnLease does the work
}
