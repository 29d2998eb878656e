package main

import (
	"bufio"
	"fmt"
	"io"

	"netsim/sim"
	"netsim/topology"
	"netsim/topology/ackplan"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stdout, stderr)
	file, code := parse(fs, args, stderr)
	if code >= 0 {
		return code
	}
	s, err := topology.LoadWith(file, loadOptions)
	if err != nil {
		return badInput(stderr, err)
	}
	if s.IsPlanFile() {
		writePlanFileOK(stdout, file, s)
		return exitOK
	}
	r, err := sim.NewRunner(s)
	if err != nil {
		return badInput(stderr, err)
	}
	// One line per node and pod: written through a buffer, not a write
	// each (155,000 of them at 5,000 nodes × 30 pods).
	out := bufio.NewWriterSize(stdout, 64<<10)
	fmt.Fprintf(out, "%s: ok — scenario %s\n", file, s.Name)
	if s.Description != "" {
		fmt.Fprintf(out, "  %s\n", s.Description)
	}
	topology.WriteOverview(out, r.World)
	out.Flush() // write errors are ignored, as the unbuffered writes' were
	return exitOK
}

func cmdShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("show", stdout, stderr)
	node := fs.String("node", "", "show only this node, instance or pod (NS/NAME)")
	after := fs.String("after", "", "first apply the actions up to and including the flow or action `NAME`")
	file, code := parse(fs, args, stderr)
	if code >= 0 {
		return code
	}
	r, code := loadWorld(file, stderr)
	if r == nil {
		return code
	}
	if *after != "" {
		done, err := r.World.ApplyThrough(*after)
		if err != nil {
			return badInput(stderr, err)
		}
		for _, a := range done {
			fmt.Fprintf(stdout, "# after action: %s\n", a.Text)
		}
	}
	if err := topology.WriteState(stdout, r.World, *node); err != nil {
		fmt.Fprintf(stderr, "netsim show: %v\n", err)
		return exitBadInput
	}
	return exitOK
}

// writePlanFileOK is validate's report on a plan file (a plan: block and
// no nodes): the planning rules passed (an error would have failed the
// load), their warnings, and that nothing was built.
func writePlanFileOK(w io.Writer, file string, s *topology.Scenario) {
	pc := s.PlanCheck()
	applied, warnings := 0, 0
	for _, rr := range pc.Result.Rules {
		if rr.Applied {
			applied++
		}
	}
	for _, f := range pc.Findings {
		if f.Severity == ackplan.Warning {
			warnings++
		}
	}
	fmt.Fprintf(w, "%s: ok — plan %s: the %d planning rules that apply to it passed (%d rules in all", file, s.Name, applied, len(pc.Result.Rules))
	if warnings > 0 {
		if warnings == 1 {
			fmt.Fprint(w, "; 1 warning")
		} else {
			fmt.Fprintf(w, "; %d warnings", warnings)
		}
	}
	fmt.Fprintln(w, ")")
	if s.Description != "" {
		fmt.Fprintf(w, "  %s\n", s.Description)
	}
	for _, f := range pc.Findings {
		if f.Severity == ackplan.Warning {
			at := f.At
			at.Msg += " [rule " + f.Rule.ID + "]"
			fmt.Fprintf(w, "  warning: %s\n", at)
		}
	}
	fmt.Fprintf(w, "  nothing was built: the file has no nodes (it is a plan file); `netsim plan %s` reports its capacity and every rule with its source\n", file)
}
