package election

// Transport carries Messages between the nodes of a cluster. The election
// core never touches the network: package transport implements this over
// QUIC, and MemNetwork in this package implements it in memory for tests.
//
// A Node owns the Transport it is given: it calls Start once from New and
// Close once from Close.
type Transport interface {
	// Start begins the delivery of incoming messages. deliver is called for
	// every message received from an authenticated peer, with From set to
	// the peer's verified id; it never blocks. report is called with
	// problems worth telling the user about (bad peers, malformed input),
	// at a limited rate; it never blocks either. Start is called once.
	Start(deliver func(Message), report func(error)) error

	// Send queues m for delivery to m.To and returns at once; it never
	// blocks the caller. It returns false if m was dropped (unknown peer,
	// queue full, transport closed). Delivery is best effort.
	Send(m Message) bool

	// Close stops the transport, makes a short best-effort attempt to flush
	// queued messages, releases its sockets and waits for its goroutines.
	// After Close, Send returns false and deliver is not called again.
	// Close is idempotent.
	Close() error
}
