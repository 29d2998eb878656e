package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"netsim/topology/hint"
	"netsim/topology/yamlbound"
)

// Load reads, decodes and validates the scenario file at path. See Parse
// and LoadWith.
func Load(path string) (*Scenario, error) { return LoadWith(path, LoadOptions{}) }

// LoadOptions change how a scenario and its manifests are read.
type LoadOptions struct {
	// AllowOutside lets manifests: name files outside the scenario file's
	// directory tree (an absolute path elsewhere, "../", a symbolic link
	// that leads out). By default such a manifest is an error.
	AllowOutside bool
}

// LoadWith is Load with options. The file must be a regular file of at
// most yamlbound.MaxFileBytes (16 MiB); a directory, a device, a FIFO or a
// socket is refused before it is read.
func LoadWith(path string, opts LoadOptions) (*Scenario, error) {
	data, err := yamlbound.ReadFile(path, "scenario")
	if err != nil {
		var fe *yamlbound.FileError
		if errors.As(err, &fe) {
			return nil, Problems{{File: path, Msg: fe.Msg}}
		}
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return ParseWith(path, data, opts)
}

// Parse decodes and validates one scenario; name is the file name used in
// messages. Decoding is strict: an unknown key, a value of the wrong type,
// a duplicate key, an empty file and a second YAML document are all errors.
// Parse then applies the defaults and checks the scenario (see Validate).
//
// On any problem Parse returns a nil scenario and a Problems error listing
// every problem found, sorted by line, each with its file, line, column and
// field path.
func Parse(name string, data []byte) (*Scenario, error) {
	return ParseWith(name, data, LoadOptions{})
}

// ParseWith is Parse with options (see LoadOptions).
func ParseWith(name string, data []byte, opts LoadOptions) (*Scenario, error) {
	return parse(name, data, opts, false)
}

// parse is ParseWith; planOnly (LoadPlan) keeps the planning rules'
// errors out of the problems: they are the PlanCheck's findings.
func parse(name string, data []byte, opts LoadOptions, planOnly bool) (*Scenario, error) {
	hint.ResetWork()
	l := newLoader(name, opts)
	l.planOnly = planOnly
	var s *Scenario
	if tp := yamlbound.CheckText(data, "scenario"); tp != nil {
		l.add(Problem{Line: tp.Line, Column: tp.Column, Msg: tp.Msg})
	} else {
		l.data, l.lines = data, strings.Split(string(data), "\n")
		s = l.load(data)
	}
	if len(l.probs) > 0 {
		l.probs.Sort()
		groupByFile(l.probs, name)
		return nil, l.probs
	}
	s.File = name
	s.pos = l.positions()
	return s, nil
}

func newLoader(name string, opts LoadOptions) *loader {
	return &loader{
		file:     name,
		opts:     opts,
		broken:   map[string]bool{},
		probLine: map[int]bool{},
	}
}

// buildIndex fills the loader's index, paths and keys, once: a second walk
// of the tree, by a loader of its own that records them (its problems are
// the first walk's again and are dropped; the suggestion budget it spends
// is given back). The first walk records nothing: on a file without
// problems nothing asks where a path is, and the three maps were a third
// of a 150,000-pod load's time and memory. The second walk sees the tree
// the first saw: it runs before anything changes the tree (the null items
// are replaced only after a walk that found problems, and then the index
// is built before that, see load).
func (l *loader) buildIndex() {
	if l.indexed || l.root == nil {
		return
	}
	l.indexed = true
	r := newLoader(l.file, l.opts)
	r.planOnly, r.data, r.lines, r.root = l.planOnly, l.data, l.lines, l.root
	r.startIndex(l.data)
	spent := hint.Spent()
	r.walk(l.root, scenarioType, "")
	hint.SetSpent(spent)
	l.index, l.paths, l.keys = r.index, r.paths, r.keys
}

// startIndex makes the loader's walk record the index, paths and keys.
func (l *loader) startIndex(data []byte) {
	l.record, l.indexed = true, true
	l.presize(data)
}

// presize sizes the loader's maps for the file: about one entry for each
// ':' (a key's value) and each '-' (a list item), so that the maps of a
// 150,000-pod file are not rehashed a dozen times as they grow.
func (l *loader) presize(data []byte) {
	n := bytes.Count(data, []byte{':'}) + bytes.Count(data, []byte{'-'})
	if n < 1024 {
		l.index = map[string]*yaml.Node{}
		l.paths = map[*yaml.Node]string{}
		l.keys = map[*yaml.Node]keyMeta{}
		return
	}
	l.index = make(map[string]*yaml.Node, n)
	l.paths = make(map[*yaml.Node]string, n)
	l.keys = make(map[*yaml.Node]keyMeta, n/2)
}

// groupByFile keeps sorted problems together by file: the scenario's
// first, then each manifest's in the order they first appear.
func groupByFile(ps Problems, scenario string) {
	order := map[string]int{scenario: 0}
	for _, p := range ps {
		if _, ok := order[p.File]; !ok {
			order[p.File] = len(order)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return order[ps[i].File] < order[ps[j].File] })
}

// keyMeta describes a mapping key seen while walking the document.
type keyMeta struct {
	parent string   // path of the mapping holding the key
	known  []string // the keys that mapping accepts (nil for free-form maps)
}

// loader holds the state of one Parse.
type loader struct {
	file string
	opts LoadOptions
	// planOnly: the load is LoadPlan's (see parse).
	planOnly bool
	data     []byte
	lines    []string
	probs    Problems
	// probLine records the lines with a problem.
	probLine map[int]bool
	// keysByLine and nodesByLine index keys and paths by line, built on
	// the first translated yaml.v3 message.
	keysByLine  map[int][]*yaml.Node
	nodesByLine map[int][]*yaml.Node
	// nulls are the null items of lists yaml.v3 would drop (see load).
	nulls []nullItem
	// stopped is set when maxProblems were found.
	stopped bool
	root    *yaml.Node
	// record makes the walk fill index, paths and keys; indexed says they
	// are filled or being filled (see buildIndex).
	record, indexed bool
	// index maps a field path to the node holding its value; paths is the
	// reverse; keys records every mapping key node. They are built on
	// demand (see buildIndex): read them through position, keyAt, nodeAt.
	index map[string]*yaml.Node
	paths map[*yaml.Node]string
	keys  map[*yaml.Node]keyMeta
	// broken lists paths with structural problems: semantic problems at or
	// under them are consequences, not news, and are not reported. "" means
	// the whole document.
	broken map[string]bool
}

var (
	scenarioType = reflect.TypeFor[Scenario]()
	expectType   = reflect.TypeFor[Expect]()
	durationType = reflect.TypeFor[time.Duration]()
	resourceType = reflect.TypeFor[Resource]()
	listenType   = reflect.TypeFor[ListenPort]()
)

// load runs the three passes: parse to a node tree (syntax, empty file,
// extra documents), walk the tree against the Go types (unknown keys, wrong
// types, duplicates, with exact positions), then the strict yaml.v3 decode
// and Validate.
func (l *loader) load(data []byte) *Scenario {
	if doc := parseSplit(data); doc != nil {
		return l.loadTree(data, doc)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(l.emptyProblem())
		} else {
			l.add(l.syntaxProblem(err))
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		l.add(Problem{Line: extra.Line, Column: extra.Column,
			Msg: `a second YAML document starts here: a scenario file holds exactly one (remove this "---" or split the file)`})
	case errors.Is(err, io.EOF):
	default:
		l.add(l.syntaxProblem(err))
	}
	return l.loadTree(data, &doc)
}

// loadTree is load from the parsed document on.
func (l *loader) loadTree(data []byte, doc *yaml.Node) *Scenario {
	// Before anything walks or decodes the tree: its size once aliases
	// and merges are expanded is bounded (this also refuses alias cycles,
	// on which the walk below would not end).
	if e := yamlbound.Check(doc); e != nil {
		l.add(Problem{Line: e.Line, Column: e.Column, Path: e.Path, Msg: e.Msg})
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		l.add(l.emptyProblem())
		return nil
	}
	l.root = doc.Content[0]
	if resolveAlias(l.root).Kind != yaml.MappingNode {
		n := resolveAlias(l.root)
		l.add(Problem{Line: n.Line, Column: n.Column,
			Msg: fmt.Sprintf("a scenario is a mapping with keys such as name, vpc, nodes and cluster; got %s", yamlbound.Describe(n))})
		return nil
	}
	// The decode of the tree, for a file the walk finds nothing in, runs
	// beside the walk (both only read the tree; on two cores that is a
	// tenth of a 150,000-pod load). Its result is used only when the walk
	// found nothing, as it was when the decode came after the walk.
	var spec Scenario
	var specErr error
	specDone := make(chan struct{})
	go func() {
		defer close(specDone)
		specErr = l.root.Decode(&spec)
	}()
	l.walk(l.root, scenarioType, "")
	<-specDone
	if l.stopped {
		return nil
	}
	if len(l.probs) > 0 {
		// Before the null items are replaced below: the index is of the
		// tree as the walk saw it.
		l.buildIndex()
	}

	// The strict decode. The walk has already reported what yaml.v3 would
	// complain about, with better positions; its messages are translated
	// and kept only when they name a line the walk said nothing about.
	var s Scenario
	var err error
	if len(l.probs) == 0 {
		// The walk found nothing, unknown keys included: decode the tree
		// already parsed (the strict decoder parses the text again, which
		// was a tenth of a 150,000-pod load, to find nothing more; type
		// errors come from the same decoding either way).
		s, err = spec, specErr
	} else {
		strict := yaml.NewDecoder(bytes.NewReader(data))
		strict.KnownFields(true)
		err = strict.Decode(&s)
	}
	if err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			l.add(l.syntaxProblem(err))
			return nil
		}
		for _, msg := range te.Errors {
			p := l.rewriteYAMLError(msg)
			if !l.hasProblemOnLine(p.Line) {
				l.add(p)
			}
		}
	}
	if len(l.nulls) > 0 {
		// yaml.v3 drops a null item of a list of structs, shifting the
		// indexes of the items after it: Validate would judge flows[2]
		// as flows[1]. The null items (already reported) become empty
		// mappings and the tree is decoded again, indexes kept.
		for _, n := range l.nulls {
			z := *n.zero
			z.Line, z.Column = n.node.Line, n.node.Column
			*n.node = z
		}
		var again Scenario
		if err := l.root.Decode(&again); err == nil || errors.As(err, new(*yaml.TypeError)) {
			s = again
		}
	}

	// Validate decodes the manifests and inline resources: it needs the
	// file's name (manifests are relative to its directory) and text
	// (positions of resources).
	s.File, s.src, s.opts = l.file, data, l.opts
	v := s.validate()
	for i, p := range v.probs {
		if l.isBroken(p.Path) || slices.ContainsFunc(v.deps[i], l.isBroken) {
			continue
		}
		if p.File == "" && p.Line == 0 {
			// Manifest problems come located (in the manifest's file).
			p.Line, p.Column = l.position(p.Path)
		}
		l.add(p)
	}
	l.planFindings(&s, v)
	return &s
}

// maxProblems is the most problems one load collects: past it, checking
// stops (a file with 100,000 broken items gets the first 10,000 and a
// note where netsim stopped).
const maxProblems = 10_000

func (l *loader) add(p Problem) {
	if l.stopped {
		return
	}
	if p.File == "" {
		p.File = l.file
	}
	if len(l.probs) == maxProblems {
		l.stopped = true
		p.Path = ""
		p.Msg = fmt.Sprintf("more than %d problems: %s", maxProblems, StoppedChecking)
	}
	if p.File == l.file {
		l.probLine[p.Line] = true
	}
	l.probs = append(l.probs, p)
}

func (l *loader) hasProblemOnLine(line int) bool { return l.probLine[line] }

func (l *loader) markBroken(path string) { l.broken[path] = true }

// isBroken reports whether path or one of its ancestors is broken.
func (l *loader) isBroken(path string) bool {
	if len(l.broken) == 0 {
		return false
	}
	for {
		if l.broken[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// position maps a field path to the line and column of its value; for a
// field that is not in the file, to its nearest ancestor that is (the
// parent mapping of a missing required field).
func (l *loader) position(path string) (int, int) {
	l.buildIndex()
	for {
		if n, ok := l.index[path]; ok {
			return n.Line, n.Column
		}
		if path == "" {
			if l.root != nil {
				return l.root.Line, l.root.Column
			}
			return 0, 0
		}
		path = parentPath(path)
	}
}

// positions is position for after the load: it keeps each indexed
// path's line and column and nothing else, so that the parsed YAML tree,
// the loader's maps and the file's lines are not kept alive by the
// scenario (they were some 30 % of a large scenario's heap after the build).
func (l *loader) positions() func(path string) (int, int) {
	if !l.indexed {
		// Nothing asked yet: the index is built from the file's text
		// if something does (a Build problem), not kept in case.
		file, data, opts := l.file, l.data, l.opts
		var once sync.Once
		var pos func(string) (int, int)
		return func(path string) (int, int) {
			once.Do(func() { pos = indexText(file, data, opts) })
			return pos(path)
		}
	}
	idx := make(map[string]uint64, len(l.index))
	for p, n := range l.index {
		idx[p] = uint64(uint32(n.Line))<<32 | uint64(uint32(n.Column))
	}
	rootLine, rootCol := 0, 0
	if l.root != nil {
		rootLine, rootCol = l.root.Line, l.root.Column
	}
	return func(path string) (int, int) {
		for {
			if v, ok := idx[path]; ok {
				return int(int32(v >> 32)), int(int32(uint32(v)))
			}
			if path == "" {
				return rootLine, rootCol
			}
			path = parentPath(path)
		}
	}
}

// indexText is positions for a scenario's text that loaded: it parses the
// text again and walks it recording the index.
func indexText(file string, data []byte, opts LoadOptions) func(path string) (int, int) {
	r := newLoader(file, opts)
	r.data, r.lines = data, strings.Split(string(data), "\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err == nil && len(doc.Content) > 0 {
		r.root = doc.Content[0]
		r.startIndex(data)
		spent := hint.Spent()
		r.walk(r.root, scenarioType, "")
		hint.SetSpent(spent)
	}
	r.indexed = true
	return r.positions()
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

// joinPath appends a mapping key to a field path.
func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolveAlias(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// walk checks node n against Go type t, recording positions and reporting
// unknown keys, duplicate keys and values of the wrong type.
func (l *loader) walk(n *yaml.Node, t reflect.Type, path string) {
	if l.stopped {
		return
	}
	n = resolveAlias(n)
	if l.record {
		if _, ok := l.index[path]; !ok {
			l.index[path] = n
		}
		if _, ok := l.paths[n]; !ok {
			l.paths[n] = path
		}
	}
	if isNull(n) {
		return // an empty value leaves the zero value; Validate judges it
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == resourceType:
		// A Kubernetes object: the manifest decoder checks it, strictly,
		// against the Kubernetes types.
		if n.Kind != yaml.MappingNode {
			l.add(Problem{Line: n.Line, Column: n.Column, Path: path,
				Msg: "expected a Kubernetes object: a mapping with apiVersion, kind, metadata and spec; got " + describeNode(n)})
			l.markBroken(path)
		}
	case t == expectType:
		switch n.Kind {
		case yaml.ScalarNode:
			// "delivered" or "dropped"; Validate checks the word.
		case yaml.MappingNode:
			l.walkStruct(n, t, path)
		default:
			l.typeProblem(n, t, path)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.typeProblem(n, t, path)
			return
		}
		l.walkStruct(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.typeProblem(n, t, path)
			return
		}
		for i, c := range n.Content {
			ip := indexPath(path, i)
			if isNull(c) {
				l.add(Problem{Line: c.Line, Column: c.Column, Path: ip,
					Msg: "an empty list item: remove the stray '-' or give it a value"})
				l.markBroken(ip)
				if l.record {
					l.index[ip] = resolveAlias(c)
				}
				if zero := zeroNode(t.Elem()); zero != nil && c.Kind == yaml.ScalarNode {
					l.nulls = append(l.nulls, nullItem{c, zero})
				}
				continue
			}
			l.walk(c, t.Elem(), ip)
			if l.broken[ip] && !kindFits(c, t.Elem()) {
				// yaml.v3 drops an item it cannot decode at all: the
				// decoded list's indexes after it are not the file's, so
				// nothing judged on them could be placed.
				l.markBroken(path)
			}
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			l.typeProblem(n, t, path)
			return
		}
		l.walkMap(n, t, path)
	default:
		if n.Kind != yaml.ScalarNode {
			l.typeProblem(n, t, path)
			return
		}
		// Decode the one scalar with yaml.v3 itself, so that what is
		// accepted here is exactly what the real decode accepts, except
		// that yaml.v3 truncates a number with a fraction (24.5, 1.0)
		// into an integer field: that is an error here.
		if isInteger(t) && t != durationType && n.ShortTag() == "!!float" {
			why := "a number with a fraction or an exponent"
			if isDigits(strings.TrimPrefix(strings.TrimPrefix(n.Value, "-"), "+")) {
				why = "too large for an integer" // YAML reads 20 digits as a float
			}
			l.add(Problem{Line: n.Line, Column: n.Column, Path: path,
				Msg: fmt.Sprintf("expected an integer, got %s (%s)", describeNode(n), why)})
			l.markBroken(path)
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			l.typeProblem(n, t, path)
			return
		}
		if t.Kind() == reflect.String {
			l.checkPrintable(n, path)
		}
	}
}

// checkPrintable refuses a string with a control character or a Unicode
// control that reorders or hides text: names and descriptions are printed
// on terminals, where "\e]0;...\a" retitles the window and U+202E turns a
// line around.
func (l *loader) checkPrintable(n *yaml.Node, path string) {
	for i, r := range n.Value {
		if r != '\n' && unsafeRune(r) {
			l.add(Problem{Line: n.Line, Column: n.Column, Path: path,
				Msg: fmt.Sprintf("the text holds the control character %s at offset %d: the scenario's text is printed on terminals, so it must be printable", Printable(string(r)), i)})
			l.markBroken(path)
			return
		}
	}
}

// nullItem is a null list item and what it decodes as instead.
type nullItem struct{ node, zero *yaml.Node }

// zeroNode is a YAML node that decodes as the zero value of Go type t, for
// the types yaml.v3 does not decode a null into (it drops such a list
// item); nil for the types a null decodes into.
func zeroNode(t reflect.Type) *yaml.Node {
	switch {
	case t == resourceType:
		return nil // its UnmarshalYAML keeps the null node
	case t == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "0s"}
	case t.Kind() == reflect.Struct:
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	case t.Kind() == reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str"}
	case isInteger(t):
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"}
	case t.Kind() == reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	case t.Kind() == reflect.Float32, t.Kind() == reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: "0"}
	}
	return nil
}

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// kindFits reports whether node n is of the YAML kind Go type t decodes
// from (a mapping for a struct, a list for a slice, a scalar otherwise);
// a scalar is also decoded, as yaml.v3 would.
func kindFits(n *yaml.Node, t reflect.Type) bool {
	n = resolveAlias(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == expectType:
		return n.Kind == yaml.ScalarNode || n.Kind == yaml.MappingNode
	case t == resourceType:
		return true // kept as a node whatever it is
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return n.Kind == yaml.MappingNode
	case t.Kind() == reflect.Slice:
		return n.Kind == yaml.SequenceNode
	case t.Kind() == reflect.Interface:
		return true
	}
	return n.Kind == yaml.ScalarNode && n.Decode(reflect.New(t).Interface()) == nil
}

// yamlFields lists the YAML keys of struct type t, in field order, with
// their types.
func yamlFields(t reflect.Type) ([]string, map[string]reflect.Type) {
	if f, ok := fieldsCache.Load(t); ok {
		f := f.(cachedFields)
		return f.names, f.types
	}
	names, types := yamlFieldsOf(t)
	fieldsCache.Store(t, cachedFields{names, types})
	return names, types
}

// fieldsCache holds yamlFields' answers by type; they are read only.
var fieldsCache sync.Map

type cachedFields struct {
	names []string
	types map[string]reflect.Type
}

func yamlFieldsOf(t reflect.Type) ([]string, map[string]reflect.Type) {
	var names []string
	types := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			// An inlined struct's keys are the outer mapping's keys.
			n, t := yamlFieldsOf(f.Type)
			names = append(names, n...)
			maps.Copy(types, t)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
		types[name] = f.Type
	}
	return names, types
}

func (l *loader) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	names, types := yamlFields(t)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			l.walkMerge(v, t, path)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.add(Problem{Line: k.Line, Column: k.Column, Path: path, Msg: "a key must be a plain word, got " + describeNode(k)})
			l.markBroken(path)
			continue
		}
		if l.record {
			l.keys[k] = keyMeta{parent: path, known: names}
		}
		ft, ok := types[k.Value]
		if !ok {
			l.add(l.unknownField(k, path, names))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.add(l.duplicateKey(k, path, first.Line))
			continue
		}
		seen[k.Value] = k
		l.walk(v, ft, joinPath(path, k.Value))
	}
}

// walkMerge walks the value of a "<<" merge key: a mapping or a list of them.
func (l *loader) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	v = resolveAlias(v)
	switch v.Kind {
	case yaml.MappingNode:
		l.walkStruct(v, t, path)
	case yaml.SequenceNode:
		for _, c := range v.Content {
			l.walkMerge(c, t, path)
		}
	default:
		l.add(Problem{Line: v.Line, Column: v.Column, Path: path, Msg: "a << merge needs a mapping or a list of mappings, got " + describeNode(v)})
	}
}

func (l *loader) walkMap(n *yaml.Node, t reflect.Type, path string) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.add(Problem{Line: k.Line, Column: k.Column, Path: path, Msg: "a key must be a plain word, got " + describeNode(k)})
			l.markBroken(path)
			continue
		}
		if l.record {
			l.keys[k] = keyMeta{parent: path}
		}
		if first, dup := seen[k.Value]; dup {
			l.add(l.duplicateKey(k, path, first.Line))
			continue
		}
		seen[k.Value] = k
		if err := k.Decode(reflect.New(t.Key()).Interface()); err != nil {
			l.typeProblem(k, t.Key(), joinPath(path, k.Value))
			continue
		}
		l.walk(v, t.Elem(), joinPath(path, k.Value))
	}
}

func (l *loader) typeProblem(n *yaml.Node, t reflect.Type, path string) {
	l.add(Problem{Line: n.Line, Column: n.Column, Path: path,
		Msg: fmt.Sprintf("expected %s, got %s", expectedFor(t), describeNode(n))})
	l.markBroken(path)
}

func (l *loader) unknownField(k *yaml.Node, parent string, known []string) Problem {
	msg := fmt.Sprintf("unknown field %q", k.Value)
	if parent == "" {
		msg += " in scenario"
	}
	if s := hint.Suggest(k.Value, known); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
		// The intended field is then "missing": say so only once.
		l.markBroken(joinPath(parent, s[0]))
	} else if len(known) > 0 {
		msg += " (known fields: " + strings.Join(known, ", ") + ")"
	}
	return Problem{Line: k.Line, Column: k.Column, Path: parent, Msg: msg}
}

func (l *loader) duplicateKey(k *yaml.Node, parent string, firstLine int) Problem {
	// yaml.v3 refuses to decode a mapping with a repeated key at all.
	l.markBroken(parent)
	return Problem{Line: k.Line, Column: k.Column, Path: joinPath(parent, k.Value),
		Msg: fmt.Sprintf("%q is set twice (first at line %d)", k.Value, firstLine)}
}

// expectedFor names what a value of Go type t looks like in YAML.
func expectedFor(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration such as 50us or 2ms"
	case t == expectType:
		return `"delivered", "dropped" or a mapping with keys verdict, reason and seenSource`
	case t == resourceType:
		return "a Kubernetes object (a mapping with apiVersion, kind, metadata and spec)"
	case t == listenType:
		return "a mapping such as {port: 8080, protocol: TCP, name: http}"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return "a " + t.Kind().String()
}

// describeNode says what a node is, for "got ..." in messages.
func describeNode(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.ShortTag() {
	case "!!str":
		return strconv.Quote(v)
	case "!!null":
		return "nothing"
	}
	return v
}

func (l *loader) emptyProblem() Problem {
	return Problem{Msg: "the file is empty: a scenario needs at least the keys name, vpc, nodes and cluster"}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserErrors are yaml.v3's parser (not scanner) messages. For these
// it prints the 0-based line where the enclosing mapping or sequence
// started, so the line is one too small.
var yamlParserErrors = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// syntaxProblem turns a yaml.v3 syntax error into a Problem. yaml.v3 gives
// a line but no column, and for parser errors the line where the enclosing
// block started; a tab in the indentation, the commonest cause, is located
// exactly.
func (l *loader) syntaxProblem(err error) Problem {
	msg := err.Error()
	var p Problem
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if slices.Contains(yamlParserErrors, msg) {
			p.Line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.Msg = "invalid YAML: " + msg
	switch {
	case p.Line == 0 && strings.HasPrefix(msg, "exceeded max depth"):
		if line, col, ok := yamlbound.FlowDepthAt(l.data, 10000); ok {
			p.Line, p.Column = line, col
		}
		p.Msg += ": lists and mappings nest at most 10000 deep"
	case p.Line == 0 && strings.Contains(msg, "excessive aliasing"):
		if l.root != nil {
			p.Line, p.Column = l.root.Line, l.root.Column
		}
		p.Msg = "the document is mostly copies of aliases, which the YAML decoder refuses (excessive aliasing): write the values out or share fewer of them"
	}
	for i, text := range l.lines {
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		col := strings.IndexByte(indent, '\t')
		if col < 0 {
			continue
		}
		if strings.Contains(msg, "tab") || p.Line == 0 || (i+1 >= p.Line-1 && i+1 <= p.Line+1) {
			p.Line, p.Column = i+1, col+1
			p.Msg += " (this line is indented with a tab: YAML indentation must use spaces)"
		}
		break
	}
	l.clampPosition(&p)
	return p
}

// clampPosition keeps a syntax error's position in the file: yaml.v3 may
// name the line after the last one (an unclosed bracket at the end), and
// gives no column; the column is then the line's first character.
func (l *loader) clampPosition(p *Problem) {
	n := len(l.lines)
	if n > 1 && l.lines[n-1] == "" {
		n-- // the file ends with a newline
	}
	atEnd := p.Line > n
	if !atEnd && p.Line >= 1 {
		atEnd = true // the line and every line after it are blank
		for _, text := range l.lines[p.Line-1:] {
			if strings.TrimSpace(text) != "" {
				atEnd = false
				break
			}
		}
	}
	if atEnd && p.Column == 0 {
		// yaml.v3 reached the end of the file inside a flow collection:
		// the bracket that opened it is what is wrong.
		if line, col, ok := yamlbound.UnclosedAt(l.data); ok {
			p.Line, p.Column = line, col
		}
	}
	if p.Line > n {
		p.Line = max(n, 1)
	}
	if p.Line >= 1 && p.Column == 0 {
		p.Column = 1
		if p.Line <= len(l.lines) {
			p.Column = yamlbound.SyntaxColumn(l.lines[p.Line-1], p.Msg)
		}
	}
}

var (
	yamlNotFoundRE  = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)
	yamlUnmarshalRE = regexp.MustCompile("^line (\\d+): cannot unmarshal (\\S+)(?: `(.*)`)? into (.+)$")
	yamlSetTwiceRE  = regexp.MustCompile(`^line (\d+): field (.+) already set in type \S+$`)
	yamlDupKeyRE    = regexp.MustCompile(`^line (\d+): mapping key "(.*)" already defined at line (\d+)$`)
	yamlAnyLineRE   = regexp.MustCompile(`^line (\d+): (.*)$`)
	goTypeRE        = regexp.MustCompile(`\b(?:\*|\[\])*[a-z][a-z0-9]*\.[A-Z]\w*`)
)

// rewriteYAMLError turns one of yaml.v3's decode messages, e.g.
// "line 3: field vpcs not found in type topology.Scenario", into a Problem
// with the YAML path, a column and no Go type names.
func (l *loader) rewriteYAMLError(msg string) Problem {
	if m := yamlNotFoundRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if k, meta, ok := l.keyAt(line, m[2]); ok {
			return l.unknownField(k, meta.parent, meta.known)
		}
		return Problem{Line: line, Msg: fmt.Sprintf("unknown field %q", m[2])}
	}
	if m := yamlUnmarshalRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		tag, value, goType := m[2], m[3], m[4]
		p := Problem{Line: line}
		got := value
		switch tag {
		case "!!str":
			got = strconv.Quote(value)
		case "!!map":
			got = "a mapping"
		case "!!seq":
			got = "a list"
		}
		if n := l.nodeAt(line, tag, value); n != nil {
			p.Column, p.Path, got = n.Column, l.paths[n], describeNode(n)
		}
		p.Msg = fmt.Sprintf("expected %s, got %s", expectedForGoType(goType), got)
		return p
	}
	for _, re := range []*regexp.Regexp{yamlSetTwiceRE, yamlDupKeyRE} {
		if m := re.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			p := Problem{Line: line, Path: m[2], Msg: fmt.Sprintf("%q is set twice", m[2])}
			if k, meta, ok := l.keyAt(line, m[2]); ok {
				p.Column, p.Path = k.Column, joinPath(meta.parent, m[2])
			}
			return p
		}
	}
	if m := yamlAnyLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Msg: goTypeRE.ReplaceAllString(m[2], "value")}
	}
	return Problem{Msg: goTypeRE.ReplaceAllString(strings.TrimPrefix(msg, "yaml: "), "value")}
}

// byLine indexes the nodes of m by their line, so that a lookup per error
// does not scan every node.
func byLine[V any](m map[*yaml.Node]V) map[int][]*yaml.Node {
	out := map[int][]*yaml.Node{}
	for n := range m {
		out[n.Line] = append(out[n.Line], n)
	}
	return out
}

// keyAt finds the mapping key node with the given text on a line.
func (l *loader) keyAt(line int, key string) (*yaml.Node, keyMeta, bool) {
	l.buildIndex()
	if l.keysByLine == nil {
		l.keysByLine = byLine(l.keys)
	}
	var best *yaml.Node
	for _, k := range l.keysByLine[line] {
		if k.Value == key && (best == nil || k.Column < best.Column) {
			best = k
		}
	}
	if best == nil {
		return nil, keyMeta{}, false
	}
	return best, l.keys[best], true
}

// nodeAt finds the value node yaml.v3 complained about: on the line, with
// the (possibly truncated, "abcdefg...") value it quoted.
func (l *loader) nodeAt(line int, tag, value string) *yaml.Node {
	l.buildIndex()
	if l.nodesByLine == nil {
		l.nodesByLine = byLine(l.paths)
	}
	var best *yaml.Node
	for _, n := range l.nodesByLine[line] {
		match := false
		switch {
		case tag == "!!map":
			match = n.Kind == yaml.MappingNode
		case tag == "!!seq":
			match = n.Kind == yaml.SequenceNode
		case strings.HasSuffix(value, "..."):
			match = n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, strings.TrimSuffix(value, "..."))
		default:
			match = n.Kind == yaml.ScalarNode && n.Value == value
		}
		if match && (best == nil || n.Column < best.Column) {
			best = n
		}
	}
	return best
}

// expectedForGoType is expectedFor for a Go type yaml.v3 printed by name.
func expectedForGoType(goType string) string {
	switch {
	case goType == "time.Duration":
		return expectedFor(durationType)
	case goType == "topology.Expect":
		return expectedFor(expectType)
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "a mapping"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return goType
}

// expectFields are the keys an expect mapping accepts.
var expectFields = []string{"verdict", "reason", "seenSource"}

// UnmarshalYAML decodes an Expect from either a scalar, the verdict
// ("delivered", "dropped"), or a mapping with the keys verdict, reason and
// seenSource. Unknown and repeated keys are errors (Node.Decode does not
// honour Decoder.KnownFields, so the keys are checked here).
func (e *Expect) UnmarshalYAML(n *yaml.Node) error {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.ScalarNode:
		var verdict string
		if err := n.Decode(&verdict); err != nil {
			return err
		}
		*e = Expect{Verdict: verdict}
		return nil
	case yaml.MappingNode:
		var errs []string
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			switch {
			case !slices.Contains(expectFields, k.Value):
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type topology.Expect", k.Line, k.Value))
			case seen[k.Value] > 0:
				errs = append(errs, fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, seen[k.Value]))
			default:
				seen[k.Value] = k.Line
			}
		}
		// Decode the known keys even when there are bad ones, so that
		// Validate can still judge them.
		type plain Expect // no UnmarshalYAML: no recursion
		var p plain
		if err := n.Decode(&p); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return err
			}
			errs = append(errs, te.Errors...)
		}
		*e = Expect(p)
		if len(errs) > 0 {
			return &yaml.TypeError{Errors: errs}
		}
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s into topology.Expect", n.Line, n.ShortTag())}}
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
