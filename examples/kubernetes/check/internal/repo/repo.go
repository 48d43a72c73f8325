// Package repo finds what the checks need from the graft repository: its
// root, graft's version (include/graft.h) and a graft binary.
package repo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Root is the repository's top folder: the nearest folder above the
// working directory (a test runs in its package's folder) that holds
// include/graft.h. "" when there is none.
func Root() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "include", "graft.h")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// Version is graft's version as mk/capi.mk reads it from include/graft.h:
// GRAFT_VERSION_MAJOR.MINOR.PATCH.
func Version() (string, error) {
	h, err := os.ReadFile(filepath.Join(Root(), "include", "graft.h"))
	if err != nil {
		return "", fmt.Errorf("repo: %w", err)
	}
	var parts []string
	for _, p := range []string{"MAJOR", "MINOR", "PATCH"} {
		m := regexp.MustCompile(`(?m)^#define GRAFT_VERSION_` + p + ` ([0-9]+)$`).FindSubmatch(h)
		if m == nil {
			return "", fmt.Errorf("repo: include/graft.h has no GRAFT_VERSION_%s", p)
		}
		parts = append(parts, string(m[1]))
	}
	return strings.Join(parts, "."), nil
}

// Graft is the graft binary to check: $GRAFT_BIN (make passes build/graft),
// else one built into dir from cmd/graft as make builds it (CGO_ENABLED=0,
// the version set).
func Graft(dir string) (string, error) {
	if p := os.Getenv("GRAFT_BIN"); p != "" {
		return p, nil
	}
	v, err := Version()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "graft")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+v, "-o", out, ".")
	cmd.Dir = filepath.Join(Root(), "cmd", "graft")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("repo: building cmd/graft: %v\n%s", err, msg)
	}
	return out, nil
}

// TestMain runs a package's tests with *bin set to Graft's binary (built
// into a temporary folder removed afterwards) and returns the exit status.
func TestMain(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "graft-check-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Graft(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
