package election

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidNodeID(t *testing.T) {
	for _, id := range []string{"n1", "a", "node-7.eu_west", "A.b-C_d", strings.Repeat("x", MaxNodeIDLength)} {
		require.NoError(t, ValidNodeID(id), "%q", id)
	}
	for id, want := range map[string]string{
		"":                                     "1 to 253 characters",
		strings.Repeat("x", MaxNodeIDLength+1): "1 to 253 characters",
		"ca":                                   "reserved",
		".hidden":                              "must not start with '.'",
		"-flag":                                "must not start with '-'",
		"a b":                                  "character ' '",
		"a/b":                                  "character '/'",
		"n\x00":                                "character '\\x00'",
		"nœud":                                 "not allowed",
	} {
		err := ValidNodeID(id)
		require.Error(t, err, "%q", id)
		require.Contains(t, err.Error(), want, "%q", id)
		require.True(t, strings.HasPrefix(err.Error(), "election: node id "), err.Error())
	}
}
