package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graftlib/graft/transport"
)

// certsDir writes development certificates for a and b.
func certsDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := transport.GenerateCerts(dir, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRun_BadFlags: every bad or missing setting exits 2 with one line
// naming it, before anything starts.
func TestRun_BadFlags(t *testing.T) {
	certs := certsDir(t)
	ok := []string{"--cluster", "c", "--id", "a", "--listen", "127.0.0.1:1", "--state", "/tmp/x", "--certs", certs}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "-bogus"},
		{with("--"), "no command"},
		{[]string{"--id", "a", "--", "true"}, "--cluster"},
		{[]string{"--cluster", "c", "--", "true"}, "--id"},
		{[]string{"--cluster", "c", "--id", "a", "--", "true"}, "--listen"},
		{[]string{"--cluster", "c", "--id", "a", "--listen", "127.0.0.1:1", "--", "true"}, "--state"},
		{[]string{"--cluster", "c", "--id", "a", "--listen", "127.0.0.1:1", "--state", "s", "--", "true"}, "--certs"},
		{with("--listen", "nohostport", "--", "true"), "--listen"},
		{with("--peer", "b", "--", "true"), "--peer"},
		{with("--peer", "b=nohostport", "--", "true"), "--peer"},
		{with("--peer", "b=h:0", "--", "true"), "--peer"},
		{with("--peer", "b=bad host:1", "--", "true"), "--peer"},
		{with("--peer", "b=::1:7000", "--", "true"), "--peer"},
		{with("--peer", "b=h:1", "--peer", "b=h:2", "--", "true"), "--peer"},
		{with("--peer", "a=h:1", "--", "true"), "--peer"},
		{with("--heartbeat", "0", "--", "true"), "--heartbeat"},
		{with("--heartbeat", "soon", "--", "true"), "--heartbeat"},
		{with("--heartbeat", "200ms", "--", "true"), "--heartbeat"},
		{with("--election", "300ms", "--", "true"), "--election"},
		{with("--election", "450ms-300ms", "--", "true"), "--election"},
		{with("--on-exit", "later", "--", "true"), "--on-exit"},
		{with("--grace", "-1s", "--", "true"), "--grace"},
		{with("--http", "a:b:c", "--", "true"), "--http"},
		{with("--priority", "-1", "--", "true"), "--priority"},
		{with("--priority", "high", "--", "true"), "--priority"},
		{with("--priority", "4294967296", "--", "true"), "--priority"},
		{with("--priority", "0", "--", "true"), "a cluster needs a node that can lead"},
		{with("--succession-delay", "0", "--", "true"), "--succession-delay"},
		{with("--succession-delay", "5", "--", "true"), "--succession-delay"},
		{with("--peer", "b=h:1", "--peer", "c=h:2", "--succession-delay", "150ms", "--", "true"), "--succession-delay"},
		{with("--peer", "b=h:1", "--peer", "c=h:2", "--succession-delay", "2562047h", "--", "true"), "--succession-delay"},
		{with("--cert", "x.pem", "--", "true"), "--certs"},
		{with("--config", "/nonexistent.toml", "--", "true"), "--config"},
		{with("--", "/nonexistent/cmd"), "/nonexistent/cmd"},
		{[]string{"--cluster", "c", "--id", "a", "--listen", "127.0.0.1:1", "--state", "s", "--cert", "/no.pem", "--key", "/no.pem", "--ca", "/no.pem", "--", "true"}, "--cert"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := dispatch(append([]string{"run"}, tc.args...), &out, &errb)
		msg := errb.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
			t.Errorf("graft run %s: status %d, stderr %q; want 2 and one line naming %s", strings.Join(tc.args, " "), code, msg, tc.want)
		}
	}
	t.Logf("%d bad settings: each exit 2 with one line naming it", len(cases))
}

// TestRun_ConfigEnvFlagsPrecedence: flags win over GRAFT_* variables,
// which win over the --config file; bad values name their source.
func TestRun_ConfigEnvFlagsPrecedence(t *testing.T) {
	certs := certsDir(t)
	file := filepath.Join(t.TempDir(), "graft.toml")
	os.WriteFile(file, []byte(`cluster = "from-file"
id = "a"
listen = "127.0.0.1:7001"
state = "/tmp/a.state"
certs = "`+certs+`"
peer = ["b=127.0.0.1:7002"]
heartbeat = "20ms"
election = "100ms-200ms"
on-exit = "restart"
grace = "1s"
`), 0o644)
	env := map[string]string{"GRAFT_CONFIG": file, "GRAFT_HEARTBEAT": "30ms", "GRAFT_GRACE": "2s", "GRAFT_PEER": "b=127.0.0.1:8002"}
	getenv := func(k string) string { return env[k] }
	s, err := parseRun([]string{"--grace", "3s", "--", "true"}, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Cluster != "from-file" || s.Heartbeat != 30*time.Millisecond || s.Grace != 3*time.Second ||
		s.ElectionMin != 100*time.Millisecond || s.OnExit != "restart" || len(s.Peers) != 1 || s.Peers[0].Addr != "127.0.0.1:8002" {
		t.Errorf("merged settings wrong: %+v", s)
	}
	env["GRAFT_ON_EXIT"] = "never"
	if _, err := parseRun([]string{"--", "true"}, getenv, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "GRAFT_ON_EXIT") {
		t.Errorf("bad GRAFT_ON_EXIT: %v", err)
	}
	delete(env, "GRAFT_ON_EXIT")
	// priority: unquoted in the file (a TOML integer) or quoted; 0 is a
	// witness; the environment wins over the file, a flag over both.
	for _, tc := range []struct {
		file, env string
		args      []string
		want      uint32
	}{
		{"priority = 3\n", "", nil, 3},
		{"priority = \"0\"\n", "", nil, 0},
		{"priority = 3\n", "2", nil, 2},
		{"priority = 3\n", "2", []string{"--priority", "0"}, 0},
		{"", "", nil, 1},
	} {
		pf := filepath.Join(t.TempDir(), "p.toml")
		os.WriteFile(pf, []byte(tc.file), 0o644)
		penv := map[string]string{"GRAFT_PRIORITY": tc.env}
		args := append([]string{"--config", pf, "--cluster", "c", "--id", "a", "--listen", "127.0.0.1:1", "--state", "/tmp/x",
			"--certs", certs, "--peer", "b=127.0.0.1:2", "--succession-delay", "7ms"}, tc.args...)
		s, err := parseRun(append(args, "--", "true"), func(k string) string { return penv[k] }, &bytes.Buffer{})
		if err != nil || s.Priority != tc.want || s.SuccessionDelay != 7*time.Millisecond {
			t.Errorf("file %q, GRAFT_PRIORITY %q, flags %v: %+v, %v; want priority %d", tc.file, tc.env, tc.args, s, err, tc.want)
		}
	}
	// A witness needs no command; any other node does.
	wargs := []string{"--cluster", "c", "--id", "a", "--listen", "127.0.0.1:1", "--state", "/tmp/x", "--certs", certs, "--peer", "b=127.0.0.1:2"}
	none := func(string) string { return "" }
	if s, err := parseRun(append(wargs, "--priority", "0"), none, &bytes.Buffer{}); err != nil || len(s.Command) != 0 || s.Priority != 0 {
		t.Errorf("a witness without a command: %+v, %v", s, err)
	}
	if _, err := parseRun(wargs, none, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("a node of priority 1 without a command: %v", err)
	}
	for _, bad := range []struct{ text, want string }{
		{`heartbeat = 20`, "key heartbeat"},
		{`priority = -1`, "key priority"},
		{`priority = 1.5`, "key priority"},
		{`colour = "red"`, `unknown key "colour"`},
		{`peer = "b=h:1"`, "key peer"},
		{`cluster = `, "graft.toml"},
	} {
		os.WriteFile(file, []byte(bad.text+"\n"), 0o644)
		if _, err := parseRun([]string{"--", "true"}, getenv, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("config %q: %v, want an error naming %s", bad.text, err, bad.want)
		}
	}
}

// TestVersion_MatchesHeader: graft's default version is graft.h's.
func TestVersion_MatchesHeader(t *testing.T) {
	b, err := os.ReadFile("../../include/graft.h")
	if err != nil {
		t.Skip(err)
	}
	var parts []string
	for _, name := range []string{"MAJOR", "MINOR", "PATCH"} {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "#define GRAFT_VERSION_"+name+" "); ok {
				parts = append(parts, strings.TrimSpace(v))
			}
		}
	}
	if want := strings.Join(parts, "."); version != want {
		t.Errorf("version %q, graft.h says %q", version, want)
	}
}
