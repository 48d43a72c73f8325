// Package image builds graft's container image without a daemon: one layer
// holding the static graft binary at /graft on an empty base, written as a
// docker-archive tarball (the format of `docker save`).
//
// docker-archive rather than an OCI layout: `docker load` has read it for
// ever (an OCI layout only since Docker 25), and `podman load`, `kind load
// image-archive`, `ctr images import` and `crane push` read it too.
package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Path is where the binary sits in the image; it is the entrypoint.
const Path = "/graft"

// User is the image's user: "nonroot" of the distroless images, numeric so
// that a kubelet can enforce runAsNonRoot without an /etc/passwd.
const User = "65532:65532"

// Options describe one image.
type Options struct {
	// Binary is the graft executable to put in; it must be statically
	// linked (no ELF interpreter), as the base is empty.
	Binary string
	// Version labels the image (org.opencontainers.image.version).
	Version string
	// Created is the image's creation time and every file's modification
	// time; the same binary and Created give the same image digest.
	Created time.Time
}

// Build returns the image: the binary at Path, entrypoint Path, command
// "help", user User, OS linux and the binary's own architecture.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	arch, err := staticArch(o.Binary)
	if err != nil {
		return nil, err
	}
	layerTar, err := fileTar(filepath.Base(Path), bin, o.Created)
	if err != nil {
		return nil, err
	}
	// Cached: the digest and the write would each compress it again.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	created := v1.Time{Time: o.Created.UTC()}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{
		Created: created, CreatedBy: "graft image: the static graft binary at " + Path, Comment: "graft " + o.Version,
	}})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, created
	cf.Config = v1.Config{
		Entrypoint: []string{Path},
		Cmd:        []string{"help"},
		User:       User,
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "graft",
			"org.opencontainers.image.description": "graft run -- CMD: run a program only while this node holds the Raft leadership lease",
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.source":      "https://github.com/graftlib/graft",
			"org.opencontainers.image.licenses":    "Apache-2.0",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// Write builds the image and writes it to out as a docker-archive tagged
// tag (as "graft:0.1.0"), through a temporary file renamed into place.
func Write(o Options, tag, out string) (v1.Hash, error) {
	ref, err := name.NewTag(tag)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image: tag %q: %w", tag, err)
	}
	img, err := Build(o)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image: %w", err)
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return v1.Hash{}, fmt.Errorf("image: %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return v1.Hash{}, fmt.Errorf("image: %w", err)
	}
	return digest, nil
}

// fileTar is a tar holding one executable file owned by root.
func fileTar(name string, content []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(content)),
		ModTime: mtime.UTC(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	if _, err := tw.Write(content); err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	return buf.Bytes(), nil
}

// staticArch returns the GOARCH name of a statically linked Linux
// executable, or an error saying why it cannot run on an empty base.
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("image: %s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("image: %s is dynamically linked (it needs an ELF interpreter the empty base lacks): build it with CGO_ENABLED=0", path)
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("image: %s: ELF type %s is not an executable", path, f.Type)
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	case elf.EM_PPC64:
		if f.ByteOrder == binary.LittleEndian {
			return "ppc64le", nil
		}
		return "ppc64", nil
	case elf.EM_S390:
		return "s390x", nil
	}
	return "", fmt.Errorf("image: %s: unknown machine %s", path, f.Machine)
}
