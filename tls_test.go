package graft

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/graftlib/graft/transport"
)

func TestNode_ReloadTLSTakesGoodFilesAndRefusesBadOnes(t *testing.T) {
	cfg := configs(t, "a")["a"]
	n := start(t, cfg)
	waitLease(t, n)
	term := n.Term()

	require.NoError(t, n.ReloadTLS())
	require.NoError(t, os.WriteFile(cfg.CertFile, []byte("-----BEGIN CERTIFICATE-----\ncut"), 0o600))
	err := n.ReloadTLS()
	var ce *transport.CertError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, cfg.CertFile, ce.File)
	require.True(t, n.IsLeader(), "a bad file stopped the node")
	require.Equal(t, term, n.Term())

	require.NoError(t, n.Close())
	require.ErrorIs(t, n.ReloadTLS(), transport.ErrClosed)
}
