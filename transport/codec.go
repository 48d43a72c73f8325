package transport

import (
	"bytes"
	"fmt"
	"math"

	"github.com/graftlib/graft/election"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// WireVersion is the version of the wire format written by Encode. Decode
// rejects every other version.
const WireVersion = 1

// DefaultMaxMessageSize is the frame size limit used when
// Config.MaxMessageSize is zero.
const DefaultMaxMessageSize = 4096

// Wire format, version 1: every message is one msgpack map with string keys.
// "version" (uint) is always the first key, so a later version may change
// everything after it. The keys:
//
//	version  uint   1
//	cluster  str    the cluster name; must equal the receiver's
//	kind     uint   election.MsgKind (0 MsgPreVote ... 6 MsgTimeoutNow)
//	from     str    sender id; must equal the id in the sender's certificate
//	to       str    recipient id; must equal the receiver's id
//	term     uint   Message.Term
//	granted  bool   Message.Granted   (omitted when false)
//	transfer bool   Message.Transfer  (omitted when false)
//	stamp    int    Message.Stamp     (omitted when 0)
//	position bin    Message.Position  (omitted when empty)
//	rank     uint   Message.Rank      (omitted when 0; at most election.MaxRank)
//	priority uint   Message.Priority  (omitted when 0; at most 2^32-1)
//	witness  bool   Message.Witness   (omitted when false)
//
// A frame is exactly one map: no trailing bytes, no unknown or repeated
// keys. The frame size is checked before decoding.
const (
	keyVersion  = "version"
	keyCluster  = "cluster"
	keyKind     = "kind"
	keyFrom     = "from"
	keyTo       = "to"
	keyTerm     = "term"
	keyGranted  = "granted"
	keyTransfer = "transfer"
	keyStamp    = "stamp"
	keyPosition = "position"
	keyRank     = "rank"
	keyPriority = "priority"
	keyWitness  = "witness"
)

// Encode appends the wire form of m, stamped with cluster, to dst and
// returns the result. It fails only if m.Kind is unknown.
func Encode(dst []byte, cluster string, m election.Message) ([]byte, error) {
	if !m.Kind.Valid() {
		return dst, fmt.Errorf("transport: encode: unknown message kind %d", uint8(m.Kind))
	}
	n := 6
	if m.Granted {
		n++
	}
	if m.Transfer {
		n++
	}
	if m.Stamp != 0 {
		n++
	}
	if len(m.Position) > 0 {
		n++
	}
	if m.Rank != 0 {
		n++
	}
	if m.Priority != 0 {
		n++
	}
	if m.Witness {
		n++
	}
	buf := bytes.NewBuffer(dst)
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	// Writes to a bytes.Buffer cannot fail.
	_ = enc.EncodeMapLen(n)
	_ = enc.EncodeString(keyVersion)
	_ = enc.EncodeUint(WireVersion)
	_ = enc.EncodeString(keyCluster)
	_ = enc.EncodeString(cluster)
	_ = enc.EncodeString(keyKind)
	_ = enc.EncodeUint(uint64(m.Kind))
	_ = enc.EncodeString(keyFrom)
	_ = enc.EncodeString(m.From)
	_ = enc.EncodeString(keyTo)
	_ = enc.EncodeString(m.To)
	_ = enc.EncodeString(keyTerm)
	_ = enc.EncodeUint(m.Term)
	if m.Granted {
		_ = enc.EncodeString(keyGranted)
		_ = enc.EncodeBool(true)
	}
	if m.Transfer {
		_ = enc.EncodeString(keyTransfer)
		_ = enc.EncodeBool(true)
	}
	if m.Stamp != 0 {
		_ = enc.EncodeString(keyStamp)
		_ = enc.EncodeInt(m.Stamp)
	}
	if len(m.Position) > 0 {
		_ = enc.EncodeString(keyPosition)
		_ = enc.EncodeBytes(m.Position)
	}
	if m.Rank != 0 {
		_ = enc.EncodeString(keyRank)
		_ = enc.EncodeUint(uint64(m.Rank))
	}
	if m.Priority != 0 {
		_ = enc.EncodeString(keyPriority)
		_ = enc.EncodeUint(uint64(m.Priority))
	}
	if m.Witness {
		_ = enc.EncodeString(keyWitness)
		_ = enc.EncodeBool(true)
	}
	return buf.Bytes(), nil
}

// Decode parses one frame. It rejects, with a *DecodeError naming the
// reason, a frame longer than maxSize (checked first; 0 means
// DefaultMaxMessageSize), an unknown version, another cluster, an unknown
// kind, and anything malformed. From is returned as found on the wire: the
// caller compares it with the authenticated peer id.
func Decode(b []byte, cluster string, maxSize int) (election.Message, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(b) > maxSize {
		return election.Message{}, &DecodeError{Reason: ReasonOversized,
			Detail: fmt.Sprintf("%d bytes, limit %d", len(b), maxSize)}
	}
	r := bytes.NewReader(b)
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	p := parser{b: b, r: r, dec: dec}
	return p.message(cluster)
}

// parser decodes a frame held in memory; it checks every declared length
// against the bytes that remain, so a lying header cannot make it allocate.
type parser struct {
	b   []byte
	r   *bytes.Reader
	dec *msgpack.Decoder
}

func malformed(detail string, err error) *DecodeError {
	return &DecodeError{Reason: ReasonMalformed, Detail: detail, Err: err}
}

const (
	seenVersion = 1 << iota
	seenCluster
	seenKind
	seenFrom
	seenTo
	seenTerm
	seenGranted
	seenTransfer
	seenStamp
	seenPosition
	seenRank
	seenPriority
	seenWitness

	seenRequired = seenVersion | seenCluster | seenKind | seenFrom | seenTo | seenTerm
	numKeys      = 13
)

func (p *parser) message(cluster string) (election.Message, error) {
	var m election.Message
	c, err := p.dec.PeekCode()
	if err != nil {
		return m, malformed("empty frame", err)
	}
	if !msgpcode.IsFixedMap(c) && c != msgpcode.Map16 && c != msgpcode.Map32 {
		return m, malformed(fmt.Sprintf("frame is not a map (code 0x%02x)", c), nil)
	}
	n, err := p.dec.DecodeMapLen()
	if err != nil {
		return m, malformed("map header", err)
	}
	if n < 1 || n > numKeys {
		return m, malformed(fmt.Sprintf("map has %d keys", n), nil)
	}
	var seen int
	for i := 0; i < n; i++ {
		key, err := p.str("key")
		if err != nil {
			return m, err
		}
		if i == 0 && key != keyVersion {
			return m, malformed(fmt.Sprintf("first key is %q, not %q", key, keyVersion), nil)
		}
		var bit int
		switch key {
		case keyVersion:
			bit = seenVersion
			v, err := p.uint(key)
			if err != nil {
				return m, err
			}
			if v != WireVersion {
				return m, &DecodeError{Reason: ReasonBadVersion, Detail: fmt.Sprintf("version %d, want %d", v, WireVersion)}
			}
		case keyCluster:
			bit = seenCluster
			s, err := p.str(key)
			if err != nil {
				return m, err
			}
			if s != cluster {
				return m, &DecodeError{Reason: ReasonWrongCluster, Detail: fmt.Sprintf("cluster %q, want %q", s, cluster)}
			}
		case keyKind:
			bit = seenKind
			k, err := p.uint(key)
			if err != nil {
				return m, err
			}
			if k >= uint64(election.NumMsgKinds) {
				return m, malformed(fmt.Sprintf("unknown kind %d", k), nil)
			}
			m.Kind = election.MsgKind(k)
		case keyFrom:
			bit = seenFrom
			if m.From, err = p.str(key); err != nil {
				return m, err
			}
		case keyTo:
			bit = seenTo
			if m.To, err = p.str(key); err != nil {
				return m, err
			}
		case keyTerm:
			bit = seenTerm
			if m.Term, err = p.uint(key); err != nil {
				return m, err
			}
			if m.Term > election.MaxTerm {
				return m, malformed(fmt.Sprintf("term %d above MaxTerm", m.Term), nil)
			}
		case keyGranted:
			bit = seenGranted
			if m.Granted, err = p.bool(key); err != nil {
				return m, err
			}
		case keyTransfer:
			bit = seenTransfer
			if m.Transfer, err = p.bool(key); err != nil {
				return m, err
			}
		case keyStamp:
			bit = seenStamp
			if m.Stamp, err = p.int(key); err != nil {
				return m, err
			}
		case keyPosition:
			bit = seenPosition
			if m.Position, err = p.bin(key); err != nil {
				return m, err
			}
		case keyRank:
			bit = seenRank
			v, err := p.uint(key)
			if err != nil {
				return m, err
			}
			if v > election.MaxRank {
				return m, malformed(fmt.Sprintf("rank %d above MaxRank", v), nil)
			}
			m.Rank = uint32(v)
		case keyPriority:
			bit = seenPriority
			v, err := p.uint(key)
			if err != nil {
				return m, err
			}
			if v > math.MaxUint32 {
				return m, malformed(fmt.Sprintf("priority %d above 2^32-1", v), nil)
			}
			m.Priority = uint32(v)
		case keyWitness:
			bit = seenWitness
			if m.Witness, err = p.bool(key); err != nil {
				return m, err
			}
		default:
			return m, malformed(fmt.Sprintf("unknown key %q", key), nil)
		}
		if seen&bit != 0 {
			return m, malformed(fmt.Sprintf("repeated key %q", key), nil)
		}
		seen |= bit
	}
	if seen&seenRequired != seenRequired {
		return m, malformed("missing required keys", nil)
	}
	if p.r.Len() != 0 {
		return m, malformed(fmt.Sprintf("%d trailing bytes", p.r.Len()), nil)
	}
	return m, nil
}

// declared returns the payload length announced by the str/bin header at
// the current position and checks that many bytes remain.
func (p *parser) declared(field string, bin bool) error {
	rest := p.b[len(p.b)-p.r.Len():]
	if len(rest) == 0 {
		return malformed(field+": truncated", nil)
	}
	c := rest[0]
	var n, hdr int
	switch {
	case !bin && msgpcode.IsFixedString(c):
		n, hdr = int(c&msgpcode.FixedStrMask), 1
	case (!bin && c == msgpcode.Str8) || (bin && c == msgpcode.Bin8):
		hdr = 2
	case (!bin && c == msgpcode.Str16) || (bin && c == msgpcode.Bin16):
		hdr = 3
	case (!bin && c == msgpcode.Str32) || (bin && c == msgpcode.Bin32):
		hdr = 5
	default:
		return malformed(fmt.Sprintf("%s: unexpected type (code 0x%02x)", field, c), nil)
	}
	if len(rest) < hdr {
		return malformed(field+": truncated", nil)
	}
	switch hdr {
	case 2:
		n = int(rest[1])
	case 3:
		n = int(rest[1])<<8 | int(rest[2])
	case 5:
		n = int(rest[1])<<24 | int(rest[2])<<16 | int(rest[3])<<8 | int(rest[4])
	}
	if n > len(rest)-hdr {
		return malformed(fmt.Sprintf("%s: length %d exceeds the frame", field, n), nil)
	}
	return nil
}

func (p *parser) str(field string) (string, error) {
	if err := p.declared(field, false); err != nil {
		return "", err
	}
	s, err := p.dec.DecodeString()
	if err != nil {
		return "", malformed(field, err)
	}
	return s, nil
}

func (p *parser) bin(field string) ([]byte, error) {
	if err := p.declared(field, true); err != nil {
		return nil, err
	}
	b, err := p.dec.DecodeBytes()
	if err != nil {
		return nil, malformed(field, err)
	}
	return b, nil
}

func (p *parser) uint(field string) (uint64, error) {
	c, err := p.dec.PeekCode()
	if err != nil {
		return 0, malformed(field, err)
	}
	if c > msgpcode.PosFixedNumHigh && c != msgpcode.Uint8 && c != msgpcode.Uint16 &&
		c != msgpcode.Uint32 && c != msgpcode.Uint64 {
		return 0, malformed(fmt.Sprintf("%s: not an unsigned integer (code 0x%02x)", field, c), nil)
	}
	v, err := p.dec.DecodeUint64()
	if err != nil {
		return 0, malformed(field, err)
	}
	return v, nil
}

func (p *parser) int(field string) (int64, error) {
	c, err := p.dec.PeekCode()
	if err != nil {
		return 0, malformed(field, err)
	}
	switch {
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32,
		c == msgpcode.Int64, c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32:
	case c == msgpcode.Uint64:
		// Accepted only if it fits an int64, checked below.
	default:
		return 0, malformed(fmt.Sprintf("%s: not an integer (code 0x%02x)", field, c), nil)
	}
	if c == msgpcode.Uint64 {
		u, err := p.dec.DecodeUint64()
		if err != nil {
			return 0, malformed(field, err)
		}
		if u > 1<<63-1 {
			return 0, malformed(field+": overflows int64", nil)
		}
		return int64(u), nil
	}
	v, err := p.dec.DecodeInt64()
	if err != nil {
		return 0, malformed(field, err)
	}
	return v, nil
}

func (p *parser) bool(field string) (bool, error) {
	c, err := p.dec.PeekCode()
	if err != nil {
		return false, malformed(field, err)
	}
	if c != msgpcode.True && c != msgpcode.False {
		return false, malformed(fmt.Sprintf("%s: not a bool (code 0x%02x)", field, c), nil)
	}
	v, err := p.dec.DecodeBool()
	if err != nil {
		return false, malformed(field, err)
	}
	return v, nil
}
