package election

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// A state file has one owner. Two nodes given the same path (two clusters,
// two processes, a copy-pasted config) used to overwrite each other's term:
// one saved term 34, the other term 4, and a restart came back at term 5
// and could vote again in terms it had voted in. Open makes the second
// one fail at start instead.

// lockSuffix names the lock file beside the state file. It is never
// removed: unlinking a lock file while another process waits on it would
// let two holders lock two different files.
const lockSuffix = ".lock"

// maxLinks bounds the symlinks followed to the real state file (Linux's
// own limit is 40).
const maxLinks = 40

// Open prepares the file for a node's lifetime, in this order:
//
//   - the path is made absolute and its symlinks are followed once, so the
//     atomic rename of Save replaces the real file, not a link to it, and
//     a later chdir changes nothing;
//   - the folder must exist and be writable: a probe file is written,
//     fsynced and removed (a node on a read-only folder would otherwise
//     start and never be able to vote);
//   - an exclusive lock is taken on "<file>.lock" and held until Close;
//     the holder's pid is written in it. A second Open of the same file,
//     in this process or another, fails with a *StorageError naming the
//     file and the holder's pid. The lock goes with Close and with the
//     process's death (it is an flock(2) lock; on systems without flock
//     there is no lock).
//
// Every failure is a *StorageError with Op "open". New calls Open for the
// file of Config.StatePath and Close when the node closes; a FileStorage
// given as Config.Storage is the caller's to open and close.
func (s *FileStorage) Open() error {
	if s.lock != nil {
		return &StorageError{Path: s.path, Op: "open", Err: errors.New("already open")}
	}
	real, err := resolveLinks(s.path)
	if err != nil {
		return &StorageError{Path: s.path, Op: "open", Err: err}
	}
	dir := filepath.Dir(real)
	if err := probeFolder(dir); err != nil {
		return &StorageError{Path: s.path, Op: "open", Err: fmt.Errorf("folder %s cannot be written: %w", dir, err)}
	}
	f, err := lockFile(real + lockSuffix)
	if err != nil {
		return &StorageError{Path: s.path, Op: "open", Err: err}
	}
	s.real, s.lock = real, f
	return nil
}

// Close releases the lock taken by Open. The state file stays. Close is
// idempotent, and a no-op on a FileStorage that was never opened.
func (s *FileStorage) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing the descriptor releases the flock
	s.lock = nil
	if err != nil {
		return &StorageError{Path: s.path, Op: "close", Err: err}
	}
	return nil
}

// file is the file Load and Save use: the resolved one once opened.
func (s *FileStorage) file() string {
	if s.real != "" {
		return s.real
	}
	return s.path
}

// resolveLinks returns the absolute path of the file that path finally
// names. The file itself need not exist (a fresh node, or a link to a file
// not written yet): the last name is where it will be created.
func resolveLinks(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	for range maxLinks {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink == 0) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = filepath.Clean(target)
	}
	return "", fmt.Errorf("more than %d symbolic links to follow", maxLinks)
}

// probeFolder checks that dir exists and that a file can be created,
// written, fsynced and removed in it.
func probeFolder(dir string) error {
	if fi, err := os.Stat(dir); err != nil {
		return err
	} else if !fi.IsDir() {
		return errors.New("not a directory")
	}
	f, err := os.CreateTemp(dir, ".graft-probe*")
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte{0})
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(werr, serr, cerr, rerr)
}

// lockFile opens (creating it if needed) and exclusively locks the lock
// file, then writes this process's pid in it for the next one to name.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644) // O_CLOEXEC: a child of exec does not inherit it
	if err != nil {
		return nil, err
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if held {
		f.Close()
		return nil, fmt.Errorf("in use by another node: %s holds the lock %s", holder(path), path)
	}
	// Best effort: the pid only makes the next node's error clearer.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// holder names the process that wrote its pid in the lock file.
func holder(path string) string {
	b, err := os.ReadFile(path)
	pid, perr := strconv.Atoi(string(bytes.TrimSpace(b)))
	switch {
	case err != nil || perr != nil:
		return "a process of unknown pid"
	case pid == os.Getpid():
		return "pid " + strconv.Itoa(pid) + " (this process)"
	}
	return "pid " + strconv.Itoa(pid)
}

// openStorage returns a node's Storage: Config.Storage as given, or the
// file of Config.StatePath, opened (locked) for the node's lifetime.
// release closes what openStorage opened; it is a no-op for
// Config.Storage, which belongs to the caller.
func openStorage(cfg Config) (store Storage, release func(), err error) {
	if cfg.Storage != nil {
		return cfg.Storage, func() {}, nil
	}
	s := NewFileStorage(cfg.StatePath)
	if err := s.Open(); err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}
