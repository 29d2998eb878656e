package ackplan

import (
	"fmt"
	"slices"
)

func (r *Reporter) add(sev Severity, path, format string, args ...any) {
	r.findings = append(r.findings, Finding{Rule: r.rule, Severity: sev, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Check runs every rule of Rules on p, in order. A rule that reports an
// error at a path marks that path invalid for the rules after it (so a VPC
// CIDR that breaks one rule is not also reported by every rule that uses
// it).
func Check(p *Plan) Result {
	var res Result
	for i := range Rules {
		rule := &Rules[i]
		rr := RuleResult{Rule: rule}
		if rule.Applies == nil || rule.Applies(p) {
			rr.Applied = true
			rep := &Reporter{rule: rule}
			rule.Check(p, rep)
			rr.Findings = rep.findings
			for _, f := range rep.findings {
				if f.Severity == Error && !slices.Contains(p.Invalid, f.Path) {
					p.Invalid = append(p.Invalid, f.Path)
				}
			}
		}
		res.Rules = append(res.Rules, rr)
	}
	return res
}

// Findings returns every finding of res, in rule order.
func (res Result) Findings() []Finding {
	var out []Finding
	for _, rr := range res.Rules {
		out = append(out, rr.Findings...)
	}
	return out
}

// Valid reports whether the value at path parsed and broke no rule so far.
func (p *Plan) Valid(path string) bool { return !slices.Contains(p.Invalid, path) }

// Rules is the rule table, in the order rules run. Filled by rules*.go.
var Rules []Rule
