package k8s

import (
	"netsim/internal/prose"

	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem with a manifest object.
type Error struct {
	// File is the manifest (or scenario) file.
	File string
	// Line and Column locate the field, or the nearest enclosing field
	// present in the file (the document's first line for a missing
	// top-level field); 1-based, 0 when unknown.
	Line, Column int
	// Object names the object, "Kind namespace/name" ("Service
	// default/web"), or the document ("document 2") before its kind and
	// name are known.
	Object string
	// Path is the field path in File: the Kubernetes field path
	// ("spec.ports[0].port"), after the object's own path for an object
	// inline in a scenario ("resources[2].spec.ports[0].port"); "" for the
	// object as a whole.
	Path string
	// Msg says what is wrong and what was expected.
	Msg string
}

// Error formats the problem as FILE:LINE:COL: PATH: OBJECT: MSG, leaving
// out the parts that are unknown.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message())
	return b.String()
}

// Message is the object and the message: "Service default/web: MSG".
func (e Error) Message() string {
	if e.Object == "" {
		return e.Msg
	}
	return e.Object + ": " + e.Msg
}

// Errors is every problem found; it is the error the decoder returns.
type Errors []Error

// Error lists the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns es as an error, or nil when there is no problem.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Sort orders the problems by file (in the order the files first appear),
// then line and column. Problems at the same place keep their order.
func (es Errors) Sort() {
	order := map[string]int{}
	for _, e := range es {
		if _, ok := order[e.File]; !ok {
			order[e.File] = len(order)
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return order[a.File] < order[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Source is where an object was declared: its file, its position, and
// the positions of its fields.
type Source struct {
	// File is the manifest file, or the scenario file for an inline object.
	File string
	// Path is the object's own field path in File: "" for a manifest
	// document, "resources[2]" for an object inline in a scenario.
	Path string
	// Line and Column are where the object (its mapping) starts.
	Line, Column int
	idx          *index
}

// At returns the line and column of the field at path (a Kubernetes field
// path such as "spec.ports[0].nodePort"), or of its nearest enclosing
// field present in the file, or of the object.
func (s Source) At(path string) (line, column int) {
	if s.idx != nil {
		if n := s.idx.nearest(path); n != nil {
			return n.Line, n.Column
		}
	}
	return s.Line, s.Column
}

// FieldPath is path inside the file: the object's own path, then path.
func (s Source) FieldPath(path string) string {
	switch {
	case s.Path == "":
		return path
	case path == "":
		return s.Path
	case strings.HasPrefix(path, "["):
		return s.Path + path
	}
	return s.Path + "." + path
}

// String is "FILE:LINE", where the object starts.
func (s Source) String() string {
	if s.Line == 0 {
		return s.File
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

func (s Source) errorf(object, path, format string, args ...any) Error {
	e := Error{File: s.File, Object: object, Path: s.FieldPath(path), Msg: fmt.Sprintf(format, args...)}
	e.Line, e.Column = s.At(path)
	return e
}

// thousands writes n with commas between groups of three digits (20,000),
// as topology's messages write counts.
var thousands = prose.Thousands[int64]
