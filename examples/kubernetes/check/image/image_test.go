package image

import (
	"archive/tar"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/graftlib/graft/examples/kubernetes/check/internal/repo"
)

var graftBin string

// shared is the image of graftBin, written once as make image writes it:
// compressing and hashing 17 MB takes seconds under -race.
var shared struct {
	once    sync.Once
	dir     string
	path    string
	version string
	digest  v1.Hash
	err     error
}

func TestMain(m *testing.M) {
	code := repo.TestMain(m, &graftBin)
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// writeImage returns the shared image's tarball, version and digest.
func writeImage(t *testing.T) (path, version string, digest v1.Hash) {
	t.Helper()
	shared.once.Do(func() {
		if shared.version, shared.err = repo.Version(); shared.err != nil {
			return
		}
		if shared.dir, shared.err = os.MkdirTemp("", "graft-image-"); shared.err != nil {
			return
		}
		shared.path = filepath.Join(shared.dir, "graft-image.tar")
		o := Options{Binary: graftBin, Version: shared.version, Created: time.Unix(1700000000, 0)}
		shared.digest, shared.err = Write(o, "graft:"+shared.version, shared.path)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.path, shared.version, shared.digest
}

// readImage reads the shared image back from its tarball.
func readImage(t *testing.T) (v1.Image, string) {
	t.Helper()
	path, version, _ := writeImage(t)
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return img, version
}

// TestImage_ArchiveAsDockerLoadReadsIt opens the tarball the way `docker
// load` does (manifest.json, then the config and layers it names) and
// checks every digest.
func TestImage_ArchiveAsDockerLoadReadsIt(t *testing.T) {
	path, version, digest := writeImage(t)
	files := tarFiles(t, path)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{"graft:" + version}) || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: want one image tagged graft:%s with one layer, got %+v", version, manifest)
	}
	for _, f := range append([]string{manifest[0].Config}, manifest[0].Layers...) {
		if _, ok := files[f]; !ok {
			t.Errorf("manifest.json names %s, which the tarball lacks", f)
		}
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the image read back is inconsistent: %v", err)
	}
	if got, _ := img.Digest(); got != digest {
		t.Errorf("digest read back %s, written %s", got, digest)
	}
	t.Logf("graft:%s, image %s, %d files in the tarball", version, digest, len(files))
}

// TestImage_ConfigRunsGraftAsNonRoot checks what a runtime reads from the
// config: entrypoint /graft, exec form (no shell in the image to run a
// shell form), a numeric non-root user, the binary's OS and architecture.
func TestImage_ConfigRunsGraftAsNonRoot(t *testing.T) {
	img, version := readImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/graft"}) || !slices.Equal(c.Cmd, []string{"help"}) {
		t.Errorf("entrypoint %q cmd %q, want [/graft] [help]", c.Entrypoint, c.Cmd)
	}
	if len(c.Shell) != 0 {
		t.Errorf("config names a shell %q; the image has none", c.Shell)
	}
	uid, gid, ok := strings.Cut(c.User, ":")
	u, err1 := strconv.Atoi(uid)
	g, err2 := strconv.Atoi(gid)
	if !ok || err1 != nil || err2 != nil || u == 0 || g == 0 {
		t.Errorf("user %q: want numeric UID:GID, neither root (a kubelet checks runAsNonRoot on the number)", c.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s (the binary's)", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if c.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("version label %q, want %s", c.Labels["org.opencontainers.image.version"], version)
	}
	if !cf.Created.Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created %s, want the time given", cf.Created.Time)
	}
}

// TestImage_HoldsOnlyAStaticGraft lists the one layer (graft and nothing
// else: no shell, no libc), extracts the binary and runs it with an empty
// environment as `docker run graft:VERSION version` would.
func TestImage_HoldsOnlyAStaticGraft(t *testing.T) {
	img, version := readImage(t)
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("want one layer, got %d (%v)", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin := filepath.Join(t.TempDir(), "graft")
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name != "graft" {
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("graft: type %c mode %o owner %d:%d, want a regular file 0755 owned by root", h.Typeflag, h.Mode, h.Uid, h.Gid)
		}
		f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if !slices.Equal(names, []string{"graft"}) {
		t.Fatalf("layer holds %q, want graft alone", names)
	}
	if _, err := staticArch(bin); err != nil {
		t.Fatalf("the binary in the image cannot run on an empty base: %v", err)
	}
	for _, args := range [][]string{{"version"}, {"help"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = []string{}, "/"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("graft %s: %v\n%s", args[0], err, out)
		}
		if args[0] == "version" && string(out) != "graft "+version+"\n" {
			t.Errorf("graft version printed %q, want %q", out, "graft "+version+"\n")
		}
	}
}

// TestImage_Reproducible: the same binary and time give the same digest; a
// different time or binary gives another. A tiny executable stands in for
// graft (the builder treats every binary alike).
func TestImage_Reproducible(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tiny")
	if err := os.WriteFile(bin, tinyELF(false), 0o755); err != nil {
		t.Fatal(err)
	}
	digest := func(bin string, secs int64) v1.Hash {
		img, err := Build(Options{Binary: bin, Version: "1", Created: time.Unix(secs, 0)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b, c := digest(bin, 1700000000), digest(bin, 1700000000), digest(bin, 1700000001)
	if a != b {
		t.Errorf("two builds differ: %s and %s", a, b)
	}
	if a == c {
		t.Errorf("builds at different times share digest %s", a)
	}
	if _, _, g := writeImage(t); g == a {
		t.Errorf("graft's image and the tiny one share digest %s", a)
	}
}

// TestImage_RefusesWhatCannotRun: a binary that needs an ELF interpreter (the
// empty base has none), a file that is not an executable, a bad tag.
func TestImage_RefusesWhatCannotRun(t *testing.T) {
	dir := t.TempDir()
	dynamic := filepath.Join(dir, "dynamic")
	if err := os.WriteFile(dynamic, tinyELF(true), 0o755); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	static := filepath.Join(dir, "static")
	if err := os.WriteFile(static, tinyELF(false), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.tar")
	for _, c := range []struct{ name, bin, tag, want string }{
		{"dynamically linked", dynamic, "graft:1", "dynamically linked"},
		{"a script", text, "graft:1", "not an ELF executable"},
		{"missing", filepath.Join(dir, "none"), "graft:1", "no such file"},
		{"bad tag", static, "graft:a b", "tag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Write(Options{Binary: c.bin, Version: "1", Created: time.Unix(0, 0)}, c.tag, out)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "image: ") {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed build left %s behind", out)
			}
		})
	}
	if _, err := Write(Options{Binary: static, Version: "1", Created: time.Unix(0, 0)}, "graft:1", out); err != nil {
		t.Errorf("the same tiny executable without an interpreter: %v", err)
	}
}

// tinyELF is a minimal x86-64 executable header: one PT_LOAD program
// header, and a PT_INTERP one before it when interp is set (as in every
// dynamically linked executable). It is never run.
func tinyELF(interp bool) []byte {
	le := binary.LittleEndian
	progs := []elf.ProgType{elf.PT_LOAD}
	if interp {
		progs = []elf.ProgType{elf.PT_INTERP, elf.PT_LOAD}
	}
	const ehsize, phentsize = 64, 56
	b := make([]byte, ehsize+phentsize*len(progs))
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[32:], ehsize) // e_phoff
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phentsize)
	le.PutUint16(b[56:], uint16(len(progs)))
	for i, p := range progs {
		le.PutUint32(b[ehsize+i*phentsize:], uint32(p))
	}
	return b
}

// tarFiles reads a tarball into memory by file name.
func tarFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
}
