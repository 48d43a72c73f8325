package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of reload.go: the store notices changed files, keeps its
// credentials when the new files are bad, and reports that once.

// issueFiles writes a node certificate for id signed by the CA of caDir,
// and its key, to certPath and keyPath (atomically, like a tool that
// rotates them); mod may change the template first.
func issueFiles(tb testing.TB, caDir, id string, mod func(*x509.Certificate), certPath, keyPath string) {
	tb.Helper()
	ca := loadTestCA(tb, caDir)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := template(pkix.Name{CommonName: id})
	tmpl.DNSNames = []string{id}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(tb, err)
	require.NoError(tb, writeKey(keyPath, key))
	require.NoError(tb, writePEM(certPath, "CERTIFICATE", der, 0o644))
}

// writeFile replaces path atomically with b.
func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	tmp := path + ".tmp"
	require.NoError(tb, os.WriteFile(tmp, b, 0o600))
	require.NoError(tb, os.Rename(tmp, path))
}

// readFile returns path's contents.
func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	return b
}

// testStore is a credStore of node a on a clock the test moves, with its
// reports collected.
type testStore struct {
	*credStore
	cfg   Config
	clock time.Time
	mu    sync.Mutex
	fails []error
	loads int
}

func newTestStore(t *testing.T, dir string) *testStore {
	t.Helper()
	cfg := nodeConfig(dir, "a")
	s, err := newCredStore(cfg)
	require.NoError(t, err)
	ts := &testStore{credStore: s, cfg: cfg, clock: time.Now()}
	s.now = func() time.Time { return ts.clock }
	s.failed = func(err error) { ts.mu.Lock(); ts.fails = append(ts.fails, err); ts.mu.Unlock() }
	s.changed = func(*Credentials) { ts.loads++ }
	return ts
}

// look moves the clock past the gap and lets the store look at its files,
// as the next handshake or tick would.
func (ts *testStore) look() *Credentials {
	ts.clock = ts.clock.Add(tlsCheckGap + time.Millisecond)
	return ts.current()
}

func (ts *testStore) failures() []error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]error(nil), ts.fails...)
}

func serial(c *Credentials) string { return c.Leaf.SerialNumber.String() }

func TestCredStore_UsesRewrittenFilesAfterTheGap(t *testing.T) {
	dir := certDir(t, "a", "b")
	ts := newTestStore(t, dir)
	old := serial(ts.current())

	require.NoError(t, GenerateCerts(dir, []string{"a"})) // same CA, new key and certificate
	require.Equal(t, old, serial(ts.current()), "looked again within the gap")
	now := ts.look()
	require.NotEqual(t, old, serial(now), "the rewritten files are not in use")
	require.Equal(t, 1, ts.loads)

	// Unchanged files are not read again; a rewrite with the same contents
	// changes nothing.
	ts.look()
	writeFile(t, ts.cfg.CertFile, readFile(t, ts.cfg.CertFile))
	require.Equal(t, serial(now), serial(ts.look()))
	require.Equal(t, 1, ts.loads)
	require.Empty(t, ts.failures())
}

func TestCredStore_FollowsASwitchedSymlink(t *testing.T) {
	// Kubernetes mounts a Secret as links into a directory that it replaces
	// by switching one symlink (..data).
	dir := certDir(t, "a")
	v1, v2 := t.TempDir(), t.TempDir()
	for _, v := range []string{v1, v2} {
		for _, f := range []string{"a.pem", "a-key.pem", "ca.pem"} {
			require.NoError(t, os.WriteFile(filepath.Join(v, f), readFile(t, filepath.Join(dir, f)), 0o600))
		}
	}
	issueFiles(t, dir, "a", nil, filepath.Join(v2, "a.pem"), filepath.Join(v2, "a-key.pem"))
	mount := t.TempDir()
	require.NoError(t, os.Symlink(v1, filepath.Join(mount, "..data")))
	for _, f := range []string{"a.pem", "a-key.pem", "ca.pem"} {
		require.NoError(t, os.Symlink(filepath.Join("..data", f), filepath.Join(mount, f)))
	}
	ts := newTestStore(t, mount)
	old := serial(ts.current())

	require.NoError(t, os.Symlink(v2, filepath.Join(mount, "..data.new")))
	require.NoError(t, os.Rename(filepath.Join(mount, "..data.new"), filepath.Join(mount, "..data")))
	require.NotEqual(t, old, serial(ts.look()))
}

// badFile is a way a rotation can go wrong: spoil does it to node a's files
// in dir (laid out by certDir), and the error must name file (cert, key or
// ca) and contain msg.
type badFile struct {
	name, file, msg string
	spoil           func(t *testing.T, dir string, cfg Config)
}

// anotherCA returns a certDir of node a under another CA.
func anotherCA(t *testing.T) string { return certDir(t, "a") }

var badFiles = []badFile{
	{"corrupt certificate", "cert", "damaged or cut off", func(t *testing.T, _ string, cfg Config) {
		writeFile(t, cfg.CertFile, []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"))
	}},
	{"certificate cut off", "cert", "cut off", func(t *testing.T, _ string, cfg Config) {
		b := readFile(t, cfg.CertFile)
		writeFile(t, cfg.CertFile, append(b, b[:len(b)/2]...))
	}},
	{"certificate for another id", "cert", `names node "b", not "a"`, func(t *testing.T, dir string, cfg Config) {
		writeFile(t, cfg.CertFile, readFile(t, filepath.Join(dir, "b.pem")))
		writeFile(t, cfg.KeyFile, readFile(t, filepath.Join(dir, "b-key.pem")))
	}},
	{"expired certificate", "cert", "certificate expired at", func(t *testing.T, dir string, cfg Config) {
		issueFiles(t, dir, "a", func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
		}, cfg.CertFile, cfg.KeyFile)
	}},
	{"certificate not valid yet", "cert", "not valid before", func(t *testing.T, dir string, cfg Config) {
		issueFiles(t, dir, "a", func(c *x509.Certificate) { c.NotBefore = time.Now().Add(time.Hour) }, cfg.CertFile, cfg.KeyFile)
	}},
	{"certificate of another CA", "cert", "not valid for CA", func(t *testing.T, _ string, cfg Config) {
		other := anotherCA(t)
		writeFile(t, cfg.CertFile, readFile(t, filepath.Join(other, "a.pem")))
		writeFile(t, cfg.KeyFile, readFile(t, filepath.Join(other, "a-key.pem")))
	}},
	{"certificate of another cluster", "cert", `is for cluster "blue", this is cluster "test"`, func(t *testing.T, dir string, cfg Config) {
		issueFiles(t, dir, "a", func(c *x509.Certificate) { c.URIs = append(c.URIs, clusterURI("blue", "a")) }, cfg.CertFile, cfg.KeyFile)
	}},
	{"key of another certificate", "cert", "private key does not match", func(t *testing.T, dir string, cfg Config) {
		writeFile(t, cfg.KeyFile, readFile(t, filepath.Join(dir, "b-key.pem")))
	}},
	{"missing key", "key", "no such file", func(t *testing.T, _ string, cfg Config) {
		require.NoError(t, os.Remove(cfg.KeyFile))
	}},
	{"corrupt CA", "ca", "no PEM certificate", func(t *testing.T, _ string, cfg Config) {
		writeFile(t, cfg.CAFile, []byte("garbage"))
	}},
	{"CA bundle cut off", "ca", "PEM block 2 is damaged or cut off", func(t *testing.T, _ string, cfg Config) {
		b := readFile(t, cfg.CAFile)
		writeFile(t, cfg.CAFile, append(append([]byte{}, b...), b[:len(b)-40]...))
	}},
	{"CA that did not sign the certificate", "cert", "not valid for CA", func(t *testing.T, _ string, cfg Config) {
		writeFile(t, cfg.CAFile, readFile(t, filepath.Join(anotherCA(t), "ca.pem")))
	}},
}

// path returns the file of cfg that the error of b must name.
func (b badFile) path(cfg Config) string {
	return map[string]string{"cert": cfg.CertFile, "key": cfg.KeyFile, "ca": cfg.CAFile}[b.file]
}

func TestCredStore_BadFilesKeepTheCredentials(t *testing.T) {
	for _, c := range badFiles {
		t.Run(c.name, func(t *testing.T) {
			dir := certDir(t, "a", "b")
			ts := newTestStore(t, dir)
			before := ts.current()
			c.spoil(t, dir, ts.cfg)

			// Forced: the error names the file, nothing changes.
			err := ts.reload()
			var ce *CertError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, c.path(ts.cfg), ce.File)
			require.ErrorContains(t, err, c.msg)
			require.Same(t, before, ts.current())

			// Automatic: the same files are not reported again after a
			// forced reload told the caller.
			ts.look()
			ts.look()
			require.Empty(t, ts.failures())
			require.Same(t, before, ts.current())
		})
	}
}

func TestCredStore_ReportsBadFilesOnceIfTheyStay(t *testing.T) {
	dir := certDir(t, "a", "b")
	ts := newTestStore(t, dir)
	before := ts.current()
	writeFile(t, ts.cfg.CertFile, []byte("garbage"))

	ts.look()
	require.Empty(t, ts.failures(), "reported at the first look: a writer may be between two files")
	ts.look()
	fails := ts.failures()
	require.Len(t, fails, 1)
	var ce *CertError
	require.ErrorAs(t, fails[0], &ce)
	require.Equal(t, ts.cfg.CertFile, ce.File)
	ts.look()
	ts.look()
	require.Len(t, ts.failures(), 1, "the same files reported twice")
	require.Same(t, before, ts.current())

	// Good files again: in use, and a later failure is reported again.
	require.NoError(t, GenerateCerts(dir, []string{"a"}))
	require.NotSame(t, before, ts.look())
	writeFile(t, ts.cfg.KeyFile, []byte("garbage"))
	ts.look()
	ts.look()
	require.Len(t, ts.failures(), 2)
	require.ErrorAs(t, ts.failures()[1], &ce)
	require.Equal(t, ts.cfg.KeyFile, ce.File)
}

func TestCredStore_CertificateThenKeyIsNoFailure(t *testing.T) {
	// A tool that writes the certificate, then the key, is seen in between
	// (certificate and key do not match) by at most one look.
	dir := certDir(t, "a")
	ts := newTestStore(t, dir)
	old := serial(ts.current())
	next := t.TempDir()
	issueFiles(t, dir, "a", nil, filepath.Join(next, "a.pem"), filepath.Join(next, "a-key.pem"))

	writeFile(t, ts.cfg.CertFile, readFile(t, filepath.Join(next, "a.pem")))
	require.Equal(t, old, serial(ts.look()))
	writeFile(t, ts.cfg.KeyFile, readFile(t, filepath.Join(next, "a-key.pem")))
	require.NotEqual(t, old, serial(ts.look()))
	require.Empty(t, ts.failures())
}

func TestCredStore_BundleOfTwoCAs(t *testing.T) {
	oldCA, newCA := certDir(t, "a", "b"), certDir(t, "a", "b")
	both := append(readFile(t, filepath.Join(oldCA, "ca.pem")), readFile(t, filepath.Join(newCA, "ca.pem"))...)
	bOld, bNew := loadCreds(t, oldCA, "b").Cert.Certificate, loadCreds(t, newCA, "b").Cert.Certificate
	writeFile(t, filepath.Join(oldCA, "ca.pem"), both)
	ts := newTestStore(t, oldCA)

	for _, chain := range [][][]byte{bOld, bNew} {
		id, err := ts.verifyPeer(chain, x509.ExtKeyUsageClientAuth)
		require.NoError(t, err)
		require.Equal(t, "b", id)
	}
	// a's certificate from the new CA, then the old CA removed: the old
	// CA's certificates are refused.
	writeFile(t, ts.cfg.CertFile, readFile(t, filepath.Join(newCA, "a.pem")))
	writeFile(t, ts.cfg.KeyFile, readFile(t, filepath.Join(newCA, "a-key.pem")))
	writeFile(t, ts.cfg.CAFile, readFile(t, filepath.Join(newCA, "ca.pem")))
	require.NoError(t, ts.reload())
	_, err := ts.verifyPeer(bOld, x509.ExtKeyUsageClientAuth)
	require.ErrorContains(t, err, "unknown authority")
	_, err = ts.verifyPeer(bNew, x509.ExtKeyUsageClientAuth)
	require.NoError(t, err)
}

func TestNew_RefusesBadCertificatesNamingTheFile(t *testing.T) {
	for _, c := range badFiles {
		t.Run(c.name, func(t *testing.T) {
			dir := certDir(t, "a", "b")
			cfg := nodeConfig(dir, "a")
			c.spoil(t, dir, cfg)
			_, err := New(cfg)
			var ce *CertError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, c.path(cfg), ce.File)
			require.ErrorContains(t, err, c.msg)
			require.ErrorContains(t, err, ce.File, "the message names the file")
		})
	}
}

func TestQUIC_ReloadTLS(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a")
	q, err := New(nodeConfig(dir, "a"))
	require.NoError(t, err)
	old := q.creds.cur.Load()
	require.NoError(t, GenerateCerts(dir, []string{"a"}))
	require.NoError(t, q.ReloadTLS())
	require.NotEqual(t, serial(old), serial(q.creds.cur.Load()))

	writeFile(t, filepath.Join(dir, "a.pem"), []byte("garbage"))
	err = q.ReloadTLS()
	var ce *CertError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, filepath.Join(dir, "a.pem"), ce.File)
	require.NoError(t, q.Close())
	require.True(t, errors.Is(q.ReloadTLS(), ErrClosed))
}
