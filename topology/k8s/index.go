package k8s

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// index maps the field paths of one document ("spec.ports[0].port") to
// their YAML nodes, for positions. It is built by a walk of the yaml.v3
// node tree, which also finds repeated keys (with both lines).
type index struct {
	entries []entry
	byPath  map[string]int
	dups    []dupKey
	nulls   []nullItem
	// inAlias is the depth of aliases the walk is inside; aliased counts
	// the nodes it walked there (see aliasEntries).
	inAlias, aliased int
}

// nullItem is a null list item, a stray "-".
type nullItem struct {
	path string
	node *yaml.Node
}

// entry is one field or list item of the document.
type entry struct {
	path   string
	parent string // the path of the mapping or list holding it
	segs   []any  // string keys and int indexes
	key    *yaml.Node
	val    *yaml.Node
}

// dupKey is a key set twice in one mapping.
type dupKey struct {
	path      string
	key       *yaml.Node
	firstLine int
}

func newIndex(root *yaml.Node) *index {
	ix := &index{byPath: map[string]int{}}
	ix.walk(root, nil, "", "", nil)
	return ix
}

func (ix *index) add(parent, path string, segs []any, k, v *yaml.Node) {
	if _, ok := ix.byPath[path]; ok {
		return
	}
	ix.byPath[path] = len(ix.entries)
	ix.entries = append(ix.entries, entry{path: path, parent: parent, segs: segs, key: k, val: v})
}

// aliasEntries bounds the entries an alias's expansion adds to the index:
// past it, an alias is indexed at its own path but not walked into (a path
// inside it is then placed at the aliased node). The document's own nodes
// are bounded by yamlbound; expansions are not, and nine nested aliases of
// nine items each (531,441 nodes, within yamlbound's budget) took seconds
// to index, found by FuzzDecode.
const aliasEntries = 100000

func (ix *index) walk(n *yaml.Node, k *yaml.Node, parent, path string, segs []any) {
	alias := n.Kind == yaml.AliasNode
	n = resolveAlias(n)
	ix.add(parent, path, segs, k, n)
	if alias {
		if ix.aliased >= aliasEntries {
			return
		}
		ix.inAlias++
		defer func() { ix.inAlias-- }()
	}
	if ix.inAlias > 0 {
		ix.aliased++
	}
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]int{}
		ix.walkMapping(n, path, segs, seen)
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ip := path + "[" + strconv.Itoa(i) + "]"
			if isNull(c) {
				ix.nulls = append(ix.nulls, nullItem{path: ip, node: c})
			}
			ix.walk(c, nil, path, ip, appendSeg(segs, i))
		}
	}
}

func (ix *index) walkMapping(n *yaml.Node, path string, segs []any, seen map[string]int) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		name := k.Value
		child := joinKey(path, name)
		if first, dup := seen[name]; dup {
			ix.dups = append(ix.dups, dupKey{path: child, key: k, firstLine: first})
			continue
		}
		seen[name] = k.Line
		ix.walk(v, k, path, child, appendSeg(segs, name))
	}
	// "<<: *base": the merged keys belong to this mapping, unless it sets
	// them itself (or an earlier merge did).
	for _, v := range merges {
		m := resolveAlias(v)
		var maps []*yaml.Node
		switch m.Kind {
		case yaml.MappingNode:
			maps = []*yaml.Node{m}
		case yaml.SequenceNode:
			for _, c := range m.Content {
				if c = resolveAlias(c); c.Kind == yaml.MappingNode {
					maps = append(maps, c)
				}
			}
		}
		for _, mm := range maps {
			ix.walkMerged(mm, path, segs, seen)
		}
	}
}

func (ix *index) walkMerged(n *yaml.Node, path string, segs []any, seen map[string]int) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if _, set := seen[k.Value]; set || k.ShortTag() == "!!merge" {
			continue
		}
		seen[k.Value] = k.Line
		ix.walk(v, k, path, joinKey(path, k.Value), appendSeg(segs, k.Value))
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func appendSeg(segs []any, s any) []any {
	out := make([]any, len(segs), len(segs)+1)
	copy(out, segs)
	return append(out, s)
}

// nearest returns the node of path, or of its nearest ancestor in the
// document.
func (ix *index) nearest(path string) *yaml.Node {
	for {
		if i, ok := ix.byPath[path]; ok {
			return ix.entries[i].val
		}
		if path == "" {
			return nil
		}
		path = parentPath(path)
	}
}

// keyAt returns the key node of the field at path (for "unknown field"
// the key is what is wrong), falling back to nearest.
func (ix *index) keyAt(path string) *yaml.Node {
	if i, ok := ix.byPath[path]; ok && ix.entries[i].key != nil {
		return ix.entries[i].key
	}
	return ix.nearest(path)
}

// siblings lists the keys set in the mapping that holds the field at path.
func (ix *index) siblings(path string) []string {
	parent := parentPath(path)
	var out []string
	for _, e := range ix.entries {
		if e.key != nil && e.path != path && e.parent == parent {
			out = append(out, e.key.Value)
		}
	}
	return out
}

// parentPath strips the last ".key" or "[i]" from a field path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// stripIndexes removes every "[i]" from a path: encoding/json names
// fields without list indexes ("spec.ports.port").
func stripIndexes(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '[' {
			if j := strings.IndexByte(path[i:], ']'); j > 0 {
				if _, err := strconv.Atoi(path[i+1 : i+j]); err == nil {
					i += j
					continue
				}
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// describeNode says what a node holds, for "got ..." in messages.
func describeNode(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.ShortTag() {
	case "!!str":
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || !isYAML11Bool(v) {
			return strconv.Quote(v)
		}
	case "!!null":
		return "nothing"
	}
	return v
}

// isYAML11Bool reports the plain words YAML 1.1 (which Kubernetes' YAML
// reader follows) takes for booleans, where YAML 1.2 sees strings.
func isYAML11Bool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF":
		return true
	}
	return false
}

// scalar returns the string value of the top-level key of a mapping, and
// its node.
func scalar(m *yaml.Node, keys ...string) (string, *yaml.Node) {
	n := m
	for _, key := range keys {
		n = resolveAlias(n)
		if n.Kind != yaml.MappingNode {
			return "", nil
		}
		var found *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if resolveAlias(n.Content[i]).Value == key {
				found = n.Content[i+1]
				break
			}
		}
		if found == nil {
			return "", nil
		}
		n = found
	}
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode {
		return "", n
	}
	return n.Value, n
}

// docLabel names a document in messages before its kind and name are known.
func docLabel(i int) string { return fmt.Sprintf("document %d", i+1) }
