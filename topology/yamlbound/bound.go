// Package yamlbound keeps the YAML inputs of netsim bounded: it refuses a
// document whose aliases and "<<" merge keys expand it beyond a fixed size
// (billion-laughs protection) before any decoder walks it, it reads input
// files only when they are regular files under a size cap, and it refuses
// text that is not UTF-8 YAML without echoing its bytes.
//
// yaml.v3 parses a document into a node tree in linear time, keeping every
// alias as one AliasNode; decoding, walking the tree or converting it to
// JSON then copies the alias's target at each use, which is where the
// work explodes. Check measures the expanded size on the tree, with
// memoisation, so that measuring is linear too.
package yamlbound

import (
	"fmt"
	"math"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// Limits of one document once its aliases and merge keys are expanded.
const (
	// MaxNodes is the most YAML nodes (mappings, lists, scalars, keys
	// included) a document may expand to.
	MaxNodes = 1_000_000
	// MaxScalarBytes is the most bytes of scalar text (keys and values) a
	// document may expand to: no more than the largest input file.
	MaxScalarBytes = MaxFileBytes
	// MaxMappingKeys is the most keys one mapping may hold: yaml.v3's
	// decoder looks for repeated keys by comparing every pair, which takes
	// minutes for a mapping of 100,000 keys.
	MaxMappingKeys = 10_000
)

// Excess says where a document grows past the limits.
type Excess struct {
	// Line and Column locate the alias (or "<<" merge) whose expansion
	// crosses the limit, 1-based.
	Line, Column int
	// Path is the field path of the value holding it, "nodes[0].x" ("" for
	// the document itself).
	Path string
	// Msg says what was exceeded.
	Msg string
}

// size is the expanded size of a node: nodes and scalar bytes.
type size struct{ nodes, bytes int64 }

const inf = math.MaxInt64 / 4

func (s size) add(o size) size {
	return size{min(s.nodes+o.nodes, inf), min(s.bytes+o.bytes, inf)}
}

func (s size) over(b size) bool { return s.nodes > b.nodes || s.bytes > b.bytes }

// Budget is what is left of the limits, for checking several documents
// (the documents of one manifest file) against one total.
type Budget struct{ left size }

// NewBudget returns the full limits.
func NewBudget() *Budget { return &Budget{left: size{MaxNodes, MaxScalarBytes}} }

// Check measures the document at n (a document, or any node) as it would be
// once every alias and merge is expanded and returns nil when it is within
// MaxNodes and MaxScalarBytes. Otherwise it returns where the limit is
// crossed: the first alias, in document order, whose expansion takes the
// total past it. An alias cycle (an anchor whose value refers to itself,
// "&a [*a]") expands without end and is reported the same way. The work is
// linear in the number of nodes of the parsed tree.
func Check(n *yaml.Node) *Excess { return NewBudget().Check(n) }

// Check is the package's Check against what is left of b, and takes what
// the document uses from b.
func (b *Budget) Check(n *yaml.Node) *Excess {
	c := &checker{memo: map[*yaml.Node]memoSize{}}
	total := c.size(n)
	if total.over(b.left) && c.wide == nil {
		// locate measures subtrees again and again: from here on every
		// node's size is kept, not only the shared ones'.
		c = &checker{memo: map[*yaml.Node]memoSize{}, all: true}
		total = c.size(n)
	}
	if c.wide != nil {
		k := c.wide.Content[2*MaxMappingKeys]
		return &Excess{Line: k.Line, Column: k.Column, Path: pathTo(n, c.wide),
			Msg: fmt.Sprintf("a mapping with more than %d keys: the most one mapping may hold (this is key %d)", MaxMappingKeys, MaxMappingKeys+1)}
	}
	if !total.over(b.left) {
		b.left.nodes -= total.nodes
		b.left.bytes -= total.bytes
		return nil
	}
	limit := b.left
	b.left = size{}
	at, path := c.locate(n, limit, "")
	e := &Excess{Line: at.Line, Column: at.Column, Path: path}
	what := fmt.Sprintf("more than %d YAML nodes", MaxNodes)
	if total.nodes <= limit.nodes {
		what = fmt.Sprintf("more than %d bytes of text (%d MiB)", MaxScalarBytes, MaxScalarBytes>>20)
	}
	switch {
	case c.cyclic[at]:
		e.Msg = fmt.Sprintf("the alias *%s refers to a value that contains it: it expands without end (alias cycle)", at.Value)
	case at.Kind == yaml.AliasNode:
		e.Msg = fmt.Sprintf("the document expands to %s through aliases (billion-laughs protection): the alias *%s here takes it past the limit; write the values out or share fewer of them", what, at.Value)
	default:
		e.Msg = fmt.Sprintf("the document is larger than netsim reads: it holds %s", what)
	}
	return e
}

// memoSize is a node's size, and whether it is known (false: being
// measured).
type memoSize struct {
	size
	done bool
}

type checker struct {
	// memo holds the sizes of the nodes that can be reached more than
	// once, aliases and the anchored nodes they refer to (a node without
	// an anchor has one parent), or of every node when all is set.
	all  bool
	memo map[*yaml.Node]memoSize
	// measured counts the nodes measured (each once: the work is linear).
	measured int
	cyclic   map[*yaml.Node]bool
	wide     *yaml.Node // the first mapping with more than MaxMappingKeys keys
}

// size is the expanded size of n, memoised; a node reached again while it
// is being measured is a cycle and infinitely large.
func (c *checker) size(n *yaml.Node) size {
	if n == nil {
		return size{}
	}
	if !c.all && n.Anchor == "" && n.Kind != yaml.AliasNode {
		c.measured++
		if n.Kind == yaml.MappingNode && len(n.Content) > 2*MaxMappingKeys && c.wide == nil {
			c.wide = n
		}
		s := size{1, int64(len(n.Value))}
		for _, ch := range n.Content {
			s = s.add(c.size(ch))
		}
		return s
	}
	if m, ok := c.memo[n]; ok {
		if m.done {
			return m.size
		}
		return size{inf, inf}
	}
	c.memo[n] = memoSize{}
	c.measured++
	var s size
	if n.Kind == yaml.AliasNode {
		if m, ok := c.memo[n.Alias]; n.Alias != nil && ok && !m.done {
			if c.cyclic == nil {
				c.cyclic = map[*yaml.Node]bool{}
			}
			c.cyclic[n] = true
		}
		s = c.size(n.Alias)
	} else {
		if n.Kind == yaml.MappingNode && len(n.Content) > 2*MaxMappingKeys && c.wide == nil {
			c.wide = n
		}
		s = size{1, int64(len(n.Value))}
		for _, ch := range n.Content {
			s = s.add(c.size(ch))
		}
	}
	c.memo[n] = memoSize{s, true}
	return s
}

// locate descends from n, whose size is over limit, to the first alias
// whose expansion crosses it, keeping the field path.
func (c *checker) locate(n *yaml.Node, limit size, path string) (*yaml.Node, string) {
	merge := false // n is the value of a "<<" key: its items merge into path
	for {
		if n.Kind == yaml.AliasNode || len(n.Content) == 0 {
			return n, path
		}
		used := size{1, int64(len(n.Value))}
		var next *yaml.Node
		nextPath, nextMerge := path, false
		for i, ch := range n.Content {
			sum := used.add(c.size(ch))
			if sum.over(limit) {
				next = ch
				switch n.Kind {
				case yaml.SequenceNode:
					if !merge {
						nextPath = path + "[" + strconv.Itoa(i) + "]"
					}
				case yaml.MappingNode:
					if k := n.Content[i&^1]; i%2 == 1 && k.Kind == yaml.ScalarNode {
						if k.ShortTag() == "!!merge" {
							nextMerge = true
						} else {
							nextPath = join(path, k.Value)
						}
					}
				}
				limit = size{limit.nodes - used.nodes, limit.bytes - used.bytes}
				break
			}
			used = sum
		}
		if next == nil {
			return n, path // cannot happen: the children add up to the size
		}
		n, path, merge = next, nextPath, nextMerge
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// pathTo is the field path of target in the tree at root (aliases are not
// followed: target is a node of the tree itself).
func pathTo(root, target *yaml.Node) string {
	type item struct {
		n    *yaml.Node
		path string
	}
	stack := []item{{root, ""}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.n == target {
			return it.path
		}
		for i, ch := range it.n.Content {
			p := it.path
			switch it.n.Kind {
			case yaml.SequenceNode:
				p += "[" + strconv.Itoa(i) + "]"
			case yaml.MappingNode:
				if k := it.n.Content[i&^1]; i%2 == 1 && k.Kind == yaml.ScalarNode && k.ShortTag() != "!!merge" {
					p = join(p, k.Value)
				}
			}
			stack = append(stack, item{ch, p})
		}
	}
	return ""
}
