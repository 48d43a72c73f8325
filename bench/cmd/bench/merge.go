package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// A run with -only measures some sections; results.json keeps the other
// sections' figures from the runs that measured them, and says which run
// measured what (Results.Parts), so that the table never presents an old
// figure as this run's.

// sections are the -only sections in the order of the flag's help.
var sections = []string{"failover", "handover", "disruption", "idle", "first", "memory", "compare", "api", "events", "run", "flood"}

// sectionKeys are the results.json keys each section writes. idle and
// memory share "idle" (memory adds the C worker's row to the 3- and
// 5-node graft rows that both measure): -only idle drops the C row.
var sectionKeys = map[string][]string{
	"failover": {"failover", "failover_no_settle", "failover_pair"},
	"handover": {"handover"}, "disruption": {"disruption"},
	"idle": {"idle"}, "memory": {"idle"}, "first": {"first_leader"},
	"compare": {"compare"}, "api": {"api"},
	"events": {"events"}, "run": {"run"}, "flood": {"flood"},
}

// Part says which sections one run measured.
type Part struct {
	Sections   []string `json:"sections"`
	Date       string   `json:"date"`
	Graft      string   `json:"graft_commit"`
	RunSeconds float64  `json:"run_seconds"`
	LoadStart  float64  `json:"load_average_start"`
	LoadEnd    float64  `json:"load_average_end"`
}

func (p Part) String() string {
	return fmt.Sprintf("%s: run %s, graft %s, %.0f s, load average %.1f → %.1f", strings.Join(p.Sections, ", "), p.Date, p.Graft, p.RunSeconds, p.LoadStart, p.LoadEnd)
}

// ran returns the sections this run measured.
func ran() []string {
	var out []string
	for _, s := range sections {
		if want(s) {
			out = append(out, s)
		}
	}
	return out
}

// mergeResults returns res with the sections it did not measure taken
// from old (the previous results.json), and the parts updated. Without
// old, res is all there is.
func mergeResults(res *Results, old []byte) (*Results, error) {
	now := ran()
	part := Part{Sections: now, Date: res.Date, Graft: res.Graft, RunSeconds: res.RunSeconds, LoadStart: res.Host.LoadStart, LoadEnd: res.Host.LoadEnd}
	if old == nil || len(now) == len(sections) {
		res.Parts = []Part{part}
		return res, nil
	}
	var prev Results
	var oldKeys, newKeys map[string]json.RawMessage
	if err := json.Unmarshal(old, &prev); err != nil {
		return nil, fmt.Errorf("reading the previous results.json: %w", err)
	}
	if err := json.Unmarshal(old, &oldKeys); err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &newKeys); err != nil {
		return nil, err
	}
	parts := prev.Parts
	if len(parts) == 0 { // written before parts existed: one run measured all
		parts = []Part{{Sections: sections, Date: prev.Date, Graft: prev.Graft, RunSeconds: prev.RunSeconds, LoadStart: prev.Host.LoadStart, LoadEnd: prev.Host.LoadEnd}}
	}
	merged := map[string]json.RawMessage{}
	for k, v := range newKeys {
		merged[k] = v
	}
	for _, s := range sections {
		if slices.Contains(now, s) {
			continue
		}
		for _, k := range sectionKeys[s] {
			if v, ok := oldKeys[k]; ok && !slices.ContainsFunc(now, func(n string) bool { return slices.Contains(sectionKeys[n], k) }) {
				merged[k] = v
			}
		}
	}
	out := []Part{part}
	for _, p := range parts {
		p.Sections = slices.DeleteFunc(slices.Clone(p.Sections), func(s string) bool { return slices.Contains(now, s) })
		if len(p.Sections) > 0 {
			out = append(out, p)
		}
	}
	b, err = json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	var m Results
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m.Parts = out
	return &m, nil
}

// readOld returns the results.json in dir, or nil if there is none.
func readOld(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return b, err
}
