package manifests

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// metaSelector is a LabelSelector as a Selector; a missing one is an error
// (it would select nothing).
func metaSelector(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return nil, fmt.Errorf("no selector")
	}
	return metav1.LabelSelectorAsSelector(ls)
}

// graftContainer is the container named graft.
func graftContainer(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == "graft" {
			return &spec.Containers[i]
		}
	}
	return nil
}

// containerPort resolves a port reference (a name or a number, as a
// Service's targetPort or a probe's port) to a port the container declares
// with that protocol (TCP when unset).
func containerPort(c *corev1.Container, ref string, proto corev1.Protocol) (int32, bool) {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	n, err := strconv.Atoi(ref)
	for _, p := range c.Ports {
		pp := p.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if pp == proto && (p.Name == ref || (err == nil && int(p.ContainerPort) == n)) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// hostOf and portOf split HOST:PORT ("" when it is not one).
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}

// dirOf is the folder of an absolute file path.
func dirOf(file string) string { return path.Dir(file) }

// mountOf is the container's mount at exactly dir, or nil.
func mountOf(c *corev1.Container, dir string) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == path.Clean(dir) {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// mountUnder is the container's mount that holds file, or nil.
func mountUnder(c *corev1.Container, file string) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(path.Clean(file), path.Clean(m.MountPath)+"/") {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// volume is the pod volume a mount names, or nil.
func volume(sts *appsv1.StatefulSet, m *corev1.VolumeMount) *corev1.Volume {
	if m == nil {
		return nil
	}
	for i, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == m.Name {
			return &sts.Spec.Template.Spec.Volumes[i]
		}
	}
	return nil
}

// isClaim reports whether name is one of the volumeClaimTemplates.
func isClaim(sts *appsv1.StatefulSet, name string) bool {
	for _, t := range sts.Spec.VolumeClaimTemplates {
		if t.Name == name {
			return true
		}
	}
	return false
}

// peers are the pod's peers, id -> address: the --peer flags if any (they
// win), else the "peer" list of its --config file, read from the ConfigMap
// mounted there. The file may hold nothing else.
func (c *checker) peers(sts *appsv1.StatefulSet, g *GraftRun, pod string) (map[string]string, error) {
	list := g.Values["peer"]
	if len(list) == 0 {
		file := g.Get("config")
		if file == "" {
			return nil, fmt.Errorf("no --peer and no --config")
		}
		data, err := c.configMapFile(sts, file)
		if err != nil {
			return nil, fmt.Errorf("--config %s: %v", file, err)
		}
		var f struct {
			Peer []string `toml:"peer"`
		}
		md, err := toml.Decode(data, &f)
		if err != nil {
			return nil, fmt.Errorf("--config %s: %v", file, err)
		}
		if extra := md.Undecoded(); len(extra) > 0 {
			return nil, fmt.Errorf("--config %s: keys %v: the per-pod file holds the peers alone (the flags say the rest)", file, extra)
		}
		list = f.Peer
	}
	out := map[string]string{}
	for _, p := range list {
		id, addr, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("peer %q: want ID=HOST:PORT", p)
		}
		out[id] = addr
	}
	return out, nil
}

// configMapFile is the content of file as the ConfigMap mounted on its
// folder provides it.
func (c *checker) configMapFile(sts *appsv1.StatefulSet, file string) (string, error) {
	gc := graftContainer(&sts.Spec.Template.Spec)
	v := volume(sts, mountOf(gc, dirOf(file)))
	if v == nil || v.ConfigMap == nil {
		return "", fmt.Errorf("its folder is not the mount of a ConfigMap volume")
	}
	for _, cm := range c.s.ConfigMaps {
		if cm.Name == v.ConfigMap.Name {
			data, ok := cm.Data[path.Base(file)]
			if !ok {
				return "", fmt.Errorf("ConfigMap %s has no key %s", cm.Name, path.Base(file))
			}
			return data, nil
		}
	}
	return "", fmt.Errorf("no ConfigMap %s", v.ConfigMap.Name)
}
