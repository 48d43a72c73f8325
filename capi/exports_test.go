package main

import (
	"debug/elf"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// builtLibrary is the shared library `make lib` builds; make test-c builds
// it before it runs these tests.
const builtLibrary = "../build/libgraft.so"

// TestSharedLibraryExports checks the built libgraft.so against graft.h:
// it exports exactly the header's functions, each under the version node
// GRAFT_<MAJOR>.<MINOR> of the header's version (libgraft.map), and nothing
// else (no Go runtime, no graft__go_* export).
func TestSharedLibraryExports(t *testing.T) {
	if _, err := os.Stat(builtLibrary); err != nil {
		if os.Getenv("GRAFT_REQUIRE_LIB") != "" {
			t.Fatalf("%v (run make lib first)", err)
		}
		t.Skipf("%s not built (make lib): %v", builtLibrary, err)
	}
	f, err := elf.Open(builtLibrary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	since := sinceVersions(t)
	var exported []string
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF || elf.ST_BIND(s.Info) == elf.STB_LOCAL || s.Name == "" || strings.HasPrefix(s.Name, "GRAFT_") {
			continue // imported from libc, or a version node's own symbol
		}
		exported = append(exported, s.Name)
		if want := "GRAFT_" + since[s.Name]; s.Version != want {
			t.Errorf("%s is exported under version %q; graft.h says Since %s, so want %s", s.Name, s.Version, since[s.Name], want)
		}
	}
	sort.Strings(exported)
	if got, want := strings.Join(exported, " "), strings.Join(declaredFunctions(t), " "); got != want {
		t.Errorf("%s exports\n  %s\nbut graft.h declares\n  %s", builtLibrary, got, want)
	}
}

// sinceVersions maps each function of graft.h to the MAJOR.MINOR of the
// "Since" its doc block names: the version node its symbol belongs in.
func sinceVersions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	doc := regexp.MustCompile(`(?s)/\*\*((?:[^*]|\*[^/])*)\*/\s*GRAFT_API[^;(]*?\b(graft_[a-z_]+)\s*\(`)
	since := regexp.MustCompile(`Since (\d+\.\d+)\.`)
	for _, m := range doc.FindAllStringSubmatch(readHeader(t), -1) {
		v := since.FindStringSubmatch(m[1])
		if v == nil {
			t.Errorf("graft.h: the doc block of %s says no \"Since X.Y.\"", m[2])
			continue
		}
		out[m[2]] = v[1]
	}
	if len(out) != len(declaredFunctions(t)) {
		t.Errorf("graft.h: %d functions with a doc block, %d declared", len(out), len(declaredFunctions(t)))
	}
	return out
}
