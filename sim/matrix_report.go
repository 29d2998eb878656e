package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"netsim/dataplane/trace"
	"netsim/internal/prose"
)

// Matrix views: which denials a grid marks.
const (
	// ViewCombined marks every probe that was not answered, whatever
	// dropped it.
	ViewCombined = "combined"
	// ViewIngress marks only the probes an ingress policy denied.
	ViewIngress = "ingress"
	// ViewEgress marks only the probes an egress policy denied.
	ViewEgress = "egress"
	// ViewAll prints the three views one after the other.
	ViewAll = "all"
)

// MatrixViews are the accepted views.
var MatrixViews = []string{ViewCombined, ViewIngress, ViewEgress, ViewAll}

// Marks of the grid.
const (
	markAllowed     = "."
	markDenied      = "X"
	markSelf        = "#"
	markNotObserved = "?"
)

// Mark is the grid mark of the cell in the view: "." allowed, "X" denied,
// "#" self; in the ingress view, "?" for a probe an egress policy denied
// before any ingress check saw it. In the directional views a probe
// dropped for another reason than a policy (conn-refused, link-down) is
// "." (the views show what policies do; the combined view shows it).
func (c MatrixCell) Mark(view string) string {
	switch {
	case c.Self:
		return markSelf
	case c.Allowed:
		return markAllowed
	}
	switch view {
	case ViewIngress:
		switch c.Direction {
		case "ingress":
			return markDenied
		case "egress":
			return markNotObserved
		}
		return markAllowed
	case ViewEgress:
		if c.Direction == "egress" {
			return markDenied
		}
		return markAllowed
	}
	return markDenied
}

// WriteMatrixText writes the grids of the view (ViewCombined, ViewIngress,
// ViewEgress or ViewAll): one table per protocol and port, rows are the
// sources (ns/pod), columns the destinations (NS/POD), then a summary per
// table and for the whole matrix, and one example per drop reason.
func WriteMatrixText(w io.Writer, m *Matrix, view string) {
	ww := func(prefix, text string) { trace.WriteWrapped(w, prefix, text, 0) }
	ww("", fmt.Sprintf("matrix of scenario %s (%s): CNI %s; %s, %s; ports %s; protocols %s",
		m.Scenario, m.File, m.CNI, prose.Count(len(m.Pods), "pod"), prose.Count(len(m.Extra), "extra column"), joinInts(m.Ports), strings.Join(m.Protocols, ",")))
	if len(m.Actions) > 0 {
		ww("", "probed after the scenario's actions: "+strings.Join(m.Actions, ", "))
	}
	if m.SampledFrom > 0 {
		ww("", fmt.Sprintf("sampled (--sample %d): %d of the %s, evenly spaced in namespace/name order; the other pods were not probed", len(m.Pods), len(m.Pods), prose.Count(m.SampledFrom, "pod")))
	}
	for _, n := range m.Warnings {
		ww("warning: ", n)
	}
	ww("", "legend: rows are sources, columns destinations; . allowed (answered), X denied, # self (not probed)")
	views := []string{view}
	if view == ViewAll {
		views = []string{ViewCombined, ViewIngress, ViewEgress}
	}
	for _, v := range views {
		if v == ViewIngress {
			ww("", "ingress view: X where an ingress policy denied the probe, ? where an egress policy denied it first (ingress never saw it)")
		}
		if v == ViewEgress {
			ww("", "egress view: X where an egress policy denied the probe")
		}
		for _, proto := range m.Protocols {
			for _, port := range m.Ports {
				fmt.Fprintln(w)
				writeGrid(w, m, v, proto, port)
			}
		}
	}
	fmt.Fprintln(w)
	c := m.Counts(0, "")
	ww("", fmt.Sprintf("total: %d probes, %d allowed, %d denied%s; %d self pairs not probed", c.Probes, c.Allowed, c.Denied, reasonCounts(c), c.Self))
	writeReasonExamples(w, m, false)
}

// WriteMatrixDenied writes every denied cell, one a line, with its reason,
// direction and policies (policy denials), where and the drop's detail.
func WriteMatrixDenied(w io.Writer, m *Matrix) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "denied cells:")
	writeReasonExamples(w, m, true)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func reasonCounts(c MatrixCounts) string {
	if len(c.ByReason) == 0 {
		return ""
	}
	keys := make([]string, 0, len(c.ByReason))
	for k := range c.ByReason {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if c.ByReason[keys[a]] != c.ByReason[keys[b]] {
			return c.ByReason[keys[a]] > c.ByReason[keys[b]]
		}
		return keys[a] < keys[b]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", c.ByReason[k], k)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// columnName is the header of a destination column: pods upper-cased
// (X/A), extra columns as given.
func (m *Matrix) columnName(col string) string {
	if slices.Contains(m.Pods, col) {
		return strings.ToUpper(col)
	}
	return col
}

func writeGrid(w io.Writer, m *Matrix, view, proto string, port int) {
	corner := fmt.Sprintf("%s/%d", strings.ToUpper(proto), port)
	if view != ViewCombined {
		corner += " " + view
	}
	cols := m.Columns()
	widths := make([]int, len(cols)+1)
	widths[0] = len(corner)
	for _, p := range m.Pods {
		widths[0] = max(widths[0], len(p))
	}
	for i, c := range cols {
		widths[i+1] = len(m.columnName(c))
	}
	sep := "+"
	for _, n := range widths {
		sep += strings.Repeat("-", n+2) + "+"
	}
	row := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			fmt.Fprintf(&b, " %-*s |", widths[i], c)
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintln(w, sep)
	head := []string{corner}
	for _, c := range cols {
		head = append(head, m.columnName(c))
	}
	row(head)
	fmt.Fprintln(w, sep)
	allowed, denied, other := 0, 0, 0
	for _, from := range m.Pods {
		cells := []string{from}
		for _, to := range cols {
			c, ok := m.Cell(from, to, port, proto)
			mk := " "
			if ok {
				mk = c.Mark(view)
			}
			switch {
			case mk == markAllowed && !c.Allowed:
				other++
			case mk == markAllowed:
				allowed++
			case mk == markDenied || mk == markNotObserved:
				denied++
			}
			cells = append(cells, mk)
		}
		row(cells)
	}
	fmt.Fprintln(w, sep)
	switch view {
	case ViewCombined:
		c := m.Counts(port, proto)
		fmt.Fprintf(w, "%s: %d allowed, %d denied%s\n", corner, c.Allowed, c.Denied, reasonCounts(c))
	default:
		line := fmt.Sprintf("%s: %d not denied, %d denied by %s policy", corner, allowed+other, denied, view)
		if other > 0 {
			line += fmt.Sprintf(" (%d of the not denied dropped otherwise — by the other direction's policy or for another reason: see the combined view)", other)
		}
		fmt.Fprintln(w, line)
	}
}

// writeReasonExamples writes, for each drop reason (and, for policy
// denials, each direction and set of policies), the first cell that had it
// with its detail; every denied cell when all is set.
func writeReasonExamples(w io.Writer, m *Matrix, all bool) {
	seen := map[string]bool{}
	for _, c := range m.Cells {
		key := c.Reason + "|" + c.Direction + "|" + c.Policy
		if c.Self || c.Allowed || (seen[key] && !all) {
			continue
		}
		seen[key] = true
		text := fmt.Sprintf("%s -> %s %s/%d", c.From, c.To, strings.ToUpper(c.Protocol), c.Port)
		if !all {
			text = c.Reason + ", e.g. " + text
		} else {
			text += ": " + c.Reason
		}
		if c.Direction != "" {
			text += " (" + c.Direction
			if c.Policy != "" {
				text += ", " + c.Policy
			}
			text += ")"
		}
		if c.Where != "" {
			text += " at " + c.Where
		}
		if c.Detail != "" {
			text += ": " + c.Detail
		}
		trace.WriteWrapped(w, "  ", text, 0)
	}
}

// matrixJSON is the JSON form: the matrix with its totals.
type matrixJSON struct {
	*Matrix
	Summary MatrixCounts `json:"summary"`
}

// WriteMatrixJSON writes the matrix as indented JSON: the scenario, the
// pods (rows and columns), extra columns, ports, protocols, every cell
// (self pairs with "self": true) and the totals.
func WriteMatrixJSON(w io.Writer, m *Matrix) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(matrixJSON{Matrix: m, Summary: m.Counts(0, "")})
}
