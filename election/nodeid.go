package election

import "fmt"

// MaxNodeIDLength is the longest node id accepted (bytes): a DNS name's
// limit, since a node's certificate names its id as a DNS SAN.
const MaxNodeIDLength = 253

// ValidNodeID reports whether id can name a node: 1 to MaxNodeIDLength
// characters from [A-Za-z0-9._-], not starting with '.' or '-', and not
// "ca". It is the one rule for node ids: Config.Validate applies it to ID
// and Peers, and the transport to its configuration and to the id a peer's
// certificate names. The rule is that strict because an id is also a DNS
// name in a certificate and part of file names (<id>.pem, <id>-key.pem,
// beside the CA's ca.pem), and appears in log lines.
func ValidNodeID(id string) error {
	if why := nodeIDProblem(id); why != "" {
		return fmt.Errorf("election: node id %q %s", id, why)
	}
	return nil
}

// nodeIDProblem says what is wrong with id as a node id, or "".
func nodeIDProblem(id string) string {
	switch {
	case id == "" || len(id) > MaxNodeIDLength:
		return fmt.Sprintf("must have 1 to %d characters", MaxNodeIDLength)
	case id == "ca":
		return "is reserved for the CA files"
	case id[0] == '.' || id[0] == '-':
		return fmt.Sprintf("must not start with %q", id[0])
	}
	for i := range len(id) {
		if b := id[i]; !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return fmt.Sprintf("has the character %q, not allowed (use A-Z a-z 0-9 . _ -)", b)
		}
	}
	return ""
}
