package election

import (
	"testing"
	"time"
)

// BenchmarkRaft_Heartbeat is the core's cost of one heartbeat on a
// follower: check, reset the timer, queue the response.
func BenchmarkRaft_Heartbeat(b *testing.B) {
	r, err := newRaft(benchConfig("b"), &MemStorage{}, simHooks, 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	m := Message{Kind: MsgHeartbeat, From: "a", To: "b", Term: 1}
	r.step(0, m)
	r.takeMsgs()
	b.ReportAllocs()
	now := time.Duration(0)
	for b.Loop() {
		now += time.Microsecond
		m.Stamp = int64(now)
		r.step(now, m)
		r.msgs = r.msgs[:0] // the loop hands them to the transport
	}
}

// BenchmarkRaft_VoteRequest is the core's cost of one vote request at a
// new term: adopt the term, save it with the vote, answer.
func BenchmarkRaft_VoteRequest(b *testing.B) {
	r, err := newRaft(benchConfig("b"), &MemStorage{}, simHooks, 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	m := Message{Kind: MsgVote, From: "a", To: "b"}
	b.ReportAllocs()
	for b.Loop() {
		m.Term++
		r.step(time.Hour, m)
		r.msgs = r.msgs[:0]
	}
}

func benchConfig(id string) Config {
	c := DefaultConfig()
	c.Cluster, c.ID = "bench", id
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		if p != id {
			c.Peers = append(c.Peers, p)
		}
	}
	c.Storage = &MemStorage{}
	return c
}
