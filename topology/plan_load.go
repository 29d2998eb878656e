package topology

import (
	"errors"
	"fmt"
	"slices"

	"netsim/topology/ackplan"
	"netsim/topology/yamlbound"
)

// LoadPlan reads a scenario or plan file as LoadWith does (the same size
// limits and errors) and checks its plan against the planning rule table
// (package ackplan). Problems that keep the plan from being read — syntax,
// unknown keys, a CIDR that does not parse, a reference to something that
// does not exist — are returned as Problems. The rules' findings, errors
// included, are the PlanCheck's: they do not make LoadPlan fail.
func LoadPlan(path string, opts LoadOptions) (*PlanCheck, error) {
	data, err := yamlbound.ReadFile(path, "scenario")
	if err != nil {
		var fe *yamlbound.FileError
		if errors.As(err, &fe) {
			return nil, Problems{{File: path, Msg: fe.Msg}}
		}
		return nil, fmt.Errorf("load plan: %w", err)
	}
	s, err := parse(path, data, opts, true)
	if err != nil {
		return nil, err
	}
	return s.PlanCheck(), nil
}

// planState is what the planning rules found when a scenario was loaded.
type planState struct {
	check PlanCheck
	// warnings are the warning findings as shown by validate and run
	// (the rule named at the end of the message).
	warnings Problems
}

// PlanCheck returns the planning rules' outcome of the load (nil for a
// scenario that was not loaded from a file).
func (s *Scenario) PlanCheck() *PlanCheck {
	if s.plan == nil {
		return nil
	}
	return &s.plan.check
}

// planWarnings are the rules' warnings, located, as validate shows them.
func (s *Scenario) planWarnings() Problems {
	if s.plan == nil {
		return nil
	}
	return s.plan.warnings
}

// ruleMsg is a finding's message as validate and run show it: the rule
// named at the end, e.g. "… [rule node-cidr-mask]".
func ruleMsg(f ackplan.Finding) string { return f.Msg + " [rule " + f.Rule.ID + "]" }

// ruleDeps lists, per rule, the field paths its findings are judged from
// besides their own: when one of them is structurally broken, the finding
// is a consequence and is dropped, as the validator's reference problems
// are (see validator.addDep).
var ruleDeps = map[string][]string{
	"terway-pod-vswitch-ref":       depVSwitches,
	"terway-pod-vswitch-zone":      {"vpc.vswitches", "nodes", "plan.nodePools"},
	"terway-pod-vswitch-addresses": {"vpc.vswitches", "nodes", "plan.nodePools"},
	"node-vswitch-addresses":       {"nodes", "plan.nodePools"},
	"pods-per-node":                {"instanceTypes", "nodes", "plan.nodePools"},
	"pod-cidr-nodes":               {"nodes", "plan.nodePools"},
	"node-limit":                   {"nodes", "plan.nodePools"},
	"route-quota":                  {"nodes", "plan.nodePools"},
}

// planFindings locates the rules' findings of one load: each becomes a
// LocatedFinding of the scenario's PlanCheck; errors are also problems of
// the load (except for LoadPlan, whose output they are), warnings the
// scenario's plan warnings, which Build hands to the world.
func (l *loader) planFindings(s *Scenario, v *validator) {
	st := &planState{check: PlanCheck{Scenario: s, Plan: v.plan, Result: v.result}}
	for _, f := range v.result.Findings() {
		if l.isBroken(f.Path) || slices.ContainsFunc(ruleDeps[f.Rule.ID], l.isBroken) {
			continue
		}
		at := Problem{File: l.file, Path: f.Path, Msg: f.Msg}
		at.Line, at.Column = l.position(f.Path)
		st.check.Findings = append(st.check.Findings, LocatedFinding{Finding: f, At: at})
		shown := at
		shown.Msg = ruleMsg(f)
		switch {
		case f.Severity == ackplan.Warning:
			st.warnings = append(st.warnings, shown)
		case !l.planOnly:
			l.add(shown)
		}
	}
	s.plan = st
}
