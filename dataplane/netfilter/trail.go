package netfilter

import (
	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// The rule-trail cache: the fast path's part in netfilter.
//
// A builtin chain's verdict for a packet of a tracked connection depends
// only on what its rules can look at: the header fields that are the same
// for every packet of one direction of the connection (addresses, protocol,
// ports), the in and out devices, the packet's mark and the connection's
// mark and state on entry, and the ruleset itself (rules, policies,
// chains, ipset contents). Where every rule the walk evaluated looked at
// nothing else, the walk is recorded on the connection as a trail: the
// rules that matched, in order, whether the chain's policy was reached,
// and the marks on exit. The next packet of that direction that meets the
// same chain with the same inputs replays the trail — every matched rule's
// packet and byte counters, the policy counter, the marks, the trace hops
// of a traced run — instead of walking the rules again. This is what
// nf_flowtable and Open vSwitch's megaflow cache do with a flow's
// decision, except that here every counter still moves as if the rules had
// been walked: iptables-save -c, traces and verdicts do not change.
//
// Trails are kept in a small direct-mapped table per namespace, indexed
// by connection, direction and chain, so that they cost a fixed amount of
// memory whatever the number of connections: a connection whose slot was
// taken by another is walked again and recorded again.
//
// A trail is valid while the netfilter's generation is the one it was
// recorded under: every change to the ruleset, a policy, a chain or an
// ipset (and every handle given out that could make one: Table, Set)
// advances it. Walks that evaluated a rule whose outcome can change
// between two packets with the same inputs are never recorded: statistic
// (random), recent (state), addrtype (the namespace's addresses), the
// ipvs match (IPVS's own connection state), nfacct (a counter of its own).
// Only walks that accept are recorded; drops and rejects take the full
// walk, which builds their explanation.

// A walk is impure when match evaluated a match whose outcome is not a
// function of the trail's inputs — statistic, recent, addrtype, ipvs,
// nfacct — and sets Netfilter.impureSeen. A rule that merely has one is
// not enough: when its earlier matches fail it never reaches it (matches
// run in order and stop at the first that fails).

// trailSlots is the size of a namespace's trail table (a power of two).
const trailSlots = 256

// trail is one recorded walk of a builtin chain.
type trail struct {
	conn    *Conn
	start   *Chain
	gen     uint64
	dir     uint8
	state   uint8 // ctstate bits with the DNAT and SNAT status bits
	in, out *link.Device
	mark    uint32 // packet mark on entry
	ctmark  uint32 // connection mark on entry
	// Exit marks.
	markOut, ctmarkOut uint32
	policy             bool
	valid              bool // false: the walk is not to be replayed
	// impure: the walk evaluated a match outside the trail's inputs; the
	// connection's next walks of the chain are not recorded again.
	impure bool
	rules  []*Rule
	// paths are the chain paths of the matched rules, as the trace
	// prints them (recorded only in traced runs; nil otherwise).
	paths []string
}

// ctStateBits is the state a ctstate match compares (match's mCTState).
func ctStateBits(c *pktCtx) uint8 {
	st := c.ctState()
	if c.conn != nil {
		if c.conn.Status&ipsDstNAT != 0 {
			st |= StateDNAT
		}
		if c.conn.Status&ipsSrcNAT != 0 {
			st |= StateSNAT
		}
	}
	return st
}

// cacheable reports whether a walk of pkt can use or make a trail.
func (nf *Netfilter) cacheable(c *pktCtx) bool {
	if nf.env.SlowPath || c.conn == nil || c.state == StateRelated {
		return false
	}
	ip := packet.IPv4(c.pkt.Bytes())
	return !ip.IsFragment()
}

// findTrail returns the trail slot of start, c's connection and
// direction, and whether it holds a trail valid for c.
func (nf *Netfilter) findTrail(start *Chain, c *pktCtx, st uint8) (*trail, bool) {
	if nf.trails == nil {
		nf.trails = make([]trail, trailSlots)
	}
	h := (c.conn.ID*2+uint64(c.dir))*0x9e3779b97f4a7c15 ^ uint64(start.slot)*0xbf58476d1ce4e5b9
	t := &nf.trails[(h>>32)&(trailSlots-1)]
	ok := t.conn == c.conn && t.start == start && t.dir == c.dir && t.valid && t.gen == nf.gen &&
		t.in == c.in && t.out == c.out && t.mark == c.pkt.Mark && t.ctmark == c.conn.Mark && t.state == st &&
		(t.paths != nil || !nf.env.Tracing())
	return t, ok
}

// replay applies a valid trail: the counters, marks and trace hops the
// walk it recorded made.
func (nf *Netfilter) replay(t *trail, tb *Table, c *pktCtx) {
	nf.Replayed++
	n := uint64(c.pkt.Len())
	for _, r := range t.rules {
		r.Packets++
		r.Bytes += n
	}
	if nf.env.Tracing() {
		for i, r := range t.rules {
			nf.env.Hop(c.pkt, trace.Hop{Node: nf.NS, Kind: trace.KindRule, Lookup: "iptables -t " + tb.Name + " " + t.paths[i], Match: r.String()})
		}
	}
	if t.policy {
		t.start.Packets++
		t.start.Bytes += n
	}
	c.pkt.Mark = t.markOut
	c.conn.Mark = t.ctmarkOut
}

// recorder collects a walk as it happens: eval appends each matched rule
// (and its chain path in a traced run) to t and notes an impure rule.
type recorder struct {
	t      *trail
	impure bool
}

// evalCached is eval through the trail cache.
func (nf *Netfilter) evalCached(tb *Table, start *Chain, c *pktCtx) (*Rule, TargetKind) {
	if !nf.cacheable(c) {
		nf.unrecordable()
		return nf.eval(tb, start, c, nil)
	}
	st := ctStateBits(c)
	t, ok := nf.findTrail(start, c, st)
	if ok {
		nf.replay(t, tb, c)
		nf.useTrail(t, tb)
		return nil, TAccept
	}
	if t.conn == c.conn && t.start == start && t.dir == c.dir && t.gen == nf.gen && t.impure {
		// This walk evaluated an impure match last time: it would again.
		nf.unrecordable()
		return nf.eval(tb, start, c, nil)
	}
	*t = trail{conn: c.conn, start: start, gen: nf.gen, dir: c.dir, state: st, in: c.in, out: c.out, mark: c.pkt.Mark, ctmark: c.conn.Mark,
		rules: t.rules[:0], paths: t.paths[:0]}
	if !nf.env.Tracing() {
		t.paths = nil
	}
	rec := recorder{t: t}
	r, kind := nf.eval(tb, start, c, &rec)
	if rec.impure || kind != TAccept {
		t.impure = rec.impure
		nf.unrecordable()
		return r, kind
	}
	t.valid, t.policy = true, r == nil
	t.markOut, t.ctmarkOut = c.pkt.Mark, c.conn.Mark
	nf.useTrail(t, tb)
	if nf.env.Tracing() && t.paths == nil {
		t.paths = []string{}
	}
	return r, kind
}

// useTrail notes, for the hook being recorded, that its walk is t.
func (nf *Netfilter) useTrail(t *trail, tb *Table) {
	if o := nf.rec; o != nil {
		o.trails = append(o.trails, trailUse{t: t, start: t.start, in: t.in, out: t.out, mark: t.mark, state: t.state})
		o.acts = append(o.acts, hookAct{kind: actTrail, t: t, tb: tb})
	}
}
