// Package configfile decodes OCX's YAML configuration files and reports
// problems as `file:line: what is wrong`, the way promtool does.
package configfile

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong in a configuration file.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) Error() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Problems collects every problem found while loading, so one run reports all of them.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Add records a problem at node's line.
func (ps *Problems) Add(file string, node *yaml.Node, format string, args ...any) {
	line := 0
	if node != nil {
		line = node.Line
	}
	*ps = append(*ps, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Err returns nil when there are no problems.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Read parses a YAML file into its document node. Syntax errors are reported
// with the file name.
func Read(fsys fs.FS, name string) (*yaml.Node, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, Problem{File: name, Line: 1, Msg: "file is empty"}
	}
	return doc.Content[0], nil
}

// Items returns the sequence under key in the mapping root (e.g. "rules"),
// decoding each item into a T together with its node for line numbers.
func Items[T any](file string, root *yaml.Node, key string, ps *Problems) []Item[T] {
	seq := Lookup(root, key)
	if seq == nil {
		ps.Add(file, root, "missing top-level %q list", key)
		return nil
	}
	if seq.Kind != yaml.SequenceNode {
		ps.Add(file, seq, "%q must be a list", key)
		return nil
	}
	var out []Item[T]
	for _, n := range seq.Content {
		var v T
		if err := n.Decode(&v); err != nil {
			ps.Add(file, n, "%v", err)
			continue
		}
		out = append(out, Item[T]{Value: v, Node: n})
	}
	return out
}

// Item is a decoded list entry and the node it came from.
type Item[T any] struct {
	Value T
	Node  *yaml.Node
}

// Lookup returns the value node of key in a mapping node, or nil.
func Lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Field returns the node of key inside item for precise line numbers, falling
// back to the item itself.
func Field(item *yaml.Node, key string) *yaml.Node {
	if n := Lookup(item, key); n != nil {
		return n
	}
	return item
}

// Dir reads every *.yaml file in dir and the sequence under key in each,
// builds each item with build, and refuses an id two items share (what
// names the id in that message, e.g. "rule id"). It returns the items that
// built without a problem, sorted by id, how many files it read, and every
// problem as file:line.
func Dir[Y, T any](fsys fs.FS, dir, key, what string, build func(file string, node *yaml.Node, v Y, ps *Problems) T, id func(T) string) ([]T, int, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, 0, fmt.Errorf("list %s files in %s: %w", key, dir, err)
	}
	var ps Problems
	var out []T
	seen := map[string]string{}
	for _, f := range files {
		root, err := Read(fsys, f)
		if err != nil {
			return nil, len(files), err
		}
		for _, it := range Items[Y](f, root, key, &ps) {
			before := len(ps)
			v := build(f, it.Node, it.Value, &ps)
			if prev, dup := seen[id(v)]; dup && id(v) != "" {
				ps.Add(f, Field(it.Node, "id"), "%s %q already defined at %s", what, id(v), prev)
			}
			seen[id(v)] = fmt.Sprintf("%s:%d", f, it.Node.Line)
			if len(ps) == before {
				out = append(out, v)
			}
		}
	}
	if err := ps.Err(); err != nil {
		return nil, len(files), err
	}
	sort.Slice(out, func(i, j int) bool { return id(out[i]) < id(out[j]) })
	return out, len(files), nil
}
