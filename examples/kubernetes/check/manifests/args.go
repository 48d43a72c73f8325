package manifests

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// GraftRun is the `graft run` command line of one pod, its $(VAR)
// references expanded.
type GraftRun struct {
	// Flags are the arguments between "run" and "--", as given.
	Flags []string
	// Values maps each flag name to its values (--peer may repeat).
	Values map[string][]string
	// Command is what follows "--".
	Command []string
}

// Get is the last value of a flag, or "".
func (g *GraftRun) Get(name string) string {
	v := g.Values[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// graftRun reads the graft container's command line as the pod named pod
// would run it: the image's entrypoint /graft when command is empty, the
// args with $(VAR) expanded as the kubelet expands them.
func graftRun(c *corev1.Container, pod string) (*GraftRun, error) {
	env, err := containerEnv(c, pod)
	if err != nil {
		return nil, err
	}
	if len(c.Command) > 0 && !(len(c.Command) == 1 && c.Command[0] == "/graft") {
		return nil, fmt.Errorf("container %s: command %q: want the image's entrypoint /graft", c.Name, c.Command)
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		if args[i], err = expand(a, env); err != nil {
			return nil, fmt.Errorf("container %s: args[%d] %q: %w", c.Name, i, a, err)
		}
	}
	if len(args) == 0 || args[0] != "run" {
		return nil, fmt.Errorf("container %s: args must begin with run (graft run [flags] -- CMD)", c.Name)
	}
	g := &GraftRun{Values: map[string][]string{}}
	rest := args[1:]
	for len(rest) > 0 {
		a := rest[0]
		rest = rest[1:]
		if a == "--" {
			g.Command = rest
			break
		}
		g.Flags = append(g.Flags, a)
		name, val, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("container %s: %q before --: graft run takes flags, then -- CMD", c.Name, a)
		}
		if !ok { // every graft run flag takes a value: --name value
			if len(rest) == 0 {
				return nil, fmt.Errorf("container %s: %s has no value", c.Name, a)
			}
			val, rest = rest[0], rest[1:]
			g.Flags = append(g.Flags, val)
		}
		g.Values[name] = append(g.Values[name], val)
	}
	if len(g.Command) == 0 {
		return nil, fmt.Errorf("container %s: no command after --", c.Name)
	}
	return g, nil
}

// containerEnv is the container's environment as far as this example sets
// it: literal values and the pod's own name (fieldRef metadata.name).
func containerEnv(c *corev1.Container, pod string) (map[string]string, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			v, err := expand(e.Value, env)
			if err != nil {
				return nil, fmt.Errorf("container %s: env %s: %w", c.Name, e.Name, err)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = pod
		default:
			return nil, fmt.Errorf("container %s: env %s: only values and fieldRef metadata.name are understood here", c.Name, e.Name)
		}
	}
	return env, nil
}

var varRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expand replaces $(NAME) by NAME's value and $$ by $, as the kubelet does.
// An undefined NAME is an error here: the kubelet would leave "$(NAME)" as
// is, which is never what a manifest means.
func expand(s string, env map[string]string) (string, error) {
	var err error
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := m[2 : len(m)-1]
		v, ok := env[name]
		if !ok && err == nil {
			err = fmt.Errorf("$(%s) is not defined in the container's env", name)
		}
		return v
	})
	return out, err
}
