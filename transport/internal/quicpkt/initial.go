// Package quicpkt builds the first packets a QUIC version 1 client sends,
// Initial packets (RFC 9000 section 17.2.2, protected as RFC 9001 section 5
// says), without a QUIC stack: what a stranger can send at the rate of a
// loop, for the hostile tests and the flooder of package transport.
package quicpkt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// MinSize is the size a client's Initial packet must have at least; Initial
// pads every packet to it.
const MinSize = 1200

// initialSalt is the version 1 salt of the Initial secrets (RFC 9001 5.2).
var initialSalt = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}

// keys protect a client's Initial packets of one destination connection id.
type keys struct {
	aead cipher.AEAD
	iv   []byte
	hp   cipher.Block
}

// clientKeys derives the client's Initial keys from dcid (RFC 9001 5.2).
func clientKeys(dcid []byte) (keys, error) {
	initial, err := hkdf.Extract(sha256.New, dcid, initialSalt)
	if err != nil {
		return keys{}, err
	}
	secret := expandLabel(initial, "client in", 32)
	block, err := aes.NewCipher(expandLabel(secret, "quic key", 16))
	if err != nil {
		return keys{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keys{}, err
	}
	hp, err := aes.NewCipher(expandLabel(secret, "quic hp", 16))
	if err != nil {
		return keys{}, err
	}
	return keys{aead: aead, iv: expandLabel(secret, "quic iv", 12), hp: hp}, nil
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context.
func expandLabel(secret []byte, label string, n int) []byte {
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(append(info, "tls13 "...), label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		panic(err) // n is at most 32: cannot fail
	}
	return out
}

// Initial returns a protected Initial packet from scid to dcid (each 8 to
// 20 bytes for a server to take it as a new connection) with packet number
// pn, carrying frames and padded to MinSize.
func Initial(dcid, scid []byte, pn uint32, frames []byte) ([]byte, error) {
	if len(dcid) > 20 || len(scid) > 20 {
		return nil, fmt.Errorf("quicpkt: connection ids of %d and %d bytes, at most 20", len(dcid), len(scid))
	}
	k, err := clientKeys(dcid)
	if err != nil {
		return nil, err
	}
	hdr := []byte{0xc3, 0, 0, 0, 1} // long header, Initial, 4-byte packet number; version 1
	hdr = append(append(hdr, byte(len(dcid))), dcid...)
	hdr = append(append(hdr, byte(len(scid))), scid...)
	hdr = append(hdr, 0) // no token
	payload := len(frames)
	if n := len(hdr) + 2 + 4 + payload + k.aead.Overhead(); n < MinSize {
		payload += MinSize - n // PADDING frames are zero bytes
	}
	length := 4 + payload + k.aead.Overhead()
	if length >= 1<<14 {
		return nil, fmt.Errorf("quicpkt: %d bytes of frames do not fit a packet", len(frames))
	}
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(0x4000|length)) // 2-byte varint
	pnOff := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)

	plain := make([]byte, payload)
	copy(plain, frames)
	nonce := append([]byte(nil), k.iv...)
	for i := range 4 {
		nonce[len(nonce)-4+i] ^= byte(pn >> (24 - 8*i))
	}
	pkt := make([]byte, len(hdr), len(hdr)+payload+k.aead.Overhead())
	copy(pkt, hdr)
	pkt = k.aead.Seal(pkt, nonce, plain, hdr)

	// Header protection: a mask from a sample of the ciphertext.
	mask := make([]byte, 16)
	k.hp.Encrypt(mask, pkt[pnOff+4:pnOff+4+16])
	pkt[0] ^= mask[0] & 0x0f
	for i := range 4 {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt, nil
}

// Garbage returns a packet with the header of an Initial from scid to dcid
// and MinSize bytes in all whose payload (random) does not decrypt: a
// server parses it, may create a connection for it, and drops it.
func Garbage(dcid, scid, random []byte) []byte {
	pkt := []byte{0xc3, 0, 0, 0, 1}
	pkt = append(append(pkt, byte(len(dcid))), dcid...)
	pkt = append(append(pkt, byte(len(scid))), scid...)
	pkt = append(pkt, 0)
	length := MinSize - len(pkt) - 2
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(0x4000|length))
	for len(pkt) < MinSize {
		pkt = append(pkt, random...)
	}
	return pkt[:MinSize]
}

// appendVarint appends v as a QUIC variable-length integer (RFC 9000 16).
func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x8000_0000)
	default:
		return binary.BigEndian.AppendUint64(b, v|0xc000_0000_0000_0000)
	}
}

// CryptoFrame appends a CRYPTO frame carrying data at offset.
func CryptoFrame(b []byte, offset uint64, data []byte) []byte {
	b = appendVarint(append(b, 0x06), offset)
	return append(appendVarint(b, uint64(len(data))), data...)
}

// CloseFrame appends a CONNECTION_CLOSE frame of the QUIC layer (type
// 0x1c, the only one allowed in an Initial packet) with error code code
// and reason as its reason phrase.
func CloseFrame(b []byte, code uint64, reason string) []byte {
	b = appendVarint(append(b, 0x1c), code)
	b = appendVarint(b, 0) // frame type: unknown
	return append(appendVarint(b, uint64(len(reason))), reason...)
}
