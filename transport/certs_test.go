package transport

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	require.NotNil(t, blk)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	return c
}

func TestGenerateCerts_WritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	require.NoError(t, GenerateCerts(dir, []string{"n1", "n2"}))
	for _, f := range []string{"ca-key.pem", "n1-key.pem", "n2-key.pem"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	c := readCert(t, filepath.Join(dir, "n1.pem"))
	require.Equal(t, []string{"n1"}, c.DNSNames)
	require.Equal(t, "n1", c.Subject.CommonName)
	require.ElementsMatch(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage)
	require.Equal(t, x509.ECDSA, c.PublicKeyAlgorithm)
	require.Greater(t, c.NotAfter.Sub(c.NotBefore).Hours(), 9.9*365*24)
	for _, id := range []string{"n1", "n2"} {
		_, err := LoadTLS(filepath.Join(dir, id+".pem"), filepath.Join(dir, id+"-key.pem"), filepath.Join(dir, "ca.pem"), id)
		require.NoError(t, err)
	}
}

func TestGenerateCerts_ReusesCA(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, GenerateCerts(dir, []string{"a"}))
	ca1 := readCert(t, filepath.Join(dir, "ca.pem"))
	require.NoError(t, GenerateCerts(dir, []string{"b"}))
	ca2 := readCert(t, filepath.Join(dir, "ca.pem"))
	require.Equal(t, ca1.Raw, ca2.Raw, "the CA must be reused")
	// a (first run) and b (second run) chain to the same CA.
	_, err := LoadTLS(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem"), filepath.Join(dir, "ca.pem"), "a")
	require.NoError(t, err)
	_, err = LoadTLS(filepath.Join(dir, "b.pem"), filepath.Join(dir, "b-key.pem"), filepath.Join(dir, "ca.pem"), "b")
	require.NoError(t, err)

	t.Run("half a CA is an error", func(t *testing.T) {
		require.NoError(t, os.Remove(filepath.Join(dir, "ca-key.pem")))
		err := GenerateCerts(dir, []string{"c"})
		require.ErrorContains(t, err, "ca-key.pem")
	})
}

func TestGenerateCerts_RejectsBadIDs(t *testing.T) {
	for name, ids := range map[string][]string{
		"none":         nil,
		"empty":        {""},
		"slash":        {"a/b"},
		"backslash":    {`a\b`},
		"dot dot":      {".."},
		"reserved ca":  {"ca"},
		"duplicate":    {"a", "b", "a"},
		"space":        {"a b"},
		"non-ascii":    {"nœud"},
		"leading dash": {"-x"},
		"too long":     {string(make([]byte, 254))},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			err := GenerateCerts(dir, ids)
			require.Error(t, err)
			require.Contains(t, err.Error(), "transport: ")
			entries, _ := os.ReadDir(dir)
			require.Empty(t, entries, "nothing is written for bad ids")
		})
	}
}

func TestLoadTLS_Errors(t *testing.T) {
	dir := certDir(t, "a", "b")
	other := certDir(t, "a")
	p := func(d, f string) string { return filepath.Join(d, f) }
	cases := []struct {
		name              string
		cert, key, ca, id string
		file              string // the file the error must name
	}{
		{"missing cert", p(dir, "nope.pem"), p(dir, "a-key.pem"), p(dir, "ca.pem"), "a", "nope.pem"},
		{"missing key", p(dir, "a.pem"), p(dir, "nope-key.pem"), p(dir, "ca.pem"), "a", "nope-key.pem"},
		{"missing CA", p(dir, "a.pem"), p(dir, "a-key.pem"), p(dir, "nope.pem"), "a", "nope.pem"},
		{"CA is not PEM", p(dir, "a.pem"), p(dir, "a-key.pem"), p(dir, "a-key.pem"), "a", "a-key.pem"},
		{"key of another node", p(dir, "a.pem"), p(dir, "b-key.pem"), p(dir, "ca.pem"), "a", "a.pem"},
		{"cert names another id", p(dir, "b.pem"), p(dir, "b-key.pem"), p(dir, "ca.pem"), "a", "b.pem"},
		{"cert from another CA", p(other, "a.pem"), p(other, "a-key.pem"), p(dir, "ca.pem"), "a", "a.pem"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadTLS(c.cert, c.key, c.ca, c.id)
			var ce *CertError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, c.file, filepath.Base(ce.File), "%v", err)
			require.Contains(t, err.Error(), "transport: tls: ")
		})
	}
}
