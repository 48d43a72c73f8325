package main

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestMergeResults_OnlyKeepsTheOtherSections: a -only failover run replaces
// the failover figures and keeps the events figures of the earlier run,
// whose part then lists every section but failover.
func TestMergeResults_OnlyKeepsTheOtherSections(t *testing.T) {
	defer func(o string) { *only = o }(*only)
	*only = "failover"
	prev := Results{Date: "old", Graft: "aaa", Failover: []FailoverResult{{Failover: Failover{Nodes: 3, Trials: 1}}}, Events: &Events{Timing: "old timing"}}
	old, _ := json.Marshal(prev)
	res := &Results{Date: "new", Graft: "bbb", Failover: []FailoverResult{{Failover: Failover{Nodes: 3, Trials: 2}}}}
	m, err := mergeResults(res, old)
	if err != nil {
		t.Fatal(err)
	}
	if m.Date != "new" || len(m.Failover) != 1 || m.Failover[0].Trials != 2 {
		t.Fatalf("the failover section is not this run's: date %q, failover %+v", m.Date, m.Failover)
	}
	if m.Events == nil || m.Events.Timing != "old timing" {
		t.Fatalf("the events section was lost: %+v", m.Events)
	}
	if len(m.Parts) != 2 || !slices.Equal(m.Parts[0].Sections, []string{"failover"}) || m.Parts[1].Graft != "aaa" || slices.Contains(m.Parts[1].Sections, "failover") {
		t.Fatalf("parts: %+v", m.Parts)
	}
	// A second -only run of another section keeps both earlier parts'
	// sections apart.
	*only = "events"
	old2, _ := json.Marshal(m)
	m2, err := mergeResults(&Results{Date: "newer", Events: &Events{Timing: "new timing"}}, old2)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Failover[0].Trials != 2 || m2.Events.Timing != "new timing" || len(m2.Parts) != 3 {
		t.Fatalf("second merge: failover %+v, events %+v, parts %+v", m2.Failover, m2.Events, m2.Parts)
	}
}

// TestMergeResults_BadFile: a previous file that is not JSON is an error.
func TestMergeResults_BadFile(t *testing.T) {
	defer func(o string) { *only = o }(*only)
	*only = "failover"
	if _, err := mergeResults(&Results{}, []byte("{")); err == nil {
		t.Fatal("no error for a truncated results.json")
	}
}
