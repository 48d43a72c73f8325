package election

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// role refines State inside the core: a pre-candidate (thesis 9.6) is still
// a follower to the outside world, because it has not raised its term.
type role uint8

const (
	roleFollower role = iota
	rolePreCandidate
	roleCandidate
	roleLeader
)

func (r role) state() State {
	switch r {
	case roleCandidate:
		return StateCandidate
	case roleLeader:
		return StateLeader
	default:
		return StateFollower
	}
}

// hooks are the application's vote hooks as the core sees them; Node
// wraps the user's functions so that they are bounded in time.
type hooks struct {
	// position returns the node's position; an error (the hook failed or
	// took too long: a HookError's Err) aborts the campaign.
	position func() (pos []byte, err error)
	// grant decides whether a candidate at pos may get a vote.
	grant func(pos []byte) bool
}

// eventKind tells which callback an event is for.
type eventKind uint8

const (
	evState eventKind = iota
	evLeader
	evError
	evLog
	evLease
)

// event is something the core wants the application told, in order.
type event struct {
	kind     eventKind
	from, to State
	term     uint64
	leader   string
	err      error
	level    LogLevel
	msg      string
	// evLease: held (acquired) or not (lost), and the lease's deadline on
	// the node's clock (for a loss, the deadline it had).
	held     bool
	deadline time.Duration
	// at is the instant of the node's clock at which the core emitted the
	// event: the now of the step, tick or command that produced it (see
	// raft.emit; Node.EventAt hands it to the callbacks).
	at time.Duration
}

// raft is the election as a pure, deterministic state machine: it reacts
// to step (a message) and tick (time passing) with the instant given by
// the caller, and leaves its output in msgs and events. It has no
// goroutines, no clock and no network; it calls only its Storage and its
// hooks. Not safe for concurrent use: Node serialises every call, the
// simulator drives it directly.
type raft struct {
	id     string
	peers  []string
	quorum int
	cfg    Config
	rng    *rand.Rand
	store  Storage
	hooks  hooks
	// lease is how long after the send time of a heartbeat that a majority
	// acknowledged the leader may act: ElectionMin shortened for drift.
	lease time.Duration

	role   role
	term   uint64
	vote   string
	leader string

	// electionDeadline is when a follower or (pre-)candidate campaigns.
	electionDeadline time.Duration
	// leaderContact is when this node last heard from a leader (or, after
	// a restart, when it started); within ElectionMin of it, it refuses
	// votes. hasContact is false until the first such instant.
	leaderContact time.Duration
	hasContact    bool

	// retries counts campaigns in a row that neither won nor lost; it
	// lengthens retryTimeout and resets when a campaign starts from a
	// follower's ordinary election timeout.
	retries uint

	// voteRequest is the candidacy's MsgVote (To unset), kept to ask
	// again once (askedAgain) when no voter refused in time.
	voteRequest Message
	askedAgain  bool
	// candidacy holds the grants for this node's candidacy at the current
	// term, kept after it moved on to a pre-vote so that late votes still
	// count; nil when it has not stood at this term, and once it won it
	// (a node never leads a term twice).
	candidacy map[string]bool

	// votes of the current (pre-)campaign, by distinct voter.
	granted  map[string]bool
	rejected map[string]bool

	// leader bookkeeping: acked holds, per peer, the send time of the
	// latest heartbeat of this term it acknowledged; streak the send time
	// of the first heartbeat of its unbroken run of acknowledged rounds
	// (succession.go).
	heartbeatDue time.Duration
	electedAt    time.Duration
	acked        map[string]time.Duration
	streak       map[string]time.Duration
	// prio holds the peers' priorities as their acknowledgements of this
	// term said (0: a witness). Learnt again in each term, so that the
	// state of a follower holds nothing from a past leadership (a peer
	// restarted with another configuration is seen at once, and the
	// explorer merges more states); the first heartbeat of a term carries
	// no ranks.
	prio map[string]uint32

	// rank is this follower's place in its leader's succession, from the
	// leader's latest heartbeat this term (0: none known).
	rank uint32
	// deferred holds pre-vote requests to answer at deferUntil, when the
	// refusal window ends (deferPreVote).
	deferred   []Message
	deferUntil time.Duration
	// promisedTo is the node this one granted its pre-vote for
	// promisedTerm at promisedAt (promise.go); "" when none was granted.
	// restrainedAt is when the restraint that grant put on this node's
	// own campaign started: the first grant to that node for that term,
	// as a grant again binds anew but does not restrain anew.
	promisedTo   string
	promisedTerm uint64
	promisedAt   time.Duration
	restrainedAt time.Duration
	// backoffUntil is when this node, whose election on a handover a
	// majority refused, may be handed leadership for its priority again;
	// backoff is the length of that pause (backoff.go).
	backoffUntil time.Duration
	backoff      time.Duration

	// reported leader, to emit leader changes once.
	reportedLeader string
	reportedTerm   uint64

	// The lease as last reported: held since an "acquired" event, until
	// the "lost" one; leaseTerm and leaseDeadline are the held lease's term
	// and current deadline (renewals move the deadline without an event).
	leaseHeld     bool
	leaseTerm     uint64
	leaseDeadline time.Duration
	// ahead is the highest term beyond the window (at most MaxTerm) that a
	// peer said it had since the last climb; zero when none.
	ahead uint64

	// leaseGains counts the "acquired" events: Node wakes WaitLease when it
	// grows, a renewal after a lapse included (same term, new lease).
	leaseGains uint64

	msgs   []Message
	events []event
	stats  Stats

	// now is the instant given to the step, tick or command being handled
	// (the last one, between them): what emit stamps the events with.
	now time.Duration
}

// leaseMargin is taken off the lease so that the bound of doc.go has
// slack: exact, it left under 1 ns between the end of a slow leader's lease
// and the end of a fast follower's refusal window, which the nanosecond
// roundings of the clocks could eat (found by an adversarial review with
// zero network delay and clocks at the drift bounds: a 1 ns overlap).
const leaseMargin = time.Microsecond

// newRaft builds the core from a validated config, loading the persisted
// state. now is the current instant of the node's clock.
func newRaft(cfg Config, store Storage, h hooks, seed uint64, now time.Duration) (*raft, error) {
	cfg = cfg.withDefaults()
	hs, err := store.Load()
	if err != nil {
		return nil, err
	}
	if hs.Term > MaxTerm {
		// Written by a version that trusted any term: campaigning from it
		// would wrap the term to 0. Only an operator can repair that.
		return nil, fmt.Errorf("election: the saved term %d is above MaxTerm (%d): the state was corrupted by a faulty peer; remove the state file once this node is known not to have voted in the current term", hs.Term, MaxTerm)
	}
	drift := cfg.MaxClockDrift
	r := &raft{
		id:     cfg.ID,
		peers:  slices.Clone(cfg.Peers),
		quorum: (len(cfg.Peers)+1)/2 + 1,
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		store:  store,
		hooks:  h,
		lease:  time.Duration(float64(cfg.ElectionMin)*(1-drift)/(1+drift)) - leaseMargin,
		term:   hs.Term,
		vote:   hs.VotedFor,
		acked:  map[string]time.Duration{},
		streak: map[string]time.Duration{},
		prio:   map[string]uint32{},
		now:    now,
	}
	if hs.Term > 0 || hs.VotedFor != "" {
		// A restarted node may have acknowledged a leader's heartbeat just
		// before it stopped: keep refusing votes for ElectionMin, as if it
		// had just heard from that leader, so the lease stays sound.
		r.leaderContact, r.hasContact = now, true
	}
	r.stats.Term = r.term
	r.resetElectionTimer(now)
	if len(r.peers) == 0 && !cfg.Witness {
		r.electionDeadline = now // nobody to wait for
	}
	r.logf(LogInfo, "node %s started at term %d", r.id, r.term)
	return r, nil
}

// State returns the public state.
func (r *raft) State() State { return r.role.state() }

// randomBetween draws a duration uniformly in [lo, hi].
func (r *raft) randomBetween(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)+1))
}

// resetElectionTimer restarts the wait for a leader: the ranked or random
// timeout of electionTimeout, or never for a witness.
func (r *raft) resetElectionTimer(now time.Duration) {
	if d := r.electionTimeout(); d == never {
		r.electionDeadline = never
	} else {
		r.electionDeadline = now + d
	}
}

// retryTimeout is how long a (pre-)candidate waits before trying again
// after a campaign that neither won nor lost: a split vote, or a pre-vote
// refused by a voter whose lease window was about to end. Nobody it needs
// has heard from a leader by then, so there is no lease to wait out: a
// short random pause, in [Heartbeat/2, Heartbeat/2 + (ElectionMax -
// ElectionMin)/2], breaks the tie as long as the round trip is well below
// the heartbeat. (A retry of a full election timeout, as before, put split
// votes at up to 2 ElectionMin of failover: the p99 target is 1.6.) Each
// further campaign in a row that ends without an outcome doubles the
// pause, so that on a slow network (a round trip longer than the first
// pause) the votes get time to arrive instead of being overtaken by the
// next round; a lost election or pre-vote resets it (campaign counts
// retries only from a (pre-)candidate). Once the doubled range reaches
// past ElectionMax the pause is a random election timeout instead, in
// [ElectionMin, ElectionMax] (from the doubled range's low end if that is
// lower): capped at ElectionMax it was no longer random, and two nodes
// whose retries had met stayed in step for good (the review of the
// pre-vote promise: two pre-candidates 18 ms apart every 450 ms, one
// refusing the other within its promise). It is one draw over the whole
// range, so that the lowest draw is the shortest pause, the one the
// explorer draws: a doubled draw past ElectionMax drawn again fell below
// the lowest doubled one (TestExplore_LowRandDrawsTheShortestRetryPause).
func (r *raft) retryTimeout() time.Duration {
	k := min(r.retries, 6)
	lo := r.cfg.Heartbeat / 2
	hi := lo + (r.cfg.ElectionMax-r.cfg.ElectionMin)/2
	if hi<<k > r.cfg.ElectionMax {
		return r.randomBetween(min(lo<<k, r.cfg.ElectionMin), r.cfg.ElectionMax)
	}
	return r.randomBetween(lo, hi) << k
}

// inLease reports whether this node must refuse votes now: it leads, or it
// heard from a leader within ElectionMin (thesis 4.2.3).
func (r *raft) inLease(now time.Duration) bool {
	if r.cfg.DisableCheckQuorum {
		return false
	}
	return r.role == roleLeader || (r.hasContact && now < r.leaderContact+r.cfg.ElectionMin)
}

// nextDeadline is the instant at which tick has something to do.
func (r *raft) nextDeadline() time.Duration {
	if r.role != roleLeader {
		return min(r.electionDeadline, r.deferredDue())
	}
	d := r.heartbeatDue
	if !r.cfg.DisableCheckQuorum {
		d = min(d, r.quorumStamp()+r.cfg.ElectionMin)
	}
	if r.leaseHeld {
		d = min(d, r.leaseDeadline) // "lost" is due at the deadline itself
	}
	return d
}

// leaseEndsAt reports whether d, the next deadline, is the end of the
// lease this node holds: the instant at which "lost" is due, which the
// driver must not miss by a timer's lateness (clock_precise.go).
func (r *raft) leaseEndsAt(d time.Duration) bool { return r.leaseHeld && d == r.leaseDeadline }

// tick lets time pass to now.
func (r *raft) tick(now time.Duration) {
	r.now = now
	r.tickRole(now)
	r.updateLease(now)
}

func (r *raft) tickRole(now time.Duration) {
	if r.role == roleLeader {
		if !r.cfg.DisableCheckQuorum && now >= r.quorumStamp()+r.cfg.ElectionMin {
			r.stats.StepDowns++
			r.logf(LogWarn, "node %s lost its quorum at term %d: stepping down", r.id, r.term)
			r.becomeFollower(now, r.term, "")
			return
		}
		if now >= r.heartbeatDue {
			if p := r.preferred(now); p != "" {
				r.stats.PriorityTakeovers++
				r.logf(LogInfo, "node %s hands leadership to %s of priority %d at term %d: its own is %d", r.id, p, r.prio[p], r.term, r.priority())
				r.handOver(now, p)
				return
			}
			r.broadcastHeartbeat(now)
		}
		return
	}
	r.answerDeferred(now)
	if now < r.electionDeadline {
		return
	}
	if r.role == roleCandidate && len(r.rejected) == 0 && !r.askedAgain {
		// Nobody refused: the answers may be late (a slow network, a busy
		// host) rather than split. Ask once more at the same term before
		// moving on: a new term would throw away the votes still on their
		// way (a handover lost its election that way under load).
		r.askedAgain = true
		r.electionDeadline = now + r.retryTimeout()
		r.logf(LogDebug, "node %s asks again for votes at term %d", r.id, r.term)
		r.requestVotes()
		return
	}
	if r.bound(now) {
		// Its pre-vote for the next term is promised to another node,
		// whose campaign is under way: its own would split the voters.
		r.electionDeadline = r.boundUntil()
		return
	}
	r.campaign(now, false)
}

// campaign starts a pre-vote, or with transfer (or pre-vote disabled) a
// real election.
func (r *raft) campaign(now time.Duration, transfer bool) {
	retry := r.role == rolePreCandidate || r.role == roleCandidate
	if retry && r.ahead > r.term && r.answered() < r.quorum {
		r.climb(now) // too few answered at this height to ever win here
	}
	if r.cfg.Witness {
		// A witness does not lead. A timeout without a leader is its
		// failed campaign: it climbs as one would (noteAhead).
		if r.ahead > r.term {
			r.climb(now)
			return
		}
		r.resetElectionTimer(now) // never
		return
	}
	if r.term >= MaxTerm {
		r.report(fmt.Errorf("election: term %d is MaxTerm: campaign skipped", r.term))
		r.resetElectionTimer(now)
		return
	}
	if retry {
		r.retries++
	} else {
		r.retries = 0
	}
	if transfer || r.cfg.DisablePreVote {
		r.becomeCandidate(now, transfer)
		return
	}
	pos, err := r.hooks.position()
	if err != nil {
		r.report(&HookError{Hook: "CurrentPosition", Err: fmt.Errorf("%w: campaign skipped", err)})
		r.resetElectionTimer(now)
		return
	}
	from := r.role.state()
	r.role = rolePreCandidate
	r.changed(from) // a candidate retrying is a follower again until it raises its term
	r.stats.PreVotesStarted++
	r.granted = map[string]bool{r.id: true}
	r.rejected = map[string]bool{}
	r.promise(now, r.id, r.term+1)
	r.electionDeadline = now + r.retryTimeout()
	r.logf(LogDebug, "node %s started a pre-vote for term %d", r.id, r.term+1)
	for _, p := range r.peers {
		r.send(Message{Kind: MsgPreVote, To: p, Term: r.term + 1, Position: pos})
	}
	r.checkTally(now)
}

// becomeCandidate raises the term and asks for votes. The new term and the
// vote for itself are saved first: if that fails, nothing changes.
func (r *raft) becomeCandidate(now time.Duration, transfer bool) {
	pos, err := r.hooks.position()
	if err != nil {
		r.report(&HookError{Hook: "CurrentPosition", Err: fmt.Errorf("%w: campaign skipped", err)})
		r.role = roleFollower
		r.resetElectionTimer(now)
		return
	}
	if !r.persist(r.term+1, r.id) {
		r.role = roleFollower
		r.resetElectionTimer(now)
		return
	}
	from := r.role.state()
	r.role = roleCandidate
	r.stats.ElectionsStarted++
	r.granted = map[string]bool{r.id: true}
	r.rejected = map[string]bool{}
	r.electionDeadline = now + r.retryTimeout()
	r.changed(from) // the state change first, then the leader change it caused
	r.setLeader("")
	r.logf(LogInfo, "node %s became candidate at term %d", r.id, r.term)
	r.candidacy = r.granted
	r.voteRequest = Message{Kind: MsgVote, Term: r.term, Transfer: transfer, Position: pos}
	r.askedAgain = false
	r.requestVotes()
	r.checkTally(now)
}

// requestVotes sends the candidacy's vote request to every peer that has
// not answered yet. A voter that already granted it grants it again.
func (r *raft) requestVotes() {
	for _, p := range r.peers {
		if !r.granted[p] && !r.rejected[p] {
			m := r.voteRequest
			m.To = p
			r.send(m)
		}
	}
}

// becomeLeader takes office. The lease starts only with the first
// heartbeat a majority acknowledges, so IsLeader is false for about one
// round trip after the election.
func (r *raft) becomeLeader(now time.Duration) {
	from := r.role.state()
	r.role = roleLeader
	r.stats.ElectionsWon++
	r.electedAt = now
	clear(r.acked)
	clear(r.streak)
	clear(r.prio)    // learnt again from this term's acknowledgements
	r.deferred = nil // it leads: it would refuse them
	// The candidacy is spent: late grants for it must never elect this node
	// again at this term once it has stepped down or handed over (a late
	// grant re-elected a leader that had just handed over, while its
	// successor was elected at the next term: two leases at once).
	r.candidacy = nil
	r.backoff, r.backoffUntil = 0, 0 // it won: voters elect it
	r.changed(from)
	r.setLeader(r.id)
	r.logf(LogInfo, "node %s became leader at term %d", r.id, r.term)
	r.broadcastHeartbeat(now)
}

// becomeFollower moves to term (saving it first if it is new) and follows
// leader ("" when unknown). It returns false, changing nothing, if the new
// term could not be saved: memory never runs ahead of the disk.
func (r *raft) becomeFollower(now time.Duration, term uint64, leader string) bool {
	if term > r.term && !r.persist(term, "") {
		return false
	}
	from := r.role.state()
	r.role = roleFollower
	r.granted, r.rejected = nil, nil
	r.stats.Successor = ""
	if term != r.term || leader != r.leader {
		r.setRank(0) // a rank is the leader's of this term
	}
	r.resetElectionTimer(now)
	r.updateLease(now) // the loss first, then the state change it belongs to
	if from != StateFollower {
		r.changed(from)
		r.logf(LogInfo, "node %s became follower at term %d", r.id, r.term)
	}
	r.setLeader(leader)
	return true
}

// persist saves term and vote, then adopts them. On failure it reports the
// error and returns false; the caller must act as if nothing happened.
func (r *raft) persist(term uint64, vote string) bool {
	if err := r.store.Save(HardState{Term: term, VotedFor: vote}); err != nil {
		r.stats.StorageErrors++
		r.report(err)
		return false
	}
	if term != r.term {
		r.candidacy = nil
		r.setRank(0)
	}
	r.term, r.vote = term, vote
	r.stats.Term = term
	return true
}

// broadcastHeartbeat sends a heartbeat stamped with now to every peer,
// with each its rank in the succession.
func (r *raft) broadcastHeartbeat(now time.Duration) {
	r.heartbeatDue = now + r.cfg.Heartbeat
	order := r.succession(now)
	r.stats.Successor = ""
	if len(order) > 0 {
		r.stats.Successor = order[0]
	}
	for _, p := range r.peers {
		m := Message{Kind: MsgHeartbeat, To: p, Term: r.term, Stamp: int64(now)}
		if i := slices.Index(order, p); i >= 0 {
			m.Rank = uint32(i + 1)
		}
		r.send(m)
	}
}

// quorumStamp is the latest send time such that a majority (this node
// counting as now) acknowledged a heartbeat sent at or after it. Before a
// majority has acknowledged anything it is the election instant, so that
// check-quorum also bounds a leader that never hears back.
func (r *raft) quorumStamp() time.Duration {
	need := r.quorum - 1 // peers besides this node
	if need == 0 {
		return r.heartbeatDue - r.cfg.Heartbeat // the last own tick
	}
	if len(r.acked) < need {
		return r.electedAt
	}
	stamps := make([]time.Duration, 0, len(r.acked))
	for _, s := range r.acked {
		stamps = append(stamps, s)
	}
	slices.Sort(stamps)
	return stamps[len(stamps)-need]
}

// leaseUntil is the instant until which the leader may act; zero when it
// does not lead or holds no lease yet.
func (r *raft) leaseUntil() time.Duration {
	if r.role != roleLeader {
		return 0
	}
	if r.cfg.DisableCheckQuorum {
		return math.MaxInt64
	}
	if r.quorum > 1 && len(r.acked) < r.quorum-1 {
		return 0
	}
	return r.quorumStamp() + r.lease
}

// updateLease reports the lease's changes as events: "acquired" when it
// starts to hold, "lost" when it stops (the deadline passed without
// renewal, a step-down, a higher term), exactly one loss per acquisition,
// in order. A lease renewed only after its deadline had passed (the
// process was paused, or its timer ran late) ended in between: that is
// reported as a loss and a new acquisition.
func (r *raft) updateLease(now time.Duration) {
	lu := r.leaseUntil()
	held := lu > now
	if r.leaseHeld && (!held || r.term != r.leaseTerm || now >= r.leaseDeadline) {
		r.loseLease()
	}
	switch {
	case held && !r.leaseHeld:
		r.leaseHeld, r.leaseTerm, r.leaseDeadline = true, r.term, lu
		r.leaseGains++
		r.emit(event{kind: evLease, held: true, term: r.term, deadline: lu})
		r.logf(LogInfo, "node %s holds the lease at term %d", r.id, r.term)
	case held:
		r.leaseDeadline = lu
	}
}

// stop ends the node's part in the election (Close): a lease still held is
// reported lost.
func (r *raft) stop() {
	if r.leaseHeld {
		r.loseLease()
	}
}

// loseLease reports the end of the held lease, with the deadline it had.
func (r *raft) loseLease() {
	r.leaseHeld = false
	r.emit(event{kind: evLease, held: false, term: r.leaseTerm, deadline: r.leaseDeadline})
	r.logf(LogInfo, "node %s lost its lease at term %d", r.id, r.leaseTerm)
}

// transferLeadership steps down and tells the most recently heard peer
// that can lead (not a witness) to campaign at once (thesis 3.10).
func (r *raft) transferLeadership(now time.Duration) error {
	r.now = now
	if r.role != roleLeader {
		return ErrNotLeader
	}
	target, best := "", time.Duration(math.MinInt64)
	for p, s := range r.acked {
		if r.prio[p] == 0 {
			continue // a witness never leads
		}
		if s > best || (s == best && p < target) {
			target, best = p, s
		}
	}
	if target == "" || now-best > r.cfg.ElectionMin {
		return ErrNoTransferTarget
	}
	r.logf(LogInfo, "node %s hands leadership to %s at term %d", r.id, target, r.term)
	r.handOver(now, target)
	return nil
}

// handOver steps down and sends target a TimeoutNow. The lease ends
// before the TimeoutNow leaves, so the two leaderships never overlap.
func (r *raft) handOver(now time.Duration, target string) {
	r.stats.Transfers++
	r.becomeFollower(now, r.term, "")
	r.send(Message{Kind: MsgTimeoutNow, To: target, Term: r.term})
}

// isPeer reports whether id is one of the configured peers.
func (r *raft) isPeer(id string) bool { return slices.Contains(r.peers, id) }

// step handles one incoming message at instant now.
func (r *raft) step(now time.Duration, m Message) {
	r.now = now
	r.stepMsg(now, m)
	r.updateLease(now)
}

func (r *raft) stepMsg(now time.Duration, m Message) {
	if !m.Kind.Valid() || m.To != r.id || !r.isPeer(m.From) {
		r.drop(m, "not for this node or from a stranger")
		return
	}
	if m.Term > MaxTerm || (m.Term > r.term && m.Term-r.term > TermWindow) {
		r.drop(m, fmt.Sprintf("term %d out of range (own term %d)", m.Term, r.term))
		if m.Term <= MaxTerm {
			r.noteAhead(now, m)
		}
		return
	}
	r.stats.Received[m.Kind]++
	switch {
	case m.Kind == MsgPreVote:
		r.handlePreVote(now, m)
		return
	case m.Kind == MsgPreVoteResp:
		// A grant carries the proposed term, a refusal the voter's own.
		switch {
		case !m.Granted && m.Term > r.term:
			r.becomeFollower(now, m.Term, "")
		case r.role == rolePreCandidate && (m.Granted && m.Term == r.term+1 || !m.Granted && m.Term == r.term):
			if !m.Granted {
				r.release()
			}
			r.tally(now, m)
		}
		return
	case m.Term > r.term:
		if m.Kind == MsgVote && !m.Transfer && r.inLease(now) {
			// Thesis 4.2.3: within the lease a vote request neither raises
			// the term nor gets a vote, so a disruptive node cannot depose
			// a live leader.
			r.logf(LogDebug, "node %s ignored a vote for %s at term %d: it heard from a leader", r.id, m.From, m.Term)
			return
		}
		leader := ""
		if m.Kind == MsgHeartbeat || m.Kind == MsgTimeoutNow {
			leader = m.From
		}
		if !r.becomeFollower(now, m.Term, leader) {
			return
		}
	case m.Term < r.term:
		// Tell a stale sender about the newer term; never follow it.
		switch m.Kind {
		case MsgHeartbeat:
			// A notice of the newer term, not an acknowledgement: it
			// carries no stamp and is not Granted. Echoing the stamp let a
			// leader of this term whose process restarted (its clock counts
			// from zero again) take the echo of its previous life's
			// heartbeat for an acknowledgement of its own.
			r.send(Message{Kind: MsgHeartbeatResp, To: m.From, Term: r.term})
		case MsgVote:
			r.send(Message{Kind: MsgVoteResp, To: m.From, Term: r.term})
		}
		return
	}
	// m.Term == r.term from here on.
	switch m.Kind {
	case MsgVote:
		r.handleVote(now, m)
	case MsgVoteResp:
		if r.role == roleCandidate {
			r.tally(now, m)
		} else if m.Granted && r.role != roleLeader && r.vote == r.id && r.candidacy != nil {
			// A late vote for this node's own candidacy at this term: it
			// moved on to a pre-vote (or lost one) without leaving the
			// term, so the votes it gathered still elect it (thesis 3.4:
			// a majority of one term's votes).
			r.candidacy[m.From] = true
			if len(r.candidacy) >= r.quorum {
				r.logf(LogInfo, "node %s won term %d with late votes", r.id, r.term)
				r.becomeLeader(now)
			}
		}
	case MsgHeartbeat:
		r.handleHeartbeat(now, m)
	case MsgHeartbeatResp:
		r.handleHeartbeatResp(now, m)
	case MsgTimeoutNow:
		if r.cfg.Witness {
			r.logf(LogInfo, "node %s ignored a handover from %s at term %d: it is a witness", r.id, m.From, m.Term)
		} else if r.role != roleLeader && m.From == r.leader {
			r.logf(LogInfo, "node %s was asked by %s to take over at term %d", r.id, m.From, m.Term)
			r.campaign(now, true)
		}
	}
}

// noteAhead records for climb the term that m, dropped as beyond the
// window, says its sender has: its own term, and on a witness also a
// pre-vote's term proposed less one. A witness never campaigns, so it
// never hears a peer pushed beyond the window refuse a pre-vote of its
// own, as the others do: it learns that peer's height from the peer's
// pre-votes (the others need not: they climb only when stuck). It then
// waits an election timeout (reset by every heartbeat of a leader it
// still has) and climbs as a failed campaign would (campaign); before,
// a witness and a data node pushed apart by a hostile peer, a majority
// of 3 once that peer stopped, never elected again.
func (r *raft) noteAhead(now time.Duration, m Message) {
	switch {
	case carriesSenderTerm(m):
		r.ahead = max(r.ahead, m.Term)
	case m.Kind == MsgPreVote && r.cfg.Witness:
		r.ahead = max(r.ahead, m.Term-1)
	}
	if r.cfg.Witness && r.ahead > r.term && r.electionDeadline == never {
		r.resetElectionTimer(now)
	}
}

// carriesSenderTerm reports whether m's term is its sender's own: every
// message but a pre-vote and a granted pre-vote answer, whose term is the
// one proposed.
func carriesSenderTerm(m Message) bool {
	return m.Kind != MsgPreVote && !(m.Kind == MsgPreVoteResp && m.Granted)
}

// climb moves the node up towards ahead, a term beyond the window that a
// peer said it had, by at most TermWindow, as a follower of no known
// leader, and forgets ahead: one such message makes one climb. campaign
// calls it only when a campaign ended without an outcome and fewer than a
// majority (itself included) answered it within the window: the node
// cannot get a majority at its own height. A split vote, where enough
// answered, never climbs.
//
// Dropping such terms and nothing more let a hostile peer split the honest
// nodes for good: it pushed one of them more than TermWindow above the
// others (one TimeoutNow at term+TermWindow does it: the victim campaigns
// at term+TermWindow+1), and from then on each side dropped every message
// of the other, restarts included, so a 3-node cluster whose hostile node
// then stopped never elected again. Climbing at once, on every such
// message received outside the lease, made a healthy majority climb after
// a node pushed k windows up at its next failover, k rounds instead of one
// (5 nodes, 8 windows: 2.5-3 s instead of 0.4 s in the simulator): a
// majority that does not need that node must not wait for it.
func (r *raft) climb(now time.Duration) {
	to := min(r.ahead, r.term+TermWindow)
	r.ahead = 0
	r.logf(LogWarn, "node %s moves to term %d: a peer is beyond the term window", r.id, to)
	r.becomeFollower(now, to, "")
}

func (r *raft) handleHeartbeat(now time.Duration, m Message) {
	if r.role == roleLeader {
		// Two leaders in one term cannot happen unless votes were lost
		// from disk; say so loudly rather than follow.
		r.report(fmt.Errorf("election: node %s leads term %d but got a heartbeat from %s for the same term", r.id, r.term, m.From))
		return
	}
	if r.role != roleFollower || r.leader != m.From {
		r.becomeFollower(now, r.term, m.From)
	}
	r.leaderContact, r.hasContact = now, true
	r.acceptRank(m.Rank)
	r.resetElectionTimer(now)
	r.send(Message{Kind: MsgHeartbeatResp, To: m.From, Term: r.term, Stamp: m.Stamp, Granted: true, Priority: r.ackedPriority(now), Witness: r.cfg.Witness})
}

// handleHeartbeatResp counts an acknowledgement towards the lease. Only a
// Granted response of this term counts, and only for a stamp this
// leadership can have sent ([electedAt, now]): this process leads this
// term (a restarted process never leads a term again, its candidacy is
// gone), so such an echo is of its own heartbeat, whose receiver restarted
// its refusal window when it answered.
func (r *raft) handleHeartbeatResp(now time.Duration, m Message) {
	s := time.Duration(m.Stamp)
	if r.role == roleLeader && m.Granted && s > r.acked[m.From] && s >= r.electedAt && s <= now {
		r.noteAck(m.From, s, ackPriority(m))
	}
}

func (r *raft) handlePreVote(now time.Duration, m Message) {
	if r.deferPreVote(now, m) {
		return
	}
	grant := m.Term > r.term && !r.inLease(now) && r.role != roleLeader && !r.promisedElsewhere(now, m) && r.hooks.grant(m.Position)
	resp := Message{Kind: MsgPreVoteResp, To: m.From, Term: r.term, Granted: grant}
	if grant {
		r.promise(now, m.From, m.Term)
		r.withdraw(m.Term)
		resp.Term = m.Term
	}
	r.send(resp)
}

func (r *raft) handleVote(now time.Duration, m Message) {
	// A candidate has voted for itself and a leader won this term, so only
	// a follower or pre-candidate can grant.
	grant := (r.vote == "" || r.vote == m.From) && (r.role == roleFollower || r.role == rolePreCandidate) &&
		(m.Transfer || !r.inLease(now) || r.vote == m.From) && r.hooks.grant(m.Position)
	if grant && r.vote == "" && !r.persist(r.term, m.From) {
		grant = false
	}
	if grant {
		if r.role == rolePreCandidate {
			r.becomeFollower(now, r.term, "")
		}
		r.resetElectionTimer(now)
		r.logf(LogDebug, "node %s voted for %s at term %d", r.id, m.From, r.term)
	}
	r.send(Message{Kind: MsgVoteResp, To: m.From, Term: r.term, Granted: grant})
}

// tally counts a (pre-)vote response, one per distinct voter: an answer
// again (a duplicate, an answer to a request sent again) changes nothing.
func (r *raft) tally(now time.Duration, m Message) {
	if r.granted[m.From] || r.rejected[m.From] {
		return
	}
	if m.Granted {
		r.granted[m.From] = true
	} else {
		r.rejected[m.From] = true
	}
	r.checkTally(now)
}

func (r *raft) checkTally(now time.Duration) {
	votes := len(r.granted)
	lost := len(r.rejected) > len(r.peers)+1-r.quorum
	switch {
	case votes >= r.quorum && r.role == rolePreCandidate:
		r.becomeCandidate(now, false)
	case votes >= r.quorum && r.role == roleCandidate:
		r.becomeLeader(now)
	case lost && r.role == rolePreCandidate:
		r.stats.PreVotesLost++
		r.logf(LogDebug, "node %s lost its pre-vote for term %d", r.id, r.term+1)
		r.becomeFollower(now, r.term, r.leader)
	case lost && r.role == roleCandidate:
		r.logf(LogInfo, "node %s lost the election at term %d", r.id, r.term)
		if r.voteRequest.Transfer {
			r.backOff(now)
		}
		r.becomeFollower(now, r.term, "")
		// The votes went to other candidates (voters that hear from a
		// leader do not answer at all): a split, or someone won. Try again
		// after a retry pause, not a whole timeout; a winner's heartbeat
		// will stop the retry, and pre-vote keeps it from disrupting.
		r.electionDeadline = now + r.retryTimeout()
	}
}

// send queues m with this node as sender.
func (r *raft) send(m Message) {
	m.From = r.id
	r.stats.Sent[m.Kind]++
	r.msgs = append(r.msgs, m)
}

func (r *raft) drop(m Message, why string) {
	if m.Kind.Valid() {
		r.stats.Dropped[m.Kind]++
	}
	r.logf(LogDebug, "node %s dropped %s from %q: %s", r.id, m.Kind, m.From, why)
}

// setLeader records the known leader and emits a leader change when the
// (leader, term) pair is new.
func (r *raft) setLeader(leader string) {
	r.leader = leader
	if leader == r.reportedLeader && (leader == "" || r.term == r.reportedTerm) {
		return
	}
	r.reportedLeader, r.reportedTerm = leader, r.term
	if leader != "" {
		r.stats.LeaderChanges++
	}
	r.emit(event{kind: evLeader, leader: leader, term: r.term})
}

// changed emits a state change if the public state moved from `from`.
func (r *raft) changed(from State) {
	if to := r.role.state(); to != from {
		r.emit(event{kind: evState, from: from, to: to, term: r.term})
	}
}

func (r *raft) report(err error) {
	r.emit(event{kind: evError, err: err})
	r.logf(LogError, "node %s: %v", r.id, err)
}

func (r *raft) logf(level LogLevel, format string, args ...any) {
	if r.cfg.OnLog == nil || level < r.cfg.LogLevel {
		return // the simulator and most tests: skip the formatting
	}
	r.emit(event{kind: evLog, level: level, msg: fmt.Sprintf(format, args...)})
}

// emit queues e for the application, stamped with the instant of the step,
// tick or command that produced it: the instant it happened as far as the
// core knows, which a host compares with the instant it learnt of it (the
// wake-up of WaitLease, a callback's start) without the callback queue's
// delays in between.
func (r *raft) emit(e event) {
	e.at = r.now
	r.events = append(r.events, e)
}

// takeMsgs returns and clears the outbox.
func (r *raft) takeMsgs() []Message {
	m := r.msgs
	r.msgs = nil
	return m
}

// takeEvents returns and clears the pending events.
func (r *raft) takeEvents() []event {
	e := r.events
	r.events = nil
	return e
}
