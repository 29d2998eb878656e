package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"netsim/dataplane/trace"
)

// DiffSide names one of the two scenarios of a diff.
type DiffSide struct {
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	CNI      string `json:"cni"`
}

// FieldDiff is one field of a flow that differs between the scenarios.
type FieldDiff struct {
	// Field is "verdict", "where", "seen source", "responders", "path" or
	// "reply".
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// FlowDiff compares one flow, matched by name.
type FlowDiff struct {
	Name string `json:"name"`
	// OnlyIn is "a" or "b" when the flow exists in one scenario only.
	OnlyIn string `json:"only_in,omitempty"`
	// A and B are the verdict lines of each side ("" when absent).
	A string `json:"a,omitempty"`
	B string `json:"b,omitempty"`
	// Fields are the differences (none: the flow behaves the same).
	Fields []FieldDiff `json:"fields,omitempty"`
}

// Same reports whether the flow exists in both and nothing differs.
func (f FlowDiff) Same() bool { return f.OnlyIn == "" && len(f.Fields) == 0 }

// CellDiff is a matrix cell whose outcome differs.
type CellDiff struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	// A and B are the outcomes: "allowed", "denied (reason …)", "absent"
	// (the pod or column is not in that scenario).
	A string `json:"a"`
	B string `json:"b"`
}

// Diff is what differs between two scenarios' runs (and matrices).
type Diff struct {
	Schema int        `json:"schema"`
	A      DiffSide   `json:"a"`
	B      DiffSide   `json:"b"`
	Flows  []FlowDiff `json:"flows"`
	// Matrix is set when the matrices were compared; Cells are the
	// differing cells.
	Matrix bool       `json:"matrix,omitempty"`
	Cells  []CellDiff `json:"cells,omitempty"`
	// MatrixCells is how many cells were compared.
	MatrixCells int `json:"matrix_cells,omitempty"`
}

// Same reports whether no flow and no cell differs.
func (d *Diff) Same() bool {
	for _, f := range d.Flows {
		if !f.Same() {
			return false
		}
	}
	return len(d.Cells) == 0
}

// DiffResults compares two runs flow by flow, matched by name: the flows
// of a in order, then those only in b. Run them with Options.Trace so that
// the paths (the minimal trace of the first exchange) are compared.
func DiffResults(a, b *Result) *Diff {
	d := &Diff{Schema: SchemaVersion,
		A: DiffSide{Scenario: a.Scenario, File: a.File, CNI: a.CNI},
		B: DiffSide{Scenario: b.Scenario, File: b.File, CNI: b.CNI}}
	inB := map[string]*FlowResult{}
	for _, f := range b.Flows {
		inB[f.Name] = f
	}
	inA := map[string]bool{}
	for _, fa := range a.Flows {
		inA[fa.Name] = true
		fb := inB[fa.Name]
		if fb == nil {
			d.Flows = append(d.Flows, FlowDiff{Name: fa.Name, OnlyIn: "a", A: VerdictLine(fa)})
			continue
		}
		d.Flows = append(d.Flows, diffFlow(fa, fb))
	}
	for _, fb := range b.Flows {
		if !inA[fb.Name] {
			d.Flows = append(d.Flows, FlowDiff{Name: fb.Name, OnlyIn: "b", B: VerdictLine(fb)})
		}
	}
	return d
}

func diffFlow(a, b *FlowResult) FlowDiff {
	fd := FlowDiff{Name: a.Name, A: VerdictLine(a), B: VerdictLine(b)}
	add := func(field, x, y string) {
		if x != y {
			fd.Fields = append(fd.Fields, FieldDiff{Field: field, A: x, B: y})
		}
	}
	add("verdict", verdictText(a), verdictText(b))
	add("where", a.Verdict.Where, b.Verdict.Where)
	add("seen source", a.SeenSource, b.SeenSource)
	add("responders", responders(a), responders(b))
	pa, ra := flowPath(a)
	pb, rb := flowPath(b)
	add("path", pa, pb)
	add("reply", ra, rb)
	return fd
}

func responders(f *FlowResult) string {
	if len(f.Responders) <= 1 {
		return "" // one responder is the destination: compared by path
	}
	return dropCounts(&FlowResult{Dropped: f.Responders})
}

// flowPath is the request's path and the reply's, as the minimal trace
// level prints them, of the first exchange.
func flowPath(f *FlowResult) (path, reply string) {
	xs := trace.Exchanges(f.Hops)
	if len(xs) == 0 {
		return "", ""
	}
	var b bytes.Buffer
	trace.WriteMinimal(&b, xs[0], 0)
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "path:"):
			path = strings.TrimSpace(strings.TrimPrefix(l, "path:"))
		case strings.HasPrefix(l, "reply:"):
			reply = strings.TrimSpace(strings.TrimPrefix(l, "reply:"))
		}
	}
	return path, reply
}

// AddMatrices compares two matrices cell by cell (matched by source,
// destination, port and protocol) and records the cells that differ:
// allowed on one side and not on the other, or denied for another reason.
func (d *Diff) AddMatrices(a, b *Matrix) {
	d.Matrix = true
	seen := map[cellKey]bool{}
	outcome := func(c MatrixCell, ok bool) string {
		switch {
		case !ok:
			return "absent"
		case c.Self:
			return "self"
		case c.Allowed:
			return "allowed"
		}
		s := "denied (" + c.Reason
		if c.Direction != "" {
			s += ", " + c.Direction
		}
		if c.Policy != "" {
			s += ", " + c.Policy
		}
		return s + ")"
	}
	cmp := func(c MatrixCell) {
		k := cellKey{c.From, c.To, c.Protocol, c.Port}
		if seen[k] {
			return
		}
		seen[k] = true
		d.MatrixCells++
		ca, oka := a.Cell(c.From, c.To, c.Port, c.Protocol)
		cb, okb := b.Cell(c.From, c.To, c.Port, c.Protocol)
		x, y := outcome(ca, oka), outcome(cb, okb)
		if x != y {
			d.Cells = append(d.Cells, CellDiff{From: c.From, To: c.To, Port: c.Port, Protocol: c.Protocol, A: x, B: y})
		}
	}
	for _, c := range a.Cells {
		cmp(c)
	}
	for _, c := range b.Cells {
		cmp(c)
	}
}

// WriteDiffText writes the diff for people: a header naming both sides,
// each flow that differs with its differing fields (a: and b: lines), the
// flows only in one scenario, the differing matrix cells, and a summary.
func WriteDiffText(w io.Writer, d *Diff) {
	ww := func(prefix, text string) { trace.WriteWrapped(w, prefix, text, 0) }
	ww("a: ", fmt.Sprintf("scenario %s (%s): CNI %s", d.A.Scenario, d.A.File, d.A.CNI))
	ww("b: ", fmt.Sprintf("scenario %s (%s): CNI %s", d.B.Scenario, d.B.File, d.B.CNI))
	same, differ, only := 0, 0, 0
	var sameNames []string
	for _, f := range d.Flows {
		switch {
		case f.OnlyIn != "":
			only++
			line := f.A
			if f.OnlyIn == "b" {
				line = f.B
			}
			fmt.Fprintln(w)
			ww("", fmt.Sprintf("flow %s: only in %s: %s", f.Name, f.OnlyIn, line))
		case f.Same():
			same++
			sameNames = append(sameNames, f.Name)
		default:
			differ++
			fmt.Fprintln(w)
			ww("", "flow "+f.Name+": differs")
			for _, x := range f.Fields {
				label := fmt.Sprintf("  %-12s ", x.Field+":")
				pad := strings.Repeat(" ", len(label))
				ww(label+"a: ", orNone(x.A))
				ww(pad+"b: ", orNone(x.B))
			}
		}
	}
	if d.Matrix {
		fmt.Fprintln(w)
		ww("", fmt.Sprintf("matrix: %d of %d cells differ", len(d.Cells), d.MatrixCells))
		for _, c := range d.Cells {
			ww("  ", fmt.Sprintf("%s -> %s %s/%d: a %s, b %s", c.From, c.To, strings.ToUpper(c.Protocol), c.Port, c.A, c.B))
		}
	}
	fmt.Fprintln(w)
	summary := fmt.Sprintf("%d flows differ, %d the same", differ, same)
	if len(sameNames) > 0 {
		summary += " (" + strings.Join(sameNames, ", ") + ")"
	}
	if only > 0 {
		summary += fmt.Sprintf(", %d in one scenario only", only)
	}
	if d.Matrix {
		summary += fmt.Sprintf("; %d matrix cells differ", len(d.Cells))
	}
	ww("", summary)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// WriteDiffJSON writes the diff as indented JSON, with "same" at the top.
func WriteDiffJSON(w io.Writer, d *Diff) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Same bool `json:"same"`
		*Diff
	}{d.Same(), d})
}
