package transport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/graftlib/graft/transport/internal/junkchain"
	"github.com/stretchr/testify/require"
)

// Certificates a test makes by hand, and TLS handshakes without QUIC, for
// the tests and benchmarks of verify.go.

// testCA is the cluster CA of a certDir, with its key.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadTestCA reads dir/ca.pem and dir/ca-key.pem.
func loadTestCA(tb testing.TB, dir string) testCA {
	tb.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	require.NoError(tb, err)
	c, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(tb, err)
	return testCA{cert: c, key: pair.PrivateKey.(crypto.Signer)}
}

// issue signs a node certificate for id with the usages given, and returns
// it with its key as a tls.Certificate.
func (ca testCA) issue(tb testing.TB, id string, ku x509.KeyUsage, eku ...x509.ExtKeyUsage) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := template(pkix.Name{CommonName: id})
	tmpl.DNSNames = []string{id}
	tmpl.KeyUsage = ku
	tmpl.ExtKeyUsage = eku
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(tb, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// junkChain returns a certificate for id followed by n self-made CA
// certificates (keys on curve) that copy the cluster CA's subject and key
// id (junkchain.Make; issue 18 used P-521, the slowest to verify; tests use
// P-256, the fastest to make under -race).
func (ca testCA) junkChain(tb testing.TB, id string, n int, curve elliptic.Curve) tls.Certificate {
	tb.Helper()
	c, err := junkchain.Make(ca.cert, id, n, curve)
	require.NoError(tb, err)
	return c
}

// tlsHandshake runs one TLS handshake between server and client over a
// loopback TCP connection (buffered, unlike net.Pipe: each side may write
// while the other does) and returns each side's error.
func tlsHandshake(tb testing.TB, server, client *tls.Config) (serverErr, clientErr error) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		s := tls.Server(sc, server)
		err = s.HandshakeContext(ctx)
		sc.Close()
		done <- err
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(tb, err)
	defer cc.Close()
	c := tls.Client(cc, client)
	clientErr = c.HandshakeContext(ctx)
	if clientErr == nil {
		// TLS 1.3: the server verifies the client's certificate after the
		// client is done; a read waits for its verdict.
		cc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, clientErr = c.Read(make([]byte, 1))
	}
	cc.Close()
	return <-done, clientErr
}

// rogueClient is a client TLS configuration that presents cert, trusts any
// server and offers graft's ALPN.
func rogueClient(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		InsecureSkipVerify: true, NextProtos: []string{ALPN}}
}
