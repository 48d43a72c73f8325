package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// parts are the objects a mutation edits.
type parts struct {
	s      *Set
	r      *Recipe
	sts    *appsv1.StatefulSet
	graft  *corev1.Container
	leader *corev1.Service
	peers  *corev1.Service
	cm     *corev1.ConfigMap
	pdb    *policyv1.PodDisruptionBudget
}

func loadParts(t *testing.T) (*parts, string) {
	s, r, v := load(t)
	p := &parts{s: s, r: r, sts: s.StatefulSets[0], cm: s.ConfigMaps[0], pdb: s.PDBs[0]}
	p.graft = graftContainer(&p.sts.Spec.Template.Spec)
	for _, svc := range s.Services {
		if svc.Name == p.sts.Spec.ServiceName {
			p.peers = svc
		} else {
			p.leader = svc
		}
	}
	return p, v
}

// setArg replaces the argument that begins with prefix.
func (p *parts) setArg(t *testing.T, prefix, arg string) {
	for i, a := range p.graft.Args {
		if strings.HasPrefix(a, prefix) {
			p.graft.Args[i] = arg
			return
		}
	}
	t.Fatalf("no argument begins with %q", prefix)
}

// TestManifests_CheckCatches breaks one reference at a time and expects
// Check to name it.
func TestManifests_CheckCatches(t *testing.T) {
	no, yes := false, true
	for _, c := range []struct {
		name string
		edit func(t *testing.T, p *parts) string // returns the version to check against, "" for graft's
		want string
	}{
		{"serviceName names no Service", func(t *testing.T, p *parts) string { p.sts.Spec.ServiceName = "graft-peers"; return "" }, `serviceName "graft-peers": no such Service`},
		{"selector misses the pod labels", func(t *testing.T, p *parts) string {
			p.sts.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
			return ""
		}, "does not match the pod template's labels"},
		{"headless Service hides the followers", func(t *testing.T, p *parts) string { p.peers.Spec.PublishNotReadyAddresses = false; return "" }, "publishNotReadyAddresses must be true"},
		{"headless Service has a cluster IP", func(t *testing.T, p *parts) string { p.peers.Spec.ClusterIP = ""; return "" }, "want clusterIP None"},
		{"leader Service selects nothing", func(t *testing.T, p *parts) string {
			p.leader.Spec.Selector = map[string]string{"app.kubernetes.io/name": "graf"}
			return ""
		}, "does not select the pods"},
		{"leader Service routes to followers", func(t *testing.T, p *parts) string { p.leader.Spec.PublishNotReadyAddresses = true; return "" }, "routes to the leader"},
		{"targetPort names no container port", func(t *testing.T, p *parts) string {
			p.leader.Spec.Ports[0].TargetPort = intstr.FromString("web")
			return ""
		}, "targetPort web/TCP is no port of container graft"},
		{"peer port over TCP", func(t *testing.T, p *parts) string { p.peers.Spec.Ports[0].Protocol = corev1.ProtocolTCP; return "" }, "targetPort quic/TCP is no port"},
		{"ordered start-up", func(t *testing.T, p *parts) string {
			p.sts.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
			return ""
		}, "podManagementPolicy"},
		{"rolling updates", func(t *testing.T, p *parts) string {
			p.sts.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
			return ""
		}, "updateStrategy"},
		{"state claims deleted with the set", func(t *testing.T, p *parts) string {
			p.sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
			return ""
		}, "persistentVolumeClaimRetentionPolicy"},
		{"an even number of pods", func(t *testing.T, p *parts) string { n := int32(4); p.sts.Spec.Replicas = &n; return "" }, "replicas 4: want an odd number"},
		{"readiness on /healthz", func(t *testing.T, p *parts) string { p.graft.ReadinessProbe.HTTPGet.Path = "/healthz"; return "" }, "readinessProbe: httpGet /healthz"},
		{"liveness on another port", func(t *testing.T, p *parts) string {
			p.graft.LivenessProbe.HTTPGet.Port = intstr.FromInt32(9090)
			return ""
		}, "livenessProbe: httpGet /healthz on port 9090"},
		{"--http on loopback", func(t *testing.T, p *parts) string { p.setArg(t, "--http=", "--http=:8080"); return "" }, `--http ":8080"`},
		{"--http port is not the probes'", func(t *testing.T, p *parts) string { p.setArg(t, "--http=", "--http=0.0.0.0:9090"); return "" }, "on the --http port 9090"},
		{"--listen port not declared", func(t *testing.T, p *parts) string { p.setArg(t, "--listen=", "--listen=0.0.0.0:7001"); return "" }, "declares no UDP port 7001"},
		{"--listen on loopback", func(t *testing.T, p *parts) string { p.setArg(t, "--listen=", "--listen=127.0.0.1:7000"); return "" }, `--listen "127.0.0.1:7000"`},
		{"--id is not the pod name", func(t *testing.T, p *parts) string { p.setArg(t, "--id=", "--id=node"); return "" }, `--id "node"`},
		{"undefined $(VAR)", func(t *testing.T, p *parts) string { p.setArg(t, "--id=", "--id=$(NODE)"); return "" }, "$(NODE) is not defined"},
		{"a required flag missing", func(t *testing.T, p *parts) string { p.setArg(t, "--cluster=", "--grace=5s"); return "" }, "--cluster is missing"},
		{"peer in another namespace", func(t *testing.T, p *parts) string {
			p.cm.Data["graft-0.toml"] = strings.ReplaceAll(p.cm.Data["graft-0.toml"], ".graft.graft.", ".graft.default.")
			return ""
		}, "pod graft-0: peers"},
		{"a peer left out", func(t *testing.T, p *parts) string {
			p.cm.Data["graft-1.toml"] = "peer = [\"graft-0=graft-0.graft.graft.svc.cluster.local:7000\"]\n"
			return ""
		}, "pod graft-1: peers"},
		{"a pod's own id among its peers", func(t *testing.T, p *parts) string {
			p.cm.Data["graft-2.toml"] = strings.ReplaceAll(p.cm.Data["graft-1.toml"], "graft-0", "graft-2")
			return ""
		}, "pod graft-2: peers"},
		{"a pod's file missing", func(t *testing.T, p *parts) string { delete(p.cm.Data, "graft-2.toml"); return "" }, "has no key graft-2.toml"},
		{"more than peers in a pod's file", func(t *testing.T, p *parts) string { p.cm.Data["graft-0.toml"] += "heartbeat = \"50ms\"\n"; return "" }, "holds the peers alone"},
		{"--certs on another folder", func(t *testing.T, p *parts) string { p.setArg(t, "--certs=", "--certs=/etc/graft/tls"); return "" }, "--certs /etc/graft/tls"},
		{"certificates through subPath", func(t *testing.T, p *parts) string {
			mountOf(p.graft, "/etc/graft/certs").SubPath = "x"
			return ""
		}, "--certs /etc/graft/certs"},
		{"the pods mount another Secret", func(t *testing.T, p *parts) string {
			volume(p.sts, mountOf(p.graft, "/etc/graft/certs")).Secret.SecretName = "tls"
			return ""
		}, "the README makes Secret graft/graft-certs, the pods mount graft/tls"},
		{"the README's Secret lacks a key", func(t *testing.T, p *parts) string { delete(p.r.Keys, "graft-2-key.pem"); return "" }, "the README's Secret holds"},
		{"the README's Secret carries the CA key", func(t *testing.T, p *parts) string { p.r.Keys["ca-key.pem"] = "certs/ca-key.pem"; return "" }, "the README's Secret holds"},
		{"the README's certificates for other ids", func(t *testing.T, p *parts) string { p.r.IDs = []string{"n1", "n2", "n3"}; return "" }, "graft certs makes ids [n1 n2 n3]"},
		{"state on a scratch volume", func(t *testing.T, p *parts) string { p.setArg(t, "--state=", "--state=/tools/term-vote"); return "" }, "--state /tools/term-vote"},
		{"command on no volume", func(t *testing.T, p *parts) string {
			p.graft.Args[len(p.graft.Args)-4] = "/usr/bin/app"
			return ""
		}, "command /usr/bin/app"},
		{"image of another version", func(t *testing.T, p *parts) string { return "9.9.9" }, "want graft:9.9.9"},
		{"root allowed", func(t *testing.T, p *parts) string {
			p.sts.Spec.Template.Spec.SecurityContext.RunAsNonRoot = &no
			return ""
		}, "runAsNonRoot"},
		{"writable root file system", func(t *testing.T, p *parts) string { p.graft.SecurityContext.ReadOnlyRootFilesystem = &no; return "" }, "container graft: want readOnlyRootFilesystem"},
		{"init container may escalate", func(t *testing.T, p *parts) string {
			p.sts.Spec.Template.Spec.InitContainers[0].SecurityContext.AllowPrivilegeEscalation = &yes
			return ""
		}, "container tools: want"},
		{"a CPU limit", func(t *testing.T, p *parts) string {
			p.graft.Resources.Limits[corev1.ResourceCPU] = p.graft.Resources.Requests[corev1.ResourceCPU]
			return ""
		}, "no CPU limit"},
		{"a termination grace shorter than --grace", func(t *testing.T, p *parts) string { p.setArg(t, "--grace=", "--grace=30s"); return "" }, "terminationGracePeriodSeconds 20"},
		{"service links", func(t *testing.T, p *parts) string { p.sts.Spec.Template.Spec.EnableServiceLinks = nil; return "" }, "enableServiceLinks must be false"},
		{"budget of two", func(t *testing.T, p *parts) string {
			two := intstr.FromInt32(2)
			p.pdb.Spec.MaxUnavailable = &two
			return ""
		}, "want maxUnavailable 1"},
		{"budget lets drains evict followers", func(t *testing.T, p *parts) string {
			pol := policyv1.AlwaysAllow
			p.pdb.Spec.UnhealthyPodEvictionPolicy = &pol
			return ""
		}, "unhealthyPodEvictionPolicy"},
		{"budget over other pods", func(t *testing.T, p *parts) string {
			p.pdb.Spec.Selector.MatchLabels = map[string]string{"app": "x"}
			return ""
		}, "selector"},
		{"an object in another namespace", func(t *testing.T, p *parts) string { p.pdb.Namespace = "default"; return "" }, `namespace "default", want "graft"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, v := loadParts(t)
			if got := c.edit(t, p); got != "" {
				v = got
			}
			errs := Check(p.s, p.r, v)
			for _, err := range errs {
				if strings.Contains(err.Error(), c.want) {
					return
				}
			}
			t.Fatalf("want an error containing %q, got %v", c.want, errs)
		})
	}
}

// TestManifests_LoadRefuses edits a copy of the files and expects strict
// decoding to fail, naming the file and document.
func TestManifests_LoadRefuses(t *testing.T) {
	for _, c := range []struct{ name, file, old, new, want string }{
		{"an unknown field", "statefulset.yaml", "  serviceName: graft\n", "  serviceName: graft\n  serviceNames: graft\n", `unknown field "spec.serviceNames"`},
		{"a field in the wrong case", "statefulset.yaml", "  podManagementPolicy:", "  PodManagementPolicy:", `unknown field "spec.PodManagementPolicy"`},
		{"a field in the wrong place", "services.yaml", "  publishNotReadyAddresses: true\n", "  publishNotReadyAddresses: true\n  targetPort: quic\n", `unknown field "spec.targetPort"`},
		{"a duplicate key", "statefulset.yaml", "  replicas: 3\n", "  replicas: 3\n  replicas: 5\n", `key "replicas" already set`},
		{"a bad quantity", "statefulset.yaml", "storage: 16Mi", "storage: 16 megs", "quantities must match"},
		{"a string for a number", "statefulset.yaml", "replicas: 3", "replicas: three", "statefulset.yaml#1"},
		{"a kind this example does not use", "pdb.yaml", "apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n", `apiVersion "policy/v1beta1" kind "PodDisruptionBudget"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			files, _ := filepath.Glob(filepath.Join(example(), "*.yaml"))
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Base(f) == c.file {
					if !strings.Contains(string(data), c.old) {
						t.Fatalf("%s has no %q to edit", c.file, c.old)
					}
					data = []byte(strings.Replace(string(data), c.old, c.new, 1))
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file+"#") {
				t.Fatalf("want an error naming %s and containing %q, got %v", c.file, c.want, err)
			}
		})
	}
}

// TestManifests_GraftRunRefuses: settings graft's own parser rejects make
// the flag check fail.
func TestManifests_GraftRunRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(t *testing.T, p *parts)
		want string
	}{
		{"a misspelt flag", func(t *testing.T, p *parts) { p.setArg(t, "--grace=", "--graze=5s") }, "graze"},
		{"a duration without a unit", func(t *testing.T, p *parts) { p.setArg(t, "--grace=", "--grace=5") }, "--grace"},
		{"an unknown --on-exit", func(t *testing.T, p *parts) { p.setArg(t, "--on-exit=", "--on-exit=stop") }, "--on-exit"},
		{"a peer without an address", func(t *testing.T, p *parts) { p.cm.Data["graft-1.toml"] = "peer = [\"graft-0\"]\n" }, "key peer"},
		{"a key graft does not know", func(t *testing.T, p *parts) { p.cm.Data["graft-2.toml"] += "leader = \"yes\"\n" }, `unknown key "leader"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, _ := loadParts(t)
			c.edit(t, p)
			errs := graftRunAccepts(t, p.s)
			for _, err := range errs {
				if strings.Contains(err.Error(), c.want) {
					return
				}
			}
			t.Fatalf("want graft run to refuse with %q, got %v", c.want, errs)
		})
	}
}
