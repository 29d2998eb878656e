package sim

import (
	"fmt"
	"io"
	"time"

	"netsim/dataplane/trace"
	"netsim/topology"
)

// ActionResult is one action between the flows, as applied.
type ActionResult struct {
	// Name is the item's name ("" when it has none).
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Action is the action, e.g. "add-vpc-route".
	Action string `json:"action"`
	// Index is the item's position in the scenario's flows list (0-based).
	Index int `json:"index"`
	// AfterFlows is how many entries of the result's flows list come
	// before the action.
	AfterFlows int `json:"after_flows"`
	// Text says what was done, in one line.
	Text string `json:"text"`
	// Command is what a person would type to do the same.
	Command string `json:"command,omitempty"`
	// Output is what the command printed or what changed in consequence.
	Output []string `json:"output,omitempty"`
	// At is the virtual time the action was applied.
	At time.Duration `json:"at_ns"`
}

// title is the name shown for an action: its name, else the action.
func (a *ActionResult) title() string {
	if a.Name != "" {
		return a.Name
	}
	return a.Action
}

// runAction applies the action item i of the scenario, unless a single
// flow was asked for and the action comes after it.
func (r *Runner) runAction(res *Result, i int, f *topology.Flow, opts Options) error {
	s := r.World.Scenario
	if opts.Flow != "" {
		before := false
		for j := i + 1; j < len(s.Flows); j++ {
			if s.Flows[j].Action == "" && s.Flows[j].Name == opts.Flow {
				before = true
			}
		}
		if !before {
			return nil
		}
	}
	out, err := r.World.Apply(f)
	if err != nil {
		return topology.Problems{s.ActionError(fmt.Sprintf("flows[%d]", i), err)}
	}
	res.Actions = append(res.Actions, &ActionResult{Name: f.Name, Description: f.Description, Action: f.Action, Index: i,
		AfterFlows: len(res.Flows), Text: out.Text, Command: out.Command, Output: out.Output, At: r.Loop.Now()})
	return nil
}

// writeActions writes the actions that come after n flows, wrapped at
// width columns (0: no wrapping).
func writeActions(w io.Writer, r *Result, n, width int) {
	for _, a := range r.Actions {
		if a.AfterFlows != n {
			continue
		}
		fmt.Fprintln(w)
		trace.WriteWrapped(w, "== ", "action "+a.title()+": "+a.Text, width)
		if a.Description != "" {
			writeWrappedLine(w, "   ", "   ", a.Description, width)
		}
		if a.Command != "" {
			writeWrappedLine(w, "   $ ", "       ", a.Command, width)
		}
		for _, l := range a.Output {
			writeWrappedLine(w, "     ", "       ", l, width)
		}
	}
}

// writeWrappedLine writes prefix+text wrapped at width, continuation lines
// indented like indent.
func writeWrappedLine(w io.Writer, prefix, indent, text string, width int) {
	for _, l := range trace.WrapIndent(prefix, text, width, len([]rune(indent))) {
		fmt.Fprintln(w, l)
	}
}

// writeActionSummaries writes one line for each action after n flows, for
// the summary.
func writeActionSummaries(w io.Writer, r *Result, n, nameW, width int) {
	for _, a := range r.Actions {
		if a.AfterFlows == n {
			prefix := fmt.Sprintf("%s  %-*s  ", "----", nameW, a.title())
			cont := len(prefix)
			if width > 0 && cont > width*2/5 {
				cont = 6
			}
			for _, l := range trace.WrapIndent(prefix, a.Text, width, cont) {
				fmt.Fprintln(w, l)
			}
		}
	}
}
