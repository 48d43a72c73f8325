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
	b, err := os.ReadFile("../include/graft.h")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestErrorCodesMatchHeader checks that errorCodes (graft_strerror's table)
// lists exactly the codes of graft.h's graft_error enum, with the same
// names and values, and that every code has its own text.
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
	texts := map[string]bool{}
	for _, e := range errorCodes {
		inGo[e.name] = e.code
		if texts[e.text] || e.text == "" {
			t.Errorf("%s: text %q empty or repeated", e.name, e.text)
		}
		texts[e.text] = true
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

// TestFunctionsMatchHeader checks that the functions graft.h declares are
// exactly the //export functions of this package.
func TestFunctionsMatchHeader(t *testing.T) {
	h := readHeader(t)
	var declared []string
	for _, m := range regexp.MustCompile(`(?m)^GRAFT_API[^;(]*?\b(graft_[a-z_]+)\s*\(`).FindAllStringSubmatch(h, -1) {
		declared = append(declared, m[1])
	}
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^//export (\S+)`).FindAllStringSubmatch(string(b), -1) {
			exported = append(exported, m[1])
		}
	}
	sort.Strings(declared)
	sort.Strings(exported)
	if strings.Join(declared, " ") != strings.Join(exported, " ") {
		t.Errorf("graft.h declares\n  %v\nbut capi exports\n  %v", declared, exported)
	}
	if len(declared) < 20 {
		t.Errorf("only %d functions found in graft.h: the pattern is broken", len(declared))
	}
}
