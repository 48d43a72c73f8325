package quicpkt

import (
	"context"
	"crypto/tls"
	"errors"
)

// ClientHello returns the TLS ClientHello that a QUIC client with source
// connection id scid sends in its first Initial packets (a CRYPTO frame at
// offset 0), made by crypto/tls with cfg. It offers X25519 alone, so it
// fits one packet. A server answers it with its whole handshake flight, as
// it would to a real client; nothing ever answers back.
func ClientHello(cfg *tls.Config, scid []byte) ([]byte, error) {
	cfg = cfg.Clone()
	cfg.MinVersion = tls.VersionTLS13
	cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	qc := tls.QUICClient(&tls.QUICConfig{TLSConfig: cfg})
	// Transport parameters: initial_source_connection_id (0x0f), the only
	// one a server requires of a client.
	params := appendVarint(appendVarint(nil, 0x0f), uint64(len(scid)))
	qc.SetTransportParameters(append(params, scid...))
	if err := qc.Start(context.Background()); err != nil {
		return nil, err
	}
	defer qc.Close()
	var hello []byte
	for ev := qc.NextEvent(); ev.Kind != tls.QUICNoEvent; ev = qc.NextEvent() {
		if ev.Kind == tls.QUICWriteData && ev.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, ev.Data...)
		}
	}
	if len(hello) == 0 {
		return nil, errors.New("quicpkt: crypto/tls wrote no ClientHello")
	}
	return hello, nil
}
