package manifests

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/graftlib/graft/election"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checker collects the broken references, each naming where it is.
type checker struct {
	s    *Set
	errs []error
}

func (c *checker) errf(obj any, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("manifests: %s: %s", c.s.Source[obj], fmt.Sprintf(format, args...)))
}

// Check returns every broken cross-reference of the example: between the
// StatefulSet, its Services, ConfigMap and PodDisruptionBudget, the graft run
// flags of its container, the README's recipe for the certificates Secret,
// and graft's version (the image tag). It does not run graft (the tests
// also pass the flags through graft's own parser).
func Check(s *Set, r *Recipe, version string) []error {
	c := &checker{s: s}
	if len(s.Namespaces) != 1 || len(s.StatefulSets) != 1 || len(s.PDBs) != 1 {
		return []error{fmt.Errorf("manifests: want one Namespace, one StatefulSet and one PodDisruptionBudget, got %d, %d and %d",
			len(s.Namespaces), len(s.StatefulSets), len(s.PDBs))}
	}
	ns, sts := s.Namespaces[0].Name, s.StatefulSets[0]
	c.namespaces(ns)
	pods := c.statefulSet(sts)
	c.services(sts)
	c.pdb(s.PDBs[0], sts)
	gc := graftContainer(&sts.Spec.Template.Spec)
	if gc == nil {
		c.errf(sts, "no container named graft")
		return c.errs
	}
	if want := "graft:" + version; gc.Image != want {
		c.errf(sts, "container %s: image %s, want %s (make image tags graft's version)", gc.Name, gc.Image, want)
	}
	c.security(sts)
	for i, pod := range pods {
		g, err := graftRun(gc, pod)
		if err != nil {
			c.errf(sts, "pod %s: %v", pod, err)
			continue
		}
		c.identity(sts, g, pod, pods, ns)
		if i == 0 { // the rest is the same in every pod
			c.flags(sts, gc, g)
			c.certs(sts, gc, g, r, pods, ns)
		}
	}
	return c.errs
}

// namespaces: every object in the example's Namespace.
func (c *checker) namespaces(ns string) {
	for obj, where := range c.s.Source {
		if o, ok := obj.(interface{ GetNamespace() string }); ok && where != c.s.Source[c.s.Namespaces[0]] && o.GetNamespace() != ns {
			c.errf(obj, "namespace %q, want %q (the Namespace of namespace.yaml)", o.GetNamespace(), ns)
		}
	}
}

// statefulSet checks what readiness-means-leadership requires of it, and
// returns its pods' names.
func (c *checker) statefulSet(sts *appsv1.StatefulSet) []string {
	sel, err := metaSelector(sts.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		c.errf(sts, "selector %v does not match the pod template's labels %v (%v)", sts.Spec.Selector, sts.Spec.Template.Labels, err)
	}
	if n := len(podNames(sts)); n < 3 || n%2 == 0 {
		c.errf(sts, "replicas %d: want an odd number of at least 3 (a majority must survive one loss)", n)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		c.errf(sts, "podManagementPolicy %q: want Parallel (pods are Ready only while leading; ordered start-up would wait for graft-0 forever)", sts.Spec.PodManagementPolicy)
	}
	if sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		c.errf(sts, "updateStrategy %q: want OnDelete (a rolling update waits for each new pod to be Ready, which a follower never is)", sts.Spec.UpdateStrategy.Type)
	}
	p := sts.Spec.PersistentVolumeClaimRetentionPolicy
	if p == nil || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		c.errf(sts, "persistentVolumeClaimRetentionPolicy %v: want Retain on delete and scale (a node that lost its term/vote file could vote twice in a term)", p)
	}
	pods := podNames(sts)
	for _, pod := range pods {
		if err := election.ValidNodeID(pod); err != nil {
			c.errf(sts, "pod %s cannot be a node id: %v", pod, err)
		}
	}
	return pods
}

// podNames are the StatefulSet's pods: NAME-0 to NAME-(replicas-1).
func podNames(sts *appsv1.StatefulSet) []string {
	n := int32(1)
	if sts.Spec.Replicas != nil {
		n = *sts.Spec.Replicas
	}
	var pods []string
	for i := range n {
		pods = append(pods, fmt.Sprintf("%s-%d", sts.Name, i))
	}
	return pods
}

// services: the headless one that names the pods, the others that route to
// the leader.
func (c *checker) services(sts *appsv1.StatefulSet) {
	podLabels := labels.Set(sts.Spec.Template.Labels)
	gc := graftContainer(&sts.Spec.Template.Spec)
	found := false
	for _, svc := range c.s.Services {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			c.errf(svc, "selector %v does not select the pods (labels %v)", svc.Spec.Selector, sts.Spec.Template.Labels)
		}
		headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
		if svc.Name == sts.Spec.ServiceName {
			found = true
			if !headless {
				c.errf(svc, "the StatefulSet's serviceName: want clusterIP None (headless), so that each pod gets a DNS name")
			}
			if !svc.Spec.PublishNotReadyAddresses {
				c.errf(svc, "publishNotReadyAddresses must be true: only the leader is Ready, the followers' names would not resolve and no majority could form")
			}
		} else if svc.Spec.PublishNotReadyAddresses || headless {
			c.errf(svc, "routes to the leader: it must be a ClusterIP Service without publishNotReadyAddresses")
		}
		for _, p := range svc.Spec.Ports {
			if gc == nil {
				break
			}
			if _, ok := containerPort(gc, p.TargetPort.String(), p.Protocol); !ok {
				c.errf(svc, "port %s: targetPort %s/%s is no port of container %s", p.Name, p.TargetPort.String(), p.Protocol, gc.Name)
			}
		}
	}
	if !found {
		c.errf(sts, "serviceName %q: no such Service", sts.Spec.ServiceName)
	}
}

// pdb: one pod at a time.
func (c *checker) pdb(p *policyv1.PodDisruptionBudget, sts *appsv1.StatefulSet) {
	sel, err := metaSelector(p.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		c.errf(p, "selector %v does not select the pods (%v)", p.Spec.Selector, err)
	}
	if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.String() != "1" || p.Spec.MinAvailable != nil {
		c.errf(p, "want maxUnavailable 1 and no minAvailable")
	}
	if pol := p.Spec.UnhealthyPodEvictionPolicy; pol == nil || *pol != "IfHealthyBudget" {
		c.errf(p, "unhealthyPodEvictionPolicy: want IfHealthyBudget said outright (followers are never Ready; AlwaysAllow would let drains evict them all)")
	}
}

// identity: the pod's id and its peers, read from its own --config file.
func (c *checker) identity(sts *appsv1.StatefulSet, g *GraftRun, pod string, pods []string, ns string) {
	if id := g.Get("id"); id != pod {
		c.errf(sts, "pod %s: --id %q, want the pod's name", pod, id)
	}
	peers, err := c.peers(sts, g, pod)
	if err != nil {
		c.errf(sts, "pod %s: %v", pod, err)
		return
	}
	want := map[string]string{}
	for _, p := range pods {
		if p != pod {
			want[p] = fmt.Sprintf("%s.%s.%s.svc.cluster.local:%s", p, sts.Spec.ServiceName, ns, portOf(g.Get("listen")))
		}
	}
	if !maps.Equal(peers, want) {
		c.errf(sts, "pod %s: peers %v, want the other pods by their headless Service names %v", pod, peers, want)
	}
}

// flags: graft run's listen and HTTP addresses against the ports and probes,
// the state file against its volume, the command against the mounts.
func (c *checker) flags(sts *appsv1.StatefulSet, gc *corev1.Container, g *GraftRun) {
	for _, name := range []string{"cluster", "id", "listen", "state", "http", "certs"} {
		if g.Get(name) == "" {
			c.errf(sts, "graft run: --%s is missing", name)
		}
	}
	if host := hostOf(g.Get("listen")); host != "0.0.0.0" && host != "::" {
		c.errf(sts, "--listen %q: want 0.0.0.0:PORT or [::]:PORT (peers reach the pod's address)", g.Get("listen"))
	}
	if _, ok := containerPort(gc, portOf(g.Get("listen")), corev1.ProtocolUDP); !ok {
		c.errf(sts, "--listen %q: the container declares no UDP port %s (QUIC is UDP)", g.Get("listen"), portOf(g.Get("listen")))
	}
	http := g.Get("http")
	if host := hostOf(http); host != "0.0.0.0" && host != "::" {
		c.errf(sts, "--http %q: want 0.0.0.0:PORT (graft serves loopback when no host is given, and the kubelet probes the pod's address)", http)
	}
	httpPort := portOf(http)
	for _, pr := range []struct {
		what, path string
		probe      *corev1.Probe
	}{{"readinessProbe", "/leader", gc.ReadinessProbe}, {"livenessProbe", "/healthz", gc.LivenessProbe}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			c.errf(sts, "%s: want an httpGet on %s", pr.what, pr.path)
			continue
		}
		h := pr.probe.HTTPGet
		if p, ok := containerPort(gc, h.Port.String(), corev1.ProtocolTCP); h.Path != pr.path || !ok || fmt.Sprint(p) != httpPort {
			c.errf(sts, "%s: httpGet %s on port %s, want %s on the --http port %s", pr.what, h.Path, h.Port.String(), pr.path, httpPort)
		}
	}
	if m := mountOf(gc, dirOf(g.Get("state"))); m == nil || !isClaim(sts, m.Name) {
		c.errf(sts, "--state %s: its folder must be the mount of a volumeClaimTemplate (the term/vote file outlives the pod)", g.Get("state"))
	}
	if cmd := g.Command[0]; cmd != "/graft" && mountUnder(gc, cmd) == nil {
		c.errf(sts, "command %s: neither in the image (/graft alone) nor on a volume the container mounts", cmd)
	}
	if sts.Spec.Template.Spec.EnableServiceLinks == nil || *sts.Spec.Template.Spec.EnableServiceLinks {
		c.errf(sts, "enableServiceLinks must be false: service links (GRAFT_LEADER_SERVICE_HOST, ...) share the GRAFT_ prefix graft run reads its settings from")
	}
	grace, err := time.ParseDuration(g.Get("grace"))
	if err != nil {
		grace = 5 * time.Second // graft run's default
	}
	if tg := sts.Spec.Template.Spec.TerminationGracePeriodSeconds; tg != nil && time.Duration(*tg)*time.Second < grace+5*time.Second {
		c.errf(sts, "terminationGracePeriodSeconds %d: want --grace (%s) plus time to hand over, or the kubelet's SIGKILL cuts the handover short", *tg, grace)
	}
	if _, ok := gc.Resources.Limits[corev1.ResourceCPU]; ok {
		c.errf(sts, "container %s: no CPU limit (a throttled container pauses graft's watchdog, which could stop the command late)", gc.Name)
	}
}

// certs: --certs is the mount of the Secret the README makes, which holds
// ca.pem and every pod's ID.pem and ID-key.pem, and not the CA's key.
func (c *checker) certs(sts *appsv1.StatefulSet, gc *corev1.Container, g *GraftRun, r *Recipe, pods []string, ns string) {
	m := mountOf(gc, g.Get("certs"))
	v := volume(sts, m)
	if v == nil || v.Secret == nil || m.SubPath != "" {
		c.errf(sts, "--certs %s: want the mount (no subPath, so rotated certificates arrive) of a Secret volume", g.Get("certs"))
		return
	}
	if len(v.Secret.Items) > 0 {
		c.errf(sts, "volume %s: no items: the file names are the Secret's keys", v.Name)
	}
	if r.Secret != v.Secret.SecretName || r.Namespace != ns {
		c.errf(sts, "the README makes Secret %s/%s, the pods mount %s/%s", r.Namespace, r.Secret, ns, v.Secret.SecretName)
	}
	want := []string{"ca.pem"}
	for _, p := range pods {
		want = append(want, p+".pem", p+"-key.pem")
	}
	sort.Strings(want)
	if got := slices.Sorted(maps.Keys(r.Keys)); !slices.Equal(got, want) {
		c.errf(sts, "the README's Secret holds %v, graft run --certs reads %v (never ca-key.pem)", got, want)
	}
	if !slices.Equal(r.IDs, pods) {
		c.errf(sts, "the README's graft certs makes ids %v, the pods are %v", r.IDs, pods)
	}
}

// security: non-root, read-only root, no privilege, for every container.
func (c *checker) security(sts *appsv1.StatefulSet) {
	ps := sts.Spec.Template.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		c.errf(sts, "pod securityContext: want runAsNonRoot true and a non-zero runAsUser")
	}
	spec := sts.Spec.Template.Spec
	for _, ct := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := ct.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			c.errf(sts, "container %s: want readOnlyRootFilesystem true, allowPrivilegeEscalation false, capabilities drop ALL and none added", ct.Name)
		}
	}
}
