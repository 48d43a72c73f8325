// Command graft-image writes graft's container image as a docker-archive
// tarball, offline and without a daemon (make image runs it):
//
//	graft-image -bin build/graft -version 0.1.0 -o build/graft-image.tar
//
// Load it with `docker load -i`, `podman load -i` or `kind load
// image-archive`, or push it with `crane push`. The same binary and -created
// give the same image digest.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/graftlib/graft/examples/kubernetes/check/image"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graft-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "", "the static graft binary (make graft builds build/graft)")
	version := fs.String("version", "", "graft's version: labels the image and names its tag")
	tag := fs.String("tag", "", "the image's tag (default graft:VERSION)")
	created := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, UNIX seconds (default $SOURCE_DATE_EPOCH, else 0)")
	out := fs.String("o", "", "the tarball to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *bin == "" || *version == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "graft-image: -bin, -version and -o are required, and nothing else")
		return 2
	}
	secs := int64(0)
	if *created != "" {
		v, err := strconv.ParseInt(*created, 10, 64)
		if err != nil || v < 0 {
			fmt.Fprintf(stderr, "graft-image: -created: want UNIX seconds, got %q\n", *created)
			return 2
		}
		secs = v
	}
	if *tag == "" {
		*tag = "graft:" + *version
	}
	o := image.Options{Binary: *bin, Version: *version, Created: time.Unix(secs, 0)}
	digest, err := image.Write(o, *tag, *out)
	if err != nil {
		fmt.Fprintf(stderr, "graft-image: %v\n", err)
		return 1
	}
	st, err := os.Stat(*out)
	if err != nil {
		fmt.Fprintf(stderr, "graft-image: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "graft-image: wrote %s (%s, %.1f MiB, image %s)\n", *out, *tag, float64(st.Size())/(1<<20), digest)
	return 0
}
