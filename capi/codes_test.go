package main

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func readHeader(t *testing.T) string {
	t.Helper()
	return readFile(t, "../include/graft.h")
}

// TestErrorCodesMatchHeader checks that errorCodes lists exactly the codes
// of graft.h's graft_error enum, with the same names and values, and that
// graft_strerror (shims.c) has its own text for each, in order.
func TestErrorCodesMatchHeader(t *testing.T) {
	h := readHeader(t)
	start := strings.Index(h, "typedef enum graft_error {")
	end := strings.Index(h[start:], "} graft_error;")
	if start < 0 || end < 0 {
		t.Fatal("graft.h: enum graft_error not found")
	}
	inHeader := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(GRAFT_[A-Z]+)\s*=\s*(-?\d+)`).FindAllStringSubmatch(h[start:start+end], -1) {
		v, _ := strconv.Atoi(m[2])
		inHeader[m[1]] = v
	}
	inGo := map[string]int{}
	for _, e := range errorCodes {
		inGo[e.name] = e.code
	}
	// graft_strerror's table in shims.c: one distinct text per code, in
	// order, each marked with the code's name.
	shims := readFile(t, "shims.c")
	texts := regexp.MustCompile(`/\* (GRAFT_[A-Z]+) \*/\s*"([^"]+)"`).FindAllStringSubmatch(shims, -1)
	seen := map[string]bool{}
	for i, m := range texts {
		if v, ok := inHeader[m[1]]; !ok || v != -i {
			t.Errorf("shims.c: text %d is marked %s (= %d in graft.h)", i, m[1], v)
		}
		if seen[m[2]] {
			t.Errorf("shims.c: text %q repeated", m[2])
		}
		seen[m[2]] = true
	}
	if len(texts) != len(inHeader) {
		t.Errorf("shims.c has %d texts, graft.h %d codes", len(texts), len(inHeader))
	}
	for name, v := range inHeader {
		if g, ok := inGo[name]; !ok || g != v {
			t.Errorf("graft.h has %s = %d; errorCodes has %d (present: %v)", name, v, g, ok)
		}
	}
	for name := range inGo {
		if _, ok := inHeader[name]; !ok {
			t.Errorf("errorCodes has %s, graft.h does not", name)
		}
	}
	// Codes are dense and negative: 0, -1, -2, ... (never renumbered).
	for i := 0; i < len(inHeader); i++ {
		found := false
		for _, v := range inHeader {
			found = found || v == -i
		}
		if !found {
			t.Errorf("graft.h: no code %d (codes must be 0, -1, -2, ...)", -i)
		}
	}
}

// noGo are the shims of shims.c that need no Go export.
var noGo = map[string]bool{"graft_strerror": true, "graft_version": true, "graft_version_number": true}

// declaredFunctions returns the sorted names of the functions graft.h declares.
func declaredFunctions(t *testing.T) []string {
	t.Helper()
	return names(regexp.MustCompile(`(?m)^GRAFT_API[^;(]*?\b(graft_[a-z_]+)\s*\(`), readHeader(t))
}

// TestFunctionsMatchHeader checks that the functions graft.h declares are
// exactly those shims.c defines and those the version script libgraft.map
// exports, that every shim but those in noGo has its Go export
// graft__go_<name>, and no export is left without a shim.
func TestFunctionsMatchHeader(t *testing.T) {
	declared := declaredFunctions(t)
	mapped := names(regexp.MustCompile(`(?m)^\s+(graft_[a-z_]+);`), readFile(t, "libgraft.map"))
	if strings.Join(declared, " ") != strings.Join(mapped, " ") {
		t.Errorf("graft.h declares\n  %v\nbut libgraft.map exports\n  %v", declared, mapped)
	}
	defined := names(regexp.MustCompile(`(?m)^[a-z0-9_ ]+\*?\s*(graft_[a-z][a-z_]*)\([^;]*\{`), readFile(t, "shims.c"))
	if strings.Join(declared, " ") != strings.Join(defined, " ") {
		t.Errorf("graft.h declares\n  %v\nbut shims.c defines\n  %v", declared, defined)
	}
	if len(declared) < 20 {
		t.Errorf("only %d functions found in graft.h: the pattern is broken", len(declared))
	}
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".go") && !strings.HasSuffix(f.Name(), "_test.go") {
			exported = append(exported, names(regexp.MustCompile(`(?m)^//export graft__go_(\S+)`), readFile(t, f.Name()))...)
		}
	}
	sort.Strings(exported)
	var want []string
	for _, d := range defined {
		if !noGo[d] {
			want = append(want, strings.TrimPrefix(d, "graft_"))
		}
	}
	if strings.Join(want, " ") != strings.Join(exported, " ") {
		t.Errorf("shims.c needs the exports\n  %v\nbut capi exports\n  %v", want, exported)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// names returns the sorted first groups of re's matches in s.
func names(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}
