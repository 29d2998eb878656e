// Package netfilter is a namespace's iptables and conntrack: tables and
// chains of rules written in iptables syntax, evaluated at the hooks where
// the kernel evaluates them, connection tracking with the kernel's
// states and timeouts, and NAT bound to connections (the nat table sees
// only a connection's first packet; later packets and replies are
// translated from the conntrack entry, as nf_nat does).
//
// Hook order per priority, as in the kernel:
//
//	PREROUTING:  conntrack → mangle → nat (DNAT)
//	INPUT:       mangle → filter → nat (SNAT) → confirm
//	FORWARD:     mangle → filter
//	OUTPUT:      conntrack → mangle → nat (DNAT) → filter
//	POSTROUTING: mangle → nat (SNAT) → confirm
package netfilter

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Host is what netfilter asks of its namespace.
type Host interface {
	// IsLocal reports a local address (addrtype LOCAL).
	IsLocal(a netip.Addr) bool
	// MasqueradeSource is the address MASQUERADE uses leaving via out
	// toward dst (inet_select_addr on the out device).
	MasqueradeSource(out *link.Device, dst netip.Addr) (netip.Addr, bool)
}

// Chain is a chain of rules.
type Chain struct {
	Name    string
	Builtin bool
	// Policy of a builtin chain: TAccept or TDrop.
	Policy TargetKind
	Rules  []*Rule
	// Packets and Bytes count policy hits of builtin chains.
	Packets, Bytes uint64
	// slot tells the builtin chains apart in the trail table (table
	// index × 5 + hook).
	slot uint8
}

// Table is one of filter, nat, mangle, raw.
type Table struct {
	Name   string
	Chains map[string]*Chain
	order  []string
	// hook holds the builtin chain of each hook (nil where the table has
	// none), so that the packet path needs no map lookups.
	hook [5]*Chain
}

var hookOfChain = map[string]netstack.Hook{
	"PREROUTING": netstack.PreRouting, "INPUT": netstack.LocalIn, "FORWARD": netstack.Forward,
	"OUTPUT": netstack.LocalOut, "POSTROUTING": netstack.PostRouting,
}

// table indexes for Netfilter.tbl.
const (
	tRaw = iota
	tMangle
	tNat
	tFilter
)

var tableIndex = map[string]int{"raw": tRaw, "mangle": tMangle, "nat": tNat, "filter": tFilter}

var builtinChains = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"raw":    {"PREROUTING", "OUTPUT"},
}

func newTable(name string) *Table {
	t := &Table{Name: name, Chains: map[string]*Chain{}}
	for _, c := range builtinChains[name] {
		ch := &Chain{Name: c, Builtin: true, Policy: TAccept, slot: uint8(tableIndex[name]*5) + uint8(hookOfChain[c])}
		t.Chains[c] = ch
		t.hook[hookOfChain[c]] = ch
		t.order = append(t.order, c)
	}
	return t
}

// Netfilter is one namespace's netfilter.
type Netfilter struct {
	// NS is the namespace name used in traces.
	NS string

	env    *link.Env
	host   Host
	tables map[string]*Table
	tbl    [4]*Table
	ct     *Conntrack
	rng    *rand.Rand
	recent map[string]map[netip.Addr]time.Duration
	// sets are the namespace's ipsets; ext the state of the other
	// extension matches (nfacct objects, the IPVS lookup).
	sets  ipsets
	ext   extState
	stack [32]frame
	// v is the verdict of the hook that refused the packet.
	v netstack.Verdict
	// gen is the ruleset's generation: every change advances it, and a
	// recorded chain walk (trail.go) is valid only under the generation
	// it was recorded in; trails is the table (nil until first used).
	gen    uint64
	trails []trail
	// impureSeen is set by match when it evaluates a match whose outcome
	// is not a function of a trail's inputs (see impureFlags): a rule
	// whose earlier matches fail never reaches it, as in the kernel, where
	// a rule's matches run in order and stop at the first that fails.
	impureSeen bool
	// rec is the hook being recorded for a segment (hookOp); nil otherwise.
	rec *hookOp
	// lastOp and lastRec are the last hook op added to a segment and its
	// recording (link.Recorder.ID).
	lastOp  *hookOp
	lastRec uint64
	// Replayed counts the chain walks replayed from a trail.
	Replayed uint64
}

type frame struct {
	chain *Chain
	idx   int
}

// New creates an empty netfilter (all policies ACCEPT).
func New(env *link.Env, ns string, host Host, seed uint64) *Netfilter {
	nf := &Netfilter{NS: ns, env: env, host: host, tables: map[string]*Table{}, ct: newConntrack(),
		rng: rand.New(rand.NewPCG(seed, 0x6e6574666c74)), recent: map[string]map[netip.Addr]time.Duration{}}
	for name := range builtinChains {
		nf.setTable(newTable(name))
	}
	return nf
}

// setTable installs t as the table of its name.
func (nf *Netfilter) setTable(t *Table) {
	nf.tables[t.Name] = t
	nf.tbl[tableIndex[t.Name]] = t
}

// Conntrack returns the connection table.
func (nf *Netfilter) Conntrack() *Conntrack { return nf.ct }

// Table returns a table by name.
func (nf *Netfilter) Table(name string) *Table {
	nf.gen++ // a handle to mutable state
	return nf.tables[name]
}

// NewChain creates a user chain (iptables -N); existing chains are kept.
func (nf *Netfilter) NewChain(table, chain string) error {
	nf.gen++
	t, ok := nf.tables[table]
	if !ok {
		return fmt.Errorf("netfilter %s: no table %q", nf.NS, table)
	}
	if _, ok := t.Chains[chain]; !ok {
		t.Chains[chain] = &Chain{Name: chain}
		t.order = append(t.order, chain)
	}
	return nil
}

// SetPolicy sets a builtin chain's policy (iptables -P).
func (nf *Netfilter) SetPolicy(table, chain string, policy TargetKind) error {
	nf.gen++
	t, ok := nf.tables[table]
	if !ok {
		return fmt.Errorf("netfilter %s: no table %q", nf.NS, table)
	}
	c, ok := t.Chains[chain]
	if !ok || !c.Builtin {
		return fmt.Errorf("netfilter %s: %s is not a builtin chain of %s", nf.NS, chain, table)
	}
	c.Policy = policy
	return nil
}

// Append adds rules (iptables -A) written in iptables syntax to a table,
// creating user chains as needed. Jump targets must exist by the end.
func (nf *Netfilter) Append(table string, lines ...string) error {
	nf.gen++
	t, ok := nf.tables[table]
	if !ok {
		return fmt.Errorf("netfilter %s: no table %q", nf.NS, table)
	}
	for _, l := range lines {
		c, r, err := nf.prepareRule(t, l)
		if err != nil {
			return err
		}
		c.Rules = append(c.Rules, r)
	}
	return nil
}

// natHooks are the builtin nat chains each NAT target may be used in
// (the targets' .hooks in the kernel); user chains are not checked.
var natHooks = map[TargetKind][]string{
	TDNAT:       {"PREROUTING", "OUTPUT"},
	TSNAT:       {"POSTROUTING", "INPUT"},
	TMasquerade: {"POSTROUTING"},
}

func checkTarget(table string, r *Rule) error {
	switch r.Target {
	case TDNAT, TSNAT, TMasquerade:
		if table != "nat" {
			return fmt.Errorf("%s is only valid in the nat table", r.target)
		}
		builtin, ok := false, false
		for _, c := range builtinChains["nat"] {
			builtin = builtin || c == r.Chain
		}
		for _, c := range natHooks[r.Target] {
			ok = ok || c == r.Chain
		}
		if builtin && !ok {
			return fmt.Errorf("%s is not valid in chain %s (only in %s)", r.target, r.Chain, strings.Join(natHooks[r.Target], " and "))
		}
	case TReject:
		if table != "filter" {
			return fmt.Errorf("REJECT is only valid in the filter table")
		}
	}
	return nil
}

// Restore loads iptables-restore input: "*table", ":CHAIN POLICY [p:b]",
// "-A ...", "-N", "COMMIT". Existing tables named in the input are flushed
// first, as iptables-restore without --noflush does. As in
// iptables-restore, each table is replaced atomically at its COMMIT: an
// error leaves the table being read as it was (tables committed before the
// error stay restored). Counters ("[p:b]" before a rule, and on chain
// lines) are accepted and ignored, as iptables-restore does without -c.
func (nf *Netfilter) Restore(text string) (err error) {
	nf.gen++
	var cur, old *Table
	var pending []string
	defer func() {
		if err != nil && cur != nil {
			nf.setTable(old)
		}
	}()
	for n, line := range strings.Split(text, "\n") {
		line = restoreLine(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			if cur != nil {
				return fmt.Errorf("iptables-restore line %d: table %s has no COMMIT before %q", n+1, cur.Name, line)
			}
			name := line[1:]
			if _, ok := builtinChains[name]; !ok {
				return fmt.Errorf("iptables-restore line %d: unknown table %q", n+1, name)
			}
			old = nf.tables[name]
			cur = newTable(name)
			nf.setTable(cur)
			pending = nil
		case strings.HasPrefix(line, ":"):
			if cur == nil {
				return fmt.Errorf("iptables-restore line %d: chain before a *table line", n+1)
			}
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return fmt.Errorf("iptables-restore line %d: expected :CHAIN POLICY", n+1)
			}
			c, ok := cur.Chains[f[0]]
			if !ok {
				c = &Chain{Name: f[0]}
				cur.Chains[f[0]] = c
				cur.order = append(cur.order, f[0])
			}
			switch {
			case f[1] == "-": // keep the policy (ACCEPT after the flush)
			case f[1] == "ACCEPT" && c.Builtin:
				c.Policy = TAccept
			case f[1] == "DROP" && c.Builtin:
				c.Policy = TDrop
			case c.Builtin:
				return fmt.Errorf("iptables-restore line %d: policy %q of builtin chain %s: expected ACCEPT, DROP or -", n+1, f[1], f[0])
			default:
				return fmt.Errorf("iptables-restore line %d: user chain %s cannot have policy %q: expected -", n+1, f[0], f[1])
			}
		case strings.HasPrefix(line, "-N "):
			if cur == nil {
				return fmt.Errorf("iptables-restore line %d: -N before a *table line", n+1)
			}
			if err := nf.NewChain(cur.Name, strings.TrimSpace(line[3:])); err != nil {
				return err
			}
		case strings.HasPrefix(line, "-A "):
			if cur == nil {
				return fmt.Errorf("iptables-restore line %d: rule before a *table line", n+1)
			}
			pending = append(pending, line)
		case line == "COMMIT":
			if cur == nil {
				return fmt.Errorf("iptables-restore line %d: COMMIT without a table", n+1)
			}
			if err := nf.Append(cur.Name, pending...); err != nil {
				return fmt.Errorf("iptables-restore line %d (COMMIT): %w", n+1, err)
			}
			cur, pending = nil, nil
		default:
			return fmt.Errorf("iptables-restore line %d: cannot parse %q", n+1, line)
		}
	}
	if cur != nil {
		return fmt.Errorf("iptables-restore: table %s has no COMMIT", cur.Name)
	}
	return nil
}

// restoreLine trims an iptables-restore line and drops a "[packets:bytes]"
// counter prefix before "-A" (accepted and ignored, as without -c).
func restoreLine(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "[") {
		if i := strings.Index(line, "] "); i > 0 && strings.HasPrefix(line[i+2:], "-A ") {
			line = line[i+2:]
		}
	}
	return line
}

// Save prints the tables as iptables-save does (tables in the order given,
// or nat and filter when none): the builtin chains in hook order, then the
// user chains sorted by name — libiptc (iptables-legacy) keeps user chains
// sorted as it inserts them, and iptables-nft-save sorts them too (since
// iptables 1.8.5) — and the rules chain by chain in that order.
func (nf *Netfilter) Save(counters bool, tables ...string) string {
	if len(tables) == 0 {
		tables = []string{"nat", "filter"}
	}
	var b strings.Builder
	for _, name := range tables {
		t := nf.tables[name]
		if t == nil {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", name)
		order := t.saveOrder()
		for _, cn := range order {
			c := t.Chains[cn]
			pol := "-"
			if c.Builtin {
				pol = "ACCEPT"
				if c.Policy == TDrop {
					pol = "DROP"
				}
			}
			fmt.Fprintf(&b, ":%s %s [%d:%d]\n", c.Name, pol, c.Packets, c.Bytes)
		}
		for _, cn := range order {
			for _, r := range t.Chains[cn].Rules {
				if counters {
					fmt.Fprintf(&b, "[%d:%d] ", r.Packets, r.Bytes)
				}
				b.WriteString(r.String())
				b.WriteByte('\n')
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// SortUserChains orders the table's user chains alphabetically after the
// builtin ones, as libiptc keeps them (Save prints them so in any case).
func (nf *Netfilter) SortUserChains(table string) {
	nf.gen++
	t := nf.tables[table]
	n := len(builtinChains[table])
	user := t.order[n:]
	sort.Strings(user)
}

// stackHost adapts a Stack to Host.
type stackHost struct{ s *netstack.Stack }

func (h stackHost) IsLocal(a netip.Addr) bool { return h.s.IsLocal(a) }

// MasqueradeSource is inet_select_addr(out, dst, RT_SCOPE_UNIVERSE), as
// nf_nat_masquerade_ipv4 calls it: the out device's first global-scope
// address, preferring one whose subnet holds dst; with none (only
// host-scope 127.0.0.0/8 addresses, as on lo, or no address at all) the
// first global-scope address of any device in ifindex order. false is the
// kernel's "ate my IP address" drop. (The kernel matches the route's next
// hop; for a directly connected destination that is dst.)
func (h stackHost) MasqueradeSource(out *link.Device, dst netip.Addr) (netip.Addr, bool) {
	if i := h.s.IfaceOf(out); i != nil {
		if a, ok := selectAddr(i, dst); ok {
			return a, true
		}
	}
	for _, i := range h.s.Ifaces() {
		if a, ok := selectAddr(i, netip.Addr{}); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// hostScope is the scope iproute2 gives an address in 127.0.0.0/8 (and
// the kernel gives lo's 127.0.0.1): RT_SCOPE_HOST, never chosen for a
// packet that leaves the host.
var hostScope = netip.MustParsePrefix("127.0.0.0/8")

// selectAddr is one device's part of inet_select_addr for
// RT_SCOPE_UNIVERSE: the first global-scope address, or the first one
// whose subnet holds dst.
func selectAddr(i *netstack.Iface, dst netip.Addr) (netip.Addr, bool) {
	var first netip.Addr
	for _, a := range i.Addrs {
		if hostScope.Contains(a.Prefix.Addr()) {
			continue
		}
		if dst.IsValid() && a.Prefix.Masked().Contains(dst) {
			return a.Prefix.Addr(), true
		}
		if !first.IsValid() {
			first = a.Prefix.Addr()
		}
	}
	return first, first.IsValid()
}

// ForStack creates a netfilter for a namespace and installs it as the
// namespace's Filter, with conntrack's defragmentation
// (Stack.ConntrackDefrag).
func ForStack(s *netstack.Stack, seed uint64) *Netfilter {
	nf := New(s.Env(), s.Name, stackHost{s}, seed)
	s.Filter = nf
	s.ConntrackDefrag = true // conntrack loads nf_defrag_ipv4
	return nf
}

// pktCtx is what rules and NAT need about the packet being evaluated.
type pktCtx struct {
	pkt     *packet.Buffer
	in, out *link.Device
	conn    *Conn
	dir     uint8
	state   uint8
	hook    netstack.Hook
}

// Pass implements netstack.Filter.
func (nf *Netfilter) Pass(h netstack.Hook, pkt *packet.Buffer, in, out *link.Device) bool {
	return nf.hook(h, pkt, in, out)
}

// Refusal implements netstack.Filter: why the last Pass returned false.
func (nf *Netfilter) Refusal() netstack.Verdict { return nf.v }

// Hook runs hook h and returns the verdict (Accept when the packet goes on).
func (nf *Netfilter) Hook(h netstack.Hook, pkt *packet.Buffer, in, out *link.Device) netstack.Verdict {
	if nf.hook(h, pkt, in, out) {
		return netstack.Verdict{}
	}
	return nf.v
}

// hook runs the tables of hook h in the kernel's priority order; false
// means the packet was refused and nf.v says why.
func (nf *Netfilter) hook(h netstack.Hook, pkt *packet.Buffer, in, out *link.Device) bool {
	if r := nf.env.Rec(); r != nil {
		nf.rec = &hookOp{nf: nf, gen: nf.gen, h: h, in: in, out: out, mark: pkt.Mark}
		ok := nf.hookOnce(h, pkt, in, out)
		op := nf.rec
		nf.rec = nil
		if ok && !op.bad {
			op.gen = nf.gen
			if op.conn != nil {
				op.status, op.tcp, op.ctmark = op.conn.Status, op.conn.TCP, op.conn.Mark
			}
			op.prune()
			// A hook left with nothing to do checks only what the last
			// hook op of this namespace in the segment checks (the same
			// ruleset generation and connection state): it adds nothing.
			if l := nf.lastOp; len(op.acts) > 0 || len(op.trails) > 0 || nf.lastRec != r.ID || l == nil ||
				l.gen != op.gen || l.conn != op.conn || l.dir != op.dir || l.status != op.status || l.tcp != op.tcp || l.ctmark != op.ctmark {
				r.Add(op)
				nf.lastOp, nf.lastRec = op, r.ID
			}
		} else {
			r.Abort()
		}
		return ok
	}
	return nf.hookOnce(h, pkt, in, out)
}

func (nf *Netfilter) hookOnce(h netstack.Hook, pkt *packet.Buffer, in, out *link.Device) bool {
	var c pktCtx // field by field: see hookOp.Apply
	c.pkt, c.in, c.out, c.hook = pkt, in, out, h
	switch h {
	case netstack.PreRouting:
		return nf.ctIn(&c) && nf.runTable(nf.tbl[tMangle], h, &c) && nf.nat(&c, h, manipDst)
	case netstack.LocalIn:
		nf.ctAttach(&c)
		return nf.runTable(nf.tbl[tMangle], h, &c) && nf.runTable(nf.tbl[tFilter], h, &c)
	case netstack.LocalInNAT:
		// INPUT at NF_IP_PRI_NAT_SRC and later: after IPVS had its chance.
		nf.ctAttach(&c)
		return nf.nat(&c, netstack.LocalIn, manipSrc) && nf.confirm(&c)
	case netstack.Forward:
		nf.ctAttach(&c)
		return nf.runTable(nf.tbl[tMangle], h, &c) && nf.runTable(nf.tbl[tFilter], h, &c)
	case netstack.LocalOut:
		return nf.ctIn(&c) && nf.runTable(nf.tbl[tMangle], h, &c) && nf.nat(&c, h, manipDst)
	case netstack.LocalOutFilter:
		// OUTPUT after NF_IP_PRI_NAT_DST+2: after IPVS had its chance.
		nf.ctAttach(&c)
		return nf.runTable(nf.tbl[tFilter], netstack.LocalOut, &c)
	case netstack.PostRouting:
		nf.ctAttach(&c)
		return nf.runTable(nf.tbl[tMangle], h, &c) && nf.nat(&c, h, manipSrc) && nf.confirm(&c)
	}
	return true
}

// ctState computes the ctstate bits of a packet.
func (c *pktCtx) ctState() uint8 {
	if c.conn == nil {
		return StateInvalid
	}
	return c.state
}

func (nf *Netfilter) ctAttach(c *pktCtx) {
	if conn, ok := c.pkt.CT.(*Conn); ok && conn != nil {
		if o := nf.rec; o != nil {
			if o.conn != nil && o.conn != conn {
				o.bad = true
			}
			o.conn, o.dir = conn, 0
			if c.pkt.CTReply {
				o.dir = 1
			}
			if c.pkt.CTRelated {
				o.bad = true
			}
		}
		c.conn = conn
		c.dir = 0
		if c.pkt.CTReply {
			c.dir = 1
		}
		c.state = stateOf(conn, c.dir)
		if c.pkt.CTRelated {
			c.state = StateRelated
		}
	}
}

func stateOf(conn *Conn, dir uint8) uint8 {
	switch {
	case dir == 1:
		return StateEstablished
	case conn.Status&ipsSeenReply != 0:
		return StateEstablished
	default:
		return StateNew
	}
}

// ctIn is nf_conntrack_in: find or create the connection of the packet.
func (nf *Netfilter) ctIn(c *pktCtx) bool {
	pkt := c.pkt
	if conn, ok := pkt.CT.(*Conn); ok && conn != nil {
		// Already tracked (looped back inside the namespace).
		nf.ctAttach(c)
		return true
	}
	ip := packet.IPv4(pkt.Bytes())
	now := nf.env.Now()
	t, icmpErr, ok := tupleOf(ip)
	if icmpErr {
		nf.unrecordable()
		return nf.ctRelated(c, ip, now)
	}
	if !ok {
		nf.unrecordable()
		c.conn = nil
		return true
	}
	conn, dir, found := nf.ct.lookup(t, now)
	if o := nf.rec; o != nil {
		if !found {
			o.bad = true // a new connection: not a steady run
		} else {
			st, tcp := conn.Status, conn.TCP
			defer func() {
				if conn.Status != st || conn.TCP != tcp {
					o.bad = true // the connection changed state
				}
			}()
			o.conn, o.dir = conn, dir
			o.acts = append(o.acts, hookAct{kind: actUpdate})
		}
	}
	if !found {
		nf.ct.nextID++
		conn = &Conn{Tuple: [2]Tuple{t, t.Invert()}, ID: nf.ct.nextID}
		dir = 0
	}
	conn.update(ip, dir, now)
	c.conn, c.dir = conn, dir
	c.state = stateOf(conn, dir)
	pkt.CT, pkt.CTReply, pkt.CTRelated = conn, dir == 1, false
	if nf.env.Tracing() {
		h := trace.Hop{Node: nf.NS, Kind: trace.KindCT, Lookup: "conntrack " + t.String()}
		if found {
			d := "original"
			if dir == 1 {
				d = "reply"
			}
			h.Match = fmt.Sprintf("%s direction of #%d: %s", d, conn.ID, conn.Format(now))
		} else {
			h.Match = "no entry: NEW"
		}
		nf.env.Hop(pkt, h)
	}
	return true
}

// ctRelated finds the connection an ICMP error is about (RELATED), and
// applies the connection's NAT to the error and the packet it quotes.
func (nf *Netfilter) ctRelated(c *pktCtx, ip packet.IPv4, now time.Duration) bool {
	if !ip.Valid() {
		c.conn = nil
		return true
	}
	pl := ip.Payload()
	if len(pl) < packet.ICMPHeaderLen+packet.IPv4HeaderLen+8 {
		c.conn = nil
		return true
	}
	inner := packet.IPv4(pl[packet.ICMPHeaderLen:])
	it, _, ok := tupleOf(inner)
	if !ok {
		c.conn = nil
		return true
	}
	conn, dir, found := nf.ct.lookup(it.Invert(), now)
	if !found {
		c.conn = nil
		return true
	}
	c.conn, c.dir, c.state = conn, dir, StateRelated
	c.pkt.CT, c.pkt.CTReply, c.pkt.CTRelated = conn, dir == 1, true
	if nf.env.Tracing() {
		nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindCT, Lookup: "conntrack ICMP error about " + it.String(),
			Match: fmt.Sprintf("RELATED to #%d: %s", conn.ID, conn.Format(now))})
	}
	return true
}

func (nf *Netfilter) confirm(c *pktCtx) bool {
	if c.conn == nil || c.state == StateRelated {
		return true
	}
	if !c.conn.Confirmed() {
		nf.unrecordable()
		if !nf.ct.confirm(c.conn, nf.env.Now()) {
			nf.v = netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonCTInvalid,
				Detail: "conntrack insert failed: the reply tuple " + c.conn.Tuple[1].String() + " clashes with an existing entry"}
			return false
		}
		if nf.env.Tracing() {
			nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindCT, Change: fmt.Sprintf("confirmed #%d: %s", c.conn.ID, c.conn.Format(nf.env.Now()))})
		}
	}
	return true
}

// runTable evaluates a builtin chain of a table.
func (nf *Netfilter) runTable(t *Table, h netstack.Hook, c *pktCtx) bool {
	ch := t.hook[h]
	if ch == nil || len(ch.Rules) == 0 && ch.Policy == TAccept {
		return true
	}
	return nf.runChain(t, ch, c)
}

func (nf *Netfilter) runChain(t *Table, ch *Chain, c *pktCtx) bool {
	table := t.Name
	r, kind := nf.evalCached(t, ch, c)
	switch kind {
	case TDrop:
		nf.v = netstack.Verdict{Kind: netstack.Drop, Reason: dropReason(r), Detail: nf.explain(c, ruleDetail(table, ch, r), r)}
		return false
	case TReject:
		v := netstack.Verdict{Kind: netstack.Reject, Reason: dropReason(r), Detail: nf.explain(c, ruleDetail(table, ch, r), r)}
		switch r.rejectWith {
		case "tcp-reset":
			v.RejectTCPReset = true
		case "icmp-host-unreachable":
			v.RejectICMPCode = packet.ICMPCodeHostUnreach
		case "icmp-net-unreachable":
			v.RejectICMPCode = packet.ICMPCodeNetUnreach
		case "icmp-proto-unreachable":
			v.RejectICMPCode = 2
		case "icmp-admin-prohibited":
			v.RejectICMPCode = packet.ICMPCodeAdminProhib
		case "icmp-host-prohibited":
			v.RejectICMPCode = 10
		case "icmp-net-prohibited":
			v.RejectICMPCode = 9
		default:
			v.RejectICMPCode = packet.ICMPCodePortUnreach
		}
		nf.v = v
		return false
	}
	return true
}

// explain puts the rule's Explain text in front of the rule's detail.
func (nf *Netfilter) explain(c *pktCtx, detail string, r *Rule) string {
	if r == nil || r.Explain == nil {
		return detail
	}
	return r.Explain(c.pkt.Bytes()) + " — " + detail
}

func ruleDetail(table string, ch *Chain, r *Rule) string {
	if r == nil {
		return fmt.Sprintf("policy DROP of chain %s in table %s", ch.Name, table)
	}
	s := fmt.Sprintf("table %s: %s", table, r.String())
	if r.Comment != "" {
		s += " (" + r.Comment + ")"
	}
	return s
}

// eval walks a chain and the chains it jumps to; it returns the rule that
// decided and its terminal target kind (TAccept when the policy accepted).
func (nf *Netfilter) eval(t *Table, start *Chain, c *pktCtx, rec *recorder) (*Rule, TargetKind) {
	ip := packet.IPv4(c.pkt.Bytes())
	sp := 0
	nf.stack[0] = frame{chain: start}
	// policy is the underflow of the builtin chain: reached by falling off
	// its end, by RETURN in it, or by the end of (or RETURN in) a chain
	// it went to with -g.
	policy := func() (*Rule, TargetKind) {
		start.Packets++
		start.Bytes += uint64(c.pkt.Len())
		if start.Policy == TDrop {
			if nf.env.Tracing() {
				nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindRule, Lookup: "iptables -t " + t.Name + " " + start.Name,
					Match: ":" + start.Name + " DROP (policy)"})
			}
			return nil, TDrop
		}
		return nil, TAccept
	}
	for sp >= 0 {
		f := &nf.stack[sp]
		if f.idx >= len(f.chain.Rules) {
			if sp == 0 {
				return policy()
			}
			sp--
			continue
		}
		r := f.chain.Rules[f.idx]
		f.idx++
		nf.impureSeen = false
		matched := nf.match(r, ip, c)
		if rec != nil && nf.impureSeen {
			rec.impure = true
		}
		if !matched {
			continue
		}
		r.Packets++
		r.Bytes += uint64(c.pkt.Len())
		if nf.env.Tracing() {
			path := chainPath(nf.stack[:sp+1])
			nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindRule, Lookup: "iptables -t " + t.Name + " " + path,
				Match: r.String()})
			if rec != nil {
				rec.t.paths = append(rec.t.paths, path)
			}
		}
		if rec != nil {
			rec.t.rules = append(rec.t.rules, r)
		}
		switch r.Target {
		case TNone, TLog:
		case TAccept, TDrop, TReject, TDNAT, TSNAT, TMasquerade:
			return r, r.Target
		case TReturn:
			if sp == 0 {
				return policy()
			}
			sp--
		case TJump, TGoto:
			next := r.jump
			if next == nil {
				next = t.Chains[r.JumpTo]
			}
			if r.Target == TGoto {
				nf.stack[sp] = frame{chain: next}
				continue
			}
			if sp+1 >= len(nf.stack) {
				return r, TDrop
			}
			sp++
			nf.stack[sp] = frame{chain: next}
		case TMark:
			c.pkt.Mark = c.pkt.Mark&^r.markSetMask ^ r.markSetVal
		case TConnmark:
			if c.conn != nil {
				c.conn.Mark = c.conn.Mark&^r.markSetMask ^ r.markSetVal
			}
		}
	}
	return nil, TAccept
}

func chainPath(st []frame) string {
	if len(st) == 1 {
		return st[0].chain.Name
	}
	var b strings.Builder
	for i, f := range st {
		if i > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(f.chain.Name)
	}
	return b.String()
}

func ifaceMatch(pattern, name string) bool {
	if strings.HasSuffix(pattern, "+") {
		return strings.HasPrefix(name, pattern[:len(pattern)-1])
	}
	return pattern == name
}

// match evaluates a rule's matches against the packet.
func (nf *Netfilter) match(r *Rule, ip packet.IPv4, c *pktCtx) bool {
	f := r.flags
	if f == 0 {
		return true
	}
	test := func(bit uint32, ok bool) bool { return ok != (r.inv&bit != 0) }
	if f&mSrc != 0 && !test(mSrc, r.src.Contains(ip.Src())) {
		return false
	}
	if f&mDst != 0 && !test(mDst, r.dst.Contains(ip.Dst())) {
		return false
	}
	if f&mIn != 0 && !test(mIn, c.in != nil && ifaceMatch(r.in, c.in.Name)) {
		return false
	}
	if f&mOut != 0 && !test(mOut, c.out != nil && ifaceMatch(r.out, c.out.Name)) {
		return false
	}
	if f&mProto != 0 && !test(mProto, r.proto == 0 || ip.Protocol() == r.proto) {
		return false
	}
	if f&(mSPort|mDPort|mDPorts) != 0 {
		if ip.FragOffset() != 0 || (ip.Protocol() != packet.ProtoTCP && ip.Protocol() != packet.ProtoUDP && ip.Protocol() != protoSCTP) {
			return false
		}
		l4 := ip[ip.HeaderLen():]
		if len(l4) < 4 {
			return false
		}
		sp, dp := packet.UDP(l4).SrcPort(), packet.UDP(l4).DstPort()
		if f&mSPort != 0 && !test(mSPort, sp >= r.sport[0] && sp <= r.sport[1]) {
			return false
		}
		if f&mDPort != 0 && !test(mDPort, dp >= r.dport[0] && dp <= r.dport[1]) {
			return false
		}
		if f&mDPorts != 0 {
			in := false
			for _, pr := range r.dports {
				if dp >= pr[0] && dp <= pr[1] {
					in = true
				}
			}
			if !test(mDPorts, in) {
				return false
			}
		}
	}
	if f&(mDstType|mSrcType) != 0 {
		nf.impureSeen = true
		if f&mDstType != 0 && !test(mDstType, nf.addrType(ip.Dst(), r.dstType, c, r.limitIfaceIn)) {
			return false
		}
		if f&mSrcType != 0 && !test(mSrcType, nf.addrType(ip.Src(), r.srcType, c, false)) {
			return false
		}
	}
	if f&mMark != 0 && !test(mMark, c.pkt.Mark&r.markMask == r.markVal) {
		return false
	}
	if f&mCTMark != 0 && !test(mCTMark, c.conn != nil && c.conn.Mark&r.ctMarkMask == r.ctMarkVal) {
		return false
	}
	if f&mCTState != 0 {
		st := c.ctState()
		if c.conn != nil {
			if c.conn.Status&ipsDstNAT != 0 {
				st |= StateDNAT
			}
			if c.conn.Status&ipsSrcNAT != 0 {
				st |= StateSNAT
			}
		}
		if !test(mCTState, st&r.ctState != 0) {
			return false
		}
	}
	if f&(mProb|mRecent) != 0 {
		nf.impureSeen = true
	}
	if f&mProb != 0 {
		// xt_statistic: (get_random_u32() & 0x7FFFFFFF) < probability
		if !((nf.rng.Uint32() & 0x7fffffff) < r.probRaw) {
			return false
		}
	}
	if f&mRecent != 0 && !nf.recentMatch(r.recent, ip) {
		return false
	}
	if f&mExt != 0 && !nf.matchExt(r, ip, c) {
		return false
	}
	return true
}

func (nf *Netfilter) addrType(a netip.Addr, t uint8, c *pktCtx, limitIn bool) bool {
	switch t {
	case AddrLocal:
		return nf.host.IsLocal(a)
	case AddrBroadcast:
		return a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	case AddrMulticast:
		return a.IsMulticast()
	case AddrUnicast:
		return !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return false
}

func (nf *Netfilter) recentMatch(rc *recentMatch, ip packet.IPv4) bool {
	now := nf.env.Now()
	tbl := nf.recent[rc.name]
	if tbl == nil {
		tbl = map[netip.Addr]time.Duration{}
		nf.recent[rc.name] = tbl
	}
	a := ip.Src()
	if !rc.rsource {
		a = ip.Dst()
	}
	if rc.set {
		tbl[a] = now
		return true
	}
	last, ok := tbl[a]
	if ok && rc.seconds > 0 && now-last > rc.seconds {
		ok = false
	}
	if rc.reap && rc.seconds > 0 {
		for k, t := range tbl {
			if now-t > rc.seconds {
				delete(tbl, k)
			}
		}
	}
	if ok && rc.update {
		tbl[a] = now
	}
	return ok
}

// Judge is the policy-only use of a netfilter (the modelled stand-in for
// an eBPF policy enforcer and its connection tracking): conntrack
// (nf_conntrack_in), the filter table's FORWARD chain with in and out as
// the packet's devices, then the confirmation of a new connection. pkt is
// an IPv4 packet. The packet's own conntrack attachment and mark (those
// of the namespace it travels in) are saved and restored: the judge's
// connections and marks stay its own.
func (nf *Netfilter) Judge(pkt *packet.Buffer, in, out *link.Device) netstack.Verdict {
	ct, rep, rel, mark := pkt.CT, pkt.CTReply, pkt.CTRelated, pkt.Mark
	pkt.CT, pkt.CTReply, pkt.CTRelated = nil, false, false
	c := pktCtx{pkt: pkt, in: in, out: out, hook: netstack.Forward}
	ok := nf.ctIn(&c) && nf.runTable(nf.tbl[tFilter], netstack.Forward, &c) && nf.confirm(&c)
	pkt.CT, pkt.CTReply, pkt.CTRelated, pkt.Mark = ct, rep, rel, mark
	if ok {
		return netstack.Verdict{}
	}
	return nf.v
}

// unrecordable marks the hook being recorded, if any, as not replayable.
func (nf *Netfilter) unrecordable() {
	if nf.rec != nil {
		nf.rec.bad = true
	}
}

// hookOp is one hook's work on a packet of an established connection,
// recorded for a segment (link.FlowCache): the connection it belongs to
// and the rule trails its chain walks replayed or recorded. Replaying it
// runs the hook again with the connection and the trails given — no
// conntrack lookup, no trail lookup — so the connection's update, every
// counter the trails move and any NAT rewrite happen as they did.
type hookOp struct {
	nf      *Netfilter
	gen     uint64
	h       netstack.Hook
	in, out *link.Device
	mark    uint32 // the packet's mark on entry
	conn    *Conn
	dir     uint8
	// status, tcp and ctmark are the connection's after the hook.
	status uint16
	tcp    uint8
	ctmark uint32
	trails []trailUse
	acts   []hookAct
	bad    bool
}

// hookAct is one thing a recorded hook did, in order.
type hookAct struct {
	kind uint8
	t    *trail
	tb   *Table
	mt   manipType
}

const (
	actUpdate uint8 = iota // the connection's update (conntrack in)
	actTrail               // a chain walk replayed from t
	actNAT                 // the connection's NAT applied (natPacket)
)

// trailUse is a trail a recorded hook replayed, with what it was keyed on.
type trailUse struct {
	t     *trail
	start *Chain
	in    *link.Device
	out   *link.Device
	mark  uint32
	state uint8
}

// prune drops the NAT acts that do nothing: the connection's status,
// which Valid checks, says no translation applies in the packet's
// direction.
func (o *hookOp) prune() {
	if o.conn == nil {
		return
	}
	c := pktCtx{conn: o.conn, dir: o.dir}
	kept := o.acts[:0]
	for _, a := range o.acts {
		if a.kind == actNAT && !natApplies(&c, a.mt) {
			continue
		}
		kept = append(kept, a)
	}
	o.acts = kept
}

func (o *hookOp) Valid(now time.Duration) bool {
	c := o.conn
	if o.nf.gen != o.gen || c == nil || c.gone || now >= c.Expires || c.Status != o.status || c.TCP != o.tcp || c.Mark != o.ctmark {
		return false
	}
	for i := range o.trails {
		u := &o.trails[i]
		t := u.t
		if !t.valid || t.gen != o.gen || t.conn != c || t.start != u.start || t.dir != o.dir || t.in != u.in || t.out != u.out ||
			t.mark != u.mark || t.state != u.state {
			return false
		}
	}
	return true
}

// Apply does what the hook did, in order: the connection's update
// (nf_conntrack_in), the chain walks' trails, the NAT rewrite of an
// established connection.
func (o *hookOp) Apply(pkt *packet.Buffer, now time.Duration) {
	nf, conn := o.nf, o.conn
	// Field by field: a composite literal is built on the stack and
	// copied, and the copy's wide loads stall on the narrow stores that
	// built it (store-to-load forwarding fails): 10 % of a replay.
	var c pktCtx
	c.pkt, c.in, c.out, c.hook, c.conn, c.dir = pkt, o.in, o.out, o.h, conn, o.dir
	c.state = stateOf(conn, o.dir)
	for i := range o.acts {
		a := &o.acts[i]
		switch a.kind {
		case actUpdate:
			conn.update(packet.IPv4(pkt.Bytes()), o.dir, now)
			c.state = stateOf(conn, o.dir)
			pkt.CT, pkt.CTReply, pkt.CTRelated = conn, o.dir == 1, false
		case actTrail:
			nf.replay(a.t, a.tb, &c)
		case actNAT:
			nf.natPacket(&c, a.mt)
		}
	}
}
