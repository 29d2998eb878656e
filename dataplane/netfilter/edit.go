package netfilter

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The rule-editing commands besides Append: iptables -I, -C, -D, -X, and
// iptables-restore --noflush (what kube-proxy uses: it replaces only the
// chains it names and leaves everything else in the table alone).

// prepareRule parses a "-A CHAIN ..." line for table t and checks it as
// the kernel and iptables do when it is added: the chain and any jump
// target exist, the target is valid in the table and chain, and the
// ipsets and nfacct objects it names exist.
func (nf *Netfilter) prepareRule(t *Table, l string) (*Chain, *Rule, error) {
	table := t.Name
	r, err := parseRuleCached(l)
	if err != nil {
		return nil, nil, fmt.Errorf("netfilter %s table %s: %w", nf.NS, table, err)
	}
	c, ok := t.Chains[r.Chain]
	if !ok {
		return nil, nil, fmt.Errorf("netfilter %s table %s: rule %q: no chain %q (create it with -N first)", nf.NS, table, l, r.Chain)
	}
	if (r.Target == TJump || r.Target == TGoto) && t.Chains[r.JumpTo] == nil {
		return nil, nil, fmt.Errorf("netfilter %s table %s: rule %q: jump to unknown chain %q", nf.NS, table, l, r.JumpTo)
	}
	if err := checkTarget(table, r); err != nil {
		return nil, nil, fmt.Errorf("netfilter %s: rule %q: %w", nf.NS, l, err)
	}
	if err := nf.bindExt(r); err != nil {
		return nil, nil, fmt.Errorf("netfilter %s table %s: rule %q: %w", nf.NS, table, l, err)
	}
	if r.Target == TJump || r.Target == TGoto {
		r.jump = t.Chains[r.JumpTo]
	}
	return c, r, nil
}

func (nf *Netfilter) table(name string) (*Table, error) {
	t, ok := nf.tables[name]
	if !ok {
		return nil, fmt.Errorf("netfilter %s: no table %q", nf.NS, name)
	}
	return t, nil
}

// cmdLine turns "-X CHAIN [N] spec" into ("-A CHAIN spec", N); num is 0
// when no rule number is given.
func cmdLine(line string, cmds ...string) (rule string, num int, err error) {
	// The first three words, as strings.Fields would split them (the
	// rest of the line is not split: this runs for every ensured rule).
	f0, rest := nextField(line)
	f1, rest := nextField(rest)
	if f1 == "" {
		return "", 0, fmt.Errorf("rule %q: expected %s CHAIN ...", line, cmds[0])
	}
	ok := false
	for _, c := range cmds {
		ok = ok || f0 == c
	}
	if !ok {
		return "", 0, fmt.Errorf("rule %q: expected %s CHAIN ...", line, cmds[0])
	}
	rest = strings.TrimSpace(rest)
	if f2, after := nextField(rest); f2 != "" {
		if n, err := strconv.Atoi(f2); err == nil {
			if n < 1 {
				return "", 0, fmt.Errorf("rule %q: rule numbers start at 1", line)
			}
			num = n
			rest = strings.TrimSpace(after)
		}
	}
	return "-A " + f1 + " " + rest, num, nil
}

// nextField is the first word of s as strings.Fields splits it, and what
// follows it ("" and "" when s holds only spaces).
func nextField(s string) (field, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// Insert is iptables -I: each line is "-I CHAIN [RULENUM] spec" (RULENUM
// 1 when left out), inserted before rule RULENUM; one past the last rule
// appends, as iptables allows.
func (nf *Netfilter) Insert(table string, lines ...string) error {
	nf.gen++
	t, err := nf.table(table)
	if err != nil {
		return err
	}
	for _, l := range lines {
		rl, num, err := cmdLine(l, "-I", "--insert")
		if err != nil {
			return fmt.Errorf("netfilter %s table %s: %w", nf.NS, table, err)
		}
		if num == 0 {
			num = 1
		}
		c, r, err := nf.prepareRule(t, rl)
		if err != nil {
			return err
		}
		if num > len(c.Rules)+1 {
			return fmt.Errorf("netfilter %s table %s: %q: Index of insertion too big (chain %s has %d rules)", nf.NS, table, l, c.Name, len(c.Rules))
		}
		c.Rules = append(c.Rules, nil)
		copy(c.Rules[num:], c.Rules[num-1:])
		c.Rules[num-1] = r
	}
	return nil
}

// find returns the index of the first rule of the chain equal to r (as
// iptables compares rules: same matches and target, counters aside), -1
// if none.
func findRule(c *Chain, r *Rule) int {
	for i, x := range c.Rules {
		if samePrinted(x, r) {
			return i
		}
	}
	return -1
}

// samePrinted is a.String() == b.String(), mostly without printing: rules
// of different printed lengths differ, rules of the same pieces are equal.
func samePrinted(a, b *Rule) bool {
	if a.printedLen() != b.printedLen() {
		return false
	}
	if a.Chain == b.Chain && a.target == b.target && slices.Equal(a.basic, b.basic) &&
		slices.Equal(a.matches, b.matches) {
		return true
	}
	return a.String() == b.String()
}

// printedLen is len(r.String()).
func (r *Rule) printedLen() int {
	n := len("-A ") + len(r.Chain)
	for _, p := range r.basic {
		n += 1 + len(p)
	}
	for _, p := range r.matches {
		if p != "" {
			n += 1 + len(p)
		}
	}
	if r.target != "" {
		n += 1 + len(r.target)
	}
	return n
}

// Check is iptables -C: whether the rule ("-C CHAIN spec" or
// "-A CHAIN spec") is in its chain.
func (nf *Netfilter) Check(table, line string) (bool, error) {
	t, err := nf.table(table)
	if err != nil {
		return false, err
	}
	rl, _, err := cmdLine(line, "-C", "--check", "-A", "--append")
	if err != nil {
		return false, fmt.Errorf("netfilter %s table %s: %w", nf.NS, table, err)
	}
	r, err := parseTemplate(rl)
	if err != nil {
		return false, fmt.Errorf("netfilter %s table %s: %w", nf.NS, table, err)
	}
	c := t.Chains[r.Chain]
	if c == nil {
		return false, fmt.Errorf("netfilter %s table %s: %q: no chain %q", nf.NS, table, line, r.Chain)
	}
	return findRule(c, r) >= 0, nil
}

// Delete is iptables -D by specification ("-D CHAIN spec"): the first
// equal rule is removed.
func (nf *Netfilter) Delete(table, line string) error {
	nf.gen++
	t, err := nf.table(table)
	if err != nil {
		return err
	}
	rl, _, err := cmdLine(line, "-D", "--delete")
	if err != nil {
		return fmt.Errorf("netfilter %s table %s: %w", nf.NS, table, err)
	}
	r, err := parseTemplate(rl)
	if err != nil {
		return fmt.Errorf("netfilter %s table %s: %w", nf.NS, table, err)
	}
	c := t.Chains[r.Chain]
	if c == nil {
		return fmt.Errorf("netfilter %s table %s: %q: no chain %q", nf.NS, table, line, r.Chain)
	}
	i := findRule(c, r)
	if i < 0 {
		return fmt.Errorf("netfilter %s table %s: %q: Bad rule (does a matching rule exist in that chain?)", nf.NS, table, line)
	}
	c.Rules = append(c.Rules[:i], c.Rules[i+1:]...)
	return nil
}

// references counts the rules of t that jump or go to c.
func references(t *Table, c *Chain) int {
	n := 0
	for _, x := range t.Chains {
		for _, r := range x.Rules {
			if r.jump == c || ((r.Target == TJump || r.Target == TGoto) && r.JumpTo == c.Name) {
				n++
			}
		}
	}
	return n
}

// DeleteChain is iptables -X CHAIN: the chain must be a user chain, empty
// and not referenced.
func (nf *Netfilter) DeleteChain(table, chain string) error {
	nf.gen++
	t, err := nf.table(table)
	if err != nil {
		return err
	}
	return nf.deleteChain(t, chain)
}

func (nf *Netfilter) deleteChain(t *Table, chain string) error {
	c := t.Chains[chain]
	switch {
	case c == nil:
		return fmt.Errorf("netfilter %s table %s: -X %s: No chain/target/match by that name", nf.NS, t.Name, chain)
	case c.Builtin:
		return fmt.Errorf("netfilter %s table %s: -X %s: a builtin chain cannot be deleted", nf.NS, t.Name, chain)
	case len(c.Rules) > 0:
		return fmt.Errorf("netfilter %s table %s: -X %s: Directory not empty (the chain has rules)", nf.NS, t.Name, chain)
	case references(t, c) > 0:
		return fmt.Errorf("netfilter %s table %s: -X %s: Too many links (the chain is referenced)", nf.NS, t.Name, chain)
	}
	delete(t.Chains, chain)
	for i, n := range t.order {
		if n == chain {
			t.order = append(t.order[:i], t.order[i+1:]...)
			break
		}
	}
	return nil
}

// RestoreNoFlush loads iptables-restore input as `iptables-restore
// --noflush` does (kube-proxy's NoFlushTables): a ":CHAIN POLICY" line
// creates the chain, or flushes an existing user chain (a builtin chain
// keeps its rules and takes the policy unless it is "-"); "-N CHAIN"
// creates a chain; "-A" appends; "-X CHAIN" deletes a chain. Chains the
// input does not name are left alone. Each table is changed atomically at
// its COMMIT: on an error the table is left as it was.
func (nf *Netfilter) RestoreNoFlush(text string) error {
	nf.gen++
	type chainLine struct {
		name, policy string
		line         int
	}
	type op struct {
		kind byte // 'A' append, 'X' delete, 'N' new chain
		arg  string
		line int
	}
	var cur *Table
	var chains []chainLine
	var ops []op
	for n, line := range strings.Split(text, "\n") {
		line = restoreLine(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			if cur != nil {
				return fmt.Errorf("iptables-restore line %d: table %s has no COMMIT before %q", n+1, cur.Name, line)
			}
			t, ok := nf.tables[line[1:]]
			if !ok {
				return fmt.Errorf("iptables-restore line %d: unknown table %q", n+1, line[1:])
			}
			cur, chains, ops = t, nil, nil
		case strings.HasPrefix(line, ":"):
			if cur == nil {
				return fmt.Errorf("iptables-restore line %d: chain before a *table line", n+1)
			}
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return fmt.Errorf("iptables-restore line %d: expected :CHAIN POLICY", n+1)
			}
			chains = append(chains, chainLine{f[0], f[1], n + 1})
		case strings.HasPrefix(line, "-A "), strings.HasPrefix(line, "-X "), strings.HasPrefix(line, "-N "):
			if cur == nil {
				return fmt.Errorf("iptables-restore line %d: rule before a *table line", n+1)
			}
			arg := line
			if line[1] != 'A' {
				arg = strings.TrimSpace(line[3:])
			}
			ops = append(ops, op{line[1], arg, n + 1})
		case line == "COMMIT":
			if cur == nil {
				return fmt.Errorf("iptables-restore line %d: COMMIT without a table", n+1)
			}
			// Undo log.
			oldRules := map[*Chain][]*Rule{}
			oldPolicy := map[*Chain]TargetKind{}
			var created []string
			undo := func() {
				for c, rs := range oldRules {
					c.Rules = rs
				}
				for c, p := range oldPolicy {
					c.Policy = p
				}
				for _, name := range created {
					delete(cur.Chains, name)
					for i, o := range cur.order {
						if o == name {
							cur.order = append(cur.order[:i], cur.order[i+1:]...)
							break
						}
					}
				}
				// Chains deleted by -X are put back by the caller's
				// snapshot below.
			}
			save := func(c *Chain) {
				if _, ok := oldRules[c]; !ok {
					oldRules[c] = c.Rules
				}
			}
			snapshotOrder := append([]string(nil), cur.order...)
			snapshotChains := map[string]*Chain{}
			for k, v := range cur.Chains {
				snapshotChains[k] = v
			}
			fail := func(err error) error {
				undo()
				cur.order = snapshotOrder
				cur.Chains = snapshotChains
				return err
			}
			for _, cl := range chains {
				c, ok := cur.Chains[cl.name]
				if !ok {
					if cl.policy != "-" {
						return fail(fmt.Errorf("iptables-restore line %d: user chain %s cannot have policy %q: expected -", cl.line, cl.name, cl.policy))
					}
					cur.Chains[cl.name] = &Chain{Name: cl.name}
					cur.order = append(cur.order, cl.name)
					created = append(created, cl.name)
					continue
				}
				if !c.Builtin {
					if cl.policy != "-" {
						return fail(fmt.Errorf("iptables-restore line %d: user chain %s cannot have policy %q: expected -", cl.line, cl.name, cl.policy))
					}
					save(c)
					c.Rules = nil
					continue
				}
				switch cl.policy {
				case "-":
				case "ACCEPT", "DROP":
					if _, ok := oldPolicy[c]; !ok {
						oldPolicy[c] = c.Policy
					}
					c.Policy = TAccept
					if cl.policy == "DROP" {
						c.Policy = TDrop
					}
				default:
					return fail(fmt.Errorf("iptables-restore line %d: policy %q of builtin chain %s: expected ACCEPT, DROP or -", cl.line, cl.policy, cl.name))
				}
			}
			for _, o := range ops {
				switch o.kind {
				case 'N':
					if _, ok := cur.Chains[o.arg]; ok {
						return fail(fmt.Errorf("iptables-restore line %d: -N %s: Chain already exists", o.line, o.arg))
					}
					cur.Chains[o.arg] = &Chain{Name: o.arg}
					cur.order = append(cur.order, o.arg)
					created = append(created, o.arg)
				case 'A':
					c, r, err := nf.prepareRule(cur, o.arg)
					if err != nil {
						return fail(fmt.Errorf("iptables-restore line %d: %w", o.line, err))
					}
					save(c)
					c.Rules = append(c.Rules[:len(c.Rules):len(c.Rules)], r)
				case 'X':
					if err := nf.deleteChain(cur, o.arg); err != nil {
						return fail(fmt.Errorf("iptables-restore line %d: %w", o.line, err))
					}
				}
			}
			cur, chains, ops = nil, nil, nil
		default:
			return fmt.Errorf("iptables-restore line %d: cannot parse %q", n+1, line)
		}
	}
	if cur != nil {
		return fmt.Errorf("iptables-restore: table %s has no COMMIT", cur.Name)
	}
	return nil
}

// saveOrder is the order iptables-save prints chains in: the builtin
// chains in hook order, then the user chains sorted by name (strcmp).
func (t *Table) saveOrder() []string {
	n := len(builtinChains[t.Name])
	out := append([]string(nil), t.order...)
	sort.Strings(out[n:])
	return out
}
