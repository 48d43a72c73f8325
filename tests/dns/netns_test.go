package dns

// The network: a bridge in the root namespace and one namespace per node,
// joined to it by a veth pair, with IPv4 and IPv6 addresses that tests
// move. Names are resolved by each process's own resolver from the hosts
// file of its namespace: `ip netns exec NS` bind-mounts every file of
// /etc/netns/NS/ over the one of the same name in /etc, so hosts and
// resolv.conf are the namespace's own. resolv.conf names 127.0.0.1, where
// nothing listens in the namespace: a name missing from hosts fails at
// once (connection refused), and no query leaves the namespace, let alone
// the machine. The namespaces have no route beyond the bridge.
//
// Names and subnet differ from tests/faults (gf-*, 10.77.0.0/24), so both
// can run at once.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const (
	bridge   = "gdns-br0"
	maxNodes = 5
	netnsDir = "/etc/netns"
)

func nsName(i int) string   { return fmt.Sprintf("gdns-n%d", i) }
func vethName(i int) string { return fmt.Sprintf("gdns-v%d", i) }

// ip4 and ip6 are node i's addresses; gen counts its moves (0 at start).
func ip4(i, gen int) string { return fmt.Sprintf("10.78.0.%d", 10*(gen+1)+i) }
func ip6(i, gen int) string { return fmt.Sprintf("fd78::%d", 10*(gen+1)+i) }

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// cleanupNetwork removes what setupNetwork made and kills what still runs
// in our namespaces (only this package's processes run there). Parts may
// be missing: errors are ignored.
func cleanupNetwork() {
	for i := 1; i <= maxNodes; i++ {
		out, _ := exec.Command("ip", "netns", "pids", nsName(i)).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		exec.Command("ip", "netns", "del", nsName(i)).Run()
		exec.Command("ip", "link", "del", vethName(i)).Run()
		os.RemoveAll(filepath.Join(netnsDir, nsName(i)))
	}
	exec.Command("ip", "link", "del", bridge).Run()
}

// setupNetwork builds the bridge and n namespaces, node i at ip4(i, 0) and
// ip6(i, 0), each with the hosts file hosts and a resolv.conf that sends
// queries nowhere; it is torn down when t ends.
func setupNetwork(t *testing.T, n int, hosts string) {
	t.Helper()
	cleanupNetwork()
	t.Cleanup(cleanupNetwork)
	steps := [][]string{
		{"ip", "link", "add", bridge, "type", "bridge"},
		{"ip", "link", "set", bridge, "up"},
	}
	for i := 1; i <= n; i++ {
		ns, veth := nsName(i), vethName(i)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "link", "set", veth, "master", bridge},
			[]string{"ip", "link", "set", veth, "up"},
			[]string{"ip", "-n", ns, "addr", "add", ip4(i, 0) + "/24", "dev", "eth0"},
			// nodad: usable at once, not after duplicate address detection.
			[]string{"ip", "-n", ns, "addr", "add", ip6(i, 0) + "/64", "dev", "eth0", "nodad"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			t.Fatalf("network setup: %v", err)
		}
	}
	for i := 1; i <= n; i++ {
		dir := filepath.Join(netnsDir, nsName(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		writeHosts(t, i, hosts)
	}
}

// move gives node i the addresses of generation gen instead of gen-1
// (the node's process is stopped first: a rescheduled pod).
func move(t *testing.T, i, gen int) {
	t.Helper()
	ns := nsName(i)
	for _, s := range [][]string{
		{"ip", "-n", ns, "addr", "del", ip4(i, gen-1) + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "addr", "del", ip6(i, gen-1) + "/64", "dev", "eth0"},
		{"ip", "-n", ns, "addr", "add", ip4(i, gen) + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "addr", "add", ip6(i, gen) + "/64", "dev", "eth0", "nodad"},
	} {
		if err := run(s[0], s[1:]...); err != nil {
			t.Fatalf("moving node %d: %v", i, err)
		}
	}
}

// writeHosts replaces the content of node i's hosts file IN PLACE. `ip
// netns exec` bind-mounts the file as it is when a process starts: a new
// file renamed over it (an atomic write) is a new inode, which processes
// already running never see. One write(2) of a small file: a reader sees
// the old content or the new.
func writeHosts(t *testing.T, i int, content string) {
	t.Helper()
	path := filepath.Join(netnsDir, nsName(i), "hosts")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.WriteString(content)
		if e := f.Close(); err == nil {
			err = e
		}
	}
	if err != nil {
		t.Fatalf("hosts of node %d: %v", i, err)
	}
}

// hostsFile returns a hosts file with localhost and name -> addr for each
// entry of m (as Kubernetes writes a pod's: never empty, and Go's resolver
// re-reads an empty one at every lookup, caching only one with entries).
func hostsFile(m map[string]string) string {
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	for name, addr := range m {
		fmt.Fprintf(&b, "%s %s\n", addr, name)
	}
	return b.String()
}

// needs says what the tests cannot run without.
func needs() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (network namespaces, veth, /etc/netns): run `sudo make test-dns`")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		return fmt.Errorf("needs `ip netns` (iproute2): %v", err)
	}
	return nil
}
