package election

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by Node methods.
var (
	// ErrClosed is returned when the node has been closed.
	ErrClosed = errors.New("election: node is closed")
	// ErrNotLeader is returned by StepDown when the node does not lead.
	ErrNotLeader = errors.New("election: node is not the leader")
	// ErrBusy is returned by Close when called from one of the node's own
	// callbacks (it would wait for itself).
	ErrBusy = errors.New("election: Close called from the node's own callback")
	// ErrNoTransferTarget is returned by StepDown when no peer is reachable
	// to take over.
	ErrNoTransferTarget = errors.New("election: no reachable peer to hand leadership to")
)

// HookError reports that one of the application's vote hooks
// (Config.CurrentPosition or Config.GrantVote) failed: it panicked, or did
// not return within Config.HookTimeout. The election went on without it: a
// failed GrantVote counts as a refusal, a failed CurrentPosition abandons
// that campaign. It reaches OnError, at most once a second per hook; it is
// the application's problem to fix, never the library's.
type HookError struct {
	Hook string // "CurrentPosition" or "GrantVote"
	Err  error  // ErrHookTimeout, or the panic's value as an error
}

var _ error = (*HookError)(nil)

// ErrHookTimeout is the Err of a HookError for a hook that did not return
// within Config.HookTimeout (its goroutine is left to finish on its own).
var ErrHookTimeout = errors.New("election: did not return within HookTimeout")

// Error names the hook and what went wrong.
func (e *HookError) Error() string {
	return fmt.Sprintf("election: vote hook %s failed: %v", e.Hook, e.Err)
}

// Unwrap returns the cause.
func (e *HookError) Unwrap() error { return e.Err }

// ConfigError is returned by Config.Validate and New when a field is wrong.
type ConfigError struct {
	Field  string // the Config field, e.g. "ElectionMax"
	Reason string // what is wrong with it, with the values
}

var _ error = (*ConfigError)(nil)

// Error returns "election: config: <Field> <Reason>".
func (e *ConfigError) Error() string {
	return fmt.Sprintf("election: config: %s %s", e.Field, e.Reason)
}

// StorageError is a failure to read or write the state file. A corrupt file
// found at start has Corrupt set; New then fails rather than reset the
// term, which could let the node vote twice in one term.
type StorageError struct {
	Path    string // the file
	Op      string // "load" or "save"
	Corrupt bool   // content failed its checks (empty, truncated, bad checksum)
	Err     error  // the underlying cause
}

var _ error = (*StorageError)(nil)

// Error names the file and says what failed.
func (e *StorageError) Error() string {
	if e.Corrupt {
		return fmt.Sprintf("election: state file %s is corrupt: %v (refusing to start: a reset could let this node vote twice in a term; restore the file or remove it deliberately)", e.Path, e.Err)
	}
	return fmt.Sprintf("election: %s state file %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying cause.
func (e *StorageError) Unwrap() error { return e.Err }
