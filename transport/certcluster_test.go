package transport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
)

// blueGreen returns a directory with one CA and the certificates of a and
// b bound to cluster blue, of c bound to cluster green, of d bound to none.
func blueGreen(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, GenerateClusterCerts(dir, "blue", []string{"a", "b"}))
	require.NoError(t, GenerateClusterCerts(dir, "green", []string{"c"}))
	require.NoError(t, GenerateCerts(dir, []string{"d"}))
	return dir
}

func TestGenerateClusterCerts_BindsTheCluster(t *testing.T) {
	dir := blueGreen(t)
	c := readCert(t, filepath.Join(dir, "a.pem"))
	require.Len(t, c.URIs, 1)
	require.Equal(t, "graft://blue/a", c.URIs[0].String())
	require.Empty(t, readCert(t, filepath.Join(dir, "d.pem")).URIs)
	require.ErrorContains(t, GenerateClusterCerts(t.TempDir(), "blue/x", []string{"a"}), "cluster name")
}

func TestVerifyPeer_ClusterBinding(t *testing.T) {
	dir := blueGreen(t)
	creds := func(id, cluster string) *Credentials {
		c := loadCreds(t, dir, id)
		c.Cluster = cluster
		return c
	}
	a, b, c, d := creds("a", "blue"), creds("b", "blue"), creds("c", "blue"), creds("d", "blue")
	serverErr, clientErr := tlsHandshake(t, a.ServerConfig(), b.ClientConfig("a"))
	require.NoError(t, serverErr)
	require.ErrorContains(t, clientErr, "EOF")
	t.Run("a client of another cluster", func(t *testing.T) {
		serverErr, _ := tlsHandshake(t, a.ServerConfig(), c.ClientConfig("a"))
		require.ErrorContains(t, serverErr, `certificate of node "c" is for cluster "green", this is cluster "blue"`)
	})
	t.Run("a server of another cluster", func(t *testing.T) {
		_, clientErr := tlsHandshake(t, c.ServerConfig(), a.ClientConfig("c"))
		require.ErrorContains(t, clientErr, `is for cluster "green"`)
	})
	t.Run("a certificate bound to no cluster is accepted", func(t *testing.T) {
		serverErr, _ := tlsHandshake(t, a.ServerConfig(), d.ClientConfig("a"))
		require.NoError(t, serverErr)
	})
}

func TestNew_RefusesACertificateOfAnotherCluster(t *testing.T) {
	cfg := nodeConfig(blueGreen(t), "c")
	cfg.Cluster = "blue"
	_, err := New(cfg)
	var ce *CertError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, cfg.CertFile, ce.File)
	require.ErrorContains(t, err, `is for cluster "green", this is cluster "blue"`)
}

// TestHostile_NodeOfAnotherClusterSharingTheCA: b's id, certificate from
// the cluster's CA, but bound to another cluster: it cannot connect at all
// (before, it connected and only its messages were dropped).
func TestHostile_NodeOfAnotherClusterSharingTheCA(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	require.NoError(t, GenerateClusterCerts(dir, "blue", []string{"a"}))
	other := t.TempDir()
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		copyFile(t, filepath.Join(dir, f), filepath.Join(other, f))
	}
	require.NoError(t, GenerateClusterCerts(other, "green", []string{"b"}))
	addrs := map[string]string{"a": freeUDPAddr(t), "b": freeUDPAddr(t)}
	a := startPeer(t, dir, "a", "b", addrs, func(c *Config) { c.Cluster = "blue" })
	b := startPeer(t, other, "b", "a", addrs, func(c *Config) { c.Cluster = "green" })
	a.Send(election.Message{Kind: election.MsgHeartbeat, To: "b", Term: 1})
	eventually(t, func() bool { return a.Stats().Dropped.HandshakeFailed > 0 && b.Stats().Dropped.HandshakeFailed > 0 },
		"handshake failures not counted on both ends")
	require.Empty(t, b.in.messages())
	require.Zero(t, b.Stats().Dropped.WrongCluster)
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}
