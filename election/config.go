package election

import (
	"fmt"
	"time"
)

// Config is the static description of one node. Build it from
// DefaultConfig, fill in the identity, peers and state path, and pass it to
// New, which validates it (Validate) and never modifies it.
type Config struct {
	// Cluster names the cluster. Nodes of different clusters never talk to
	// each other (the transport checks it on every message). Required.
	Cluster string
	// ID is this node's id, unique in the cluster; with the QUIC transport
	// it is the name in the node's certificate. Required.
	ID string
	// Peers are the ids of the other nodes. Membership is static. Empty
	// means a single-node cluster, which elects itself.
	Peers []string
	// StatePath is the file holding the persisted term and vote. It is
	// created if missing; a corrupt file, a folder that cannot be written
	// or a file already held by another node makes New fail (see
	// FileStorage.Open). Required unless Storage is set.
	StatePath string
	// Storage replaces the file store (tests, simulator). Optional.
	Storage Storage

	// Heartbeat is how often a leader asserts itself. It must be at most a
	// third of ElectionMin, so that a follower sees several heartbeats
	// before it gives up on a leader. Default 50ms.
	Heartbeat time.Duration
	// ElectionMin and ElectionMax bound the randomised election timeout: a
	// follower that hears from no leader for a time drawn uniformly in
	// [ElectionMin, ElectionMax] asks for votes. ElectionMin is also the
	// lease: a follower that heard from a leader within ElectionMin refuses
	// to vote, and the leader stops acting ElectionMin (less drift) after
	// the heartbeat a majority last acknowledged. ElectionMax must exceed
	// ElectionMin. Defaults 300ms and 450ms.
	ElectionMin time.Duration
	ElectionMax time.Duration
	// MaxClockDrift is the bound on the rate difference between any node's
	// monotonic clock and real time (0.01 = 1%). The lease is shortened by
	// it; if clocks drift more, two nodes may believe they lead at once.
	// Zero means the default, 0.01, as for every other field: a Config
	// filled in by hand keeps the margin, and there is no way to claim
	// perfect clocks. Must be in [0, 0.2].
	MaxClockDrift float64
	// HookTimeout bounds CurrentPosition and GrantVote: a hook that does not
	// return in time counts as a refusal (GrantVote) or aborts the campaign
	// (CurrentPosition), so a stuck hook never stalls the election. Default
	// Heartbeat.
	HookTimeout time.Duration

	// Priority is this node's preference as leader; higher is preferred.
	// Zero means DefaultPriority (1), so that a Config filled in by hand
	// never makes a witness by accident (Witness does that). A leader ranks
	// its successors by priority first (see SuccessionDelay), and hands
	// leadership over to a follower of strictly higher priority than its
	// own once that follower has acknowledged every heartbeat for
	// PriorityStablePeriod (see the package doc, "Succession and
	// priority").
	Priority uint32
	// Witness makes the node vote and acknowledge heartbeats but never
	// campaign, so it never leads: it is never ranked as a successor, never
	// the target of a handover, and it ignores TimeoutNow. It lets two
	// data-bearing sites and a cheap third form a majority. Priority is
	// ignored on a witness. A cluster of witnesses only never elects a
	// leader: Validate cannot see the peers' configurations, so the layers
	// above check what they can (a single-node witness is an error there).
	Witness bool
	// SuccessionDelay (δ) separates the ranked successors: a follower told
	// rank r by its leader campaigns ElectionMin + (r-1)·δ after the last
	// heartbeat it received, instead of at a random time in [ElectionMin,
	// ElectionMax]. It should be just above what one campaign takes (a
	// pre-vote round trip, a vote round trip and two fsyncs), so that the
	// next successor starts only once the previous one had time to win.
	// Zero means DefaultSuccessionDelay, or less in a large cluster:
	// (ElectionMax-ElectionMin)/len(Peers) if that is smaller, so that the
	// default always fits. Otherwise ElectionMin + (len(Peers)-1)·δ must
	// be below ElectionMax, so that every ranked follower campaigns within
	// the bounds a follower without a rank uses.
	SuccessionDelay time.Duration
	// PriorityStablePeriod is how long a follower of higher priority than
	// the leader must have acknowledged every heartbeat before the leader
	// hands leadership over to it, and the least time between two such
	// handovers by one leader. Zero means 5 × ElectionMax. Must not be
	// below ElectionMax.
	PriorityStablePeriod time.Duration

	// CurrentPosition, if set, returns this node's position in the
	// application's data (for example a log index); it is sent with every
	// vote request. Runs on a helper goroutine, bounded by HookTimeout.
	CurrentPosition func() []byte
	// GrantVote, if set, decides whether a candidate at position may get
	// this node's vote (for example: refuse candidates that are behind).
	// Runs on a helper goroutine, bounded by HookTimeout.
	GrantVote func(position []byte) bool

	// OnStateChange is called on every change of state with the term
	// (the fencing token) at which the new state began.
	OnStateChange func(from, to State, term uint64)
	// OnLeaderChange is called when the known leader changes; leader is ""
	// when no leader is known.
	OnLeaderChange func(leader string, term uint64)
	// OnError is called with problems the node cannot fix by itself: a
	// failing state file, transport trouble.
	OnError func(err error)
	// OnLease is called when this node starts to hold the lease (held
	// true) and when it stops (held false: the deadline passed without
	// renewal, a step-down, a higher term, Close), with the lease's term
	// and deadline. Every loss follows exactly one acquisition of the same
	// term; the loss is due at the deadline itself (a timer of the node's
	// own), and a process paused past it gets it at once on resume. This,
	// not OnStateChange, is the signal to start and stop leader work.
	OnLease func(held bool, lease Lease)
	// OnLog receives the node's log lines ("node b became leader at term 7").
	OnLog func(level LogLevel, msg string)
	// LogLevel is the least severe level sent to OnLog; lines below it are
	// not even formatted. Zero is LogDebug: every line.
	LogLevel LogLevel
	// Callbacks (the On* fields) are called in order, one at a time,
	// on a goroutine of their own: a slow callback delays later callbacks,
	// never the election; the queue is bounded and coalesced when full
	// (see the package doc). They may call the Node's query methods and
	// other nodes' methods; Close of their own node returns ErrBusy, Close
	// of another node does not wait for its callbacks (see Node.Close).

	// Clock replaces the monotonic clock (tests, fault injection). Optional.
	Clock Clock
	// Seed seeds the election-timeout randomness; 0 picks a random seed.
	Seed uint64

	// DisableCheckQuorum turns off check-quorum and the lease refusal of
	// votes. TEST ONLY: it exists so that tests can show that the checkers
	// catch the dual leaders it allows. Never set it in production.
	DisableCheckQuorum bool
	// DisablePreVote turns off pre-vote. TEST ONLY, like DisableCheckQuorum.
	DisablePreVote bool
}

// LogLevel is the severity of a log line; the values match the C API.
type LogLevel int

// Log levels.
const (
	LogDebug LogLevel = iota // debug
	LogInfo                  // info
	LogWarn                  // warn
	LogError                 // error
)

// LogLevel.String, generated into loglevel_string.go from the line
// comments above, returns the name of the level ("info"), or "LogLevel(n)"
// for a value outside the list.
//
//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=LogLevel -linecomment -output=loglevel_string.go

// Default timings. See the Config fields for what they mean and why.
const (
	DefaultHeartbeat     = 50 * time.Millisecond
	DefaultElectionMin   = 300 * time.Millisecond
	DefaultElectionMax   = 450 * time.Millisecond
	DefaultMaxClockDrift = 0.01
	// DefaultSuccessionDelay is SuccessionDelay's default: a campaign on a
	// LAN takes two round trips (well under 1ms) and two saves of the term
	// and vote (FileStorage: write, fsync, rename, directory fsync; a median
	// of 3.9ms, p90 28ms on the project's VM disk at load 15). 10ms covers
	// the median; a slower campaign lets the next successor start too,
	// which can cost a split vote (a retry pause), never safety. Raise it on
	// slow disks.
	DefaultSuccessionDelay = 10 * time.Millisecond
	// DefaultPriority is the priority of a Config whose Priority is zero.
	DefaultPriority uint32 = 1
	// defaultStableElections is PriorityStablePeriod's default in
	// ElectionMax.
	defaultStableElections = 5
)

// DefaultConfig returns a Config with the default timings. The caller
// fills in Cluster, ID, Peers and StatePath.
func DefaultConfig() Config {
	return Config{
		Heartbeat:     DefaultHeartbeat,
		ElectionMin:   DefaultElectionMin,
		ElectionMax:   DefaultElectionMax,
		MaxClockDrift: DefaultMaxClockDrift,
	}
}

// withDefaults returns a copy of c with zero timings and drift replaced by
// defaults.
func (c Config) withDefaults() Config {
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.ElectionMin == 0 {
		c.ElectionMin = DefaultElectionMin
	}
	if c.ElectionMax == 0 {
		c.ElectionMax = DefaultElectionMax
	}
	if c.HookTimeout == 0 {
		c.HookTimeout = c.Heartbeat
	}
	if c.MaxClockDrift == 0 {
		c.MaxClockDrift = DefaultMaxClockDrift
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.SuccessionDelay == 0 {
		c.SuccessionDelay = DefaultSuccessionDelay
		if n := len(c.Peers); n > 0 && c.ElectionMax > c.ElectionMin {
			if fit := (c.ElectionMax - c.ElectionMin) / time.Duration(n); fit < c.SuccessionDelay {
				c.SuccessionDelay = max(fit, 1)
			}
		}
	}
	if c.PriorityStablePeriod == 0 {
		c.PriorityStablePeriod = defaultStableElections * c.ElectionMax
	}
	return c
}

// MaxIDLength is the longest cluster id accepted (bytes); node ids follow
// ValidNodeID.
const MaxIDLength = 255

// Validate checks c and returns a *ConfigError naming the first field that
// is wrong and why. Zero timings count as their defaults. It does not
// modify c.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := validID("Cluster", c.Cluster); err != nil {
		return err
	}
	if err := validNodeID("ID", c.ID); err != nil {
		return err
	}
	seen := make(map[string]bool, len(c.Peers))
	for _, p := range c.Peers {
		if err := validNodeID("Peers", p); err != nil {
			return err
		}
		if p == c.ID {
			return configErr("Peers", "lists the node itself (%q)", p)
		}
		if seen[p] {
			return configErr("Peers", "lists %q twice", p)
		}
		seen[p] = true
	}
	if c.StatePath == "" && c.Storage == nil {
		return configErr("StatePath", "is empty: the term and vote must be persisted")
	}
	if c.Heartbeat < time.Millisecond {
		return configErr("Heartbeat", "(%s) must be at least 1ms", c.Heartbeat)
	}
	if c.ElectionMin < 3*c.Heartbeat {
		return configErr("ElectionMin", "(%s) must be at least 3 × Heartbeat (%s)", c.ElectionMin, c.Heartbeat)
	}
	if c.ElectionMax <= c.ElectionMin {
		return configErr("ElectionMax", "(%s) must exceed ElectionMin (%s)", c.ElectionMax, c.ElectionMin)
	}
	if c.ElectionMax > time.Hour {
		return configErr("ElectionMax", "(%s) is over an hour", c.ElectionMax)
	}
	if c.MaxClockDrift < 0 || c.MaxClockDrift > 0.2 || c.MaxClockDrift != c.MaxClockDrift {
		return configErr("MaxClockDrift", "(%g) must be in [0, 0.2]", c.MaxClockDrift)
	}
	if c.LogLevel < LogDebug || c.LogLevel > LogError {
		return configErr("LogLevel", "(%d) is not a LogLevel", c.LogLevel)
	}
	if c.HookTimeout < 0 {
		return configErr("HookTimeout", "(%s) is negative", c.HookTimeout)
	}
	if c.HookTimeout >= c.ElectionMin {
		return configErr("HookTimeout", "(%s) must be below ElectionMin (%s)", c.HookTimeout, c.ElectionMin)
	}
	return c.validSuccession()
}

// validSuccession checks SuccessionDelay and PriorityStablePeriod of a
// Config with its defaults applied.
func (c Config) validSuccession() error {
	if c.SuccessionDelay < 0 {
		return configErr("SuccessionDelay", "(%s) is negative", c.SuccessionDelay)
	}
	if n := len(c.Peers); n > 1 {
		// Computed without overflow: (n-1)·δ < Max-Min.
		room := c.ElectionMax - c.ElectionMin
		if c.SuccessionDelay >= room || time.Duration(n-1) > (room-1)/c.SuccessionDelay {
			return configErr("SuccessionDelay", "(%s) is too long: ElectionMin (%s) + %d × SuccessionDelay must be below ElectionMax (%s)",
				c.SuccessionDelay, c.ElectionMin, n-1, c.ElectionMax)
		}
	}
	if c.PriorityStablePeriod < c.ElectionMax {
		return configErr("PriorityStablePeriod", "(%s) must be at least ElectionMax (%s)", c.PriorityStablePeriod, c.ElectionMax)
	}
	return nil
}

// validNodeID checks a node id of field (ID, Peers) with ValidNodeID's rule.
func validNodeID(field, id string) error {
	if id == "" {
		return configErr(field, "is empty")
	}
	if why := nodeIDProblem(id); why != "" {
		return configErr(field, "(%.40q) %s", id, why)
	}
	return nil
}

// validID checks a cluster id: printable, at most MaxIDLength bytes.
func validID(field, id string) error {
	if id == "" {
		return configErr(field, "is empty")
	}
	if len(id) > MaxIDLength {
		return configErr(field, "(%.20q...) is longer than %d bytes", id, MaxIDLength)
	}
	for _, r := range id {
		if r < 0x21 || r == 0x7f {
			return configErr(field, "(%q) contains a space or control character", id)
		}
	}
	return nil
}

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
