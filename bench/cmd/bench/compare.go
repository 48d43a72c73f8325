package main

import (
	"log"
	"time"

	"github.com/graftlib/graft/bench/internal/testbed"
)

// cmpIdleSlice is the slice of the comparison's idle window: each slice
// gives one CPU sample per library for the ratio's bootstrap interval.
const cmpIdleSlice = time.Second

// cmpLibs are the libraries of the comparison, graft first.
var cmpLibs = []string{testbed.Graft, testbed.NatsGraft, testbed.HRaft}

// cmpBed makes a 3-node cluster of lib at cmpTiming.
func cmpBed(env *testbed.Env, lib string, o testbed.Options) (*testbed.Bed, error) {
	switch lib {
	case testbed.NatsGraft:
		return env.NatsGraft(3, o)
	case testbed.HRaft:
		return env.HRaft(3, cmpTiming, o)
	}
	return env.Graft(3, cmpTiming, false, o)
}

// inTurn returns cmpLibs in the order of round i: each library goes first
// in one round of three, so that none always follows the same one (a
// restart of the previous library's victim weighs on the next trial).
func inTurn(i int) []string {
	n := len(cmpLibs)
	out := make([]string, n)
	for k := range out {
		out[k] = cmpLibs[(i+k)%n]
	}
	return out
}

// compare runs failover, handover and idle cost for the three libraries at
// cmpTiming, 3 nodes each, interleaved: every library's clusters run for
// the whole section, trial i of each library comes right after trial i of
// the others, and the idle clusters are measured in one window, so that
// whatever else loads the machine weighs on all three alike (issue 16: two
// runs of the sequential comparison gave p99 ratios of 0.53 and 0.95).
func compare(env *testbed.Env, res *Results) {
	res.Compare.Interleaved = true
	beds := map[string][]*testbed.Bed{}
	var libs []string
	for _, lib := range cmpLibs {
		bs, err := startBeds(*bedsFlag, func() (*testbed.Bed, error) { return cmpBed(env, lib, testbed.Options{}) })
		if err != nil {
			log.Printf("compare %s: %v", lib, err)
			continue
		}
		beds[lib] = bs
		libs = append(libs, lib)
	}

	fo := map[string]*Failover{}
	for _, lib := range libs {
		f := newFailover(beds[lib][0], 1, *cmpTrials)
		fo[lib] = &f
	}
	log.Printf("compare: failover, 3 nodes, %d trials per library, interleaved, over %d clusters each", *cmpTrials, *bedsFlag)
	for i := 0; i < *cmpTrials; i++ {
		for _, lib := range inTurn(i) {
			if bs := beds[lib]; bs != nil {
				failoverTrial(bs[i%len(bs)], fo[lib], i)
			}
		}
	}
	for _, lib := range libs {
		f := summarizeFailover(*fo[lib])
		res.Compare.Failover = append(res.Compare.Failover, f)
		log.Printf("  %s", f.line())
	}

	for _, how := range []string{"step_down", "close"} {
		ho := map[string]*Handover{}
		for _, lib := range libs {
			ho[lib] = &Handover{Lib: lib, Nodes: 3, How: how}
		}
		if h := ho[testbed.NatsGraft]; h != nil {
			h.Unsupported = how == "step_down" // nats-io/graft has no step-down
		}
		log.Printf("compare: handover (%s), %d trials per library, interleaved", how, *cmpHoTrials)
		for i := 0; i < *cmpHoTrials; i++ {
			for _, lib := range inTurn(i) {
				if bs := beds[lib]; bs != nil && !ho[lib].Unsupported {
					handoverTrial(bs[i%len(bs)], ho[lib], i)
				}
			}
		}
		for _, lib := range libs {
			h := summarizeHandover(*ho[lib])
			res.Compare.Handover = append(res.Compare.Handover, h)
			log.Printf("  %s", h.line())
		}
	}
	for _, bs := range beds {
		closeBeds(bs)
	}

	log.Printf("compare: idle cost, 3 nodes per library, the three in one window of %s", *cmpIdle)
	var idleBeds []*testbed.Bed
	var rs []*Idle
	for _, lib := range cmpLibs {
		b, err := cmpBed(env, lib, testbed.Options{Relay: true, Quiet: true})
		if err != nil {
			log.Printf("compare %s idle: %v", lib, err)
			continue
		}
		r, err := idleStart(b)
		if err != nil {
			log.Printf("compare %s idle: %v", lib, err)
			b.Close()
			continue
		}
		idleBeds, rs = append(idleBeds, b), append(rs, &r)
	}
	err := measureIdle(idleBeds, rs, *cmpIdle, cmpIdleSlice)
	closeBeds(idleBeds)
	if err != nil {
		log.Printf("compare idle: %v", err)
		return
	}
	for _, r := range rs {
		res.Compare.Idle = append(res.Compare.Idle, *r)
		log.Printf("  %s", r.line())
	}
}
