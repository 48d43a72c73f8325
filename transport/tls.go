package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// ALPN is the application protocol negotiated on every connection; a
// client offering anything else fails the handshake.
const ALPN = "graft/1"

// Credentials are a node's TLS identity: its certificate and key, the
// cluster CA that signs every node's certificate, and the node id the
// certificate names. Build them with LoadTLS.
type Credentials struct {
	ID   string            // the node id named by Cert
	Cert tls.Certificate   // the node's certificate chain and private key
	Leaf *x509.Certificate // the parsed leaf of Cert
	CAs  *x509.CertPool    // the cluster CA: roots for both directions
}

// LoadTLS reads a node's certificate and key and the cluster CA (all PEM)
// and checks that they fit together: the key matches the certificate, the
// certificate chains to the CA, is valid now, may be used for both server
// and client authentication, and names exactly one node id (its DNS
// subject alternative name), which must be id. Every error is a *CertError
// naming the file at fault.
func LoadTLS(certFile, keyFile, caFile, id string) (*Credentials, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, &CertError{File: caFile, Err: err}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, &CertError{File: caFile, Err: errors.New("no PEM certificate found")}
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &CertError{File: certFile, Err: err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &CertError{File: keyFile, Err: err}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
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
	if err := verifyChain(leaf, cert.Certificate[1:], pool, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, &CertError{File: certFile, Err: fmt.Errorf("not valid for CA %s: %w", caFile, err)}
	}
	return &Credentials{ID: id, Cert: cert, Leaf: leaf, CAs: pool}, nil
}

// certID returns the node id a certificate names: its single DNS subject
// alternative name. The common name, if set, must agree.
func certID(c *x509.Certificate) (string, error) {
	if len(c.DNSNames) != 1 {
		return "", fmt.Errorf("certificate must name exactly one node id as DNS SAN, has %d", len(c.DNSNames))
	}
	id := c.DNSNames[0]
	if cn := c.Subject.CommonName; cn != "" && cn != id {
		return "", fmt.Errorf("certificate common name %q differs from its DNS SAN %q", cn, id)
	}
	return id, nil
}

// verifyChain checks leaf against the CA for every usage in usages.
func verifyChain(leaf *x509.Certificate, inter [][]byte, roots *x509.CertPool, usages ...x509.ExtKeyUsage) error {
	ipool := x509.NewCertPool()
	for _, der := range inter {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		ipool.AddCert(c)
	}
	for _, u := range usages {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: ipool,
			CurrentTime: time.Now(), KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			return err
		}
	}
	return nil
}

// ServerConfig returns the TLS configuration for accepting connections:
// TLS 1.3 only, ALPN graft/1, a client certificate required and verified
// against the CA, and naming exactly one node id. Whether that id is a
// peer is checked after the handshake (see QUIC), so it can be counted.
func (c *Credentials) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.CAs,
		NextProtos:   []string{ALPN},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := PeerID(cs)
			return err
		},
	}
}

// ClientConfig returns the TLS configuration for dialling peer: TLS 1.3
// only, ALPN graft/1, this node's certificate as client certificate, and
// the server certificate verified against the CA (ServerName is peer) and
// required to name exactly peer (compared exactly, no wildcards).
func (c *Credentials) ClientConfig(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		RootCAs:      c.CAs,
		ServerName:   peer,
		NextProtos:   []string{ALPN},
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := PeerID(cs)
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

// PeerID returns the node id of the remote side of a completed handshake:
// the id named by its verified certificate. It fails if the chain was not
// verified or the certificate does not name exactly one id.
func PeerID(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", errors.New("transport: tls: peer certificate not verified")
	}
	id, err := certID(cs.VerifiedChains[0][0])
	if err != nil {
		return "", fmt.Errorf("transport: tls: %w", err)
	}
	return id, nil
}

// validID reports whether id can name a node in a certificate and a file:
// 1 to 253 characters from [A-Za-z0-9._-], not starting with '.' or '-',
// and not "ca" (reserved for the CA files).
func validID(id string) error {
	if id == "" || len(id) > 253 {
		return fmt.Errorf("node id %q must have 1 to 253 characters", id)
	}
	if id == "ca" {
		return errors.New(`node id "ca" is reserved for the CA files`)
	}
	if id[0] == '.' || id[0] == '-' {
		return fmt.Errorf("node id %q must not start with %q", id, id[0])
	}
	if i := slices.IndexFunc([]byte(id), func(b byte) bool {
		return !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-')
	}); i >= 0 {
		return fmt.Errorf("node id %q: character %q not allowed (use A-Z a-z 0-9 . _ -)", id, id[i])
	}
	return nil
}
