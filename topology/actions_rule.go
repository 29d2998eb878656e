package topology

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"netsim/dataplane/netstack"
)

// RuleSpec is an `ip rule` rule as written in an action: the rule of `ip
// rule add`, or the selector of `ip rule del` (only the attributes given
// must match).
type RuleSpec struct {
	Rule netstack.Rule
	// HasPriority, HasTable, HasAction say which attributes were given.
	HasPriority, HasTable, HasAction bool
}

// ParseRuleSpec parses the arguments of `ip rule add|del`: [from PREFIX|all]
// [to PREFIX|all] [iif DEV] [oif DEV] [fwmark MARK[/MASK]]
// [priority|pref|preference N] [lookup|table ID | blackhole | unreachable
// | prohibit]. A bare address is a /32; IDs are main, local, default or
// numbers.
func ParseRuleSpec(text string) (RuleSpec, error) {
	var rs RuleSpec
	r := &rs.Rule
	words := strings.Fields(text)
	if len(words) == 0 {
		return rs, fmt.Errorf("empty rule: expected e.g. \"from 10.0.1.5 lookup 1003 priority 2048\"")
	}
	need := func(i int, what string) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("rule %q: %s needs %s", text, words[i], what)
		}
		return words[i+1], nil
	}
	prefix := func(i int) (netip.Prefix, error) {
		v, err := need(i, "a prefix or all")
		if err != nil {
			return netip.Prefix{}, err
		}
		if v == "all" || v == "default" {
			return netip.Prefix{}, nil
		}
		if !strings.Contains(v, "/") {
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return netip.Prefix{}, fmt.Errorf("rule %q: %s %q is not an IPv4 prefix, address or all", text, words[i], v)
			}
			return netip.PrefixFrom(a, 32), nil
		}
		p, err := netip.ParsePrefix(v)
		if err != nil || !p.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("rule %q: %s %q is not an IPv4 prefix", text, words[i], v)
		}
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("rule %q: %s has host bits set (did you mean %s?)", text, p, p.Masked())
		}
		return p, nil
	}
	num := func(v string) (uint32, bool) {
		n, err := strconv.ParseUint(v, 0, 32)
		return uint32(n), err == nil
	}
	for i := 0; i < len(words); i++ {
		var err error
		switch words[i] {
		case "from":
			r.From, err = prefix(i)
			i++
		case "to":
			r.To, err = prefix(i)
			i++
		case "iif", "dev":
			r.IIF, err = need(i, "a device name")
			i++
		case "oif":
			r.OIF, err = need(i, "a device name")
			i++
		case "fwmark":
			var v string
			if v, err = need(i, "a mark"); err == nil {
				m, mask, _ := strings.Cut(v, "/")
				var ok1, ok2 = true, true
				r.FwMark, ok1 = num(m)
				if mask != "" {
					r.FwMask, ok2 = num(mask)
				}
				if !ok1 || !ok2 {
					err = fmt.Errorf("rule %q: fwmark %q is not MARK or MARK/MASK (numbers, 0x… accepted)", text, v)
				}
			}
			i++
		case "priority", "pref", "preference":
			var v string
			if v, err = need(i, "a number"); err == nil {
				n, ok := num(v)
				if !ok {
					err = fmt.Errorf("rule %q: priority %q is not a number from 0 to 4294967295", text, v)
				}
				r.Priority, rs.HasPriority = n, true
			}
			i++
		case "lookup", "table":
			var v string
			if v, err = need(i, "a table id or name"); err == nil {
				var id uint32
				if id, err = ParseTable(v); err != nil {
					err = fmt.Errorf("rule %q: %v", text, err)
				}
				r.Table, rs.HasTable = id, true
			}
			i++
		case "blackhole":
			r.Action, rs.HasAction = netstack.RuleBlackhole, true
		case "unreachable":
			r.Action, rs.HasAction = netstack.RuleUnreachable, true
		case "prohibit":
			r.Action, rs.HasAction = netstack.RuleProhibit, true
		default:
			return rs, fmt.Errorf("rule %q: unknown word %q (netsim reads: [from PREFIX] [to PREFIX] [iif DEV] [oif DEV] [fwmark M[/MASK]] [priority N] [lookup ID | blackhole | unreachable | prohibit])", text, words[i])
		}
		if err != nil {
			return rs, err
		}
	}
	if rs.HasTable && rs.HasAction {
		return rs, fmt.Errorf("rule %q: a rule either looks up a table or is %s, not both", text, words[len(words)-1])
	}
	return rs, nil
}

func (w *World) addNodeRule(a ActionSpec) (*ActionOutcome, error) {
	st, who, err := w.actionStack(a)
	if err != nil {
		return nil, err
	}
	spec, err := ParseRuleSpec(a.Rule)
	if err != nil {
		return nil, actionErrf("rule", "%v", err)
	}
	r := spec.Rule
	if !spec.HasTable && !spec.HasAction {
		// `ip rule add from X` without a table looks up main (iproute2
		// sets RT_TABLE_MAIN, FR_ACT_TO_TBL).
		r.Table = netstack.TableMain
	}
	if !spec.HasPriority {
		// fib_default_rule_pref: one below the priority of the rule after
		// the first (0: local), 32765 with only the default rules.
		rules := st.Rules()
		if len(rules) > 1 && rules[1].Priority > 0 {
			r.Priority = rules[1].Priority - 1
		}
	}
	if err := st.AddRule(r); err != nil {
		return nil, actionErrf("rule", "ip rule add %s on %s: %v", a.Rule, who, err)
	}
	return &ActionOutcome{Text: fmt.Sprintf("ip rule add %s on %s", strings.Replace(r.String(), ":\t", ": ", 1), who), Command: "ip rule add " + a.Rule}, nil
}

func (w *World) deleteNodeRule(a ActionSpec) (*ActionOutcome, error) {
	st, who, err := w.actionStack(a)
	if err != nil {
		return nil, err
	}
	spec, err := ParseRuleSpec(a.Rule)
	if err != nil {
		return nil, actionErrf("rule", "%v", err)
	}
	// fib_nl_delrule: the first rule matching every attribute given.
	want := spec.Rule
	for _, r := range st.Rules() {
		switch {
		case spec.HasPriority && r.Priority != want.Priority,
			want.From.IsValid() && r.From != want.From,
			want.To.IsValid() && r.To != want.To,
			want.IIF != "" && r.IIF != want.IIF,
			want.OIF != "" && r.OIF != want.OIF,
			want.FwMark != 0 && r.FwMark != want.FwMark,
			want.FwMask != 0 && r.FwMask != want.FwMask,
			spec.HasTable && r.Table != want.Table,
			spec.HasAction && r.Action != want.Action:
			continue
		}
		st.DelRule(r)
		line := strings.Replace(r.String(), ":\t", ": ", 1)
		return &ActionOutcome{Text: fmt.Sprintf("ip rule del %s on %s", line, who), Command: "ip rule del " + a.Rule,
			Output: []string{"deleted: " + line}}, nil
	}
	var have []string
	for _, r := range st.Rules() {
		have = append(have, strings.Replace(r.String(), ":\t", ": ", 1))
	}
	return nil, actionErrf("rule", "ip rule del %s on %s: RTNETLINK answers: No such file or directory (rules: %s)", a.Rule, who, strings.Join(have, "; "))
}
