package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// certURIs returns the URI SANs of the certificate in file.
func certURIs(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, u := range c.URIs {
		uris = append(uris, u.String())
	}
	return uris
}

func TestCerts_ClusterBindsTheCertificates(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if rc := certsMain([]string{"--cluster", "blue", dir, "a", "b"}, &out, &errOut); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errOut.String())
	}
	if !strings.Contains(out.String(), `bound to cluster "blue"`) {
		t.Errorf("output %q", out.String())
	}
	if got := certURIs(t, filepath.Join(dir, "b.pem")); !slices.Equal(got, []string{"graft://blue/b"}) {
		t.Errorf("b.pem names %v, want graft://blue/b", got)
	}
	if rc := certsMain([]string{dir, "c"}, &out, &errOut); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errOut.String())
	}
	if got := certURIs(t, filepath.Join(dir, "c.pem")); len(got) != 0 {
		t.Errorf("c.pem is bound (%v) without --cluster", got)
	}
}

func TestCerts_BadArgumentsExitWithAReason(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--cluster"}, 2, "flag needs an argument: -cluster"},
		{[]string{"--colour", "x", dir, "a"}, 2, "flag provided but not defined: -colour"},
		{[]string{"--cluster", "blue", dir}, 2, "want DIR and at least one ID"},
		{[]string{"--cluster", "blue/green", dir, "a"}, 1, `cluster name "blue/green"`},
	} {
		var out, errOut bytes.Buffer
		if rc := certsMain(c.args, &out, &errOut); rc != c.code || !strings.Contains(errOut.String(), c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, rc, errOut.String(), c.code, c.msg)
		}
	}
	var out bytes.Buffer
	if rc := certsMain([]string{"--help"}, &out, &out); rc != 0 || !strings.Contains(out.String(), "--cluster NAME") {
		t.Errorf("--help: exit %d, %q", rc, out.String())
	}
}
