package transport

import (
	"bytes"
	"errors"
	"testing"

	"github.com/graftlib/graft/election"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// sample returns a message of kind k with every field its kind uses.
func sample(k election.MsgKind) election.Message {
	m := election.Message{Kind: k, From: "node-a", To: "node-b", Term: 42}
	switch k {
	case election.MsgPreVoteResp, election.MsgVoteResp:
		m.Granted = true
	case election.MsgVote:
		m.Transfer = true
		m.Position = []byte{1, 2, 3, 0xff}
	case election.MsgPreVote:
		m.Position = []byte("log-17")
	case election.MsgHeartbeat:
		m.Stamp = -1234567890123
		m.Rank = 3
	case election.MsgHeartbeatResp:
		m.Stamp = -1234567890123
		m.Priority = 1<<32 - 1
		m.Witness = true
	}
	return m
}

func TestCodec_RoundTripEachKind(t *testing.T) {
	for k := election.MsgKind(0); int(k) < election.NumMsgKinds; k++ {
		t.Run(k.String(), func(t *testing.T) {
			m := sample(k)
			b, err := Encode(nil, "c1", m)
			require.NoError(t, err)
			got, err := Decode(b, "c1", 0)
			require.NoError(t, err)
			require.Equal(t, m, got)

			zero := election.Message{Kind: k} // every optional field omitted
			b, err = Encode(nil, "c1", zero)
			require.NoError(t, err)
			got, err = Decode(b, "c1", 0)
			require.NoError(t, err)
			require.Equal(t, zero, got)
		})
	}
	t.Run("extreme values", func(t *testing.T) {
		m := election.Message{Kind: election.MsgHeartbeat, From: "x", To: "y", Term: election.MaxTerm, Stamp: 1<<63 - 1, Rank: election.MaxRank}
		b, err := Encode(nil, "c", m)
		require.NoError(t, err)
		got, err := Decode(b, "c", 0)
		require.NoError(t, err)
		require.Equal(t, m, got)
	})
	t.Run("encode appends", func(t *testing.T) {
		b, err := Encode([]byte("xy"), "c", sample(election.MsgVote))
		require.NoError(t, err)
		require.Equal(t, "xy", string(b[:2]))
	})
	t.Run("encode rejects unknown kind", func(t *testing.T) {
		_, err := Encode(nil, "c", election.Message{Kind: 200})
		require.Error(t, err)
	})
}

// rawMap encodes kv pairs (key, value, key, value, ...) as one msgpack map,
// in order, with the msgpack library's generic encoder.
func rawMap(t testing.TB, kv ...any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	require.NoError(t, enc.EncodeMapLen(len(kv)/2))
	for _, v := range kv {
		require.NoError(t, enc.Encode(v))
	}
	return buf.Bytes()
}

func good(t testing.TB) []any {
	return []any{"version", 1, "cluster", "c1", "kind", 4, "from", "a", "to", "b", "term", 3}
}

// hugeBin is a valid frame whose last field, position, declares a 4 GiB
// binary: a decoder that trusted the header would try to allocate it.
func hugeBin(t testing.TB) []byte {
	b := rawMap(t, append(good(t), "position", []byte{7})...)
	require.Equal(t, []byte{0xc4, 1, 7}, b[len(b)-3:])
	return append(b[:len(b)-3], 0xc6, 0xff, 0xff, 0xff, 0xff, 7)
}

func TestCodec_Rejects(t *testing.T) {
	valid, err := Encode(nil, "c1", sample(election.MsgVote))
	require.NoError(t, err)
	with := func(kv ...any) []byte { return rawMap(t, append(good(t), kv...)...) }
	replace := func(key string, v any) []byte {
		kv := good(t)
		for i := 0; i < len(kv); i += 2 {
			if kv[i] == key {
				kv[i+1] = v
			}
		}
		return rawMap(t, kv...)
	}
	without := func(key string) []byte {
		kv := good(t)
		var out []any
		for i := 0; i < len(kv); i += 2 {
			if kv[i] != key {
				out = append(out, kv[i], kv[i+1])
			}
		}
		return rawMap(t, out...)
	}
	cases := []struct {
		name   string
		in     []byte
		reason Reason
	}{
		{"empty", nil, ReasonMalformed},
		{"not msgpack", []byte{0xc1}, ReasonMalformed},
		{"not a map", []byte{0x93, 1, 2, 3}, ReasonMalformed},
		{"empty map", []byte{0x80}, ReasonMalformed},
		{"truncated", valid[:len(valid)-3], ReasonMalformed},
		{"trailing garbage", append(append([]byte{}, valid...), 0x00), ReasonMalformed},
		{"two messages", append(append([]byte{}, valid...), valid...), ReasonMalformed},
		{"unknown version", replace("version", 2), ReasonBadVersion},
		{"version zero", replace("version", 0), ReasonBadVersion},
		{"version not first", rawMap(t, "cluster", "c1", "version", 1, "kind", 4, "from", "a", "to", "b", "term", 3), ReasonMalformed},
		{"version is a string", replace("version", "1"), ReasonMalformed},
		{"wrong cluster", replace("cluster", "other"), ReasonWrongCluster},
		{"unknown kind", replace("kind", 7), ReasonMalformed},
		{"kind 255", replace("kind", 255), ReasonMalformed},
		{"negative term", replace("term", -1), ReasonMalformed},
		{"term is a float", replace("term", 1.5), ReasonMalformed},
		{"term above MaxTerm", replace("term", uint64(election.MaxTerm+1)), ReasonMalformed},
		{"term 2^64-1 (wraps on +1)", replace("term", uint64(1<<64-1)), ReasonMalformed},
		{"from is a number", replace("from", 5), ReasonMalformed},
		{"granted is an int", with("granted", 1), ReasonMalformed},
		{"stamp is a string", with("stamp", "x"), ReasonMalformed},
		{"position is a string", with("position", "abc"), ReasonMalformed},
		{"rank above MaxRank", with("rank", election.MaxRank+1), ReasonMalformed},
		{"negative rank", with("rank", -1), ReasonMalformed},
		{"priority above 2^32-1", with("priority", uint64(1<<32)), ReasonMalformed},
		{"priority is a bool", with("priority", true), ReasonMalformed},
		{"witness is an int", with("witness", 1), ReasonMalformed},
		{"unknown key", with("extra", 1), ReasonMalformed},
		{"repeated key", with("term", 4), ReasonMalformed},
		{"missing from", without("from"), ReasonMalformed},
		{"missing term", without("term"), ReasonMalformed},
		{"missing cluster", without("cluster"), ReasonMalformed},
		{"huge declared string", []byte{0x81, 0xa7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff}, ReasonMalformed},
		{"huge declared bin", hugeBin(t), ReasonMalformed},
		{"huge map", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, ReasonMalformed},
		{"oversized", bytes.Repeat([]byte{0}, DefaultMaxMessageSize+1), ReasonOversized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.in, "c1", 0)
			require.Error(t, err)
			var de *DecodeError
			require.True(t, errors.As(err, &de), "%T %v", err, err)
			require.Equal(t, c.reason, de.Reason, "%v", err)
			require.ErrorIs(t, err, c.reason.Err())
			require.Contains(t, err.Error(), "transport: ")
		})
	}
	t.Run("size limit checked before decoding", func(t *testing.T) {
		_, err := Decode(valid, "c1", len(valid)-1)
		require.ErrorIs(t, err, ErrOversized)
		_, err = Decode(valid, "c1", len(valid))
		require.NoError(t, err)
	})
}

func FuzzDecode(f *testing.F) {
	for k := election.MsgKind(0); int(k) < election.NumMsgKinds; k++ {
		b, _ := Encode(nil, "c1", sample(k))
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, "c1", 0)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// Whatever decodes must re-encode to something that decodes the same.
		b2, err := Encode(nil, "c1", m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := Decode(b2, "c1", 1<<20)
		if err != nil {
			t.Fatalf("decode of re-encoded: %v", err)
		}
		if m.Kind != m2.Kind || m.From != m2.From || m.To != m2.To || m.Term != m2.Term ||
			m.Granted != m2.Granted || m.Transfer != m2.Transfer || m.Stamp != m2.Stamp ||
			!bytes.Equal(m.Position, m2.Position) {
			t.Fatalf("round trip changed %+v to %+v", m, m2)
		}
	})
}

func BenchmarkEncodeDecode(b *testing.B) {
	for k := election.MsgKind(0); int(k) < election.NumMsgKinds; k++ {
		m := sample(k)
		b.Run(k.String(), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 256)
			for b.Loop() {
				out, err := Encode(buf[:0], "cluster-1", m)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Decode(out, "cluster-1", 0); err != nil {
					b.Fatal(err)
				}
			}
			out, _ := Encode(nil, "cluster-1", m)
			b.ReportMetric(float64(len(out)), "wire-bytes")
		})
	}
}
