package election

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// HardState is what a node must remember across restarts: its term and the
// candidate it voted for in that term ("" for none).
type HardState struct {
	Term     uint64
	VotedFor string
}

// Storage persists the HardState. Save must be durable when it returns:
// the node sends no message that depends on the new state before that.
type Storage interface {
	// Load returns the saved state, or a zero HardState and no error if
	// nothing was ever saved. Content that fails its checks is an error.
	Load() (HardState, error)
	// Save replaces the saved state durably.
	Save(HardState) error
}

// FileStorage keeps the HardState in one small file, replaced atomically
// (temporary file, fsync, rename, fsync of the directory) and guarded by a
// CRC-32C checksum. The file stays when the node closes. Open (storage_lock.go)
// makes it the node's alone; Load and Save work without it too.
type FileStorage struct {
	path string   // as given
	real string   // the resolved file, set by Open
	lock *os.File // the locked "<real>.lock" while open
}

// NewFileStorage returns a FileStorage for path; nothing is read or
// written yet.
func NewFileStorage(path string) *FileStorage { return &FileStorage{path: path} }

// Path returns the state file's path.
func (s *FileStorage) Path() string { return s.path }

// The file format: magic, format version, term, vote length, vote, CRC-32C
// of everything before it. All integers big-endian.
const (
	stateMagic   = "GRFT"
	stateVersion = 1
	stateHeader  = len(stateMagic) + 1 + 8 + 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func encodeHardState(hs HardState) []byte {
	b := make([]byte, 0, stateHeader+len(hs.VotedFor)+4)
	b = append(b, stateMagic...)
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint64(b, hs.Term)
	b = binary.BigEndian.AppendUint16(b, uint16(len(hs.VotedFor)))
	b = append(b, hs.VotedFor...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func decodeHardState(b []byte) (HardState, error) {
	switch {
	case len(b) == 0:
		return HardState{}, errors.New("file is empty")
	case len(b) < stateHeader+4:
		return HardState{}, fmt.Errorf("file is truncated (%d bytes)", len(b))
	case string(b[:4]) != stateMagic:
		return HardState{}, errors.New("not a graft state file (bad magic)")
	case b[4] != stateVersion:
		return HardState{}, fmt.Errorf("unknown format version %d", b[4])
	}
	n := int(binary.BigEndian.Uint16(b[13:15]))
	if len(b) != stateHeader+n+4 {
		return HardState{}, fmt.Errorf("length %d does not match the content (%d bytes expected)", len(b), stateHeader+n+4)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return HardState{}, errors.New("checksum mismatch")
	}
	return HardState{Term: binary.BigEndian.Uint64(b[5:13]), VotedFor: string(b[15 : 15+n])}, nil
}

// Load reads the file. A missing file is a fresh node (zero state); an
// empty, truncated or altered file is a *StorageError with Corrupt set.
func (s *FileStorage) Load() (HardState, error) {
	b, err := os.ReadFile(s.file())
	if errors.Is(err, fs.ErrNotExist) {
		// A fresh node, but only if the file can be created later: a
		// missing folder found now beats a failing save at the first vote.
		if fi, derr := os.Stat(filepath.Dir(s.file())); derr != nil || !fi.IsDir() {
			if derr == nil {
				derr = errors.New("not a directory")
			}
			return HardState{}, &StorageError{Path: s.path, Op: "load", Err: fmt.Errorf("folder %s: %w", filepath.Dir(s.file()), derr)}
		}
		return HardState{}, nil
	}
	if err != nil {
		return HardState{}, &StorageError{Path: s.path, Op: "load", Err: err}
	}
	hs, err := decodeHardState(b)
	if err != nil {
		return HardState{}, &StorageError{Path: s.path, Op: "load", Corrupt: true, Err: err}
	}
	return hs, nil
}

// Save writes hs durably: a crash at any point leaves either the old or
// the new state on disk, never a mix.
func (s *FileStorage) Save(hs HardState) error {
	if err := s.save(hs); err != nil {
		return &StorageError{Path: s.path, Op: "save", Err: err}
	}
	return nil
}

func (s *FileStorage) save(hs HardState) error {
	file := s.file()
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(encodeHardState(hs)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MemStorage is an in-memory Storage for tests and the simulator, safe for
// concurrent use. SetFail makes Save fail (a full disk).
type MemStorage struct {
	mu    sync.Mutex
	state HardState
	fail  error
	saves int
}

// Load returns the stored state.
func (m *MemStorage) Load() (HardState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, nil
}

// Save stores hs unless a failure is set.
func (m *MemStorage) Save(hs HardState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.state = hs
	m.saves++
	return nil
}

// SetFail makes every later Save return err (nil: succeed again).
func (m *MemStorage) SetFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// Saved returns the stored state and the number of successful saves.
func (m *MemStorage) Saved() (HardState, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.saves
}
