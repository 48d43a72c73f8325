package election

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Linux only: the read-only folder is a tmpfs remounted read-only
// (syscall.Mount), which other systems' syscall packages do not have.

// A node on a read-only folder used to start and stay a follower forever,
// reporting only through OnError.
func TestFileStorage_ReadOnlyFolderRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a read-only tmpfs")
	}
	dir := t.TempDir()
	require.NoError(t, syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"))
	t.Cleanup(func() { require.NoError(t, syscall.Unmount(dir, syscall.MNT_DETACH)) })
	path := filepath.Join(dir, "state")
	// An existing state file must stay readable; only writing fails.
	require.NoError(t, NewFileStorage(path).Save(HardState{Term: 4, VotedFor: "solo"}))
	require.NoError(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))

	n, err := fileNode(path)
	if err == nil {
		n.Close()
	}
	var se *StorageError
	require.ErrorAs(t, err, &se, "a read-only state folder must be refused at start")
	require.Contains(t, err.Error(), "folder "+dir)
	require.True(t, strings.Contains(err.Error(), "read-only"), "the cause is given: %v", err)
	t.Logf("refused: %v", err)
}
