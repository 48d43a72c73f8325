package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/graftlib/graft/examples/kubernetes/check/internal/repo"
)

var graftBin string

func TestMain(m *testing.M) { os.Exit(repo.TestMain(m, &graftBin)) }

// example is the folder of the manifests and README.
func example() string { return filepath.Join(repo.Root(), "examples", "kubernetes") }

// load reads the example's manifests, recipe and graft's version.
func load(t *testing.T) (*Set, *Recipe, string) {
	t.Helper()
	s, err := Load(example())
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReadRecipe(filepath.Join(example(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := repo.Version()
	if err != nil {
		t.Fatal(err)
	}
	return s, r, v
}

// TestManifests_DecodeStrictly: every document is a known kind whose every
// field the Kubernetes API types know.
func TestManifests_DecodeStrictly(t *testing.T) {
	s, _, _ := load(t)
	if len(s.Namespaces) != 1 || len(s.Services) != 2 || len(s.ConfigMaps) != 1 || len(s.StatefulSets) != 1 || len(s.PDBs) != 1 {
		t.Fatalf("want 1 Namespace, 2 Services, 1 ConfigMap, 1 StatefulSet, 1 PodDisruptionBudget; got %d %d %d %d %d",
			len(s.Namespaces), len(s.Services), len(s.ConfigMaps), len(s.StatefulSets), len(s.PDBs))
	}
	t.Logf("%d documents decoded strictly", len(s.Source))
}

// TestManifests_CrossReferences: the example as committed has no broken
// reference.
func TestManifests_CrossReferences(t *testing.T) {
	s, r, v := load(t)
	for _, err := range Check(s, r, v) {
		t.Error(err)
	}
}

// TestManifests_GraftRunAcceptsEachPodsFlags passes each pod's flags and its
// --config file (from the ConfigMap) through the real graft binary with no
// command: graft run parses the flags, the environment and the file first,
// and only then finds the command missing, so "no command" means every
// setting was accepted.
func TestManifests_GraftRunAcceptsEachPodsFlags(t *testing.T) {
	s, _, _ := load(t)
	for _, err := range graftRunAccepts(t, s) {
		t.Error(err)
	}
}

// graftRunAccepts runs `graft run FLAGS` for every pod and returns what
// graft refused.
func graftRunAccepts(t *testing.T, s *Set) []error {
	t.Helper()
	sts := s.StatefulSets[0]
	gc := graftContainer(&sts.Spec.Template.Spec)
	c := &checker{s: s}
	var errs []error
	for _, pod := range podNames(sts) {
		g, err := graftRun(gc, pod)
		if err != nil {
			return []error{err}
		}
		args := []string{"run"}
		for j := 0; j < len(g.Flags); j++ {
			f := g.Flags[j]
			if name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "="); name == "config" {
				data, err := c.configMapFile(sts, g.Get("config"))
				if err != nil {
					return []error{err}
				}
				file := filepath.Join(t.TempDir(), pod+".toml")
				if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(f, "=") {
					j++ // --config FILE: skip the value too
				}
				f = "--config=" + file
			}
			args = append(args, f)
		}
		cmd := exec.Command(graftBin, args...)
		cmd.Env = []string{} // the manifest's env vars are expanded already
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "graft run: no command") {
			errs = append(errs, &refused{pod, args, code, strings.TrimSpace(string(out)), err})
		}
	}
	return errs
}

// refused is graft run rejecting a pod's settings.
type refused struct {
	pod  string
	args []string
	code int
	out  string
	err  error
}

func (r *refused) Error() string {
	return "pod " + r.pod + ": graft " + strings.Join(r.args, " ") + ": exit " + strconv.Itoa(r.code) + ": " + r.out
}

// TestManifests_SecretRecipeMakesTheFiles runs the README's graft certs line
// and checks that its kubectl line reads files that exist, and that each key
// is the file's own name (what --certs looks for).
func TestManifests_SecretRecipeMakesTheFiles(t *testing.T) {
	_, r, _ := load(t)
	dir := t.TempDir()
	out, err := exec.Command(graftBin, append([]string{"certs", filepath.Join(dir, r.CertsDir)}, r.IDs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("graft certs: %v\n%s", err, out)
	}
	for key, path := range r.Keys {
		if filepath.Base(path) != key {
			t.Errorf("key %s is read from %s: the file names in the Secret must be graft's own", key, path)
		}
		if filepath.Dir(path) != filepath.Clean(r.CertsDir) {
			t.Errorf("%s is not in the folder graft certs wrote (%s)", path, r.CertsDir)
		}
		if _, err := os.Stat(filepath.Join(dir, path)); err != nil {
			t.Errorf("the README's kubectl reads %s, which graft certs did not write: %v", path, err)
		}
	}
	made, _ := filepath.Glob(filepath.Join(dir, r.CertsDir, "*.pem"))
	if len(made) != len(r.Keys)+1 || !slices.Contains(made, filepath.Join(dir, r.CertsDir, "ca-key.pem")) {
		t.Errorf("graft certs wrote %d files; the Secret takes %d of them, all but ca-key.pem", len(made), len(r.Keys))
	}
}
