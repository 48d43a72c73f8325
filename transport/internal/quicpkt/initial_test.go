package quicpkt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"
)

// server is a quic-go listener that records why each connection attempt
// ended.
type server struct {
	addr   *net.UDPAddr
	causes chan error
}

func listen(t *testing.T) *server {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"s"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	s := &server{addr: udp.LocalAddr().(*net.UDPAddr), causes: make(chan error, 16)}
	tr := &quic.Transport{Conn: udp, ConnContext: func(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
		context.AfterFunc(ctx, func() { s.causes <- context.Cause(ctx) })
		return ctx, nil
	}}
	ln, err := tr.Listen(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{"x"}}, &quic.Config{HandshakeIdleTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close(); tr.Close(); udp.Close() })
	return s
}

// send sends pkt to s from a socket of its own and returns that socket.
func (s *server) send(t *testing.T, pkt []byte) *net.UDPConn {
	c, err := net.DialUDP("udp", nil, s.addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Write(pkt)
	require.NoError(t, err)
	return c
}

func (s *server) cause(t *testing.T) error {
	select {
	case err := <-s.causes:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the connection attempt did not end")
		return nil
	}
}

var dcid, scid = []byte("dcid-0001"), []byte("scid-0001")

func TestInitial_ClientHelloIsAnswered(t *testing.T) {
	s := listen(t)
	hello, err := ClientHello(&tls.Config{NextProtos: []string{"x"}, ServerName: "s"}, scid)
	require.NoError(t, err)
	pkt, err := Initial(dcid, scid, 0, CryptoFrame(nil, 0, hello))
	require.NoError(t, err)
	require.Len(t, pkt, MinSize)
	c := s.send(t, pkt)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Positive(t, n)
	require.Equal(t, byte(0xc0), buf[0]&0xf0, "a long-header Initial packet answers") // type bits are not protected
	var he *quic.IdleTimeoutError
	require.ErrorAs(t, s.cause(t), &he) // nothing answers the server
}

func TestInitial_CloseFrameCarriesItsReason(t *testing.T) {
	s := listen(t)
	pkt, err := Initial(dcid, scid, 0, CloseFrame(nil, 0x0a, "bye\n"))
	require.NoError(t, err)
	s.send(t, pkt)
	var te *quic.TransportError
	require.True(t, errors.As(s.cause(t), &te))
	require.True(t, te.Remote)
	require.Equal(t, quic.TransportErrorCode(0x0a), te.ErrorCode)
	require.Equal(t, "bye\n", te.ErrorMessage)
}

func TestGarbage_CreatesAConnection(t *testing.T) {
	s := listen(t)
	s.send(t, Garbage(dcid, scid, []byte("0123456789abcdef")))
	// quic-go makes a connection before it decrypts anything; it lives
	// until the handshake idle timeout.
	var he *quic.IdleTimeoutError
	require.ErrorAs(t, s.cause(t), &he)
}
