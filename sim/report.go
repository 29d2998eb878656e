package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"netsim/dataplane/trace"
)

// WriteJSON writes the result as indented JSON (schema in the README).
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func mark(f *FlowResult) string {
	if f.Met {
		return "PASS"
	}
	return "FAIL"
}

func flowHeader(f *FlowResult) string {
	what := f.Protocol
	if f.Port != 0 {
		what += fmt.Sprintf("/%d", f.Port)
	}
	what += fmt.Sprintf(", %d-byte payload", f.Size)
	if f.Count > 1 {
		what += fmt.Sprintf(", ×%d", f.Count)
	}
	if f.DF != "want" {
		what += ", df " + f.DF
	}
	src := f.From
	if f.SrcIP != "" {
		src += " (" + f.SrcIP + ")"
	}
	return fmt.Sprintf("%s → %s (%s), %s", src, f.To, f.DstIP, what)
}

// VerdictLine is the one-line outcome of a flow.
func VerdictLine(f *FlowResult) string {
	v := f.Verdict
	var s string
	switch v.Result {
	case "delivered":
		s = "delivered"
		if f.Count > 1 {
			s += fmt.Sprintf(" %d/%d", f.Delivered, f.Count)
		}
		if f.RTT > 0 {
			s += ", rtt " + trace.FormatMillis(f.RTT) + " (modelled)"
		}
		if f.SeenSource != "" {
			s += ", seen source " + f.SeenSource
		}
	case "partial":
		s = fmt.Sprintf("partial: %d/%d delivered, dropped %s at %s: %s", f.Delivered, f.Count, dropCounts(f), v.Where, v.Detail)
	default:
		s = fmt.Sprintf("dropped [%s]", v.Reason)
		if v.Where != "" {
			s += " at " + v.Where
		}
		if v.Detail != "" {
			s += ": " + v.Detail
		}
	}
	if len(f.Responders) > 1 {
		var parts []string
		for k, n := range f.Responders {
			parts = append(parts, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(parts)
		s += "; answered by " + strings.Join(parts, ", ")
	}
	return s
}

func expectText(f *FlowResult) string {
	if f.Expect == nil {
		return "no expectation"
	}
	s := "expected " + f.Expect.Verdict
	if f.Expect.Reason != "" {
		s += " [" + f.Expect.Reason + "]"
	}
	if f.Expect.SeenSource != "" {
		s += ", seen source " + f.Expect.SeenSource
	}
	if !f.Met {
		s += ": " + f.Mismatch
	}
	return s
}

// WriteSummary writes one line a flow and a total.
func WriteSummary(w io.Writer, r *Result) {
	nameW := 4
	for _, f := range r.Flows {
		nameW = max(nameW, len(f.Name))
	}
	for _, a := range r.Actions {
		nameW = max(nameW, len(a.title()))
	}
	for i, f := range r.Flows {
		writeActionSummaries(w, r, i, nameW)
		fmt.Fprintf(w, "%s  %-*s  %s\n", mark(f), nameW, f.Name, VerdictLine(f))
	}
	writeActionSummaries(w, r, len(r.Flows), nameW)
	writeTotal(w, r)
}

func writeTotal(w io.Writer, r *Result) {
	met := 0
	for _, f := range r.Flows {
		if f.Met {
			met++
		}
	}
	fmt.Fprintf(w, "%d of %d flows met their expectation\n", met, len(r.Flows))
}

// WriteText writes the full human report: every flow with its hops (when
// traced), verdict and expectation, then the summary.
func WriteText(w io.Writer, r *Result, width int) {
	fmt.Fprintf(w, "scenario %s (%s): CNI %s, underlay %s\n", r.Scenario, r.File, r.CNI, r.Underlay)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, n := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", n)
	}
	for i, f := range r.Flows {
		writeActions(w, r, i, width)
		fmt.Fprintf(w, "\n== flow %s: %s\n", f.Name, flowHeader(f))
		if f.Description != "" {
			fmt.Fprintf(w, "   %s\n", f.Description)
		}
		if len(f.Hops) > 0 {
			if f.Count > 1 {
				fmt.Fprintf(w, "   hops of the first of %d exchanges (times from the flow's start, virtual):\n", f.Count)
			}
			trace.WriteHops(w, f.Hops, f.Start, width)
		}
		fmt.Fprintf(w, "   verdict: %s\n", VerdictLine(f))
		fmt.Fprintf(w, "   %s: %s\n", mark(f), expectText(f))
	}
	writeActions(w, r, len(r.Flows), width)
	fmt.Fprintln(w)
	WriteSummary(w, r)
}
