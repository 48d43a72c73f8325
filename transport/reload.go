package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Certificates that rotate (issue 15). Short-lived certificates
// (cert-manager, SPIFFE) are replaced in place every few hours; reading
// them once at start forced a restart per rotation, and each restart of the
// leader is a leadership change. So a node keeps its credentials in a
// credStore that every handshake reads (serverConfig, clientConfig: the
// certificate presented and the CAs that verify the peer's), and the store
// looks at the three files again:
//
//   - at most once per tlsCheckGap, when a handshake begins (accepted or
//     dialled), and every tlsCheckEvery (watchTLS): a look is three stat
//     calls, never done per packet;
//   - when something the stat shows (device, inode, size, modification
//     and change times) differs from the files in use, it reads and checks
//     them like New (parseTLS, and the cluster binding), and uses them for
//     every later handshake. Connections up keep working: TLS never looks
//     at certificates again once connected, and a peer that reconnects
//     meets the new ones;
//   - files that fail the checks change nothing. A certificate and its key
//     are rarely replaced in one step, so a failure is reported (a
//     *CertError to the report callback, naming the file) only if the files
//     are still the same at the next look, then not again until they
//     change;
//   - ReloadTLS loads them now, whatever the stat says, and returns the
//     error instead.
//
// A CA file may hold several CAs, so a cluster rotates its CA without a
// leader change: add the new CA to every node's CA file, reissue the node
// certificates from it, then remove the old one (TestRotation_*).
//
// The QUIC stateless reset key stays the one derived at New from the key
// then in use: quic-go takes it once.

// tlsCheckGap is the least time between two looks at the files.
// tlsCheckEvery is the period of the look that happens without handshakes
// (a cluster at rest makes none): a rotated file is in use within about
// that time.
const (
	tlsCheckGap   = time.Second
	tlsCheckEvery = 2 * time.Second
)

// reasonTLSFiles keys the rate limit of reports about the TLS files. It is
// no drop Reason: those index counters; a failed reload is reported as the
// *CertError itself.
const reasonTLSFiles Reason = 255

// fileStamp is what stat says of one file: enough to notice a rewrite, a
// rename over it, or a symlink pointed elsewhere (Kubernetes updates a
// mounted Secret by switching a symlink).
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds
	missing      bool  // stat failed
}

// stampFiles stats the files (following symlinks).
func stampFiles(files [3]string) [3]fileStamp {
	var st [3]fileStamp
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			st[i].missing = true
			continue
		}
		st[i].size, st[i].mtime = fi.Size(), fi.ModTime().UnixNano()
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			st[i].dev, st[i].ino = uint64(sys.Dev), sys.Ino
			st[i].ctime = time.Unix(sys.Ctim.Unix()).UnixNano()
		}
	}
	return st
}

// credStore holds a node's current credentials and reloads them when their
// files change (see the top of this file). Its methods are safe for
// concurrent use.
type credStore struct {
	files       [3]string // certificate, key, CA
	id, cluster string
	now         func() time.Time

	cur  atomic.Pointer[Credentials]
	next atomic.Int64 // Unix nanoseconds before which check does not look

	// changed and failed are called, with mu held, after a load that
	// changed the credentials in use, and with an automatic load's error
	// that is to be reported. QUIC sets them before Start; nil: nothing.
	changed func(c *Credentials)
	failed  func(err error)

	mu      sync.Mutex   // one load at a time; guards the fields below
	inUse   [3]fileStamp // the files as they were before the load in use
	sum     [32]byte     // SHA-256 of the contents in use
	pending [3]fileStamp // files whose load failed once, not reported yet
	hasPend bool
	refused [3]fileStamp // files whose failure was reported (or returned)
	hasRef  bool
}

// newCredStore loads the TLS files of cfg, checked like LoadTLS and bound
// to no other cluster than cfg.Cluster. Errors are *CertError.
func newCredStore(cfg Config) (*credStore, error) {
	s := &credStore{
		files: [3]string{cfg.CertFile, cfg.KeyFile, cfg.CAFile},
		id:    cfg.ID, cluster: cfg.Cluster, now: time.Now,
	}
	st := stampFiles(s.files)
	c, sum, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cur.Store(c)
	s.inUse, s.sum = st, sum
	s.next.Store(s.now().Add(tlsCheckGap).UnixNano())
	return s, nil
}

// read reads and checks the files. Its caller stamps them first: a file
// replaced in between is then read again at the next look.
func (s *credStore) read() (*Credentials, [32]byte, error) {
	var pems [3][]byte
	h := sha256.New()
	for i, f := range s.files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, [32]byte{}, &CertError{File: f, Err: err}
		}
		pems[i] = b
		h.Write(b)
		h.Write([]byte{0})
	}
	c, err := parseTLS(pems, s.files, s.id, s.now())
	if err != nil {
		return nil, [32]byte{}, err
	}
	if err := checkCluster(c.Leaf, s.id, s.cluster); err != nil {
		return nil, [32]byte{}, &CertError{File: s.files[0], Err: err}
	}
	c.Cluster = s.cluster
	var sum [32]byte
	h.Sum(sum[:0])
	return c, sum, nil
}

// load reads the files, stamped st, and uses them if they pass. mu is held.
func (s *credStore) load(st [3]fileStamp) error {
	c, sum, err := s.read()
	if err != nil {
		return err
	}
	s.inUse, s.hasPend, s.hasRef = st, false, false
	if sum == s.sum {
		return nil // rewritten with the same contents
	}
	s.sum = sum
	s.cur.Store(c)
	if s.changed != nil {
		s.changed(c)
	}
	return nil
}

// current returns the credentials in use, after a look at the files if
// the last one is tlsCheckGap old. Handshakes call it.
func (s *credStore) current() *Credentials {
	s.check()
	return s.cur.Load()
}

// check looks at the files unless another look was made less than
// tlsCheckGap ago or is under way, and loads them if they changed.
func (s *credStore) check() {
	now := s.now()
	next := s.next.Load()
	if now.UnixNano() < next || !s.next.CompareAndSwap(next, now.Add(tlsCheckGap).UnixNano()) {
		return
	}
	if !s.mu.TryLock() {
		return // a load is under way
	}
	defer s.mu.Unlock()
	st := stampFiles(s.files)
	if st == s.inUse || s.hasRef && st == s.refused {
		return
	}
	err := s.load(st)
	switch {
	case err == nil:
	case s.hasPend && st == s.pending:
		// Failed twice on the same files: they are what they are.
		s.refused, s.hasRef, s.hasPend = st, true, false
		if s.failed != nil {
			s.failed(err)
		}
	default:
		// Perhaps a writer is between the certificate and its key.
		s.pending, s.hasPend = st, true
	}
}

// reload loads the files now. On failure the credentials in use stay, and
// check does not report the same files again.
func (s *credStore) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := stampFiles(s.files)
	err := s.load(st)
	if err != nil {
		s.refused, s.hasRef, s.hasPend = st, true, false
	}
	return err
}

// ServerConfig is Credentials.ServerConfig with the store's current
// credentials at each handshake.
func (s *credStore) ServerConfig() *tls.Config { return serverConfig(s.current) }

// ClientConfig is Credentials.ClientConfig with the store's current
// credentials at each handshake.
func (s *credStore) ClientConfig(peer string) *tls.Config { return clientConfig(s.current, peer) }

// verifyPeer is Credentials.verifyPeer with the current credentials.
func (s *credStore) verifyPeer(raw [][]byte, usage x509.ExtKeyUsage) (string, error) {
	return s.current().verifyPeer(raw, usage)
}

// ReloadTLS reads the certificate, key and CA files again and, if they
// pass the checks of New, uses them for every connection made from now on
// (connections up stay as they are). If not, the credentials in use stay
// and the error, a *CertError naming the file at fault, is returned. The
// node also does this by itself within about 2 s of a change (then a
// failure goes to the report callback, once per version of the files); a
// reload with unchanged files is harmless. Safe to call at any time, also
// before Start; after Close it returns ErrClosed.
func (q *QUIC) ReloadTLS() error {
	q.mu.RLock()
	closed := q.closed
	q.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return q.creds.reload()
}

// watchTLS looks at the TLS files every tlsCheckEvery until Close, and
// wires the store's reports to the report callback and Logf.
func (q *QUIC) watchTLS() {
	defer q.wg.Done()
	t := time.NewTicker(tlsCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-q.ctx.Done():
			return
		case <-t.C:
			q.creds.check()
		}
	}
}

// tlsHooks connects the store's reports to this transport: a failed
// reload to the report callback (rate-limited like a drop, keyed by file),
// a successful one to Logf.
func (q *QUIC) tlsHooks() {
	q.creds.failed = func(err error) {
		key := reportKey{reason: reasonTLSFiles}
		var ce *CertError
		if errors.As(err, &ce) {
			key.who = ce.File
		}
		if ok, _ := q.rep.g.enter(key); ok {
			defer q.rep.g.leave()
			q.rep.fn(err)
		}
	}
	q.creds.changed = func(c *Credentials) {
		q.logf("", "TLS files reloaded: certificate serial %x valid until %s",
			c.Leaf.SerialNumber, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}
