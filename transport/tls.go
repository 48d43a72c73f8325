package transport

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/graftlib/graft/election"
)

// ALPN is the application protocol negotiated on every connection; a
// client offering anything else fails the handshake.
const ALPN = "graft/1"

// Credentials are a node's TLS identity: its certificate and key, the
// cluster CA that signs every node's certificate, and the node id the
// certificate names. Build them with LoadTLS.
type Credentials struct {
	// Cluster, if set, is the cluster the peers' certificates may be bound
	// to (certcluster.go): one bound to another is refused. New sets it to
	// Config.Cluster; LoadTLS leaves it empty.
	Cluster string

	ID   string            // the node id named by Cert
	Cert tls.Certificate   // the node's certificate chain and private key
	Leaf *x509.Certificate // the parsed leaf of Cert
	CAs  *x509.CertPool    // the cluster CA: roots for both directions
}

// LoadTLS reads a node's certificate and key and the cluster CA (all PEM)
// and checks that they fit together: the key matches the certificate, the
// certificate chains to the CA, is valid now, may be used for both server
// and client authentication (checkLeaf), has at most one intermediate
// (maxPeerChain), and names exactly one node id (its DNS subject
// alternative name), which must be id. The CA file may hold several CA
// certificates (a bundle: the old and the new CA while a cluster rotates
// its CA); a peer certificate that chains to any of them is trusted. Every
// error is a *CertError naming the file at fault.
func LoadTLS(certFile, keyFile, caFile, id string) (*Credentials, error) {
	var pems [3][]byte
	for i, f := range [3]string{certFile, keyFile, caFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, &CertError{File: f, Err: err}
		}
		pems[i] = b
	}
	return parseTLS(pems, [3]string{certFile, keyFile, caFile}, id, time.Now())
}

// parseTLS is LoadTLS on the contents of the three files (certificate,
// key, CA), which files names for errors, checked at the instant now.
func parseTLS(pems [3][]byte, files [3]string, id string, now time.Time) (*Credentials, error) {
	certFile, keyFile, caFile := files[0], files[1], files[2]
	pool, err := parseCAs(pems[2])
	if err != nil {
		return nil, &CertError{File: caFile, Err: err}
	}
	if err := wholePEM(pems[0], "CERTIFICATE"); err != nil {
		return nil, &CertError{File: certFile, Err: err}
	}
	if err := wholePEM(pems[1], "PRIVATE KEY"); err != nil {
		return nil, &CertError{File: keyFile, Err: err}
	}
	// Both files are whole and hold what they should: an error now is a
	// certificate that does not parse or does not match the key.
	cert, err := tls.X509KeyPair(pems[0], pems[1])
	if err != nil {
		return nil, &CertError{File: certFile, Err: fmt.Errorf("with key %s: %w", keyFile, err)}
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, &CertError{File: certFile, Err: err}
		}
	}
	got, err := certID(leaf)
	if err != nil {
		return nil, &CertError{File: certFile, Err: err}
	}
	if got != id {
		return nil, &CertError{File: certFile, Err: fmt.Errorf("certificate names node %q, not %q", got, id)}
	}
	if len(cert.Certificate) > maxPeerChain {
		return nil, &CertError{File: certFile, Err: fmt.Errorf("%d certificates, peers accept at most %d (the node's and one intermediate)", len(cert.Certificate), maxPeerChain)}
	}
	if err := checkValidity(leaf, now); err != nil {
		return nil, &CertError{File: certFile, Err: err}
	}
	if err := checkLeaf(leaf, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, &CertError{File: certFile, Err: err}
	}
	if err := verifyChain(leaf, cert.Certificate[1:], pool, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, &CertError{File: certFile, Err: fmt.Errorf("not valid for CA %s: %w", caFile, err)}
	}
	return &Credentials{ID: id, Cert: cert, Leaf: leaf, CAs: pool}, nil
}

// checkValidity refuses a certificate that has expired or is not valid yet
// at now, saying when (crypto/x509's own error does not say which).
func checkValidity(c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate expired at %s (now %s)", c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate not valid before %s (now %s)", c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// parseCAs parses a CA file: one or more PEM CERTIFICATE blocks, text
// between them ignored (bundles often carry comments). Unlike
// x509.CertPool.AppendCertsFromPEM, which skips what it cannot parse, a
// block that is not a valid certificate, or a file cut inside a block, is
// an error: a half-written bundle must not silently drop a CA.
func parseCAs(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			if bytes.Contains(rest, []byte("-----BEGIN")) {
				return nil, fmt.Errorf("PEM block %d is damaged or cut off", n+1)
			}
			break
		}
		n++
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		pool.AddCert(c)
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// wholePEM refuses a file without a PEM block whose type ends in kind
// ("CERTIFICATE", "PRIVATE KEY": EC and RSA keys have their own), or whose
// last block is damaged or cut off (tls.X509KeyPair stops silently at such
// a block if one came before).
func wholePEM(b []byte, kind string) error {
	found := false
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			if bytes.Contains(rest, []byte("-----BEGIN")) {
				return errors.New("a PEM block is damaged or cut off")
			}
			break
		}
		found = found || strings.HasSuffix(blk.Type, kind)
	}
	if !found {
		return fmt.Errorf("no PEM %s found", strings.ToLower(kind))
	}
	return nil
}

// certID returns the node id a certificate names: its single DNS subject
// alternative name, a valid node id (validID). The common name, if set,
// must agree.
func certID(c *x509.Certificate) (string, error) {
	if len(c.DNSNames) != 1 {
		return "", fmt.Errorf("certificate must name exactly one node id as DNS SAN, has %d", len(c.DNSNames))
	}
	id := c.DNSNames[0]
	if err := validID(id); err != nil {
		return "", err
	}
	if cn := c.Subject.CommonName; cn != "" && cn != id {
		return "", fmt.Errorf("certificate common name %q differs from its DNS SAN %q", cn, id)
	}
	return id, nil
}

// ServerConfig returns the TLS configuration for accepting connections:
// TLS 1.3 only, ALPN graft/1, no session tickets (nothing resumes), and a
// client certificate required, fit for client authentication, verified
// against the CA by verifyPeer (not by crypto/tls, see verify.go) and
// naming exactly one node id. Whether that id is a peer is checked after
// the handshake (see QUIC), so it can be counted.
func (c *Credentials) ServerConfig() *tls.Config {
	cfg := serverConfig(c.self)
	cfg.GetCertificate, cfg.Certificates = nil, []tls.Certificate{c.Cert} // fixed: tests may replace it
	return cfg
}

// ClientConfig returns the TLS configuration for dialling peer: TLS 1.3
// only, ALPN graft/1, this node's certificate as client certificate, and
// the server certificate verified by verifyPeer (crypto/tls's own
// verification is off, see verify.go): fit for server authentication,
// chaining to the CA and naming exactly peer (compared exactly, no
// wildcards).
func (c *Credentials) ClientConfig(peer string) *tls.Config {
	cfg := clientConfig(c.self, peer)
	cfg.GetClientCertificate, cfg.Certificates = nil, []tls.Certificate{c.Cert}
	return cfg
}

// self returns c: the credentials source of a fixed Credentials.
func (c *Credentials) self() *Credentials { return c }

// serverConfig is ServerConfig with the credentials that creds returns at
// each handshake (a credStore's current ones, reload.go): the certificate
// presented and the CAs that verify the client's.
func serverConfig(creds func() *Credentials) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		ClientAuth:             tls.RequireAnyClientCert,
		NextProtos:             []string{ALPN},
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &creds().Cert, nil
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := creds().verifyPeer(raw, x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// clientConfig is ClientConfig with the credentials that creds returns at
// each handshake.
func clientConfig(creds func() *Credentials, peer string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: peer,
		NextProtos: []string{ALPN},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &creds().Cert, nil
		},
		InsecureSkipVerify: true, // verifyPeer verifies
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			id, err := creds().verifyPeer(raw, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if id != peer {
				return fmt.Errorf("transport: tls: server certificate names %q, expected peer %q", id, peer)
			}
			return nil
		},
	}
}

// PeerID returns the node id of the remote side of a completed handshake
// made with ServerConfig or ClientConfig: the id named by its certificate,
// which verifyPeer verified during the handshake. It fails before the
// handshake is complete, and if the certificate does not name exactly one
// id.
func PeerID(cs tls.ConnectionState) (string, error) {
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return "", errors.New("transport: tls: no verified peer certificate")
	}
	id, err := certID(cs.PeerCertificates[0])
	if err != nil {
		return "", fmt.Errorf("transport: tls: %w", err)
	}
	return id, nil
}

// validID reports whether id can name a node: election.ValidNodeID, the
// one rule for node ids (it is also a DNS SAN and part of file names here).
func validID(id string) error {
	return election.ValidNodeID(id)
}
