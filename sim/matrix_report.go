package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

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

// columnNames are the headers of the destination columns (columnName).
func (m *Matrix) columnNames() []string {
	cols := m.Columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		if i < len(m.Pods) || slices.Contains(m.Pods, c) {
			names[i] = strings.ToUpper(c)
		} else {
			names[i] = c
		}
	}
	return names
}

// padCell appends " c |" to b with c left-aligned in width runes, as
// fmt's " %-*s |" does.
func padCell(b []byte, c string, width int) []byte {
	b = append(b, ' ')
	b = append(b, c...)
	for n := utf8.RuneCountInString(c); n < width; n++ {
		b = append(b, ' ')
	}
	return append(b, " |"...)
}

func writeGrid(w io.Writer, m *Matrix, view, proto string, port int) {
	corner := fmt.Sprintf("%s/%d", strings.ToUpper(proto), port)
	if view != ViewCombined {
		corner += " " + view
	}
	cols := m.Columns()
	names := m.columnNames()
	widths := make([]int, len(cols)+1)
	widths[0] = len(corner)
	for _, p := range m.Pods {
		widths[0] = max(widths[0], len(p))
	}
	for i, n := range names {
		widths[i+1] = len(n)
	}
	sep := "+"
	for _, n := range widths {
		sep += strings.Repeat("-", n+2) + "+"
	}
	var line []byte
	row := func(first string, cell func(i int) string) {
		line = append(line[:0], '|')
		line = padCell(line, first, widths[0])
		for i := range cols {
			line = padCell(line, cell(i), widths[i+1])
		}
		line = append(line, '\n')
		w.Write(line)
	}
	fmt.Fprintln(w, sep)
	row(corner, func(i int) string { return names[i] })
	fmt.Fprintln(w, sep)
	allowed, denied, other := 0, 0, 0
	for _, from := range m.Pods {
		row(from, func(i int) string {
			c, ok := m.Cell(from, cols[i], port, proto)
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
			return mk
		})
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
		if c.Self || c.Allowed {
			continue
		}
		key := c.Reason + "|" + c.Direction + "|" + c.Policy
		if seen[key] && !all {
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
// (self pairs with "self": true) and the totals. The cells are streamed
// (the bytes are those encoding/json writes for the whole value, which
// would hold a big matrix's output in memory twice).
func WriteMatrixJSON(w io.Writer, m *Matrix) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if len(m.Cells) == 0 {
		return enc.Encode(matrixJSON{Matrix: m, Summary: m.Counts(0, "")})
	}
	// The document without cells, split where they go.
	var head bytes.Buffer
	shell := *m
	shell.Cells = []MatrixCell{}
	henc := json.NewEncoder(&head)
	henc.SetIndent("", "  ")
	henc.SetEscapeHTML(false)
	if err := henc.Encode(matrixJSON{Matrix: &shell, Summary: m.Counts(0, "")}); err != nil {
		return err
	}
	const empty = `"cells": []`
	before, after, ok := bytes.Cut(head.Bytes(), []byte(empty))
	if !ok {
		return enc.Encode(matrixJSON{Matrix: m, Summary: m.Counts(0, "")})
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(before)
	bw.WriteString(`"cells": [`)
	ce := cellEncoder{}
	var b []byte
	for i := range m.Cells {
		b = b[:0]
		if i > 0 {
			b = append(b, ',')
		}
		b = ce.appendCell(b, &m.Cells[i])
		bw.Write(b)
	}
	bw.WriteString("\n  ]")
	bw.Write(after)
	return bw.Flush()
}

// cellEncoder writes a MatrixCell as encoding/json does at the depth of
// the cells, with HTML escaping off.
type cellEncoder struct {
	scratch bytes.Buffer
	enc     *json.Encoder
}

func (e *cellEncoder) appendCell(b []byte, c *MatrixCell) []byte {
	b = append(b, "\n    {\n      \"from\": "...)
	b = e.appendString(b, c.From)
	b = append(b, ",\n      \"to\": "...)
	b = e.appendString(b, c.To)
	b = append(b, ",\n      \"port\": "...)
	b = strconv.AppendInt(b, int64(c.Port), 10)
	b = append(b, ",\n      \"protocol\": "...)
	b = e.appendString(b, c.Protocol)
	b = append(b, ",\n      \"allowed\": "...)
	b = strconv.AppendBool(b, c.Allowed)
	if c.Self {
		b = append(b, ",\n      \"self\": true"...)
	}
	for _, f := range [...]struct{ name, v string }{{"reason", c.Reason}, {"direction", c.Direction}, {"policy", c.Policy}, {"detail", c.Detail}, {"where", c.Where}} {
		if f.v != "" {
			b = append(b, ",\n      \""...)
			b = append(b, f.name...)
			b = append(b, "\": "...)
			b = e.appendString(b, f.v)
		}
	}
	return append(b, "\n    }"...)
}

// appendString appends s as a JSON string: as is between quotes when
// nothing in it needs escaping (valid UTF-8, no quote, backslash, control
// character, U+2028 or U+2029), else as encoding/json writes it.
func (e *cellEncoder) appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return e.appendEscaped(b, s)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return e.appendEscaped(b, s)
		}
		i += n
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (e *cellEncoder) appendEscaped(b []byte, s string) []byte {
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.scratch)
		e.enc.SetEscapeHTML(false)
	}
	e.scratch.Reset()
	if err := e.enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	return append(b, bytes.TrimSuffix(e.scratch.Bytes(), []byte("\n"))...)
}
