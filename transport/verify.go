package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Peer certificate verification. Both ends verify the other's certificate
// themselves (ServerConfig: RequireAnyClientCert; ClientConfig:
// InsecureSkipVerify, which only turns off crypto/tls's own verification)
// in VerifyPeerCertificate, because crypto/tls builds chains from every
// intermediate a peer sends, with up to 100 signature checks, before the
// peer proves that it holds its key: a certificate followed by 20 self-made
// P-521 "intermediates" copying the CA's subject and key id cost 74.7 ms of
// CPU per rejected handshake (issue 18). verifyPeer refuses such a chain by
// its length before it checks any signature (BenchmarkJunkChain).

// maxPeerChain is the most certificates a node presents or accepts: its own
// and at most one intermediate. GenerateCerts signs node certificates with
// the cluster CA directly; one intermediate leaves room for a CA of one's
// own that delegates to a cluster intermediate.
const maxPeerChain = 2

// errChainTooLong is matched (errors.Is) by the handshake error of a peer
// that presented more than maxPeerChain certificates.
var errChainTooLong = fmt.Errorf("transport: tls: more than %d certificates presented", maxPeerChain)

// verifyPeer checks the certificates a peer presented (DER, its own first):
// at most maxPeerChain of them, its own fit for usage (checkLeaf), naming
// exactly one node id, bound to no other cluster than c.Cluster
// (certcluster.go), and chaining to the cluster CA. It returns the id.
func (c *Credentials) verifyPeer(raw [][]byte, usage x509.ExtKeyUsage) (string, error) {
	switch {
	case len(raw) == 0:
		return "", errors.New("transport: tls: no certificate presented")
	case len(raw) > maxPeerChain:
		return "", fmt.Errorf("%w (%d)", errChainTooLong, len(raw))
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return "", fmt.Errorf("transport: tls: %w", err)
	}
	if err := checkLeaf(leaf, usage); err != nil {
		return "", err
	}
	id, err := certID(leaf)
	if err != nil {
		return "", fmt.Errorf("transport: tls: %w", err)
	}
	if err := checkCluster(leaf, id, c.Cluster); err != nil {
		return "", fmt.Errorf("transport: tls: %w", err)
	}
	if err := verifyChain(leaf, raw[1:], c.CAs, usage); err != nil {
		return "", fmt.Errorf("transport: tls: certificate of %q: %w", id, err)
	}
	return id, nil
}

// checkLeaf refuses a node certificate that is not explicitly meant for
// signing TLS handshakes for every usage in usages: it must carry the
// digital-signature key usage and name each usage as extended key usage
// (crypto/x509 takes a certificate without extended key usages as fit for
// any).
func checkLeaf(leaf *x509.Certificate, usages ...x509.ExtKeyUsage) error {
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("transport: tls: certificate lacks the digital-signature key usage")
	}
	for _, u := range usages {
		if !slices.Contains(leaf.ExtKeyUsage, u) {
			return fmt.Errorf("transport: tls: certificate lacks the %s extended key usage", usageName(u))
		}
	}
	return nil
}

// usageName names an extended key usage in errors.
func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "server-auth"
	case x509.ExtKeyUsageClientAuth:
		return "client-auth"
	}
	return fmt.Sprintf("#%d", int(u))
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
