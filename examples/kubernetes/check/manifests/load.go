// Package manifests checks the Kubernetes example (examples/kubernetes/*.yaml)
// offline: every document decoded strictly into the Kubernetes API types,
// then the cross-references that a typo would break checked (Load, Check).
package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Set is every object of the example, by kind, each with where it came from.
type Set struct {
	Namespaces   []*corev1.Namespace
	Services     []*corev1.Service
	ConfigMaps   []*corev1.ConfigMap
	StatefulSets []*appsv1.StatefulSet
	PDBs         []*policyv1.PodDisruptionBudget
	// Source maps each object to "file.yaml#N" (its N-th document, from 1).
	Source map[any]string
}

// Load decodes every document of every *.yaml file in dir. A document of
// another kind, an unknown or misspelt field (field names are matched
// case-sensitively, as the API server does), a duplicate key or a bad value
// is an error naming the file and the document.
func Load(dir string) (*Set, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("manifests: no *.yaml in %s", dir)
	}
	sort.Strings(files)
	s := &Set{Source: map[any]string{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("manifests: %w", err)
		}
		if err := s.add(filepath.Base(f), data); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// add decodes the documents of one file, split as kubectl splits them.
func (s *Set) add(file string, data []byte) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("manifests: %s#%d: %w", file, n, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			n--
			continue
		}
		where := fmt.Sprintf("%s#%d", file, n)
		if err := s.decode(where, doc); err != nil {
			return fmt.Errorf("manifests: %s: %w", where, err)
		}
	}
}

// decode reads one document into the type its apiVersion and kind name.
func (s *Set) decode(where string, doc []byte) error {
	js, err := yaml.YAMLToJSONStrict(doc) // duplicate keys are errors
	if err != nil {
		return err
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		obj = push(&s.Namespaces)
	case "v1 Service":
		obj = push(&s.Services)
	case "v1 ConfigMap":
		obj = push(&s.ConfigMaps)
	case "apps/v1 StatefulSet":
		obj = push(&s.StatefulSets)
	case "policy/v1 PodDisruptionBudget":
		obj = push(&s.PDBs)
	default:
		return fmt.Errorf("apiVersion %q kind %q: not a kind this example uses", tm.APIVersion, tm.Kind)
	}
	// As the API server's strict field validation: unknown fields and
	// duplicate fields are errors, names match case-sensitively.
	strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return errors.Join(strict...)
	}
	s.Source[obj] = where
	return nil
}

// push appends a new object to list and returns it.
func push[T any](list *[]*T) *T {
	o := new(T)
	*list = append(*list, o)
	return o
}

// stripComments drops whole-line comments, so that a document of comments
// alone counts as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}
