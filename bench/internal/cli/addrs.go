// Package cli holds what the bench node programs share on their command
// lines.
package cli

import (
	"fmt"
	"strings"
)

// Addrs is a repeatable ID=HOST:PORT flag (peers, servers): a flag.Value.
type Addrs map[string]string

// String shows the map.
func (a Addrs) String() string { return fmt.Sprint(map[string]string(a)) }

// Set adds one ID=HOST:PORT.
func (a Addrs) Set(v string) error {
	id, addr, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want ID=HOST:PORT, got %q", v)
	}
	a[id] = addr
	return nil
}
