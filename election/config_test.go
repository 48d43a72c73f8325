package election

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfig_Validate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Cluster, c.ID, c.Peers, c.StatePath = "prod", "a", []string{"b", "c"}, "/tmp/state"
		return c
	}
	require.NoError(t, valid().Validate())
	cases := []struct {
		name   string
		tweak  func(*Config)
		field  string
		reason string
	}{
		{"empty cluster", func(c *Config) { c.Cluster = "" }, "Cluster", "is empty"},
		{"empty id", func(c *Config) { c.ID = "" }, "ID", "is empty"},
		{"long id", func(c *Config) { c.ID = strings.Repeat("x", MaxNodeIDLength+1) }, "ID", "1 to 253 characters"},
		{"space in id", func(c *Config) { c.ID = "a b" }, "ID", "character ' '"},
		{"bad peer id", func(c *Config) { c.Peers = []string{"b", "-c"} }, "Peers", "must not start with '-'"},
		{"empty peer", func(c *Config) { c.Peers = []string{"b", ""} }, "Peers", "is empty"},
		{"self peer", func(c *Config) { c.Peers = []string{"b", "a"} }, "Peers", "itself"},
		{"duplicate peer", func(c *Config) { c.Peers = []string{"b", "b"} }, "Peers", "twice"},
		{"no state path", func(c *Config) { c.StatePath = "" }, "StatePath", "is empty"},
		{"tiny heartbeat", func(c *Config) { c.Heartbeat = time.Microsecond }, "Heartbeat", "at least 1ms"},
		{"heartbeat too close to election", func(c *Config) { c.Heartbeat = 101 * time.Millisecond }, "ElectionMin", "3 × Heartbeat"},
		{"max equals min", func(c *Config) { c.ElectionMax = c.ElectionMin }, "ElectionMax", "must exceed ElectionMin"},
		{"max below min", func(c *Config) { c.ElectionMax = time.Millisecond * 200 }, "ElectionMax", "must exceed ElectionMin"},
		{"huge max", func(c *Config) { c.ElectionMax = 2 * time.Hour }, "ElectionMax", "over an hour"},
		{"negative drift", func(c *Config) { c.MaxClockDrift = -0.1 }, "MaxClockDrift", "[0, 0.2]"},
		{"big drift", func(c *Config) { c.MaxClockDrift = 0.5 }, "MaxClockDrift", "[0, 0.2]"},
		{"NaN drift", func(c *Config) { c.MaxClockDrift = math.NaN() }, "MaxClockDrift", "[0, 0.2]"},
		{"negative hook timeout", func(c *Config) { c.HookTimeout = -1 }, "HookTimeout", "negative"},
		{"hook timeout too long", func(c *Config) { c.HookTimeout = c.ElectionMin }, "HookTimeout", "below ElectionMin"},
		{"bad log level", func(c *Config) { c.LogLevel = LogError + 1 }, "LogLevel", "not a LogLevel"},
		{"negative succession delay", func(c *Config) { c.SuccessionDelay = -1 }, "SuccessionDelay", "negative"},
		{"succession past ElectionMax", func(c *Config) { c.SuccessionDelay = 150 * time.Millisecond }, "SuccessionDelay", "ElectionMin (300ms) + 1 × SuccessionDelay must be below ElectionMax (450ms)"},
		{"succession past ElectionMax, 7 nodes", func(c *Config) {
			c.Peers = []string{"b", "c", "d", "e", "f", "g"}
			c.SuccessionDelay = 30 * time.Millisecond
		}, "SuccessionDelay", "5 × SuccessionDelay"},
		{"huge succession delay", func(c *Config) { c.SuccessionDelay = 1 << 62 }, "SuccessionDelay", "too long"},
		{"short stable period", func(c *Config) { c.PriorityStablePeriod = c.ElectionMax - 1 }, "PriorityStablePeriod", "at least ElectionMax"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid()
			c.tweak(&cfg)
			before := cfg
			err := cfg.Validate()
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, c.field, ce.Field)
			require.Contains(t, ce.Reason, c.reason)
			require.True(t, strings.HasPrefix(err.Error(), "election: config: "+c.field))
			require.Equal(t, before.Heartbeat, cfg.Heartbeat, "Validate does not modify")
		})
	}
	// Zero timings count as the defaults; Storage replaces StatePath.
	cfg := valid()
	cfg.Heartbeat, cfg.ElectionMin, cfg.ElectionMax, cfg.StatePath, cfg.Storage = 0, 0, 0, "", &MemStorage{}
	require.NoError(t, cfg.Validate())
	require.Equal(t, DefaultHeartbeat, cfg.withDefaults().HookTimeout)
}

func TestConfig_SuccessionDefaults(t *testing.T) {
	c := Config{Peers: []string{"b", "c"}}.withDefaults()
	require.Equal(t, DefaultPriority, c.Priority, "zero priority is the default, never a witness")
	require.False(t, c.Witness)
	require.Equal(t, DefaultSuccessionDelay, c.SuccessionDelay)
	require.Equal(t, 5*DefaultElectionMax, c.PriorityStablePeriod)
	// A large cluster gets a default delay that fits below ElectionMax.
	big := Config{Cluster: "x", ID: "a", StatePath: "/tmp/s"}
	for i := 0; i < 40; i++ {
		big.Peers = append(big.Peers, fmt.Sprintf("p%d", i))
	}
	require.NoError(t, big.Validate())
	d := big.withDefaults().SuccessionDelay
	require.Equal(t, (DefaultElectionMax-DefaultElectionMin)/40, d)
	require.Less(t, DefaultElectionMin+39*d, DefaultElectionMax)
	// The largest delay that fits is accepted.
	ok := Config{Cluster: "x", ID: "a", StatePath: "/tmp/s", Peers: []string{"b", "c", "d", "e"},
		SuccessionDelay: 50*time.Millisecond - 1}
	require.NoError(t, ok.Validate())
	ok.SuccessionDelay++
	require.Error(t, ok.Validate())
}

func TestStringers(t *testing.T) {
	require.Equal(t, []string{"follower", "candidate", "leader", "closed", "State(9)"},
		[]string{StateFollower.String(), StateCandidate.String(), StateLeader.String(), StateClosed.String(), State(9).String()})
	require.Equal(t, "MsgPreVote", MsgPreVote.String())
	require.Equal(t, "MsgTimeoutNow", MsgTimeoutNow.String())
	require.Equal(t, "MsgKind(99)", MsgKind(99).String())
	require.False(t, MsgKind(NumMsgKinds).Valid())
	require.True(t, MsgVoteResp.IsResponse())
	require.False(t, MsgVote.IsResponse())
	require.Equal(t, "warn", LogWarn.String())
	require.Equal(t, "LogLevel(-1)", LogLevel(-1).String())
}

func TestConfig_ZeroDriftMeansTheDefaultMargin(t *testing.T) {
	// Issue 12: a Config filled in by hand had MaxClockDrift 0, a lease
	// without a drift margin, against the documented default of 1%.
	var c Config
	require.Equal(t, DefaultMaxClockDrift, c.withDefaults().MaxClockDrift)
	r, err := newRaft(Config{Cluster: "x", ID: "a", Peers: []string{"b", "c"}}, &MemStorage{}, simHooks, 1, 0)
	require.NoError(t, err)
	drift := DefaultMaxClockDrift
	require.Equal(t, time.Duration(float64(DefaultElectionMin)*(1-drift)/(1+drift))-leaseMargin, r.lease)
}
