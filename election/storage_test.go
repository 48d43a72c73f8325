package election

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fileNode starts a single-node cluster (it elects itself) on the state
// file path, with its own in-memory network.
func fileNode(path string) (*Node, error) {
	cfg := fastConfig("solo", nil)
	cfg.Storage, cfg.StatePath = nil, path
	return New(cfg, NewMemNetwork(1).Endpoint("solo"))
}

// Two nodes given one state file both started before, and overwrote each
// other's term: a restart could then vote twice in a term (issue 19).
func TestFileStorage_SecondNodeOnSameFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	a, err := fileNode(path)
	require.NoError(t, err)
	b, err := fileNode(path)
	if err == nil {
		b.Close()
	}
	var se *StorageError
	require.ErrorAs(t, err, &se, "a second node on %s must be refused", path)
	require.Contains(t, err.Error(), path)
	require.Contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()))
	t.Logf("second node refused: %v", err)

	require.NoError(t, a.Close())
	b, err = fileNode(path)
	require.NoError(t, err, "Close releases the lock")
	require.NoError(t, b.Close())
}

// The lock belongs to the node that took it: a FileStorage opened by hand
// on the same file is refused too, and Close releases it.
func TestFileStorage_OpenLocksUntilClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	s1, s2 := NewFileStorage(path), NewFileStorage(path)
	require.NoError(t, s1.Open())
	err := s2.Open()
	var se *StorageError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "open", se.Op)
	require.NoError(t, s1.Close())
	require.NoError(t, s1.Close(), "Close is idempotent")
	require.NoError(t, s2.Open())
	require.NoError(t, s2.Save(HardState{Term: 3}))
	hs, err := s2.Load()
	require.NoError(t, err)
	require.EqualValues(t, 3, hs.Term)
	require.NoError(t, s2.Close())
}

// lockHolderEnv, set to a state path, turns the test binary into the
// second process of TestFileStorage_SecondProcessRefused: it starts a node
// on the path, prints "ready" and holds the node until its stdin closes.
const lockHolderEnv = "GRAFT_TEST_LOCK_HOLDER"

func holdLock(path string) {
	n, err := fileNode(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	n.Close()
	os.Exit(0)
}

func TestFileStorage_SecondProcessRefused(t *testing.T) {
	if path := os.Getenv(lockHolderEnv); path != "" {
		holdLock(path)
	}
	path := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileStorage_SecondProcessRefused$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	_, err = fileNode(path)
	var se *StorageError
	require.ErrorAs(t, err, &se, "a node in another process holds %s", path)
	require.Contains(t, err.Error(), path)
	require.Contains(t, err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid))
	t.Logf("refused while process %d holds it: %v", cmd.Process.Pid, err)

	// The lock goes with the process, even one killed without a close.
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	n, err := fileNode(path)
	require.NoError(t, err, "the dead holder's lock is gone")
	require.NoError(t, n.Close())
}

// The rename that replaces the state file used to replace a symlink with
// a regular file: the link's target kept the old state.
func TestFileStorage_SymlinkTargetUpdated(t *testing.T) {
	realDir, linkDir := t.TempDir(), t.TempDir()
	target := filepath.Join(realDir, "state")
	link := filepath.Join(linkDir, "state")
	require.NoError(t, os.Symlink(target, link)) // dangling: a fresh node
	n, err := fileNode(link)
	require.NoError(t, err)
	require.Eventually(t, n.IsLeader, 5*time.Second, time.Millisecond)
	term := n.Term()
	require.NoError(t, n.Close())

	fi, err := os.Lstat(link)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeSymlink, "the link stays a link")
	hs, err := NewFileStorage(target).Load()
	require.NoError(t, err)
	require.Equal(t, HardState{Term: term, VotedFor: "solo"}, hs, "the target holds the state")

	// A restart through the link reads the target, and a relative link
	// works as well.
	rel := filepath.Join(realDir, "rel")
	require.NoError(t, os.Symlink("state", rel))
	n, err = fileNode(rel)
	require.NoError(t, err)
	require.Equal(t, term, n.Term())
	require.NoError(t, n.Close())
	entries, err := os.ReadDir(linkDir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing is written beside the link")
}

func TestFileStorage_AtomicSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	s := NewFileStorage(path)
	require.Equal(t, path, s.Path())
	hs, err := s.Load()
	require.NoError(t, err)
	require.Zero(t, hs, "a missing file is a fresh node")
	for i := range uint64(20) {
		want := HardState{Term: i, VotedFor: strings.Repeat("x", int(i))}
		require.NoError(t, s.Save(want))
		got, err := s.Load()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	err = NewFileStorage(filepath.Join(dir, "missing", "state")).Save(HardState{Term: 1})
	var se *StorageError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "save", se.Op)
	require.Contains(t, err.Error(), "missing")

	// The missing folder is found at Load (so New fails at start), not at
	// the first vote.
	_, err = NewFileStorage(filepath.Join(dir, "missing", "state")).Load()
	require.ErrorAs(t, err, &se)
	require.Equal(t, "load", se.Op)
	require.Contains(t, err.Error(), filepath.Join(dir, "missing"))
}
