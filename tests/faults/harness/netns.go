package main

// The network: a bridge gfbr0 (relayIP/24) in the root namespace and one
// namespace gf-n<i> per node, joined to it by a veth pair, the node at
// nodeIP(i). Faults are iptables rules in the nodes' namespaces, in two
// chains of their own (GF_IN from INPUT, GF_OUT from OUTPUT), flushed to
// heal. See relay.go for why the rules match the relay's ports.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

const (
	bridge   = "gfbr0"
	maxNodes = 5
)

func nsName(i int) string { return fmt.Sprintf("gf-n%d", i) }

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func inNS(i int, name string, args ...string) error {
	return run("ip", append([]string{"netns", "exec", nsName(i), name}, args...)...)
}

// cleanupNetwork removes what setupNetwork made, and kills the processes
// still running in our namespaces (ours, from this or a crashed earlier
// run: nothing else runs in gf-n*). Errors are ignored: parts may be
// missing.
func cleanupNetwork() {
	for i := 1; i <= maxNodes; i++ {
		out, _ := exec.Command("ip", "netns", "pids", nsName(i)).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGCONT)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		exec.Command("ip", "netns", "del", nsName(i)).Run()
		exec.Command("ip", "link", "del", fmt.Sprintf("gfv%d", i)).Run()
	}
	exec.Command("ip", "link", "del", bridge).Run()
}

// setupNetwork builds the bridge and maxNodes namespaces.
func setupNetwork() error {
	cleanupNetwork()
	steps := [][]string{
		{"ip", "link", "add", bridge, "type", "bridge"},
		{"ip", "addr", "add", relayIP + "/24", "dev", bridge},
		{"ip", "link", "set", bridge, "up"},
	}
	for i := 1; i <= maxNodes; i++ {
		ns, veth := nsName(i), fmt.Sprintf("gfv%d", i)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "link", "set", veth, "master", bridge},
			[]string{"ip", "link", "set", veth, "up"},
			[]string{"ip", "-n", ns, "addr", "add", nodeIP(i) + "/24", "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "netns", "exec", ns, "iptables", "-N", "GF_IN"},
			[]string{"ip", "netns", "exec", ns, "iptables", "-N", "GF_OUT"},
			[]string{"ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-j", "GF_IN"},
			[]string{"ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-j", "GF_OUT"},
		)
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return fmt.Errorf("network setup: %w", err)
		}
	}
	return nil
}

// heal removes every rule from node i's namespace.
func heal(i int) error {
	if err := inNS(i, "iptables", "-F", "GF_IN"); err != nil {
		return err
	}
	return inNS(i, "iptables", "-F", "GF_OUT")
}

// pairPorts are the relay ports of all traffic between i and j as seen in
// node i's namespace.
func pairPorts(i, j int) string {
	return fmt.Sprintf("%d,%d", listenPort(i, j), outPort(j, i))
}

// dropFrom makes node i deaf to node j (rule in i's namespace).
func dropFrom(i, j int) error {
	return inNS(i, "iptables", "-A", "GF_IN", "-p", "udp", "-s", relayIP, "-m", "multiport", "--sports", pairPorts(i, j), "-j", "DROP")
}

// dropTo stops what node i sends to node j (rule in i's namespace).
func dropTo(i, j int) error {
	return inNS(i, "iptables", "-A", "GF_OUT", "-p", "udp", "-d", relayIP, "-m", "multiport", "--dports", pairPorts(i, j), "-j", "DROP")
}

// loss drops a random fraction p of what node i receives.
func loss(i int, p float64) error {
	return inNS(i, "iptables", "-A", "GF_IN", "-p", "udp", "-s", relayIP, "-m", "statistic", "--mode", "random",
		"--probability", strconv.FormatFloat(p, 'f', 3, 64), "-j", "DROP")
}

// needs checks what the harness cannot run without and says what is
// missing.
func needs() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (network namespaces, veth, iptables): run `sudo make test-faults`")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		return fmt.Errorf("needs `ip netns` (iproute2): %v", err)
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("needs iptables (apt-get install iptables nftables)")
	}
	return nil
}
