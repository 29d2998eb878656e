package kernel

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

// Difference is one field that differs between the kernel and netsim at
// one capture point of one case (or a packet present in only one world:
// Field "packet").
type Difference struct {
	Case, Point, Packet, Field string
	Kernel, Netsim             string
}

// Key identifies a difference in the known-differences file.
func (d Difference) Key() string {
	return strings.Join([]string{d.Case, d.Point, d.Packet, d.Field, d.Kernel, d.Netsim}, " | ")
}

// Compare aligns the packets of one capture point (a longest common
// subsequence of their kinds, so one missing packet does not shift the
// rest) and lists every differing field of each aligned pair and every
// packet only one side has. A packet is labelled by its kind and, when
// the kind occurs more than once, its occurrence ("tcp . a>b #2").
func Compare(cse, point string, kernel, netsim []Packet) []Difference {
	label := func(ps []Packet) []string {
		count, seen := map[string]int{}, map[string]int{}
		for _, p := range ps {
			count[p.Kind]++
		}
		out := make([]string, len(ps))
		for i, p := range ps {
			seen[p.Kind]++
			out[i] = p.Kind
			if count[p.Kind] > 1 {
				out[i] += fmt.Sprintf(" #%d", seen[p.Kind])
			}
		}
		return out
	}
	kl, nl := label(kernel), label(netsim)
	// LCS over kinds.
	n, m := len(kernel), len(netsim)
	l := make([][]int, n+1)
	for i := range l {
		l[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if kernel[i].Kind == netsim[j].Kind {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []Difference
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && kernel[i].Kind == netsim[j].Kind:
			out = append(out, compareFields(cse, point, kl[i], kernel[i], netsim[j])...)
			i, j = i+1, j+1
		case j >= m || (i < n && l[i+1][j] >= l[i][j+1]):
			out = append(out, Difference{Case: cse, Point: point, Packet: kl[i], Field: "packet", Kernel: "sent", Netsim: "missing"})
			i++
		default:
			out = append(out, Difference{Case: cse, Point: point, Packet: nl[j], Field: "packet", Kernel: "missing", Netsim: "sent"})
			j++
		}
	}
	return out
}

func compareFields(cse, point, label string, k, s Packet) []Difference {
	sv := map[string]string{}
	for _, f := range s.Fields {
		sv[f.Name] = f.Value
	}
	var out []Difference
	seen := map[string]bool{}
	for _, f := range k.Fields {
		seen[f.Name] = true
		v, ok := sv[f.Name]
		if !ok {
			v = "(absent)"
		}
		if v != f.Value {
			out = append(out, Difference{Case: cse, Point: point, Packet: label, Field: f.Name, Kernel: f.Value, Netsim: v})
		}
	}
	for _, f := range s.Fields {
		if !seen[f.Name] {
			out = append(out, Difference{Case: cse, Point: point, Packet: label, Field: f.Name, Kernel: "(absent)", Netsim: f.Value})
		}
	}
	return out
}

// Known is the checked-in list of known differences: key → reason.
type Known struct {
	Reasons map[string]string
	Order   []string
}

// LoadKnown reads a known-differences file: one difference a line, its
// six key columns and a reason separated by " | "; '#' starts a comment.
func LoadKnown(path string) (*Known, error) {
	k := &Known{Reasons: map[string]string{}}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		parts := strings.Split(t, " | ")
		if len(parts) != 7 {
			return nil, fmt.Errorf("%s:%d: want 7 columns separated by \" | \" (case, point, packet, field, kernel, netsim, reason), got %d", path, line, len(parts))
		}
		key := strings.Join(parts[:6], " | ")
		if _, dup := k.Reasons[key]; dup {
			return nil, fmt.Errorf("%s:%d: listed twice", path, line)
		}
		k.Reasons[key] = parts[6]
		k.Order = append(k.Order, key)
	}
	return k, sc.Err()
}

// Verdict splits differences into new ones (not listed) and listed ones
// that no longer occur (fixed: remove them from the list). Only listed
// lines whose case starts with casePrefix count as gone ("" for all).
func (k *Known) Verdict(diffs []Difference, casePrefix string) (unlisted []Difference, gone []string) {
	occurs := map[string]bool{}
	for _, d := range diffs {
		occurs[d.Key()] = true
		if _, ok := k.Reasons[d.Key()]; !ok {
			unlisted = append(unlisted, d)
		}
	}
	for _, key := range k.Order {
		if !occurs[key] && strings.HasPrefix(key, casePrefix) {
			gone = append(gone, key)
		}
	}
	return unlisted, gone
}

// WriteReport writes the differences as a table (status, case, point,
// packet, field, kernel, netsim) followed by the listed ones that no longer
// occur.
func WriteReport(w io.Writer, k *Known, diffs []Difference, gone []string) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCASE\tPOINT\tPACKET\tFIELD\tKERNEL\tNETSIM")
	sorted := append([]Difference(nil), diffs...)
	sort.SliceStable(sorted, func(a, b int) bool {
		_, ka := k.Reasons[sorted[a].Key()]
		_, kb := k.Reasons[sorted[b].Key()]
		return !ka && kb
	})
	for _, d := range sorted {
		st := "NEW"
		if _, ok := k.Reasons[d.Key()]; ok {
			st = "known"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st, d.Case, d.Point, d.Packet, d.Field, d.Kernel, d.Netsim)
	}
	tw.Flush()
	// How many lines each known reason explains, most first.
	count := map[string]int{}
	for _, d := range diffs {
		if r, ok := k.Reasons[d.Key()]; ok {
			count[r]++
		}
	}
	reasons := make([]string, 0, len(count))
	for r := range count {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(a, b int) bool {
		if count[reasons[a]] != count[reasons[b]] {
			return count[reasons[a]] > count[reasons[b]]
		}
		return reasons[a] < reasons[b]
	})
	if len(reasons) > 0 {
		fmt.Fprintln(w, "known differences by reason:")
	}
	for _, r := range reasons {
		fmt.Fprintf(w, "%5d  %s\n", count[r], r)
	}
	for _, g := range gone {
		fmt.Fprintf(w, "GONE (listed, no longer differs: remove it from the list): %s\n", g)
	}
}
