package transport

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/graftlib/graft/election"
	"github.com/quic-go/quic-go"
)

// Defaults for zero Config fields.
const (
	// DefaultQueueLen is the per-peer outbound queue length used when
	// Config.QueueLen is zero.
	DefaultQueueLen = 64
	// DefaultErrorInterval is the report rate limit used when
	// Config.ErrorInterval is zero.
	DefaultErrorInterval = time.Second
)

// Connection tuning. A dead or partitioned peer is noticed within
// idleTimeout (quic-go sends a keep-alive PING only after keepAlive without
// a packet from the peer, so heartbeats make them unnecessary on a busy
// pair); a peer that restarted with the same key is noticed at the next
// packet sent to it, through a stateless reset (see resetKey).
const (
	keepAlive        = time.Second
	idleTimeout      = 3 * time.Second
	handshakeTimeout = time.Second // idle time during the handshake; the whole handshake gets twice that
	dialTimeout      = 2 * time.Second
	streamTimeout    = time.Second // to write or read one message sent on a stream
	flushTimeout     = 100 * time.Millisecond
	flushGrace       = 10 * time.Millisecond // lets quic-go put flushed datagrams on the wire

	// Knocks (knock.go).
	knockInterval = 100 * time.Millisecond // at least this between two knocks at one peer
	knockLinger   = 500 * time.Millisecond // a knock closes then if the dialer's connection has not come
	knockGrace    = 50 * time.Millisecond  // a connection younger than this at a knock is kept
	knockSettle   = 20 * time.Millisecond  // a knock closed as not needed within this is no knock
	closedWait    = knockLinger            // a dialer whose peer closed waits this long for its knock before it dials
)

// Config configures a QUIC transport. Cluster, ID, Listen and the three TLS
// files are required; there is no plaintext mode.
type Config struct {
	// Cluster names the cluster. Every message carries it; messages for
	// another cluster are dropped (Stats.Dropped.WrongCluster).
	Cluster string
	// ID is this node's id. The certificate in CertFile must name it.
	// Ids use the characters A-Z a-z 0-9 . _ - (at most 253).
	ID string
	// Listen is the UDP "host:port" to bind, e.g. "0.0.0.0:7400",
	// "[::]:7400" (both bind every address, IPv4 and IPv6) or "127.0.0.1:0"
	// (any free port; see QUIC.Addr). New binds it; a name here is
	// resolved once, by New.
	Listen string
	// Peers maps each other node's id to its UDP "host:port": host is an
	// IP address ("10.0.0.2", "[fd00::2]") or a DNS name
	// ("graft-1.graft.ns.svc"), port a number. New checks the syntax only;
	// a name is resolved at every dial, so a peer back at a new address is
	// reached again, and a name that does not resolve yet is reported
	// (ReasonUnreachable) and retried. Only addresses of the listening
	// socket's IP family are dialled (both for a wildcard Listen). Only
	// these ids may connect, whatever their address; this node's own id
	// must not be listed.
	Peers map[string]string
	// CertFile, KeyFile and CAFile are PEM files: this node's certificate
	// and key, and the cluster CA that signed every node's certificate
	// (see GenerateCerts). The CA file may hold several CAs. The node
	// notices when the files change and uses them for new connections
	// (see ReloadTLS).
	CertFile, KeyFile, CAFile string
	// MaxMessageSize is the largest encoded message accepted or sent, in
	// bytes. Zero means DefaultMaxMessageSize (4096); at least 256.
	MaxMessageSize int
	// QueueLen is the number of messages queued per peer while its
	// connection is down or busy; Send drops (and counts) beyond it. Zero
	// means DefaultQueueLen (64).
	QueueLen int
	// ErrorInterval is the minimum time between two calls of the report
	// callback for the same Reason and subject: the peer concerned, else the
	// source address's IP (a peer's own address counts as that peer). It
	// also limits Logf: after 5 lines of one kind about one peer, one per
	// ErrorInterval. Zero means DefaultErrorInterval (1s).
	ErrorInterval time.Duration
	// Logf, if set, receives diagnostic lines (connections made and lost),
	// as Logf("%s", line), with characters that are not printable escaped.
	// It may be called from several goroutines at once and must not block.
	Logf func(format string, args ...any)

	// tune, set by tests only, adjusts the transport's settings (q.qconf,
	// q.dialTimeout) before New uses them: a test of the knock puts
	// keep-alives, path-MTU probes and the idle timeout out of its reach,
	// and the in-process clusters give a starved process time to finish
	// its handshakes.
	tune func(*QUIC)
}

// QUIC is the QUIC transport of a graft node: mutual TLS 1.3, one
// connection per peer pair, carrying both directions (the node whose id
// sorts first dials it; see conn.go), messages as msgpack frames in QUIC
// datagrams. It implements election.Transport. Its methods are safe for
// concurrent use.
type QUIC struct {
	cfg   Config
	creds *credStore
	udp   *net.UDPConn   // the listening socket (the strangers' one when steered)
	sock  net.PacketConn // what quic-go reads: udp, or udp and the peers' socket as one (steer_linux.go)
	steer *steeredConn   // nil when the port is one socket
	// steerMu makes the program steering the peers' datagrams follow the
	// address book in order.
	steerMu sync.Mutex
	tr      *quic.Transport
	ln      *quic.Listener
	qconf   *quic.Config
	// dialTimeout bounds a dial (dialTimeout unless a test changed it).
	dialTimeout time.Duration
	peers       map[string]*peer
	cnt         counters
	rep         *reporter
	log         *logger

	book   *addrBook  // the peers' addresses now (resolve.go)
	lookup lookupFunc // resolves peers' names; tests replace it before Start
	ipNet  string     // the IP family the socket can reach: "ip4", "ip6" or "ip"
	adm    *admission // handshakes in progress by source (admit.go)

	ctx    context.Context // cancelled by Close after the flush
	cancel context.CancelFunc
	flush  chan struct{} // closed by Close: peers send what is queued and stop
	wg     sync.WaitGroup

	mu       sync.RWMutex // Send holds it shared, so none runs once Close has set closed
	started  bool
	closed   bool
	closeErr error
	done     chan struct{} // closed when Close has finished
	deliver  func(election.Message)
	inbound  map[string]*quic.Conn // authenticated peer id -> the newest connection it dialled to us
}

var _ election.Transport = (*QUIC)(nil)

// New validates cfg, loads the TLS files and binds the UDP socket (so a
// port already in use fails here). Nothing is sent or accepted until Start.
// Errors are *ConfigError or *CertError. New changes neither the process's
// environment nor Go's standard logger, through which quic-go may warn
// once about small UDP buffers (docs/transport.md).
func New(cfg Config) (*QUIC, error) {
	if err := normalize(&cfg); err != nil {
		return nil, err
	}
	listen, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, &ConfigError{Field: "Listen", Reason: fmt.Sprintf("%q is not a UDP host:port", cfg.Listen), Err: err}
	}
	ipNet := ipNetwork(listen.AddrPort().Addr())
	peerAddrs := make(map[string]peerAddr, len(cfg.Peers))
	for id, addr := range cfg.Peers {
		a, err := parsePeerAddr(addr)
		if err != nil {
			return nil, &ConfigError{Field: "Peers", Reason: fmt.Sprintf("[%q]: %q is not a UDP host:port", id, addr), Err: err}
		}
		if !a.named() && !reachable(ipNet, a.ip.Addr()) {
			return nil, &ConfigError{Field: "Peers", Reason: fmt.Sprintf("[%q]: %q cannot be reached from Listen %q (another IP family; a wildcard Listen such as \"[::]:7400\" reaches both)", id, addr, cfg.Listen)}
		}
		peerAddrs[id] = a
	}
	creds, err := newCredStore(cfg) // reloaded when the files change (reload.go)
	if err != nil {
		return nil, err
	}
	key, err := resetKey(creds.cur.Load())
	if err != nil {
		return nil, &CertError{File: cfg.KeyFile, Err: err}
	}
	// The port as two sockets, peers' datagrams apart from strangers'
	// (steer_linux.go), else as one.
	var udp *net.UDPConn
	var sock net.PacketConn
	steer, steerErr := listenSteered(listen)
	if steerErr == nil {
		udp, sock = steer.pub, steer
	} else {
		steer = nil
		if udp, err = net.ListenUDP("udp", listen); err != nil {
			return nil, &ConfigError{Field: "Listen", Reason: fmt.Sprintf("cannot bind %q", cfg.Listen), Err: err}
		}
		sock = udp
	}
	q := &QUIC{
		cfg:     cfg,
		creds:   creds,
		udp:     udp,
		sock:    sock,
		steer:   steer,
		flush:   make(chan struct{}),
		done:    make(chan struct{}),
		peers:   make(map[string]*peer, len(cfg.Peers)),
		inbound: make(map[string]*quic.Conn),
		rep:     newReporter(cfg.ErrorInterval),
		log:     newLogger(cfg.Logf, cfg.ErrorInterval),
		book:    newAddrBook(),
		lookup:  net.DefaultResolver.LookupNetIP,
		ipNet:   ipNet,

		dialTimeout: dialTimeout,
	}
	for id, a := range peerAddrs {
		q.peers[id] = newPeer(q, id, a) // before Listen: serverTLS reads q.peers
		if !a.named() {
			q.book.set(id, []netip.AddrPort{a.ip})
		}
	}
	q.steerPeers()
	if steerErr != nil && !errors.Is(steerErr, errors.ErrUnsupported) {
		q.logf("", "one socket for peers and strangers alike (a flood of the port can crowd peers' datagrams out): %v", steerErr)
	}
	q.tlsHooks()
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.qconf = &quic.Config{
		HandshakeIdleTimeout:           handshakeTimeout,
		MaxIdleTimeout:                 idleTimeout,
		KeepAlivePeriod:                keepAlive,
		EnableDatagrams:                true,
		MaxIncomingStreams:             -1, // no bidirectional streams
		MaxIncomingUniStreams:          16, // large messages, one per stream
		InitialStreamReceiveWindow:     uint64(2 * cfg.MaxMessageSize),
		MaxStreamReceiveWindow:         uint64(4 * cfg.MaxMessageSize),
		InitialConnectionReceiveWindow: uint64(16 * cfg.MaxMessageSize),
		MaxConnectionReceiveWindow:     uint64(32 * cfg.MaxMessageSize),
		Tracer:                         knockTracer, // knocks only (knock.go)
	}
	if cfg.tune != nil {
		cfg.tune(q)
	}
	q.adm = newAdmission(q.book)
	q.tr = &quic.Transport{
		Conn:                sock,
		StatelessResetKey:   key,
		ConnContext:         q.connContext,
		VerifySourceAddress: q.adm.mustValidate,
		Tracer:              dropRecorder{q},
	}
	q.ln, err = q.tr.Listen(q.serverTLS(), q.qconf)
	if err != nil {
		q.tr.Close()
		sock.Close()
		return nil, &ConfigError{Field: "Listen", Reason: fmt.Sprintf("cannot listen on %q", cfg.Listen), Err: err}
	}
	q.noteBuffers() // New leaves the environment alone (buffers.go)
	return q, nil
}

// steerPeers steers the datagrams from the peers' addresses in the address
// book, as it is now, to the peers' socket (steer_linux.go).
func (q *QUIC) steerPeers() {
	if q.steer == nil {
		return
	}
	q.steerMu.Lock()
	defer q.steerMu.Unlock()
	if err := q.steer.setPeers(q.book.all()); err != nil {
		q.logf("", "steering the peers' datagrams to their socket: %v", err)
	}
}

// normalize checks cfg and fills in defaults.
func normalize(cfg *Config) error {
	if cfg.Cluster == "" {
		return &ConfigError{Field: "Cluster", Reason: "is empty"}
	}
	if err := validID(cfg.ID); err != nil {
		return &ConfigError{Field: "ID", Reason: "is invalid", Err: err}
	}
	if cfg.Listen == "" {
		return &ConfigError{Field: "Listen", Reason: "is empty"}
	}
	for id := range cfg.Peers {
		if err := validID(id); err != nil {
			return &ConfigError{Field: "Peers", Reason: "has an invalid id", Err: err}
		}
		if id == cfg.ID {
			return &ConfigError{Field: "Peers", Reason: fmt.Sprintf("lists this node's own id %q", id)}
		}
	}
	for _, f := range []struct{ name, val string }{{"CertFile", cfg.CertFile}, {"KeyFile", cfg.KeyFile}, {"CAFile", cfg.CAFile}} {
		if f.val == "" {
			return &ConfigError{Field: f.name, Reason: "is empty (mutual TLS is required; see GenerateCerts)"}
		}
	}
	switch {
	case cfg.MaxMessageSize == 0:
		cfg.MaxMessageSize = DefaultMaxMessageSize
	case cfg.MaxMessageSize < 256 || cfg.MaxMessageSize > 1<<20:
		return &ConfigError{Field: "MaxMessageSize", Reason: fmt.Sprintf("(%d) must be between 256 and 1048576", cfg.MaxMessageSize)}
	}
	switch {
	case cfg.QueueLen == 0:
		cfg.QueueLen = DefaultQueueLen
	case cfg.QueueLen < 0 || cfg.QueueLen > 1<<16:
		return &ConfigError{Field: "QueueLen", Reason: fmt.Sprintf("(%d) must be between 1 and 65536", cfg.QueueLen)}
	}
	switch {
	case cfg.ErrorInterval == 0:
		cfg.ErrorInterval = DefaultErrorInterval
	case cfg.ErrorInterval < 0:
		return &ConfigError{Field: "ErrorInterval", Reason: fmt.Sprintf("(%s) must not be negative", cfg.ErrorInterval)}
	}
	return nil
}

// resetKey derives the QUIC stateless reset key from the node's private
// key. A node restarted with the same key then answers packets of its
// previous incarnation's connections with a stateless reset that the peer
// recognises, so the peer reconnects at once instead of after idleTimeout.
func resetKey(c *Credentials) (*quic.StatelessResetKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Cert.PrivateKey)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte("graft/1 stateless reset key\x00"))
	h.Write(der)
	var k quic.StatelessResetKey
	copy(k[:], h.Sum(nil))
	return &k, nil
}

// Addr returns the bound UDP address (with the actual port when Listen
// asked for port 0).
func (q *QUIC) Addr() net.Addr { return q.udp.LocalAddr() }

// ID returns this node's id.
func (q *QUIC) ID() string { return q.cfg.ID }

// Stats returns a snapshot of the counters.
func (q *QUIC) Stats() Stats {
	st := q.cnt.snapshot()
	st.SocketDrops.Strangers = socketDrops(q.udp)
	if q.steer != nil {
		st.SocketDrops.Peers = socketDrops(q.steer.peer)
	}
	return st
}

// Start begins accepting connections from peers and dialling them.
// deliver is called for each valid message, with From set to the sender's
// authenticated id, from the transport's goroutines (possibly several at
// once); report is called with a *DropError at most once per ErrorInterval
// per Reason and subject (see Config.ErrorInterval). Neither may block,
// nor call Close. Start fails with ErrClosed after Close
// and when called a second time.
func (q *QUIC) Start(deliver func(election.Message), report func(error)) error {
	if deliver == nil {
		return errors.New("transport: Start: deliver is nil")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.started {
		return fmt.Errorf("transport: Start called twice: %w", ErrClosed)
	}
	q.started = true
	q.deliver = deliver
	q.rep.start(report)
	q.wg.Add(3 + len(q.peers))
	go q.acceptLoop()
	go q.readNonQUIC()
	go q.watchTLS()
	for _, p := range q.peers {
		go p.run()
	}
	return nil
}

// Send queues m for m.To and returns at once. It returns false if m.To is
// not a peer, m cannot be encoded or exceeds MaxMessageSize, the peer's
// queue is full (counted as Dropped.QueueFull), or the transport is
// closed. A queued heartbeat replaces older heartbeats still queued for the
// same peer: only the newest matters. m.From is set to this node's id.
func (q *QUIC) Send(m election.Message) bool {
	p := q.peers[m.To]
	if p == nil {
		return false
	}
	m.From = q.cfg.ID
	b, err := Encode(nil, q.cfg.Cluster, m)
	if err != nil || len(b) > q.cfg.MaxMessageSize {
		return false
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	return p.enqueue(m.Kind, b)
}

// Close stops the transport: it gives peers up to 100ms to send what is
// queued, closes every connection (peers are told), releases the socket
// and waits for every goroutine. After Close, Send returns false and
// deliver, report and Logf are not called. Close is idempotent; concurrent
// calls wait for the first.
func (q *QUIC) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.done
		return q.closeErr
	}
	q.closed = true
	started := q.started
	q.mu.Unlock()

	if started {
		close(q.flush)
		timer := time.NewTimer(flushTimeout)
		flushed := false
		for _, p := range q.peers {
			select {
			case n := <-p.flushed:
				flushed = flushed || n > 0
			case <-timer.C:
			}
		}
		if flushed {
			select {
			case <-time.After(flushGrace):
			case <-timer.C:
			}
		}
		timer.Stop()
	}
	q.cancel()
	q.adm.relief.stop()
	q.rep.g.stop()
	q.mu.Lock()
	inbound := q.inbound
	q.inbound = nil
	q.mu.Unlock()
	for _, c := range inbound {
		c.CloseWithError(0, "closing")
	}
	err := q.ln.Close()
	q.wg.Wait()
	if e := q.tr.Close(); err == nil {
		err = e
	}
	if e := q.sock.Close(); err == nil {
		err = e
	}
	q.log.g.stop()
	q.closeErr = err
	close(q.done)
	return err
}

// logf writes a diagnostic line about peer if Config.Logf is set, with
// every character that is not printable escaped (printable: its arguments
// may hold text a stranger chose, such as a connection's close reason),
// and at most logBurst lines of one format about one peer in a row, then
// one per ErrorInterval (report.go).
func (q *QUIC) logf(peer, format string, args ...any) {
	if q.log.fn != nil {
		q.log.logf(peer, format, "transport: "+q.cfg.ID+": "+fmt.Sprintf(format, args...))
	}
}
