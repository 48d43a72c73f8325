package main

import (
	"context"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// API is the output of one binding's own benchmark (make bench-<lang>),
// written by the engineers of that binding; the harness only runs it.
type API struct {
	Lang   string `json:"lang"`
	Target string `json:"target"`
	Ran    bool   `json:"ran"`
	OK     bool   `json:"ok"`
	Note   string `json:"note,omitempty"`
	Output string `json:"output,omitempty"`
}

// apiCost runs make bench-c, bench-python and bench-rust in the repository
// root when a makefile fragment defines the target.
func apiCost(root string) []API {
	var out []API
	for _, t := range []struct{ lang, target string }{{"C", "bench-c"}, {"Python", "bench-python"}, {"Rust", "bench-rust"}} {
		a := API{Lang: t.lang, Target: t.target}
		if !hasTarget(root, t.target) {
			a.Note = "not measured: no make target " + t.target + " in mk/*.mk at the time of the run"
			log.Printf("api: %s", a.Note)
			out = append(out, a)
			continue
		}
		log.Printf("api: make %s", t.target)
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, t.target)
		cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=")
		b, err := cmd.CombinedOutput()
		cancel()
		a.Ran, a.OK, a.Output = true, err == nil, strings.TrimSpace(string(b))
		if err != nil {
			a.Note = "make " + t.target + " failed: " + err.Error()
			log.Printf("api: %s", a.Note)
		}
		out = append(out, a)
	}
	return out
}

func hasTarget(root, target string) bool {
	files, _ := filepath.Glob(filepath.Join(root, "mk", "*.mk"))
	files = append(files, filepath.Join(root, "Makefile"))
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `\s*:`)
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && re.Match(b) {
			return true
		}
	}
	return false
}

// apiFigures picks the headline figures out of a binding benchmark's
// output: ns per state query, and the p50/p99 from the step-down call to
// the state callback. It returns "" for what it cannot find.
func apiFigures(lang, out string) (query, callback string) {
	num := `(-?[0-9]+(?:\.[0-9]+)?)`
	find := func(pattern string) []string {
		m := regexp.MustCompile(`(?m)` + pattern).FindStringSubmatch(out)
		return m
	}
	switch lang {
	case "C":
		if m := find(`^graft_node_state\s+` + num); m != nil {
			query = m[1] + " ns (graft_node_state)"
		}
		if m := find(`^step_down -> on_state_change\s+` + num + `\s+` + num); m != nil {
			callback = "p50 " + m[1] + " µs, p99 " + m[2] + " µs (step_down call → on_state_change)"
		}
	case "Python":
		if m := find(`^\s*node\.state\s+` + num); m != nil {
			query = m[1] + " µs (node.state)"
		}
		if m := find(`from step_down\(\) call\s+median\s+` + num + `\s+p99\s+` + num); m != nil {
			callback = "median " + m[1] + " µs, p99 " + m[2] + " µs (step_down() call → state callback)"
		}
	case "Rust":
		if m := find(`^Node::state\s+` + num); m != nil {
			query = m[1] + " ns (Node::state)"
		}
		if m := find(`^step_down -> on_state_change\s+` + num + `\s+` + num); m != nil {
			callback = "p50 " + m[1] + " µs, p99 " + m[2] + " µs (step_down call → closure)"
		}
	}
	return query, callback
}
