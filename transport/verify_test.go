package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loadCreds loads the credentials of id from a certDir.
func loadCreds(tb testing.TB, dir, id string) *Credentials {
	tb.Helper()
	c, err := LoadTLS(filepath.Join(dir, id+".pem"), filepath.Join(dir, id+"-key.pem"), filepath.Join(dir, "ca.pem"), id)
	require.NoError(tb, err)
	return c
}

func TestVerifyPeer_JunkChainRefusedByItsLength(t *testing.T) {
	dir := certDir(t, "a")
	a := loadCreds(t, dir, "a")
	junk := loadTestCA(t, dir).junkChain(t, "mallory", 20, elliptic.P256())
	start := time.Now()
	serverErr, clientErr := tlsHandshake(t, a.ServerConfig(), rogueClient(junk))
	took := time.Since(start)
	require.Error(t, clientErr)
	require.ErrorIs(t, serverErr, errChainTooLong)
	t.Logf("refused in %s: %v", took, serverErr)
}

func TestVerifyPeer_LeafMustBeMeantForTLS(t *testing.T) {
	dir := certDir(t, "a", "b")
	a := loadCreds(t, dir, "a")
	ca := loadTestCA(t, dir)
	const sig = x509.KeyUsageDigitalSignature
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	t.Run("a client certificate", func(t *testing.T) {
		for name, c := range map[string]struct {
			ku  x509.KeyUsage
			eku []x509.ExtKeyUsage
			err string
		}{
			"without client-auth":       {sig, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "client-auth"},
			"without extended usages":   {sig, nil, "client-auth"},
			"without digital signature": {x509.KeyUsageKeyEncipherment, both, "digital-signature"},
			"without key usage":         {0, both, "digital-signature"},
		} {
			t.Run(name, func(t *testing.T) {
				serverErr, _ := tlsHandshake(t, a.ServerConfig(), rogueClient(ca.issue(t, "b", c.ku, c.eku...)))
				require.ErrorContains(t, serverErr, c.err)
			})
		}
		t.Run("with both is accepted", func(t *testing.T) {
			serverErr, clientErr := tlsHandshake(t, a.ServerConfig(), rogueClient(ca.issue(t, "b", sig, both...)))
			require.NoError(t, serverErr)
			require.ErrorContains(t, clientErr, "EOF") // the server closed after its handshake
		})
	})
	t.Run("a server certificate without server-auth", func(t *testing.T) {
		srv := a.ServerConfig()
		srv.Certificates[0] = ca.issue(t, "b", sig, x509.ExtKeyUsageClientAuth)
		_, clientErr := tlsHandshake(t, srv, a.ClientConfig("b"))
		require.ErrorContains(t, clientErr, "server-auth")
	})
	t.Run("a server sending a junk chain", func(t *testing.T) {
		srv := a.ServerConfig()
		srv.Certificates[0] = ca.junkChain(t, "b", 20, elliptic.P256())
		_, clientErr := tlsHandshake(t, srv, a.ClientConfig("b"))
		require.ErrorIs(t, clientErr, errChainTooLong)
	})
}

func TestServerConfig_NoSessionTickets(t *testing.T) {
	a := loadCreds(t, certDir(t, "a"), "a")
	require.True(t, a.ServerConfig().SessionTicketsDisabled, "tickets would be issued and never used")
}

func TestLoadTLS_RefusesCertificatesPeersWouldRefuse(t *testing.T) {
	dir := certDir(t, "a")
	ca := loadTestCA(t, dir)
	// write stores c as a.pem and a-key.pem in a directory of their own.
	write := func(c tls.Certificate) (certFile, keyFile string) {
		d := t.TempDir()
		certFile, keyFile = filepath.Join(d, "a.pem"), filepath.Join(d, "a-key.pem")
		var b []byte
		for _, der := range c.Certificate {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
		require.NoError(t, os.WriteFile(certFile, b, 0o644))
		require.NoError(t, writeKey(keyFile, c.PrivateKey.(*ecdsa.PrivateKey)))
		return certFile, keyFile
	}
	for name, c := range map[string]struct {
		cert tls.Certificate
		err  string
	}{
		"a long chain":           {ca.junkChain(t, "a", 2, elliptic.P256()), "certificates"},
		"no client-auth":         {ca.issue(t, "a", x509.KeyUsageDigitalSignature, x509.ExtKeyUsageServerAuth), "client-auth"},
		"no digital signature":   {ca.issue(t, "a", x509.KeyUsageKeyEncipherment, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), "digital-signature"},
		"an id with a line feed": {ca.issue(t, "a\nb", x509.KeyUsageDigitalSignature, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), `a\nb`},
	} {
		t.Run(name, func(t *testing.T) {
			certFile, keyFile := write(c.cert)
			_, err := LoadTLS(certFile, keyFile, filepath.Join(dir, "ca.pem"), "a")
			require.ErrorContains(t, err, c.err)
		})
	}
}
