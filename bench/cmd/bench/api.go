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
