// Command quickstart runs one node of a 3-node cluster and prints its
// fencing token while it leads.
//
//	make certs; go run ./examples/quickstart/go n1 & (likewise n2, n3)
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/graftlib/graft"
)

func main() {
	addrs := map[string]string{"n1": "127.0.0.1:7401", "n2": "127.0.0.1:7402", "n3": "127.0.0.1:7403"}
	me := os.Args[1]
	peers := map[string]string{}
	for id, addr := range addrs {
		if id != me {
			peers[id] = addr
		}
	}
	node, err := graft.Start(graft.Config{
		Cluster: "quickstart", ID: me, Listen: addrs[me], Peers: peers,
		StatePath: "/tmp/quickstart-go-" + me + ".state",
		CertFile:  "build/certs/" + me + ".pem", KeyFile: "build/certs/" + me + "-key.pem", CAFile: "build/certs/ca.pem",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	for change := range node.LeaseChanges() { // act only between acquired and lost
		if change.Held {
			fmt.Printf("%s leads: fencing token %d\n", me, change.Lease.Term)
		} else {
			fmt.Printf("%s lost the lease of term %d\n", me, change.Lease.Term)
		}
	}
}
