package topology

import (
	"bytes"
	"errors"
	"io"
	"regexp"

	yaml "go.yaml.in/yaml/v3"
)

// The parse of a large scenario on two cores. A file of 150,000 pods is
// almost all its pods: list, one pod a line, "  - {name: p-1-1, node:
// node-1}". Such a list is parsed in two halves at once, each half in a
// text of the file's own lines (the lines of the other half, and for the
// second half everything but the "pods:" key, left empty, so that every
// node keeps its line and column), and the second half's items are
// appended to the first's list: the tree yaml.v3 builds from the whole
// file, as each line is one complete item whichever text holds it. Only
// a list whose every line is a plain one-line flow mapping is split (no
// quotes, comments, anchors, aliases, tags, escapes, or brackets left
// open at the line's end: nothing that could carry meaning across a
// line); any other file, or a half that does not parse, is parsed whole,
// as before.

// splitMinItems is the least pods worth splitting for.
const splitMinItems = 20_000

// splitParse enables parseSplit (tests compare with it off).
var splitParse = true

// splitItemRE is the shape of a line of the list that may be split
// around (splitItem checks its brackets).
var splitItemRE = regexp.MustCompile(`^ +- \{[^"'#&*!|>%@` + "`" + `\\\t]*\}$`)

// splitItem reports whether ln is one complete flow mapping item: the
// shape above, its first "{" closed by its last "}" and nothing opened
// in between left open (in a flow mapping without quotes, brackets are
// only ever collections).
func splitItem(ln []byte) bool {
	if !splitItemRE.Match(ln) {
		return false
	}
	depth := 0
	start := bytes.IndexByte(ln, '{')
	for i, c := range ln[start:] {
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		if depth == 0 && start+i != len(ln)-1 {
			return false
		}
	}
	return depth == 0
}

// parseSplit parses data as above, or returns nil when it does not apply
// (the caller then parses it whole).
func parseSplit(data []byte) *yaml.Node {
	if !splitParse || len(data) < splitMinItems*16 || bytes.Contains(data, []byte("\r")) {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	key := -1
	for i, ln := range lines {
		if string(ln) == "pods:" {
			if key >= 0 {
				return nil // a repeated key: the whole parse reports it
			}
			key = i
		}
	}
	if key < 0 {
		return nil
	}
	first := key + 1
	end := first
	indent := -1
	for ; end < len(lines); end++ {
		ln := lines[end]
		if len(ln) > 0 && ln[0] != ' ' {
			break
		}
		if !splitItem(ln) {
			return nil
		}
		n := bytes.IndexByte(ln, '-')
		if indent < 0 {
			indent = n
		} else if n != indent {
			return nil
		}
	}
	if end-first < splitMinItems {
		return nil
	}
	mid := first + (end-first)/2
	// The first text: the file with the second half's lines empty; the
	// second: only "pods:" and the second half, at their lines.
	var a, b bytes.Buffer
	a.Grow(len(data))
	b.Grow(len(data) / 2)
	for i, ln := range lines {
		if i > 0 {
			a.WriteByte('\n')
			b.WriteByte('\n')
		}
		switch {
		case i == key:
			a.Write(ln)
			b.Write(ln)
		case i >= mid && i < end:
			b.Write(ln)
		default:
			a.Write(ln)
		}
	}
	var second yaml.Node
	var secondErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		secondErr = yaml.Unmarshal(b.Bytes(), &second)
	}()
	dec := yaml.NewDecoder(bytes.NewReader(a.Bytes()))
	var doc, extra yaml.Node
	err := dec.Decode(&doc)
	if err == nil {
		if e := dec.Decode(&extra); !errors.Is(e, io.EOF) {
			err = errors.New("more than one document")
		}
	}
	<-done
	if err != nil || secondErr != nil {
		return nil
	}
	list := podsList(&doc)
	rest := podsList(&second)
	if list == nil || rest == nil || len(list.Content) != mid-first || len(rest.Content) != end-mid {
		return nil
	}
	list.Content = append(list.Content, rest.Content...)
	return &doc
}

// podsList is the value of the document's top-level "pods" key, when it
// is a list.
func podsList(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "pods" {
			if list != nil {
				return nil
			}
			list = m.Content[i+1]
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	return list
}
