package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/graftlib/graft/transport"
)

// settings are the merged configuration of `graft run`. Every field has a
// flag, an environment variable (GRAFT_ plus the flag name in upper case,
// dashes as underscores) and a key of the config file (the flag name);
// flags win over the environment, which wins over the file.
type settings struct {
	Cluster     string
	ID          string
	Listen      string
	Peers       []peer
	State       string
	Certs       string // folder with ca.pem, ID.pem, ID-key.pem
	Cert        string
	Key         string
	CA          string
	Heartbeat   time.Duration
	ElectionMin time.Duration
	ElectionMax time.Duration
	// Priority is the node's claim to the leadership (default 1; 0 makes
	// a witness, which votes but never leads, so CMD never runs there).
	Priority        uint32
	SuccessionDelay time.Duration // 0: the library's default
	HTTP            string
	OnExit          string
	Grace           time.Duration
	Config          string
	Command         []string
}

// peer is one --peer ID=HOST:PORT.
type peer struct{ ID, Addr string }

// usageError is a bad or missing setting: one line naming it, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// key is one setting: its name (the flag, the file key, the environment
// variable's suffix), help text, and how a string sets it.
type key struct {
	name string
	help string
	set  func(s *settings, v string) error
}

// str sets a plain string field.
func str(f func(*settings) *string) func(*settings, string) error {
	return func(s *settings, v string) error { *f(s) = v; return nil }
}

// dur sets a positive duration.
func dur(f func(*settings) *time.Duration) func(*settings, string) error {
	return func(s *settings, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 50ms, got %q", v)
		}
		*f(s) = d
		return nil
	}
}

// keys lists every setting of `graft run`, in the order of --help.
var keys = []key{
	{"config", "TOML file with any of these settings (keys as the flag names)", str(func(s *settings) *string { return &s.Config })},
	{"cluster", "cluster name (every node of the cluster uses the same)", str(func(s *settings) *string { return &s.Cluster })},
	{"id", "this node's id (its certificate is CERTS/ID.pem)", str(func(s *settings) *string { return &s.ID })},
	{"listen", "UDP HOST:PORT to listen on", str(func(s *settings) *string { return &s.Listen })},
	{"peer", "a peer as ID=HOST:PORT (repeat; comma-separated in the environment)", setPeers},
	{"state", "file that keeps the term and vote across restarts", str(func(s *settings) *string { return &s.State })},
	{"certs", "folder with ca.pem, ID.pem and ID-key.pem (graft certs makes them)", str(func(s *settings) *string { return &s.Certs })},
	{"cert", "this node's certificate (instead of --certs)", str(func(s *settings) *string { return &s.Cert })},
	{"key", "this node's private key (instead of --certs)", str(func(s *settings) *string { return &s.Key })},
	{"ca", "the cluster's CA certificate (instead of --certs)", str(func(s *settings) *string { return &s.CA })},
	{"heartbeat", "how often the leader asserts itself (default 50ms)", dur(func(s *settings) *time.Duration { return &s.Heartbeat })},
	{"election", "election timeout range MIN-MAX; MIN is the lease (default 300ms-450ms)", setElection},
	{"priority", "this node's claim to the leadership, higher preferred (default 1): a leader hands over to a node of higher priority once it has been answering for 5 x the --election maximum; 0 makes a witness, which votes but never leads (CMD never runs)", setPriority},
	{"succession-delay", "step between the successors of a dead leader: rank r campaigns the --election minimum + (r-1) x this after the last heartbeat (default 10ms, less with many peers)", dur(func(s *settings) *time.Duration { return &s.SuccessionDelay })},
	{"http", "serve /healthz /leader /status /metrics on ADDR (loopback unless a host is given; off by default)", str(func(s *settings) *string { return &s.HTTP })},
	{"on-exit", "when CMD exits on its own: step-down, restart or exit (default step-down)", setOnExit},
	{"grace", "time from SIGTERM to SIGKILL of CMD's group, never beyond the lease deadline (default 5s)", dur(func(s *settings) *time.Duration { return &s.Grace })},
}

func setPeers(s *settings, v string) error {
	s.Peers = nil
	for _, p := range strings.Split(v, ",") {
		if err := addPeer(s, strings.TrimSpace(p)); err != nil {
			return err
		}
	}
	return nil
}

func addPeer(s *settings, v string) error {
	id, addr, ok := strings.Cut(v, "=")
	if !ok || id == "" || addr == "" {
		return fmt.Errorf("want ID=HOST:PORT, got %q", v)
	}
	if err := transport.CheckPeerAddr(addr); err != nil {
		// HOST a DNS name or an IP ([::1] for IPv6), resolved at each dial.
		return fmt.Errorf("peer %s: want HOST:PORT, got %q: %v", id, addr, errors.Unwrap(err))
	}
	for _, p := range s.Peers {
		if p.ID == id {
			return fmt.Errorf("peer %s given twice", id)
		}
	}
	s.Peers = append(s.Peers, peer{id, addr})
	return nil
}

func setElection(s *settings, v string) error {
	lo, hi, ok := strings.Cut(v, "-")
	a, err1 := time.ParseDuration(lo)
	b, err2 := time.ParseDuration(hi)
	if !ok || err1 != nil || err2 != nil || a <= 0 || b <= a {
		return fmt.Errorf("want MIN-MAX durations with MIN < MAX such as 300ms-450ms, got %q", v)
	}
	s.ElectionMin, s.ElectionMax = a, b
	return nil
}

func setPriority(s *settings, v string) error {
	p, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return fmt.Errorf("want a whole number from 0 (a witness) to %d, got %q", uint32(math.MaxUint32), v)
	}
	s.Priority = uint32(p)
	return nil
}

func setOnExit(s *settings, v string) error {
	switch v {
	case "step-down", "restart", "exit":
		s.OnExit = v
		return nil
	}
	return fmt.Errorf("want step-down, restart or exit, got %q", v)
}

// envName is the environment variable of a setting.
func envName(name string) string {
	return "GRAFT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseRun reads the settings of `graft run` from args (after "run"), the
// environment (getenv) and the config file, and checks them. Every error
// is a *usageError naming the setting, except flag.ErrHelp.
func parseRun(args []string, getenv func(string) string, out io.Writer) (*settings, error) {
	fs := flag.NewFlagSet("graft run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var flagPeers []string
	vals := map[string]*string{}
	for _, k := range keys {
		if k.name == "peer" {
			fs.Func("peer", k.help, func(v string) error { flagPeers = append(flagPeers, v); return nil })
			continue
		}
		vals[k.name] = fs.String(k.name, "", k.help)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: graft run [flags] -- CMD [ARGS...]\n\nRuns CMD only while this node holds the leadership lease (a witness, --priority 0, needs no CMD).\nEvery flag also reads GRAFT_<FLAG> from the environment and the key <flag> from --config.\n\n")
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err // fs.Usage printed it
		}
		return nil, usagef("graft run: %v", err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	s := &settings{Heartbeat: 50 * time.Millisecond, ElectionMin: 300 * time.Millisecond,
		ElectionMax: 450 * time.Millisecond, Priority: 1, OnExit: "step-down", Grace: 5 * time.Second}
	// The config file: named by the flag, else the environment.
	file := getenv(envName("config"))
	if given["config"] {
		file = *vals["config"]
	}
	if file != "" {
		if err := applyFile(s, file); err != nil {
			return nil, err
		}
	}
	for _, k := range keys {
		if v := getenv(envName(k.name)); v != "" && k.name != "config" {
			if err := k.set(s, v); err != nil {
				return nil, usagef("graft run: %s: %v", envName(k.name), err)
			}
		}
	}
	for _, k := range keys {
		if k.name == "peer" && given["peer"] {
			s.Peers = nil
			for _, v := range flagPeers {
				if err := addPeer(s, v); err != nil {
					return nil, usagef("graft run: --peer: %v", err)
				}
			}
		} else if given[k.name] {
			if err := k.set(s, *vals[k.name]); err != nil {
				return nil, usagef("graft run: --%s: %v", k.name, err)
			}
		}
	}
	s.Config = file
	s.Command = fs.Args()
	return s, s.check()
}

// applyFile reads the TOML config file: string values, "peer" a list of
// strings; an unknown key is an error (a typo must not pass silently).
func applyFile(s *settings, file string) error {
	var m map[string]any
	md, err := toml.DecodeFile(file, &m)
	if err != nil {
		return usagef("graft run: --config %s: %v", file, err)
	}
	_ = md
	for _, k := range keys {
		v, ok := m[k.name]
		if !ok {
			continue
		}
		delete(m, k.name)
		if k.name == "config" {
			return usagef("graft run: --config %s: key config: a config file cannot name another", file)
		}
		if k.name == "peer" {
			list, ok := v.([]any)
			if !ok {
				return usagef("graft run: --config %s: key peer: want a list of \"ID=HOST:PORT\" strings", file)
			}
			s.Peers = nil
			for _, e := range list {
				str, ok := e.(string)
				if !ok {
					return usagef("graft run: --config %s: key peer: want strings, got %v", file, e)
				}
				if err := addPeer(s, str); err != nil {
					return usagef("graft run: --config %s: key peer: %v", file, err)
				}
			}
			continue
		}
		str, ok := v.(string)
		if n, isInt := v.(int64); isInt && k.name == "priority" { // priority = 2, unquoted
			str, ok = strconv.FormatInt(n, 10), true
		}
		if !ok {
			return usagef("graft run: --config %s: key %s: want a string, got %v", file, k.name, v)
		}
		if err := k.set(s, str); err != nil {
			return usagef("graft run: --config %s: key %s: %v", file, k.name, err)
		}
	}
	for name := range m {
		return usagef("graft run: --config %s: unknown key %q", file, name)
	}
	return nil
}

// check reports the first missing or inconsistent setting.
func (s *settings) check() error {
	switch {
	case len(s.Command) == 0 && s.Priority != 0:
		return usagef("graft run: no command: give it after --, as in graft run [flags] -- CMD [ARGS...] (only a witness, --priority 0, runs without one)")
	case s.Cluster == "":
		return usagef("graft run: --cluster is required")
	case s.ID == "":
		return usagef("graft run: --id is required")
	case s.Listen == "":
		return usagef("graft run: --listen is required")
	case s.State == "":
		return usagef("graft run: --state is required")
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return usagef("graft run: --listen: want HOST:PORT, got %q", s.Listen)
	}
	for _, p := range s.Peers {
		if p.ID == s.ID {
			return usagef("graft run: --peer: %s is this node's own id", p.ID)
		}
	}
	if s.Certs != "" {
		if s.Cert != "" || s.Key != "" || s.CA != "" {
			return usagef("graft run: --certs: give either --certs or --cert, --key and --ca")
		}
		s.Cert = filepath.Join(s.Certs, s.ID+".pem")
		s.Key = filepath.Join(s.Certs, s.ID+"-key.pem")
		s.CA = filepath.Join(s.Certs, "ca.pem")
	}
	for _, f := range []struct{ flag, path string }{{"cert", s.Cert}, {"key", s.Key}, {"ca", s.CA}} {
		name := "--" + f.flag
		if s.Certs != "" {
			name = "--certs"
		}
		if f.path == "" {
			return usagef("graft run: --certs (or --cert, --key and --ca) is required")
		}
		if _, err := os.Stat(f.path); err != nil {
			return usagef("graft run: %s: %v", name, err)
		}
	}
	if s.Heartbeat*3 > s.ElectionMin {
		return usagef("graft run: --heartbeat (%s) must be at most a third of the --election minimum (%s)", s.Heartbeat, s.ElectionMin)
	}
	if s.Priority == 0 && len(s.Peers) == 0 {
		return usagef("graft run: --priority 0 (a witness) without --peer: a cluster needs a node that can lead")
	}
	// The election's rule (election.Config.SuccessionDelay), checked here
	// so that it is a usage error naming the flag.
	room, d := s.ElectionMax-s.ElectionMin, s.SuccessionDelay // (n-1) x d < room, without overflow:
	if n := len(s.Peers); n > 1 && d > 0 && (d >= room || time.Duration(n-1) > (room-1)/d) {
		return usagef("graft run: --succession-delay (%s) is too long: the --election minimum (%s) + %d x it must be below the maximum (%s)",
			s.SuccessionDelay, s.ElectionMin, n-1, s.ElectionMax)
	}
	if s.HTTP != "" {
		host, port, err := net.SplitHostPort(s.HTTP)
		if err != nil {
			if host, port = "", s.HTTP; strings.Contains(port, ":") {
				return usagef("graft run: --http: want [HOST]:PORT, got %q", s.HTTP)
			}
		}
		if host == "" {
			host = "127.0.0.1" // loopback unless told otherwise
		}
		s.HTTP = net.JoinHostPort(host, port)
	}
	return nil
}
