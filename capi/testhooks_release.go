//go:build !grafttest

package main

import "github.com/graftlib/graft/election"

// testBuild is false in the released library: see testhooks.go, built
// only with the grafttest tag into the test build (build/test/libgraft.so).
const testBuild = false

// applyTestHooks does nothing in the released library: it never reads
// GRAFT_TEST_CLOCK_RATE or GRAFT_TEST_DISABLE_CHECK_QUORUM, so a production
// process that inherits one keeps check-quorum and its real clock.
func applyTestHooks(*election.Config) {}
