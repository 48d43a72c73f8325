package transport

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
)

func TestNew_RejectsBadConfig(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b")
	cases := []struct {
		name  string
		mod   func(*Config)
		field string // ConfigError.Field, or "" for a CertError
		file  string // CertError file
	}{
		{"empty cluster", func(c *Config) { c.Cluster = "" }, "Cluster", ""},
		{"bad id", func(c *Config) { c.ID = "a/b" }, "ID", ""},
		{"empty listen", func(c *Config) { c.Listen = "" }, "Listen", ""},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "Listen", ""},
		{"listen garbage", func(c *Config) { c.Listen = "no such host:x" }, "Listen", ""},
		{"peer addr unparsable", func(c *Config) { c.Peers["b"] = "localhost" }, "Peers", ""},
		{"peer port zero", func(c *Config) { c.Peers["b"] = "127.0.0.1:0" }, "Peers", ""},
		{"peer is self", func(c *Config) { c.Peers["a"] = "127.0.0.1:1" }, "Peers", ""},
		{"no TLS", func(c *Config) { c.CertFile = "" }, "CertFile", ""},
		{"tiny MaxMessageSize", func(c *Config) { c.MaxMessageSize = 10 }, "MaxMessageSize", ""},
		{"negative QueueLen", func(c *Config) { c.QueueLen = -1 }, "QueueLen", ""},
		{"negative ErrorInterval", func(c *Config) { c.ErrorInterval = -1 }, "ErrorInterval", ""},
		{"unreadable cert", func(c *Config) { c.CertFile = filepath.Join(dir, "missing.pem") }, "", "missing.pem"},
		{"invalid CA", func(c *Config) { c.CAFile = c.CertFile; c.CertFile = c.KeyFile }, "", "a-key.pem"},
		{"cert names another node", func(c *Config) {
			c.CertFile, c.KeyFile = filepath.Join(dir, "b.pem"), filepath.Join(dir, "b-key.pem")
		}, "", "b.pem"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := nodeConfig(dir, "a")
			cfg.Peers["b"] = "127.0.0.1:9"
			tc.mod(&cfg)
			q, err := New(cfg)
			require.Error(t, err)
			require.Nil(t, q)
			require.Contains(t, err.Error(), "transport: ")
			if tc.field != "" {
				var ce *ConfigError
				require.True(t, errors.As(err, &ce), "%T: %v", err, err)
				require.Equal(t, tc.field, ce.Field, "%v", err)
			} else {
				var ce *CertError
				require.True(t, errors.As(err, &ce), "%T: %v", err, err)
				require.Equal(t, tc.file, filepath.Base(ce.File), "%v", err)
			}
		})
	}
}

func TestNew_PortConflictFailsInNew(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a", "b")
	a, err := New(nodeConfig(dir, "a"))
	require.NoError(t, err)
	defer a.Close()
	cfg := nodeConfig(dir, "b")
	cfg.Listen = a.Addr().String()
	_, err = New(cfg)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "Listen", ce.Field)
}

func TestNew_Defaults(t *testing.T) {
	leakCheck(t)
	dir := certDir(t, "a")
	q, err := New(nodeConfig(dir, "a"))
	require.NoError(t, err)
	require.Equal(t, DefaultMaxMessageSize, q.cfg.MaxMessageSize)
	require.Equal(t, DefaultQueueLen, q.cfg.QueueLen)
	require.Equal(t, DefaultErrorInterval, q.cfg.ErrorInterval)
	require.NotZero(t, q.Addr().(interface{ String() string }).String())
	require.NoError(t, q.Close()) // Close without Start
	require.NoError(t, q.Close())
	require.ErrorIs(t, q.Start(func(election.Message) {}, nil), ErrClosed)
}
