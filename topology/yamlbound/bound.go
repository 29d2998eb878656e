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
	c := &checker{memo: map[*yaml.Node]size{}, state: map[*yaml.Node]uint8{}}
	total := c.size(n)
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

type checker struct {
	memo   map[*yaml.Node]size
	state  map[*yaml.Node]uint8 // 1 being measured, 2 done
	cyclic map[*yaml.Node]bool
}

// size is the expanded size of n, memoised; a node reached again while it
// is being measured is a cycle and infinitely large.
func (c *checker) size(n *yaml.Node) size {
	if n == nil {
		return size{}
	}
	switch c.state[n] {
	case 2:
		return c.memo[n]
	case 1:
		return size{inf, inf}
	}
	c.state[n] = 1
	var s size
	if n.Kind == yaml.AliasNode {
		if n.Alias != nil && c.state[n.Alias] == 1 {
			if c.cyclic == nil {
				c.cyclic = map[*yaml.Node]bool{}
			}
			c.cyclic[n] = true
		}
		s = c.size(n.Alias)
	} else {
		s = size{1, int64(len(n.Value))}
		for _, ch := range n.Content {
			s = s.add(c.size(ch))
		}
	}
	c.memo[n], c.state[n] = s, 2
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
