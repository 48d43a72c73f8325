package election

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGuard keeps the election free of sockets and of the transport:
// neither the package nor anything it imports (non-test) may be net,
// crypto/tls or quic-go, nor graft's transport. The core stays a
// deterministic state machine that the simulator drives; the wire belongs
// to transport/ (DESIGN.md, layering).
func TestImportGuard(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/graftlib/graft/election").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %d packages: %q", len(deps), deps)
	}
	for _, d := range deps {
		if d == "net" || d == "crypto/tls" || d == "github.com/graftlib/graft/transport" ||
			strings.HasPrefix(d, "github.com/quic-go/") {
			t.Errorf("election depends on %s (go list -deps); it must not", d)
		}
	}
}
