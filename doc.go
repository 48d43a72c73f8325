// Package graft starts a leader-election node over QUIC in one call.
//
// A node joins a static cluster of peers named by id, speaks to them over
// QUIC with mutual TLS, and tells the program whether it holds the lease:
// the interval during which no other node of the cluster can believe it
// leads (under bounded clock drift). Act as leader only while the lease
// holds, and fence every write with its term:
//
//	node, err := graft.Start(graft.Config{
//		Cluster: "jobs", ID: "n1", Listen: "127.0.0.1:7401",
//		Peers:    map[string]string{"n2": "127.0.0.1:7402", "n3": "127.0.0.1:7403"},
//		StatePath: "/var/lib/jobs/n1.graft",
//		CertFile: "certs/n1.pem", KeyFile: "certs/n1-key.pem", CAFile: "certs/ca.pem",
//		Logger:   slog.Default(),
//	})
//	if err != nil { ... }
//	defer node.Close()
//	for {
//		lease, err := node.WaitLease(ctx) // blocks until this node leads
//		if err != nil { ... }
//		work(lease.Term, lease.Deadline) // stop by lease.Deadline unless renewed
//	}
//
// The lease changes arrive as a callback (Config.OnLease) or as a channel
// (Node.LeaseChanges); both carry the same sequence: each loss follows
// exactly one acquisition of the same term, and terms never go down.
//
// This package only wires two others together, with one configuration:
// package election (the Raft election as a deterministic state machine, the
// Node, its persisted term and vote; no sockets) and package transport (the
// QUIC transport). Programs that need another transport, or a simulated
// clock, use those directly.
package graft
