// Package election is Raft leader election (Ongaro, "Consensus: Bridging
// Theory and Practice", 2014; "the thesis" below) as a library: terms,
// votes and heartbeats, with pre-vote, check-quorum and a leader lease,
// leadership transfer, a persisted term and vote, and application vote
// hooks. It elects a leader; it replicates no log.
//
// # A tour
//
// The election itself is a pure, deterministic state machine (raft.go). It
// reacts to step(now, msg) and tick(now) with the instant given by its
// caller, and leaves its output in an outbox of Messages and a list of
// events; nextDeadline says when tick has something to do, leaseUntil
// until when the leader may act. It has no goroutines, no clock and no
// network, so the tests drive it on a virtual clock: sim_test.go and
// sim_families_test.go run tens of thousands of schedules of crashes
// (with fresh process clocks), pauses, partitions, loss, duplication,
// reordering, replays and clock drift, aimed at the risky moments
// (handover right after an election, late grants, old heartbeats), and
// explore_test.go enumerates every interleaving within small bounds; both
// check the guarantees below after every step (docs/verification.md).
//
// Node (node.go) is the usable handle: it owns the election loop
// goroutine, the injected Clock, the randomness, a Transport and the
// callback goroutine (dispatch.go). Build a Config from DefaultConfig, fill
// in Cluster, ID, Peers and StatePath, and call New with a Transport:
// package transport provides QUIC with mutual TLS; MemNetwork here is an
// in-memory network with fault injection for tests. Storage (FileStorage,
// MemStorage) keeps the term and vote.
//
//	cfg := election.DefaultConfig()
//	cfg.Cluster, cfg.ID, cfg.Peers = "orders", "a", []string{"b", "c"}
//	cfg.StatePath = "/var/lib/orders/election.state"
//	cfg.OnStateChange = func(from, to election.State, term uint64) { ... }
//	n, err := election.New(cfg, tr)
//	...
//	if term, deadline, ok := n.Lease(); ok {
//		// act as leader until deadline, fencing writes with term
//	}
//
// # Guarantees
//
// These hold as long as every node's monotonic clock runs at a rate within
// [1-ρ, 1+ρ] of real time, ρ = Config.MaxClockDrift, and the state file
// survives (the simulator checks each of them; see invariants_test.go):
//
//   - At most one leader per term (thesis 3.6.3): a node votes at most
//     once per term, and the vote is on disk before the grant leaves.
//   - No two nodes hold a valid lease at the same instant (thesis 6.4.1),
//     so IsLeader is true on at most one node at a time, even across
//     partitions and process pauses.
//   - A node's term never decreases, across restarts too, and the term in
//     memory is never ahead of the one on disk. The term is the fencing
//     token: a resource guarded by the election can refuse a write that
//     carries an older term.
//   - Liveness: once the network delivers messages within a small fraction
//     of Heartbeat and a majority is up, a leader holds a lease within a
//     few election timeouts and keeps it (the simulator asserts a lease
//     within 10 × ElectionMax after its faults stop, from a heartbeat sent
//     after the heal, then 3 s more of that same lease, renewed in time,
//     with no other leader and no new term; a priority handover starts
//     the watch again with the next leader, of higher priority). After a
//     leader crash, the simulated failover at the default timings takes a
//     median of about 0.94 and a p99 of about 1.02 ElectionMin at 3, 5 and
//     7 nodes, one election each (TestSim_FailoverTime).
//
// # Pre-vote, check-quorum and the lease
//
// A node whose election timeout, drawn uniformly in [ElectionMin,
// ElectionMax], expires first asks whether it could win (pre-vote, thesis
// 9.6) without raising its term; only if a majority says yes does it raise
// the term and ask for votes. So a node that was cut off cannot inflate
// its term and depose a healthy leader when it returns.
//
// A campaign that neither wins nor loses in time is retried after a short
// random pause, in [Heartbeat/2, Heartbeat/2 + (ElectionMax-ElectionMin)/2]:
// no leader is alive then, so there is no lease to wait out, and a split
// vote costs a pause, not an election timeout. The pause doubles for
// each campaign in a row that again ends without an outcome, until it
// would reach past ElectionMax: then it is a random election timeout. A
// lost election or pre-vote, or a campaign started by an ordinary
// election timeout, starts again from the first pause. A
// candidate that no voter has refused yet (its votes may still be on their
// way) first asks once more at the same term, and one that a majority
// refused retries after such a pause too.
//
// A follower that heard from a leader within ElectionMin, and the leader
// itself, refuse pre-votes and ignore vote requests (thesis 4.2.3): such a
// request neither gets a vote nor raises the receiver's term, the one
// exception to "adopt any higher term". A restarted node refuses for
// ElectionMin too, since it may have acknowledged a heartbeat just before
// it stopped. A leader that has not heard from a majority within
// ElectionMin steps down (check-quorum, thesis 6.2).
//
// The lease follows from the refusal. The leader stamps each heartbeat
// with its clock; a follower that accepts it restarts its refusal window
// and echoes the stamp in an acknowledgement (a node at a newer term
// answers with a notice of that term instead, without the stamp: a
// restarted leader's clock counts from zero again, and the echo of its
// previous life's heartbeat must not count for it). With S the send time of the
// latest heartbeat that a majority (the leader included) acknowledged,
//
//	lease deadline = S + ElectionMin·(1-ρ)/(1+ρ) - 1µs      (on the leader's clock)
//
// Every follower of that majority received the heartbeat after S and then
// refuses votes for ElectionMin of its own clock, at least
// ElectionMin/(1+ρ) of real time; the leader's lease lasts at most
// ElectionMin·(1-ρ)/(1+ρ)/(1-ρ) = ElectionMin/(1+ρ) of real time from S.
// Any new leader needs a vote from that majority, so it cannot be elected
// before the lease has ended. IsLeader and Lease compute the lease from
// the clock at the time of the call, so a leader paused past its lease
// answers false at once on resume. The lease starts with the first
// heartbeat a majority acknowledges: IsLeader is false for about one round
// trip after an election.
//
// Leadership transfer (StepDown, and Close on a leader; thesis 3.10) ends
// the lease first, then sends TimeoutNow to the peer that acknowledged the
// latest heartbeat, which campaigns at once; voters grant that vote even
// within the lease, since its holder has given it up for good: a node never
// leads a term again once it stepped down in it (its candidacy is spent
// when it wins, so a late or duplicated grant cannot re-elect it). A
// handover costs about one round trip.
//
// # Succession and priority
//
// A leader ranks its followers in every heartbeat (Message.Rank): those
// that acknowledged one of the last two rounds first, then by priority
// (Config.Priority, highest first), then by id; witnesses
// (Config.Witness) and peers it has no acknowledgement from yet get no
// rank. A follower of rank r campaigns ElectionMin + (r-1)·SuccessionDelay
// after the last heartbeat, instead of at a random time in [ElectionMin,
// ElectionMax]: the first successor starts its pre-vote the moment the
// voters' refusal windows end, the floor the lease sets, and the next one
// only a SuccessionDelay later, when the first has had time to win, so
// failover needs neither luck nor a second round. Without a rank (a cold
// start, a new leader's first heartbeat, a rank of an older term or of
// another leader, forgotten with the term) the random timeout applies. A
// voter asked for a pre-vote less than SuccessionDelay before its own
// window ends answers when it ends instead of refusing (the successor's
// heartbeat may have come a little earlier than the voter's, its clock may
// run a little fast): a refusal would cost the candidate a retry pause.
// A pre-vote grant is a promise (promise.go): for 2·SuccessionDelay (less
// than the shortest retry pause) a node gives its pre-vote for a term to
// one node only, itself included when it stands (until a peer refuses
// it), and after it granted another it puts off its own campaign for an
// eighth of ElectionMin (a ranked one its rank's delay more, to keep
// the succession's order), or until that node's vote request comes. Two
// majorities share a voter, so of two successors whose campaigns overlap
// (the second's slot came while the first saved its term, a busy host
// woke both at once) one passes its pre-vote, not both: no split vote.
//
// A leader whose follower of strictly higher priority has acknowledged
// every heartbeat round for PriorityStablePeriod (consecutive rounds,
// acknowledgements of this term only, so never sooner than that period
// after an election), the latest round included, hands leadership to it
// as StepDown does (Stats.PriorityTakeovers). Each such handover goes to a
// higher priority than the last, so leadership never moves back and forth.
// A node whose election on a handover a majority refused (their GrantVote
// hooks: its data is behind) shows no preference in its acknowledgements
// for PriorityStablePeriod, twice as long after each such loss, up to 64
// times (backoff.go), so that leaders do not keep handing over to it.
// A witness acknowledges heartbeats and votes but never campaigns, not
// even on TimeoutNow; StepDown never picks it. A cluster needs a majority
// up and at least one node that can lead: two data-bearing sites and a
// witness at a third keep a leader through the loss of any one site.
//
// Why the lease is unaffected. The lease rests on one rule: a node that
// acknowledged a heartbeat refuses votes for ElectionMin of its clock
// after it (inLease), and leaders step down without a majority within
// ElectionMin (check-quorum). Neither changes. What changes is only when
// a follower starts a campaign and when a pre-vote is answered: (1) a
// ranked follower's wait, ElectionMin + (r-1)·SuccessionDelay, is below
// ElectionMax (Validate), so it is one of the waits the random timeout
// could draw, and any campaign start, early or late, was already allowed:
// the safety argument never relied on when candidates start; (2) a pre-vote
// held to the window's end is answered exactly as if the request had
// arrived then, which a slower network could do anyway, and a pre-vote
// grant changes nothing in the voter (no term, no vote) but its promise,
// which only refuses other pre-votes and puts off its own campaign, both
// of which a slower network or a later timer could do anyway; (3) a witness only
// does less (it never campaigns or accepts a handover); (4) a priority
// handover is StepDown at a moment the leader chooses: the lease ends
// before the TimeoutNow leaves, the transfer vote is the existing one,
// and a node never leads a term again once it left it. The simulator's
// succession and priority families and the explorer with mixed priorities
// and a witness check this (docs/verification.md).
//
// # Hooks
//
// CurrentPosition and GrantVote let the application refuse votes to
// candidates whose data is behind. They run on a helper goroutine and are
// bounded by HookTimeout (default Heartbeat): a GrantVote that does not
// return in time, or panics, counts as a refusal; a CurrentPosition that
// does not return in time, or panics, skips the campaign and is reported
// to OnError. A hook that never returns leaks its goroutine but never
// stalls the election.
//
// # Callbacks
//
// OnStateChange, OnLeaderChange, OnLease, OnError and OnLog are called in
// order, one at a time, on a goroutine of the node's own, never on the
// election loop: a slow callback delays later callbacks, not the election.
// The queue is bounded (256, Stats.CallbacksQueued shows its length): when
// it is full it is coalesced to what a slow consumer needs, one state
// change to the latest state, the latest leader, the lease events still
// paired and in order (a gain and its loss both unseen are dropped
// together), the newest errors and log lines; Stats.CallbacksDropped counts
// what was left out. Every state and leader change carries the term at
// which it happened, and state changes always chain (each from is the
// previous to). Callbacks may call the Node's query methods and any method
// of other nodes; Close of their own node returns ErrBusy, and Close of
// another node does not wait for that node's callbacks (see Close). Close
// drops the callbacks still queued but the loss of a lease the application
// was told of and the change to StateClosed, which is the last callback.
//
// # Persistence
//
// FileStorage writes the term and vote to a temporary file, fsyncs it,
// renames it over the state file and fsyncs the directory, with a CRC-32C
// over the content; the file is kept on Close. A missing file is a fresh
// node; an empty, truncated or altered file makes New fail with a
// *StorageError naming it, never a silent reset (which could let the node
// vote twice in a term). A failing save makes the node refuse the vote or
// skip the campaign, report the error to OnError and count it in
// Stats.StorageErrors; it never crashes. At start (FileStorage.Open) a
// symlinked path is resolved once, so the real file is replaced and the
// link stays; a folder that cannot be written is an error; and the file is
// locked (flock on "<file>.lock") until Close or the process's death, so a
// second node on the same file, which would overwrite the first one's term,
// fails with a *StorageError naming the holder's pid.
package election
