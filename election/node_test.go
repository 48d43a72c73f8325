package election

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fastConfig returns a config with short timings for real-time tests.
func fastConfig(id string, peers []string) Config {
	c := DefaultConfig()
	c.Cluster, c.ID, c.Peers = "test", id, peers
	c.Heartbeat = 10 * time.Millisecond
	c.ElectionMin = 60 * time.Millisecond
	c.ElectionMax = 120 * time.Millisecond
	c.Storage = &MemStorage{}
	return c
}

type testCluster struct {
	t     *testing.T
	net   *MemNetwork
	ids   []string
	nodes map[string]*Node
	cfgs  map[string]Config
	mu    sync.Mutex
}

func newTestCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, net: NewMemNetwork(1), nodes: map[string]*Node{}, cfgs: map[string]Config{}}
	for i := range n {
		c.ids = append(c.ids, fmt.Sprintf("n%d", i+1))
	}
	for _, id := range c.ids {
		var peers []string
		for _, p := range c.ids {
			if p != id {
				peers = append(peers, p)
			}
		}
		cfg := fastConfig(id, peers)
		if tweak != nil {
			tweak(&cfg)
		}
		c.cfgs[id] = cfg
		c.start(id)
	}
	t.Cleanup(c.closeAll)
	return c
}

func (c *testCluster) start(id string) *Node {
	n, err := New(c.cfgs[id], c.net.Endpoint(id))
	require.NoError(c.t, err)
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

func (c *testCluster) closeAll() {
	for _, n := range c.nodes {
		n.Close()
	}
	c.net.Wait()
}

// waitLeader waits for exactly one node, other than those in except, to
// hold a lease and returns it.
func (c *testCluster) waitLeader(except ...string) *Node {
	c.t.Helper()
	var leader *Node
	require.Eventually(c.t, func() bool {
		leader = nil
		count := 0
		for id, n := range c.nodes {
			if contains(except, id) {
				continue
			}
			if n.IsLeader() {
				leader = n
				count++
			}
		}
		return count == 1
	}, 5*time.Second, time.Millisecond, "no single leader")
	return leader
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestNode_ThreeNodesElectOneLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	for _, n := range c.nodes {
		require.Eventually(t, func() bool { return n.Leader() == l.ID() }, 2*time.Second, time.Millisecond)
	}
}

func TestNode_SingleNodeElectsItself(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	l := c.waitLeader()
	require.Equal(t, "n1", l.ID())
}

func TestNode_FailoverAfterAbruptClose(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	term := l.Term()
	c.net.Isolate(l.ID()) // abrupt: no transfer possible
	l.Close()
	nl := c.waitLeader(l.ID())
	require.Greater(t, nl.Term(), term)
}

func TestNode_StepDownHandsOver(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	require.Eventually(t, func() bool { return l.Stats().Sent[MsgHeartbeat] > 4 }, time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, l.StepDown())
	require.False(t, l.IsLeader())
	nl := c.waitLeader(l.ID())
	require.NotEqual(t, l.ID(), nl.ID())
	require.Less(t, time.Since(start), c.cfgs["n1"].ElectionMin)
}
