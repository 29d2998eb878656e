package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"

	"netsim/topology/hint"
	"netsim/topology/yamlbound"
)

// Options configure a Decoder.
type Options struct {
	// Nodes are the scenario's node names, in order. A pod's spec.nodeName
	// must be one of them; pods without one are placed round-robin over
	// them. With no nodes, spec.nodeName is not checked and pods are left
	// unplaced.
	Nodes []string
	// Seed seeds the random part of generated pod names.
	Seed int64
}

// kindInfo is one accepted kind.
type kindInfo struct {
	apiVersion, kind string
	newObj           func() runtime.Object
}

// Kinds lists the accepted kinds, "Kind (apiVersion)".
func Kinds() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.kind + " (" + k.apiVersion + ")"
	}
	return out
}

var kinds = []kindInfo{
	{"v1", "Pod", func() runtime.Object { return &corev1.Pod{} }},
	{"apps/v1", "Deployment", func() runtime.Object { return &appsv1.Deployment{} }},
	{"v1", "Service", func() runtime.Object { return &corev1.Service{} }},
	{"v1", "Endpoints", func() runtime.Object { return &corev1.Endpoints{} }},
	{"discovery.k8s.io/v1", "EndpointSlice", func() runtime.Object { return &discoveryv1.EndpointSlice{} }},
	{"networking.k8s.io/v1", "NetworkPolicy", func() runtime.Object { return &networkingv1.NetworkPolicy{} }},
	{"networking.k8s.io/v1", "Ingress", func() runtime.Object { return &networkingv1.Ingress{} }},
	{"v1", "Namespace", func() runtime.Object { return &corev1.Namespace{} }},
}

// codec is apimachinery's JSON serializer in strict mode: unknown and
// duplicate fields are reported with their field paths (sigs.k8s.io/json),
// case-sensitively, as the API server's strict field validation does.
var codec runtime.Decoder

func init() {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(appsv1.AddToScheme(scheme))
	utilruntime.Must(discoveryv1.AddToScheme(scheme))
	utilruntime.Must(networkingv1.AddToScheme(scheme))
	codec = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: false, Pretty: false, Strict: true})
}

// Decoder decodes manifests: files with one or more YAML documents, and
// objects inline in a scenario. Call Objects when done.
type Decoder struct {
	opts Options
	errs Errors
	objs Objects
	// items are the pod sources in declaration order: *Pod or *template.
	items []any
	seen  map[string]*Meta
	done  bool
	// stopped is set once MaxErrors were collected.
	stopped bool
	// src and srcLines are the last scenario text inline objects came
	// from, split into lines once.
	src      []byte
	srcLines []string
}

// NewDecoder returns a Decoder.
func NewDecoder(opts Options) *Decoder {
	return &Decoder{opts: opts, seen: map[string]*Meta{}}
}

// DecodeFile reads and decodes the manifest file at path. The file must be
// a regular file of at most yamlbound.MaxFileBytes (16 MiB).
func (d *Decoder) DecodeFile(path string) {
	if d.stopped {
		return
	}
	data, err := yamlbound.ReadFile(path, "manifest")
	if err != nil {
		msg := err.Error()
		var fe *yamlbound.FileError
		if errors.As(err, &fe) {
			msg = fe.Msg
		}
		d.errs = append(d.errs, Error{File: path, Msg: msg})
		return
	}
	d.Decode(path, data)
}

// Decode decodes a manifest: one or more YAML documents separated by
// "---" lines, as kubectl reads them. file names it in messages. A UTF-8
// byte order mark at the start is skipped; text that is not UTF-8 YAML
// (a NUL or other control character, invalid UTF-8) is refused at its
// first bad byte, and the documents of one file together may expand
// through aliases to at most yamlbound.MaxNodes nodes.
func (d *Decoder) Decode(file string, data []byte) {
	data = bytes.TrimPrefix(data, []byte(yamlbound.BOM))
	if tp := yamlbound.CheckText(data, "manifest"); tp != nil {
		d.errs = append(d.errs, Error{File: file, Line: tp.Line, Column: tp.Column, Msg: tp.Msg})
		return
	}
	budget := yamlbound.NewBudget()
	n := 0
	for i, ch := range splitDocuments(data) {
		if d.full(file, ch.line) {
			return
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(ch.text, &doc); err != nil {
			d.errs = append(d.errs, syntaxError(file, ch, err))
			continue
		}
		if e := budget.Check(&doc); e != nil {
			// Positions: the document's lines are its own until shifted.
			d.errs = append(d.errs, Error{File: file, Line: e.Line + ch.line - 1, Column: e.Column, Path: e.Path, Object: docLabel(i), Msg: e.Msg})
			return
		}
		shiftLines(&doc, ch.line-1)
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, as kubectl skips them
		}
		n++
		root := resolveAlias(doc.Content[0])
		if root.Kind != yaml.MappingNode {
			d.errs = append(d.errs, Error{File: file, Line: root.Line, Column: root.Column, Object: docLabel(i),
				Msg: "a Kubernetes object is a mapping with apiVersion, kind, metadata and spec; got " + yamlbound.Describe(root)})
			continue
		}
		d.decodeObject(file, "", docLabel(i), root, ch.text, ch.line-1)
	}
	if n == 0 && !slices.ContainsFunc(d.errs, func(e Error) bool { return e.File == file }) {
		d.errs = append(d.errs, Error{File: file, Msg: "no Kubernetes object in the file: expected YAML documents with apiVersion, kind and metadata (" + strings.Join(Kinds(), ", ") + ")"})
	}
}

// DecodeNode decodes one object inline in another YAML file (a scenario's
// resources): n is its mapping node in the file whose text is src, and
// path its field path there ("resources[2]"). Positions in messages are
// positions in that file.
func (d *Decoder) DecodeNode(file string, src []byte, n *yaml.Node, path string) {
	if d.full(file, n.Line) {
		return
	}
	if e := yamlbound.Check(n); e != nil {
		d.errs = append(d.errs, Error{File: file, Line: e.Line, Column: e.Column, Path: Source{Path: path}.FieldPath(e.Path), Msg: e.Msg})
		return
	}
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.errs = append(d.errs, Error{File: file, Line: n.Line, Column: n.Column, Path: path,
			Msg: "expected a Kubernetes object: a mapping with apiVersion, kind, metadata and spec; got " + yamlbound.Describe(n)})
		return
	}
	if len(src) == 0 || len(d.srcLines) == 0 || len(src) != len(d.src) || &src[0] != &d.src[0] {
		d.src, d.srcLines = src, strings.SplitAfter(string(src), "\n")
	}
	text, off := inlineText(d.srcLines, n)
	d.decodeObject(file, path, path, n, text, off)
}

// MaxErrors is the most problems a Decoder collects: past it, it stops
// decoding (one more Error says where).
const MaxErrors = 10_000

// full reports whether MaxErrors were collected, and says so once, at the
// given line of file.
func (d *Decoder) full(file string, line int) bool {
	if d.stopped {
		return true
	}
	if len(d.errs) < MaxErrors {
		return false
	}
	d.stopped = true
	d.errs = append(d.errs, Error{File: file, Line: line, Msg: fmt.Sprintf("more than %d problems: netsim stopped checking here", MaxErrors)})
	return true
}

// chunk is one document of a manifest.
type chunk struct {
	text []byte
	line int // first line of the document
}

// shiftLines adds off to the line of every node of the tree at n (aliases
// are not followed: their targets are in the tree), so that a document
// parsed on its own has its lines in the file.
func shiftLines(n *yaml.Node, off int) {
	if off == 0 || n == nil {
		return
	}
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Line > 0 {
			n.Line += off
		}
		stack = append(stack, n.Content...)
	}
}

// splitDocuments splits a manifest at "---" lines (a line that is "---",
// possibly followed by spaces or a comment), like kubectl's YAML reader.
// A document's text is its own lines (its line numbers are shifted by
// line-1 in the file): linear in the file's size, whatever the number of
// documents.
func splitDocuments(data []byte) []chunk {
	lines := strings.SplitAfter(string(data), "\n")
	var out []chunk
	start := 0
	flush := func(end int) {
		if end > start || (end == start && len(out) == 0) {
			text := strings.Join(lines[start:end], "")
			out = append(out, chunk{text: []byte(text), line: start + 1})
		}
	}
	for i, l := range lines {
		if isSeparator(l) {
			flush(i)
			start = i + 1
		}
	}
	flush(len(lines))
	return out
}

func isSeparator(line string) bool {
	if !strings.HasPrefix(line, "---") {
		return false
	}
	rest := strings.TrimSpace(line[3:])
	return rest == "" || strings.HasPrefix(rest, "#")
}

func isNull(n *yaml.Node) bool {
	n = resolveAlias(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserErrors are yaml.v3's parser messages, for which it reports the
// (0-based) line where the enclosing block started: one too small.
var yamlParserErrors = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected node content",
}

func syntaxError(file string, ch chunk, err error) Error {
	line := 1 // in the document
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if slices.Contains(yamlParserErrors, msg) {
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	e := Error{File: file, Msg: "invalid YAML: " + msg}
	lines := strings.Split(string(ch.text), "\n")
	n := len(lines)
	if n > 1 && lines[n-1] == "" {
		n-- // the document ends with a newline
	}
	// yaml.v3 may name the line after the last (an unclosed bracket): the
	// bracket is then what is wrong.
	if line > n {
		if l, c, ok := yamlbound.UnclosedAt(ch.text); ok {
			return Error{File: file, Line: l + ch.line - 1, Column: c, Msg: "invalid YAML: " + msg}
		}
	}
	line = max(min(line, n), 1)
	e.Line, e.Column = line+ch.line-1, 1
	l := lines[line-1]
	if indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]; strings.Contains(indent, "\t") {
		e.Column = strings.IndexByte(indent, '\t') + 1
		e.Msg += " (this line is indented with a tab: YAML indentation must use spaces)"
	} else {
		e.Column = yamlbound.SyntaxColumn(l, msg)
	}
	return e
}

// inlineText returns YAML text holding only the object at n (a node of
// the file whose lines are lines) and the number of lines before it: the
// lines of the object, the text before it on its first line ("  - ")
// blanked, so that its columns are the file's and its lines are off
// lines further on. When that does not reproduce the object (odd layouts,
// aliases to anchors outside it), the object is re-encoded as JSON
// instead (off is then -1: the JSON's lines are not the file's).
func inlineText(lines []string, n *yaml.Node) ([]byte, int) {
	if n.Line >= 1 && n.Line <= len(lines) && n.Column >= 1 {
		first := lines[n.Line-1]
		indent := n.Column - 1
		if indent <= len(first) && strings.Trim(first[:indent], " -") == "" {
			var b strings.Builder
			b.WriteString(strings.Repeat(" ", indent))
			b.WriteString(first[indent:])
			for _, l := range lines[n.Line:] {
				t := strings.TrimLeft(l, " ")
				if t != "" && t != "\n" && !strings.HasPrefix(t, "#") && len(l)-len(t) < indent {
					break
				}
				b.WriteString(l)
			}
			text := []byte(b.String())
			var doc yaml.Node
			if yaml.Unmarshal(text, &doc) == nil && len(doc.Content) == 1 {
				r := resolveAlias(doc.Content[0])
				if r.Kind == yaml.MappingNode && r.Line == 1 && r.Column == n.Column && len(r.Content) == len(n.Content) {
					return text, n.Line - 1
				}
			}
		}
	}
	var v any
	if err := n.Decode(&v); err == nil {
		if j, err := json.Marshal(v); err == nil {
			return j, -1
		}
	}
	out, _ := yaml.Marshal(n)
	return out, -1
}

// docCtx is the object being decoded.
type docCtx struct {
	src    Source
	object string
	root   *yaml.Node
	text   []byte
	off    int // lines before text's first line in the file; -1: not the file's text
	errs   []Error
}

func (dc *docCtx) errAt(n *yaml.Node, path, format string, args ...any) {
	e := Error{File: dc.src.File, Object: dc.object, Path: dc.src.FieldPath(path), Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	} else {
		e.Line, e.Column = dc.src.At(path)
	}
	dc.errs = append(dc.errs, e)
}

// decodeObject decodes, defaults, validates and records one object.
// text is the object's YAML text, whose line 1 is line off+1 of file.
func (d *Decoder) decodeObject(file, base, label string, root *yaml.Node, text []byte, off int) {
	ix := newIndex(root)
	dc := &docCtx{src: Source{File: file, Path: base, Line: root.Line, Column: root.Column, idx: ix}, object: label, root: root, text: text, off: off}
	defer func() { d.errs = append(d.errs, dc.errs...) }()

	if kind, _ := scalar(root, "kind"); kind != "" {
		name, _ := scalar(root, "metadata", "name")
		ns, _ := scalar(root, "metadata", "namespace")
		if ns == "" {
			ns = defaultNamespace
		}
		if name == "" {
			name = "(no name)"
		}
		dc.object = kind + " " + ns + "/" + name
		if kind == "Namespace" {
			dc.object = kind + " " + name // cluster-scoped
		}
	}
	for _, dup := range ix.dups {
		dc.errAt(dup.key, dup.path, "%q is set twice (first at line %d)", dup.key.Value, dup.firstLine)
	}
	for _, nl := range ix.nulls {
		dc.errAt(nl.node, nl.path, "an empty list item: remove the stray '-' or give it a value")
	}
	ki, ok := dc.kind()
	if !ok {
		return
	}

	obj := dc.strictDecode(ki)
	if obj == nil {
		return
	}
	broken := len(dc.errs) > 0
	c := &conv{d: d, src: dc.src, object: dc.object}
	var meta *Meta
	switch o := obj.(type) {
	case *corev1.Pod:
		p := c.pod(o)
		meta = &p.Meta
		d.items = append(d.items, p)
	case *appsv1.Deployment:
		t := c.deployment(o)
		meta = &t.dep.Meta
		d.objs.Deployments = append(d.objs.Deployments, t.dep)
		d.items = append(d.items, t)
	case *corev1.Service:
		s := c.service(o)
		meta = &s.Meta
		d.objs.Services = append(d.objs.Services, s)
	case *corev1.Endpoints:
		e := c.endpoints(o)
		meta = &e.Meta
		d.objs.Endpoints = append(d.objs.Endpoints, e)
	case *discoveryv1.EndpointSlice:
		e := c.endpointSlice(o)
		meta = &e.Meta
		d.objs.Endpoints = append(d.objs.Endpoints, e)
	case *networkingv1.NetworkPolicy:
		p := c.networkPolicy(o)
		meta = &p.Meta
		d.objs.NetworkPolicies = append(d.objs.NetworkPolicies, p)
	case *networkingv1.Ingress:
		in := c.ingress(o)
		meta = &in.Meta
		d.objs.Ingresses = append(d.objs.Ingresses, in)
	case *corev1.Namespace:
		ns := c.namespace(o)
		meta = &ns.Meta
		d.objs.Namespaces = append(d.objs.Namespaces, ns)
	}
	// Problems found by validation after a decoding problem are mostly
	// its consequences (a misspelt field is a missing one): only the
	// decoding problems are reported, as the API server would.
	if !broken {
		dc.errs = append(dc.errs, c.errs...)
		d.objs.Warnings = append(d.objs.Warnings, c.warns...)
	}
	if meta != nil && meta.Name != "" {
		key := meta.Kind + "/" + meta.Namespace + "/" + meta.Name
		if first, dup := d.seen[key]; dup {
			what := "the same namespace and name"
			if meta.Kind == "Namespace" {
				what = "the same name"
			}
			dc.errs = append(dc.errs, meta.Errorf("metadata.name", "already defined at %s: two %s objects cannot have %s", first.Source, meta.Kind, what))
		} else {
			d.seen[key] = meta
		}
	}
}

// kind checks apiVersion and kind against the accepted kinds.
func (dc *docCtx) kind() (kindInfo, bool) {
	apiVersion, avNode := scalar(dc.root, "apiVersion")
	kind, kindNode := scalar(dc.root, "kind")
	var names []string
	var sameKind *kindInfo
	for i, k := range kinds {
		names = append(names, k.kind)
		if k.kind == kind {
			sameKind = &kinds[i]
		}
	}
	if kind == "" {
		dc.errAt(nil, "kind", "required: the object's kind (netsim accepts %s)", strings.Join(Kinds(), ", "))
		return kindInfo{}, false
	}
	if sameKind == nil {
		dc.errAt(kindNode, "kind", "kind %q is not supported: netsim accepts %s%s", kind, andList(names), hint.DidYouMean(kind, names))
		return kindInfo{}, false
	}
	if apiVersion == "" {
		dc.errAt(nil, "apiVersion", "required: %s is served at apiVersion %s", kind, sameKind.apiVersion)
		return kindInfo{}, false
	}
	if apiVersion != sameKind.apiVersion {
		dc.errAt(avNode, "apiVersion", "%s is not served at apiVersion %q: use apiVersion: %s", kind, apiVersion, sameKind.apiVersion)
		return kindInfo{}, false
	}
	return *sameKind, true
}

// strictDecode decodes the document into its Kubernetes type with
// apimachinery's strict JSON serializer. encoding/json stops at the first
// value of the wrong type: that value is reported, removed, and the
// decoding repeated, so that every such value and every unknown field is
// reported at once.
func (dc *docCtx) strictDecode(ki kindInfo) runtime.Object {
	// The comment line keeps ToJSON from taking a flow mapping ("{a: 1}")
	// for JSON: it converts YAML with Kubernetes' own reader (YAML 1.1,
	// sigs.k8s.io/yaml). It shifts the lines by one.
	data, err := yamlutil.ToJSON(append([]byte("#\n"), dc.text...))
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		e := Error{File: dc.src.File, Line: dc.src.Line, Column: dc.src.Column, Object: dc.object, Path: dc.src.Path}
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil && dc.off >= 0 {
			e.Line, _ = strconv.Atoi(m[1])
			e.Line += dc.off - 1
			e.Column = 0
			msg = m[2]
		} else if m != nil {
			msg = m[2]
		}
		e.Msg = "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")
		dc.errs = append(dc.errs, e)
		return nil
	}
	var generic any
	reported := map[string]bool{}
	for range 200 {
		obj, _, err := codec.Decode(data, nil, nil)
		if err == nil {
			return obj
		}
		if se, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range se.Errors() {
				dc.strictError(ki, e)
			}
			return obj
		}
		te, ok := parseTypeError(err.Error())
		var at *entry
		if ok {
			if generic == nil {
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.UseNumber()
				if dec.Decode(&generic) != nil {
					generic = nil
				}
			}
			at = dc.src.idx.locate(te, generic)
		}
		if at == nil || reported[at.path] {
			dc.errAt(nil, "", "cannot decode the object: %s", cleanGoTypes(err.Error()))
			return nil
		}
		reported[at.path] = true
		expected := expectedFor(te.goType)
		if ft := fieldType(reflect.TypeOf(ki.newObj()), at.path); ft != nil {
			expected = expectedForType(ft, expected)
		}
		msg := fmt.Sprintf("expected %s, got %s", expected, describeNode(at.val))
		if te.goType == "string" && (te.value == "bool" || strings.HasPrefix(te.value, "number")) {
			what := "number"
			if te.value == "bool" {
				what = "boolean"
			}
			msg += fmt.Sprintf(" (YAML reads it as a %s: write it in quotes, %q)", what, resolveAlias(at.val).Value)
		}
		dc.errAt(at.val, at.path, "%s", msg)
		generic = removeAt(generic, at.segs)
		if data, err = json.Marshal(generic); err != nil {
			return nil
		}
	}
	return nil
}

// typeError is encoding/json's "cannot unmarshal" error, parsed.
type typeError struct {
	value  string // "string", "number", "number 1.5", "bool", "object", "array"
	field  string // "spec.ports.port" (no list indexes); "" when unknown
	goType string // "int32", "[]v1.ServicePort", ...
}

var (
	typeErrFieldRE = regexp.MustCompile(`^json: cannot unmarshal (.+?) into Go struct field [^.\s]+\.(\S+) of type (.+)$`)
	typeErrValueRE = regexp.MustCompile(`^json: cannot unmarshal (.+?) into Go value of type (.+)$`)
	goTypeRE       = regexp.MustCompile(`\b(?:\*|\[\])*[a-z][a-z0-9]*\.[A-Z]\w*`)
)

func parseTypeError(msg string) (typeError, bool) {
	if m := typeErrFieldRE.FindStringSubmatch(msg); m != nil {
		return typeError{value: m[1], field: m[2], goType: m[3]}, true
	}
	if m := typeErrValueRE.FindStringSubmatch(msg); m != nil {
		return typeError{value: m[1], goType: m[2]}, true
	}
	return typeError{}, false
}

// locate finds the value a type error is about: the first field, in
// document order, at the error's path (or an element of a map there)
// whose JSON value is of the kind the error names.
func (ix *index) locate(te typeError, generic any) *entry {
	if te.field == "" || generic == nil {
		return nil
	}
	want := strings.Fields(te.value)[0]
	for _, exact := range []bool{true, false} {
		for i := range ix.entries {
			e := &ix.entries[i]
			p := stripIndexes(e.path)
			if exact && p != te.field || !exact && (e.path == "" || stripIndexes(e.parent) != te.field) {
				continue
			}
			if jsonKind(valueAt(generic, e.segs)) == want {
				return e
			}
		}
	}
	return nil
}

func valueAt(v any, segs []any) any {
	for _, s := range segs {
		switch s := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return missing{}
			}
			if v, ok = m[s]; !ok {
				return missing{}
			}
		case int:
			l, ok := v.([]any)
			if !ok || s >= len(l) {
				return missing{}
			}
			v = l[s]
		}
	}
	return v
}

type missing struct{}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return ""
}

// removeAt deletes the map key at segs, or nulls the list element there
// (deleting it would shift the indexes of the ones after it).
func removeAt(v any, segs []any) any {
	if len(segs) == 0 {
		return nil
	}
	switch s := segs[0].(type) {
	case string:
		if m, ok := v.(map[string]any); ok {
			if len(segs) == 1 {
				delete(m, s)
			} else if c, ok := m[s]; ok {
				m[s] = removeAt(c, segs[1:])
			}
		}
	case int:
		if l, ok := v.([]any); ok && s < len(l) {
			if len(segs) == 1 {
				l[s] = nil
			} else {
				l[s] = removeAt(l[s], segs[1:])
			}
		}
	}
	return v
}

// expectedFor names what a value of the Go type (as encoding/json prints
// it) looks like in YAML.
func expectedFor(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case goType == "intstr.IntOrString":
		return "a port number or a port name"
	case goType == "resource.Quantity":
		return "a quantity such as 500m or 1Gi"
	case goType == "v1.Time", goType == "v1.MicroTime":
		return "a time such as 2026-01-01T00:00:00Z"
	case strings.HasPrefix(goType, "v1."):
		// Named string types (v1.Protocol, v1.ServiceType) are strings;
		// structs are mappings. Neither is told apart by name alone.
		return "a value of type " + strings.TrimPrefix(goType, "v1.")
	}
	return "a value of type " + goType
}

// expectedForType names what a value of Go type t looks like in YAML;
// def when the type has its own JSON form.
func expectedForType(t reflect.Type, def string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == intOrStringType {
		return "a port number or a port name"
	}
	if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return def // Quantity, Time: their own forms
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a mapping"
	case reflect.Struct:
		if names := jsonFields(t); len(names) > 0 {
			return fmt.Sprintf("a mapping (a %s: %s)", t.Name(), strings.Join(fieldNames(t, 4), ", "))
		}
		return "a mapping"
	}
	return def
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// fieldNames lists up to n JSON field names of struct t, in order.
func fieldNames(t reflect.Type, n int) []string {
	var names []string
	collectJSONNames(t, &names)
	if len(names) > n {
		names = append(names[:n], "...")
	}
	return names
}

func cleanGoTypes(msg string) string {
	msg = strings.TrimPrefix(msg, "json: ")
	return goTypeRE.ReplaceAllStringFunc(msg, func(s string) string {
		_, name, _ := strings.Cut(s, ".")
		return name
	})
}

// strictError reports one of the strict decoder's errors: an unknown or
// duplicate field, named by its field path.
func (dc *docCtx) strictError(ki kindInfo, err error) {
	fe, ok := err.(interface{ FieldPath() string })
	if !ok {
		// yaml-level duplicate keys: the index walk reported them.
		if strings.Contains(err.Error(), "already set in map") || strings.Contains(err.Error(), "already defined") {
			return
		}
		dc.errAt(nil, "", "%s", cleanGoTypes(err.Error()))
		return
	}
	path := fe.FieldPath()
	name := path
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		name = strings.TrimPrefix(path[i+1:], ".")
	}
	switch {
	case strings.HasPrefix(err.Error(), "unknown field"):
		msg := fmt.Sprintf("unknown field %q", name)
		if known, typ := knownFields(reflect.TypeOf(ki.newObj()), parentPath(path)); known != nil {
			// A field already set next to the unknown one is not what
			// was meant ("prot" next to "port" is "protocol").
			set := dc.src.idx.siblings(path)
			known = slices.DeleteFunc(slices.Clone(known), func(k string) bool { return slices.Contains(set, k) })
			if s := hint.Suggest(name, known); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", s[0])
			} else if len(known) <= 12 {
				msg += fmt.Sprintf(" (%s fields are: %s)", typ, strings.Join(known, ", "))
			} else {
				msg += fmt.Sprintf(" (not a field of %s)", typ)
			}
		}
		dc.errAt(dc.src.idx.keyAt(path), path, "%s", msg)
	case strings.HasPrefix(err.Error(), "duplicate field"):
		dc.errAt(dc.src.idx.keyAt(path), path, "%q is set twice", name)
	default:
		dc.errAt(dc.src.idx.keyAt(path), path, "%s", err.Error())
	}
}

var intOrStringType = reflect.TypeFor[intstr.IntOrString]()

// fieldType returns the Go type of the field at path inside type t (nil
// when the path leaves the types).
func fieldType(t reflect.Type, path string) reflect.Type {
	for _, seg := range splitPath(path) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case seg == "[]":
			if t.Kind() != reflect.Slice {
				return nil
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			ft, ok := jsonFields(t)[seg]
			if !ok {
				return nil
			}
			t = ft
		default:
			return nil
		}
	}
	return t
}

// knownFields lists the JSON field names of the struct at path inside
// type t, and the struct's name.
func knownFields(t reflect.Type, path string) ([]string, string) {
	for _, seg := range splitPath(path) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case seg == "[]":
			if t.Kind() != reflect.Slice {
				return nil, ""
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			ft, ok := jsonFields(t)[seg]
			if !ok {
				return nil, ""
			}
			t = ft
		default:
			return nil, ""
		}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, ""
	}
	var names []string
	collectJSONNames(t, &names)
	return names, t.Name()
}

// splitPath splits "spec.ports[0].x" into "spec", "ports", "[]", "x".
func splitPath(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			continue
		}
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			out = append(out, "[]")
			_, rest, _ = strings.Cut(rest, "[")
		}
	}
	return out
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func collectJSONNames(t reflect.Type, names *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectJSONNames(ft, names)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		*names = append(*names, name)
	}
}
