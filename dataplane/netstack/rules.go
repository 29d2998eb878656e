package netstack

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Route table ids (rt_tables).
const (
	TableDefault uint32 = 253
	TableMain    uint32 = 254
	TableLocal   uint32 = 255
)

// TableName is the name iproute2 prints for a table id: "local", "main",
// "default", else the number.
func TableName(id uint32) string {
	switch id {
	case TableLocal:
		return "local"
	case TableMain:
		return "main"
	case TableDefault:
		return "default"
	}
	return strconv.FormatUint(uint64(id), 10)
}

// RuleAction is what a matching rule does (FR_ACT_*).
type RuleAction uint8

// Rule actions (`ip rule add ... lookup T | blackhole | unreachable | prohibit`).
const (
	RuleLookup RuleAction = iota
	RuleBlackhole
	RuleUnreachable
	RuleProhibit
)

// Rule is one policy routing rule (`ip rule add`). A zero prefix matches
// every address ("from all"); an empty IIF or OIF every device.
type Rule struct {
	Priority uint32
	From, To netip.Prefix
	IIF, OIF string
	// FwMark selects packets whose mark, under FwMask, equals it; zero
	// selects every packet. FwMask 0 means 0xffffffff.
	FwMark, FwMask uint32
	// Table is the table a lookup rule consults.
	Table  uint32
	Action RuleAction
}

func (r Rule) mask() uint32 {
	if r.FwMask == 0 {
		return 0xffffffff
	}
	return r.FwMask
}

// String prints the rule as `ip rule show` does, e.g.
// "2048:\tfrom 10.0.1.5 lookup 1003".
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:\tfrom ", r.Priority)
	b.WriteString(prefixText(r.From))
	if r.To.IsValid() && r.To.Bits() > 0 {
		b.WriteString(" to ")
		b.WriteString(prefixText(r.To))
	}
	if r.FwMark != 0 || r.FwMask != 0 {
		fmt.Fprintf(&b, " fwmark %#x", r.FwMark)
		if r.FwMask != 0 && r.FwMask != 0xffffffff {
			fmt.Fprintf(&b, "/%#x", r.FwMask)
		}
	}
	if r.IIF != "" {
		b.WriteString(" iif ")
		b.WriteString(r.IIF)
	}
	if r.OIF != "" {
		b.WriteString(" oif ")
		b.WriteString(r.OIF)
	}
	switch r.Action {
	case RuleBlackhole:
		b.WriteString(" blackhole")
	case RuleUnreachable:
		b.WriteString(" unreachable")
	case RuleProhibit:
		b.WriteString(" prohibit")
	default:
		b.WriteString(" lookup ")
		b.WriteString(TableName(r.Table))
	}
	return b.String()
}

// prefixText is a selector's prefix as iproute2 prints it: "all" for
// 0/0, the bare address for a /32.
func prefixText(p netip.Prefix) string {
	switch {
	case !p.IsValid() || p.Bits() == 0:
		return "all"
	case p.Bits() == 32:
		return p.Addr().String()
	}
	return p.String()
}

// defaultRuleList is defaultRules(): a new stack's rules, shared by every
// stack until its rules change (ownRules), and what customRules compares
// against.
var defaultRuleList = defaultRules()

// ownRules returns the stack's rules, copied first if they are still the
// shared default list, so that changing them changes no other stack's.
func (s *Stack) ownRules() []Rule {
	if len(s.rules) > 0 && len(defaultRuleList) > 0 && &s.rules[0] == &defaultRuleList[0] {
		s.rules = slices.Clone(s.rules)
	}
	return s.rules
}

// defaultRules are the rules every namespace starts with.
func defaultRules() []Rule {
	return []Rule{
		{Priority: 0, Table: TableLocal},
		{Priority: 32766, Table: TableMain},
		{Priority: 32767, Table: TableDefault},
	}
}

// sameSelector reports whether two rules are the same rule for `ip rule
// add` (which refuses an identical one) and `ip rule del`.
func sameSelector(a, b Rule) bool {
	return a.Priority == b.Priority && a.From == b.From && a.To == b.To && a.IIF == b.IIF && a.OIF == b.OIF &&
		a.FwMark == b.FwMark && a.mask() == b.mask() && a.Table == b.Table && a.Action == b.Action
}

// AddRule adds a rule (`ip rule add`). Rules are kept in priority order;
// among equal priorities the newer goes after the older, as the kernel
// inserts them. The local rule (priority 0, table local) is always first.
func (s *Stack) AddRule(r Rule) error {
	s.gen++
	if r.Action == RuleLookup && r.Table == 0 {
		return fmt.Errorf("namespace %s: rule %s: no table to look up", s.Name, r)
	}
	for _, o := range s.rules {
		if sameSelector(o, r) {
			return fmt.Errorf("namespace %s: rule %s: RTNETLINK answers: File exists", s.Name, r)
		}
	}
	i := len(s.rules)
	for j, o := range s.rules {
		if o.Priority > r.Priority {
			i = j
			break
		}
	}
	s.rules = slices.Insert(s.ownRules(), i, r)
	s.customRules = !slices.Equal(s.rules, defaultRuleList)
	return nil
}

// DelRule deletes the rule equal to r (`ip rule del`).
func (s *Stack) DelRule(r Rule) bool {
	s.gen++
	for i, o := range s.rules {
		if sameSelector(o, r) {
			s.rules = slices.Delete(s.ownRules(), i, i+1)
			s.customRules = !slices.Equal(s.rules, defaultRuleList)
			return true
		}
	}
	return false
}

// Rules returns the rules in the order the kernel walks them.
func (s *Stack) Rules() []Rule { return slices.Clone(s.rules) }

// CustomRules reports whether the namespace has rules other than the
// three it started with (and so whether lookups name the rule used).
func (s *Stack) CustomRules() bool { return s.customRules }

// Table returns the routing table id, creating it on first use;
// Table(TableMain) is Routes.
func (s *Stack) Table(id uint32) *RouteTable {
	s.gen++
	if id == TableMain {
		return &s.Routes
	}
	t := s.tables[id]
	if t == nil {
		if s.tables == nil {
			s.tables = make(map[uint32]*RouteTable)
		}
		t = &RouteTable{}
		s.tables[id] = t
	}
	return t
}

// TableIDs lists the tables other than main and local that hold routes,
// in id order.
func (s *Stack) TableIDs() []uint32 {
	var ids []uint32
	for id, t := range s.tables {
		if t.Len() > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// ruleRoutes are the routes a blackhole/unreachable/prohibit rule
// resolves to (one per action, for the drop's text).
var ruleRoutes = [...]*Route{
	RuleBlackhole:   {Type: RouteBlackhole, Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0)},
	RuleUnreachable: {Type: RouteUnreachable, Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0)},
	RuleProhibit:    {Type: RouteProhibit, Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0)},
}

// fibLookup is fib_lookup: the rules in priority order, each lookup rule
// consulting its table; a table without a matching route lets the walk go
// on to the next rule. The local table (rule 0) is the caller's IsLocal
// check. iif is the input device (loopback for locally generated
// packets), oif the device a socket is bound to (nil for forwarded
// packets). It returns the route and the rule that chose it (nil when the
// namespace has only the default rules: the main table, then default).
func (s *Stack) fibLookup(dst, src netip.Addr, iif, oif *Iface, mark uint32) (*Route, *Rule) {
	if !s.customRules {
		if r := s.Routes.Lookup(dst); r != nil {
			return r, nil
		}
		if t := s.tables[TableDefault]; t != nil {
			return t.Lookup(dst), nil
		}
		return nil, nil
	}
	for i := range s.rules {
		ru := &s.rules[i]
		if ru.Table == TableLocal && ru.Action == RuleLookup {
			continue
		}
		if ru.From.IsValid() && ru.From.Bits() > 0 && !ru.From.Contains(src) {
			continue
		}
		if ru.To.IsValid() && ru.To.Bits() > 0 && !ru.To.Contains(dst) {
			continue
		}
		if ru.IIF != "" && (iif == nil || iif.Dev.Name != ru.IIF) {
			continue
		}
		if ru.OIF != "" && (oif == nil || oif.Dev.Name != ru.OIF) {
			continue
		}
		if (ru.FwMark != 0 || ru.FwMask != 0) && (mark^ru.FwMark)&ru.mask() != 0 {
			continue
		}
		if ru.Action != RuleLookup {
			return ruleRoutes[ru.Action], ru
		}
		var t *RouteTable
		if ru.Table == TableMain {
			t = &s.Routes
		} else {
			t = s.tables[ru.Table]
		}
		if t == nil {
			continue
		}
		if r := t.Lookup(dst); r != nil {
			return r, ru
		}
	}
	return nil, nil
}

// routeText is the trace's text of a lookup result: the route, with the
// rule and table that chose it when the namespace has its own rules.
func routeText(r *Route, ru *Rule) string {
	if r == nil {
		return "no route"
	}
	if ru == nil {
		return r.String()
	}
	rule := strings.Replace(ru.String(), ":\t", " ", 1)
	if ru.Action != RuleLookup {
		return "rule " + rule
	}
	return "rule " + rule + ": " + r.StringIn(ru.Table)
}

// tableOf returns the id of the table that holds r (main if none).
func (s *Stack) tableOf(r *Route) uint32 {
	for id, t := range s.tables {
		if l, ok := t.t.Get(r.Dst); ok && slices.Contains(l, r) {
			return id
		}
	}
	return TableMain
}

// tablesText names where a failed lookup looked: "node-1's main table",
// or "node-1's rules and tables" when it has rules of its own.
func (s *Stack) tablesText() string {
	if s.customRules {
		return s.Name + "'s rules and tables (ip rule)"
	}
	return s.Name + "'s main table"
}

// AddTableRoute adds a route to table id (`ip route add ... table ID`).
// A gateway without onlink must be reachable as the kernel checks it
// (fib_check_nh_v4_gw): directly connected on the route's device, looked
// up in that table first, then through the rules.
func (s *Stack) AddTableRoute(id uint32, r *Route) error {
	s.gen++
	if id == TableMain {
		return s.AddRoute(r)
	}
	if r.Dev == nil && r.Type == RouteUnicast {
		return fmt.Errorf("namespace %s: route %s: needs a device", s.Name, r.StringIn(id))
	}
	if r.Gw.IsValid() && !r.Onlink && r.Dev != nil {
		nh := s.Table(id).Lookup(r.Gw)
		if nh == nil {
			nh, _ = s.fibLookup(r.Gw, netip.Addr{}, nil, nil, 0)
		}
		if nh == nil || nh.Gw.IsValid() || nh.Dev != r.Dev {
			return fmt.Errorf("namespace %s: route %s: RTNETLINK answers: Network is unreachable (gateway %s is not on-link on %s)", s.Name, r.StringIn(id), r.Gw, r.Dev.Dev.Name)
		}
	}
	if err := s.Table(id).Add(r); err != nil {
		return fmt.Errorf("namespace %s: table %s: %w", s.Name, TableName(id), err)
	}
	return nil
}

// RouteTableAll lists every route as `ip route show table all` prints
// them: the tables in the order the kernel dumps them (by id modulo its
// 256 hash buckets, so 1003 before main 254 before local 255), each
// route with "table ID" unless it is in main, the local table built from
// the addresses (local and broadcast routes).
func (s *Stack) RouteTableAll() []string {
	ids := append(s.TableIDs(), TableMain, TableLocal)
	slices.SortStableFunc(ids, func(a, b uint32) int {
		if a&255 != b&255 {
			return int(a&255) - int(b&255)
		}
		return int(a) - int(b)
	})
	var out []string
	for _, id := range ids {
		if id == TableLocal {
			out = append(out, s.localTable()...)
			continue
		}
		for _, r := range s.Table(id).All() {
			out = append(out, r.StringIn(id))
		}
	}
	return out
}

// localTable is the local table the kernel derives from the addresses:
// "local A" for each address (and 127.0.0.0/8 on lo), "broadcast B" for
// each subnet's broadcast address, in address order.
func (s *Stack) localTable() []string {
	type entry struct {
		p    netip.Prefix
		text string
	}
	var es []entry
	seen := map[string]bool{}
	add := func(p netip.Prefix, text string) {
		if !seen[text] {
			seen[text] = true
			es = append(es, entry{p, text})
		}
	}
	for _, i := range s.ifaces[1:] {
		for _, a := range i.Addrs {
			src := a.Prefix.Addr()
			dev := i.Dev.Name
			if i.Dev.Kind == "loopback" && a.Prefix.Bits() < 32 {
				add(a.Prefix.Masked(), fmt.Sprintf("local %s dev %s table local proto kernel scope host src %s", a.Prefix.Masked(), dev, src))
			}
			add(netip.PrefixFrom(src, 32), fmt.Sprintf("local %s dev %s table local proto kernel scope host src %s", src, dev, src))
			if a.Prefix.Bits() < 31 {
				bc := lastAddr(a.Prefix)
				add(netip.PrefixFrom(bc, 32), fmt.Sprintf("broadcast %s dev %s table local proto kernel scope link src %s", bc, dev, src))
			}
		}
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return a.p.Bits() - b.p.Bits()
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.text
	}
	return out
}
