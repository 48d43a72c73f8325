package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Recipe is how the README makes the certificates Secret: the `graft certs
// DIR ID...` line and the `kubectl create secret generic` line after it.
type Recipe struct {
	CertsDir  string
	IDs       []string
	Namespace string
	Secret    string
	// Keys maps each key of the Secret to the file it is read from.
	Keys map[string]string
}

// ReadRecipe finds the recipe in the README's shell lines (a trailing
// backslash continues a line; # starts a comment).
func ReadRecipe(readme string) (*Recipe, error) {
	data, err := os.ReadFile(readme)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	r := &Recipe{Keys: map[string]string{}}
	for _, line := range shellLines(string(data)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && filepath.Base(f[0]) == "graft" && f[1] == "certs":
			if r.CertsDir != "" {
				return nil, fmt.Errorf("manifests: %s: two graft certs lines", readme)
			}
			r.CertsDir, r.IDs = f[2], f[3:]
		case len(f) > 0 && f[0] == "kubectl" && strings.Contains(line, " create secret generic "):
			if r.Secret != "" {
				return nil, fmt.Errorf("manifests: %s: two kubectl create secret lines", readme)
			}
			if err := r.readKubectl(f); err != nil {
				return nil, fmt.Errorf("manifests: %s: %v", readme, err)
			}
		}
	}
	if r.CertsDir == "" || r.Secret == "" {
		return nil, fmt.Errorf("manifests: %s: want a `graft certs DIR ID...` line and a `kubectl create secret generic` line", readme)
	}
	return r, nil
}

// readKubectl reads `kubectl [-n NS] create secret generic NAME --from-file=[KEY=]PATH...`.
func (r *Recipe) readKubectl(f []string) error {
	for i := 1; i < len(f); i++ {
		a := f[i]
		switch {
		case a == "-n" || a == "--namespace":
			if i+1 == len(f) {
				return fmt.Errorf("kubectl %s without a value", a)
			}
			i++
			r.Namespace = f[i]
		case strings.HasPrefix(a, "--namespace="):
			r.Namespace = strings.TrimPrefix(a, "--namespace=")
		case a == "generic" && i+1 < len(f):
			i++
			r.Secret = f[i]
		case strings.HasPrefix(a, "--from-file="):
			v := strings.TrimPrefix(a, "--from-file=")
			key, path, ok := strings.Cut(v, "=")
			if !ok {
				key, path = filepath.Base(v), v
			}
			if _, dup := r.Keys[key]; dup {
				return fmt.Errorf("key %s given twice", key)
			}
			r.Keys[key] = path
		}
	}
	return nil
}

// shellLines are the README's lines with continuations joined and comments
// cut.
func shellLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}
