package transport

import (
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"syscall"
	"testing"
	"time"
)

// BenchmarkJunkChain measures the CPU a node spends on one TLS handshake
// (no QUIC) by kind of client certificate: 20 junk intermediates (issue
// 18), none, and a good one. cpu-ms/op is the whole process's CPU time
// (user+system, both ends of the handshake) per handshake; the client's
// share is about the same in each case.
//
//	go test -run '^$' -bench JunkChain -benchtime 20x ./transport
func BenchmarkJunkChain(b *testing.B) {
	dir := certDir(b, "a", "b")
	a := loadCreds(b, dir, "a")
	ca := loadTestCA(b, dir)
	noCert := rogueClient(tls.Certificate{})
	noCert.Certificates = nil
	for _, c := range []struct {
		name   string
		client *tls.Config
	}{
		{"junk chain of 20", rogueClient(ca.junkChain(b, "mallory", 20, elliptic.P521()))},
		{"no certificate", noCert},
		{"a peer's certificate", rogueClient(ca.issue(b, "b", x509.KeyUsageDigitalSignature,
			x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth))},
	} {
		b.Run(c.name, func(b *testing.B) {
			server := a.ServerConfig()
			cpu0 := cpuTime()
			for b.Loop() {
				tlsHandshake(b, server, c.client)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime returns the CPU time (user+system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
