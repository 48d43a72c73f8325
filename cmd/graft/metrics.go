package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the node's state and counters, read at each scrape.
type collector struct{ sup *supervisor }

var (
	descLeader   = prometheus.NewDesc("graft_leader", "1 while this node holds the leadership lease.", nil, nil)
	descTerm     = prometheus.NewDesc("graft_term", "The current term (the fencing token).", nil, nil)
	descRemain   = prometheus.NewDesc("graft_lease_remaining_seconds", "Time left on the lease (0 when not held).", nil, nil)
	descRunning  = prometheus.NewDesc("graft_command_running", "1 while CMD runs.", nil, nil)
	descRuns     = prometheus.NewDesc("graft_command_starts_total", "Times CMD was started.", nil, nil)
	descElect    = prometheus.NewDesc("graft_elections_total", "Elections begun (the term raised).", nil, nil)
	descWon      = prometheus.NewDesc("graft_elections_won_total", "Elections won.", nil, nil)
	descSteps    = prometheus.NewDesc("graft_step_downs_total", "Leaderships ended by check-quorum.", nil, nil)
	descTransfer = prometheus.NewDesc("graft_transfers_total", "Leaderships handed over.", nil, nil)
	descDrops    = prometheus.NewDesc("graft_transport_dropped_total", "Messages dropped by the transport, by reason.", []string{"reason"}, nil)
	descDelay    = prometheus.NewDesc("graft_callback_delay_seconds", "How late the last callback started (max: the largest so far).", []string{"which"}, nil)
	descPriority = prometheus.NewDesc("graft_priority", "This node's priority (0: a witness, which never leads).", nil, nil)
	descRank     = prometheus.NewDesc("graft_succession_rank", "This follower's rank in its leader's succession (1 takes over first; 0: none known, or it leads).", nil, nil)
	descSucc     = prometheus.NewDesc("graft_successor_info", "1 on a leader, labelled with the follower it ranks first.", []string{"successor"}, nil)
	descTakeover = prometheus.NewDesc("graft_priority_takeovers_total", "Handovers this node made, as leader, to a follower of higher priority.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descTerm, descRemain, descRunning, descRuns, descElect, descWon, descSteps, descTransfer, descDrops, descDelay, descPriority, descRank, descSucc, descTakeover} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.sup.snapshot()
	st := c.sup.node.Stats()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	n := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	g(descLeader, b2f(s.HoldsLease))
	g(descTerm, float64(s.Term))
	g(descRemain, s.LeaseRemainingMS/1e3)
	g(descRunning, b2f(s.Command.Running))
	n(descRuns, s.Command.Runs)
	n(descElect, st.ElectionsStarted)
	n(descWon, st.ElectionsWon)
	n(descSteps, st.StepDowns)
	n(descTransfer, st.Transfers)
	for reason, v := range s.Dropped {
		n(descDrops, v, reason)
	}
	g(descDelay, st.CallbackDelayLast.Seconds(), "last")
	g(descDelay, st.CallbackDelayMax.Seconds(), "max")
	g(descPriority, float64(s.Succession.Priority))
	g(descRank, float64(st.Rank))
	if st.Successor != "" {
		g(descSucc, 1, st.Successor)
	}
	n(descTakeover, st.PriorityTakeovers)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
