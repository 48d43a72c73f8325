package graft

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/graftlib/graft/election"
	"github.com/graftlib/graft/transport"
)

// Node is a running election node over QUIC. Its methods are safe for
// concurrent use; callbacks may call them (Close of the node itself from
// its own callback returns election.ErrBusy).
type Node struct {
	n  *election.Node
	tr *transport.QUIC

	mu      sync.Mutex
	changes chan LeaseChange // made by the first LeaseChanges call
	closing chan struct{}    // closed while a Close is under way
	closers int              // Close calls under way; closing is closed while > 0
	done    bool             // Close succeeded: no more sends
	sends   sync.WaitGroup   // sendChange calls in progress
}

// changeBuffer is the capacity of the LeaseChanges channel: room for a few
// pairs of events, so a reader that wakes late does not delay callbacks.
const changeBuffer = 16

// Start validates cfg, binds the UDP socket, opens the state file and
// starts the node. Errors are *election.ConfigError for a bad setting of
// the election, *transport.ConfigError or *transport.CertError for the
// transport's, or the storage error that stopped it; on error nothing is
// left running.
func Start(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	nd := &Node{closing: make(chan struct{})}
	ec := cfg.electionConfig(nd.sendChange)
	if err := ec.Validate(); err != nil {
		return nil, err
	}
	tr, err := transport.New(transport.Config{
		Cluster: cfg.Cluster, ID: cfg.ID, Listen: cfg.Listen, Peers: cfg.Peers,
		CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, CAFile: cfg.CAFile,
		Logf: transportLogf(cfg.Logger, cfg.ID),
	})
	if err != nil {
		return nil, err
	}
	n, err := election.New(ec, tr) // owns tr from here on, also on failure
	if err != nil {
		return nil, err
	}
	nd.n, nd.tr = n, tr
	return nd, nil
}

// ID returns this node's id.
func (nd *Node) ID() string { return nd.n.ID() }

// Addr returns the UDP address the node listens on (useful with port 0).
func (nd *Node) Addr() net.Addr { return nd.tr.Addr() }

// State returns the node's current state.
func (nd *Node) State() State { return nd.n.State() }

// Term returns the node's current term.
func (nd *Node) Term() uint64 { return nd.n.Term() }

// Leader returns the id of the leader this node knows of, "" if none.
func (nd *Node) Leader() string { return nd.n.Leader() }

// IsLeader reports whether this node holds the lease now.
func (nd *Node) IsLeader() bool { return nd.n.IsLeader() }

// Lease returns the lease if this node holds it now; ok is false otherwise.
func (nd *Node) Lease() (lease Lease, ok bool) {
	term, deadline, ok := nd.n.Lease()
	if !ok {
		return Lease{}, false
	}
	return leaseOf(election.Lease{Term: term, Deadline: deadline}), true
}

// WaitLease blocks until this node holds the lease and returns it, at once
// if it holds it now. It returns ctx's error when ctx ends first and
// election.ErrClosed when the node is or gets closed.
func (nd *Node) WaitLease(ctx context.Context) (Lease, error) {
	l, err := nd.n.WaitLease(ctx)
	if err != nil {
		return Lease{}, err
	}
	return leaseOf(l), nil
}

// LeaseChanges returns a channel that receives every lease event from the
// first call on, in the order OnLease gets them: each loss follows exactly
// one acquisition of the same term. Events are sent only once it has been
// asked for, so a program that never calls it pays nothing. The channel is
// buffered; a reader that falls behind slows the node's callbacks (never
// the election), whose queue then merges steps (see election.Config). It is
// closed when the node closes; the lease is not held after that, whether
// or not the final loss was read.
func (nd *Node) LeaseChanges() <-chan LeaseChange {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.changes == nil {
		nd.changes = make(chan LeaseChange, changeBuffer)
		if nd.done {
			close(nd.changes)
		}
	}
	return nd.changes
}

// sendChange runs on the node's callback goroutine: it waits for room in
// the channel, or gives up once Close has begun (nobody may be reading, and
// Close waits for the callbacks).
func (nd *Node) sendChange(c LeaseChange) {
	nd.mu.Lock()
	ch, closing := nd.changes, nd.closing
	if ch == nil || nd.done {
		nd.mu.Unlock()
		return
	}
	nd.sends.Add(1)
	nd.mu.Unlock()
	defer nd.sends.Done()
	// On the callback goroutine, EventAt is this event's instant; nd.n was
	// set before LeaseChanges could make ch (Start returned first).
	c.At = election.MonotonicAt(nd.n.EventAt())
	select {
	case ch <- c:
	case <-closing:
		select {
		case ch <- c: // room after all: the final loss gets through
		default:
		}
	}
}

// StepDown hands leadership over to the most recently heard peer (about a
// round trip). The lease ends before it returns. See election.Node.StepDown
// for its errors.
func (nd *Node) StepDown() error { return nd.n.StepDown() }

// Stats is a snapshot of the node's counters: the election's and the
// transport's.
type Stats struct {
	Election  election.Stats
	Transport transport.Stats
}

// Stats returns a snapshot of the node's counters.
func (nd *Node) Stats() Stats { return Stats{Election: nd.n.Stats(), Transport: nd.tr.Stats()} }

// Election returns the underlying election node, for what this package does
// not wrap.
func (nd *Node) Election() *election.Node { return nd.n }

// Close hands leadership over if this node leads, stops the node, waits for
// its callbacks (see election.Node.Close for the cases where it does not)
// and closes the LeaseChanges channel. From the node's own callback it
// returns election.ErrBusy and changes nothing; once closed, it returns
// election.ErrClosed.
func (nd *Node) Close() error {
	nd.mu.Lock()
	if nd.done {
		nd.mu.Unlock()
		return election.ErrClosed
	}
	if nd.closers == 0 { // a callback blocked on a full channel must not block Close
		close(nd.closing)
	}
	nd.closers++
	nd.mu.Unlock()
	err := nd.n.Close()
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.closers--
	if errors.Is(err, election.ErrBusy) { // nothing began: sends wait again
		if nd.closers == 0 && !nd.done {
			nd.closing = make(chan struct{})
		}
		return err
	}
	if nd.done {
		return err
	}
	nd.done = true
	nd.sends.Wait() // the sends that began before done; closing ended them
	if nd.changes != nil {
		close(nd.changes)
	}
	return err
}
