package netfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Matches kube-proxy needs beyond the basic set: -m set (ipset), -m
// physdev --physdev-is-in, -m ipvs (--ipvs/--vaddr/--vport/--vproto) and
// -m nfacct --nfacct-name; and the drop reason a DROP/REJECT rule reports.

// protoSCTP is IPPROTO_SCTP: -m sctp --sport/--dport are modelled like
// tcp/udp's (the ports sit at the same offsets of the SCTP common header),
// for kube-proxy's SCTP Service rules.
const protoSCTP = packet.ProtoSCTP

// ruleExt holds the extension matches of a rule.
type ruleExt struct {
	sets []*setMatch

	physIsIn    bool // --physdev-is-in given
	physIsInInv bool

	ipvs   *ipvsMatch
	ipvsAt int

	nfacct    string
	nfacctRef *NFAcct
}

// setMatch is one "-m set [!] --match-set NAME DIRS".
type setMatch struct {
	name string
	src  [3]bool
	dims int
	inv  bool
	set  *IPSet // bound when the rule is added
}

// ipvsMatch is xt_ipvs.
type ipvsMatch struct {
	property, propertyInv bool
	vaddr                 netip.Prefix
	vaddrInv              bool
	vport                 uint16
	vportSet, vportInv    bool
	vproto                uint8
	vprotoSet, vprotoInv  bool
}

// save prints the options as libxt_ipvs's save does: --ipvs, --vproto
// (numeric), --vaddr (address/mask), --vport.
func (m *ipvsMatch) save() string {
	var parts []string
	if m.property && !m.vaddr.IsValid() && !m.vportSet && !m.vprotoSet {
		parts = append(parts, bang(m.propertyInv)+"--ipvs")
	}
	if m.vprotoSet {
		parts = append(parts, bang(m.vprotoInv)+"--vproto "+strconv.Itoa(int(m.vproto)))
	}
	if m.vaddr.IsValid() {
		parts = append(parts, bang(m.vaddrInv)+"--vaddr "+m.vaddr.String())
	}
	if m.vportSet {
		parts = append(parts, bang(m.vportInv)+"--vport "+strconv.Itoa(int(m.vport)))
	}
	return strings.Join(parts, " ")
}

// IPVSConn is what the ipvs match needs to know of a packet IPVS has
// handled (skb->ipvs_property and the connection's virtual service).
type IPVSConn struct {
	VAddr netip.Addr
	VPort uint16
	Proto uint8
}

// SetIPVSLookup installs how the ipvs match learns whether IPVS handled a
// packet (the IPVS module of the namespace provides it). Without it no
// packet is IPVS property: "-m ipvs --vaddr …" never matches.
func (nf *Netfilter) SetIPVSLookup(f func(pkt *packet.Buffer) (IPVSConn, bool)) {
	nf.gen++
	nf.ext.ipvsLookup = f
}

// NFAcct is an extended accounting object (nfacct(8)).
type NFAcct struct {
	Name           string
	Packets, Bytes uint64
}

// extState is the per-namespace state of the extension matches.
type extState struct {
	nfacct      map[string]*NFAcct
	nfacctOrder []*NFAcct
	ipvsLookup  func(pkt *packet.Buffer) (IPVSConn, bool)
}

// NFAcctAdd is `nfacct add NAME`; with ensure set an existing object is
// kept (what kube-proxy's nfacct Ensure does).
func (nf *Netfilter) NFAcctAdd(name string, ensure bool) error {
	nf.gen++
	if name == "" || len(name) > 31 {
		return fmt.Errorf("nfacct %s: add %q: a name is 1 to 31 characters", nf.NS, name)
	}
	if nf.ext.nfacct[name] != nil {
		if ensure {
			return nil
		}
		return fmt.Errorf("nfacct %s: add %s: object already exists", nf.NS, name)
	}
	if nf.ext.nfacct == nil {
		nf.ext.nfacct = map[string]*NFAcct{}
	}
	a := &NFAcct{Name: name}
	nf.ext.nfacct[name] = a
	nf.ext.nfacctOrder = append(nf.ext.nfacctOrder, a)
	return nil
}

// NFAcct returns an accounting object (nil if none).
func (nf *Netfilter) NFAcct(name string) *NFAcct { return nf.ext.nfacct[name] }

// NFAcctList prints the objects as `nfacct list` does.
func (nf *Netfilter) NFAcctList() string {
	var b strings.Builder
	for _, a := range nf.ext.nfacctOrder {
		fmt.Fprintf(&b, "{ pkts = %020d, bytes = %020d } = %s;\n", a.Packets, a.Bytes, a.Name)
	}
	return b.String()
}

func (r *Rule) extOf() *ruleExt {
	if r.ext == nil {
		r.ext = &ruleExt{ipvsAt: -1}
	}
	return r.ext
}

// extOpt parses the options of the extension matches. handled is false
// for an option it does not know.
func (p *ruleParser) extOpt(a string, neg bool) (handled bool, err error) {
	r := p.r
	switch a {
	case "--match-set":
		if _, err := p.need(a, "set"); err != nil {
			return true, err
		}
		name, err := p.next()
		if err != nil {
			return true, err
		}
		dirs, err := p.next()
		if err != nil {
			return true, err
		}
		m := &setMatch{name: name, inv: neg}
		ds := strings.Split(dirs, ",")
		if len(ds) > 3 {
			return true, p.errf("--match-set %s %s: at most 3 dimensions are modelled", name, dirs)
		}
		for i, d := range ds {
			switch d {
			case "src":
				m.src[i] = true
			case "dst":
			default:
				return true, p.errf("--match-set %s %s: expected src or dst for each dimension", name, dirs)
			}
		}
		m.dims = len(ds)
		x := r.extOf()
		x.sets = append(x.sets, m)
		r.flags |= mExt
		r.matches = append(r.matches, bang(neg)+"--match-set "+name+" "+dirs)
		return true, nil
	case "--physdev-is-in":
		if _, err := p.need(a, "physdev"); err != nil {
			return true, err
		}
		x := r.extOf()
		x.physIsIn, x.physIsInInv = true, neg
		r.flags |= mExt
		r.matches = append(r.matches, bang(neg)+a)
		return true, nil
	case "--ipvs", "--vaddr", "--vport", "--vproto":
		if _, err := p.need(a, "ipvs"); err != nil {
			return true, err
		}
		x := r.extOf()
		if x.ipvs == nil {
			x.ipvs = &ipvsMatch{}
			r.matches = append(r.matches, "")
			x.ipvsAt = len(r.matches) - 1
		}
		m := x.ipvs
		m.property = true
		r.flags |= mExt
		switch a {
		case "--ipvs":
			m.propertyInv = neg
		case "--vaddr":
			v, err := p.next()
			if err != nil {
				return true, err
			}
			pf, err := parsePrefix(v)
			if err != nil || !pf.Addr().Is4() {
				return true, p.errf("--vaddr %q: expected an IPv4 address or CIDR", v)
			}
			m.vaddr, m.vaddrInv = pf, neg
		case "--vport":
			v, err := p.next()
			if err != nil {
				return true, err
			}
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return true, p.errf("--vport %q: expected a port", v)
			}
			m.vport, m.vportSet, m.vportInv = uint16(n), true, neg
		case "--vproto":
			v, err := p.next()
			if err != nil {
				return true, err
			}
			n, ok := protoNames[strings.ToLower(v)]
			if !ok || n == 0 {
				x, err := strconv.Atoi(v)
				if err != nil || x <= 0 || x > 255 {
					return true, p.errf("--vproto %q: expected tcp, udp, sctp or a protocol number", v)
				}
				n = uint8(x)
			}
			m.vproto, m.vprotoSet, m.vprotoInv = n, true, neg
		}
		return true, nil
	case "--nfacct-name":
		if _, err := p.need(a, "nfacct"); err != nil {
			return true, err
		}
		v, err := p.next()
		if err != nil {
			return true, err
		}
		r.extOf().nfacct = v
		r.flags |= mExt
		// libxt_nfacct saves " --nfacct-name " and xtables_save_string adds
		// a space of its own: iptables-save prints two (checked against the
		// kernel by topology/kernel).
		r.matches = append(r.matches, "--nfacct-name  "+v)
		return true, nil
	}
	return false, nil
}

// finishExt completes the printed form of the extension matches and
// derives the rule's drop reason.
func (p *ruleParser) finishExt() {
	r := p.r
	if x := r.ext; x != nil && x.ipvs != nil {
		r.matches[x.ipvsAt] = x.ipvs.save()
	}
	if r.Reason == trace.ReasonNone {
		r.Reason = deriveReason(r)
	}
}

// deriveReason names why a DROP or REJECT rule refuses packets, from the
// comments kube-proxy writes on them: "NS/SVC:PORT has no endpoints"
// (REJECT in filter KUBE-SERVICES / KUBE-EXTERNAL-SERVICES),
// "… has no local endpoints" (DROP for Local traffic policy), "… traffic
// not accepted by KUBE-FW-…" (loadBalancerSourceRanges, KUBE-PROXY-FIREWALL)
// and the DROP of IPVS mode's KUBE-SOURCE-RANGES-FIREWALL;
// and a bare "--ctstate INVALID -j DROP" is a conntrack-invalid drop.
// Other rules report trace.ReasonFiltered.
func deriveReason(r *Rule) trace.Reason {
	if r.Target != TDrop && r.Target != TReject {
		return trace.ReasonNone
	}
	c := r.Comment
	switch {
	case strings.HasSuffix(c, " has no local endpoints"):
		return trace.ReasonNoLocalEndpoint
	case strings.HasSuffix(c, " has no endpoints"):
		return trace.ReasonNoEndpoints
	case strings.Contains(c, " traffic not accepted by KUBE-FW-"), r.Chain == "KUBE-SOURCE-RANGES-FIREWALL" && r.Target == TDrop:
		return trace.ReasonSourceRangeDenied
	case r.flags&mCTState != 0 && r.inv&mCTState == 0 && r.ctState == StateInvalid:
		return trace.ReasonCTInvalid
	}
	return trace.ReasonNone
}

// dropReason is the reason reported for a packet r refused.
func dropReason(r *Rule) trace.Reason {
	if r != nil && r.Reason != trace.ReasonNone {
		return r.Reason
	}
	return trace.ReasonFiltered
}

// bindExt resolves what a rule refers to in the namespace when it is added:
// ipsets (iptables: "Set X doesn't exist.") and nfacct objects (xt_nfacct:
// "acct object not found").
func (nf *Netfilter) bindExt(r *Rule) error {
	x := r.ext
	if x == nil {
		return nil
	}
	for _, m := range x.sets {
		s := nf.sets.get(m.name)
		if s == nil {
			return fmt.Errorf("Set %s doesn't exist", m.name)
		}
		m.set = s
	}
	if x.nfacct != "" {
		a := nf.ext.nfacct[x.nfacct]
		if a == nil {
			return fmt.Errorf("nfacct object %q not found (create it with nfacct add first)", x.nfacct)
		}
		x.nfacctRef = a
	}
	return nil
}

// setInUse reports whether a rule of any table refers to s.
func (nf *Netfilter) setInUse(s *IPSet) bool {
	for _, t := range nf.tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				if r.ext == nil {
					continue
				}
				for _, m := range r.ext.sets {
					if m.set == s {
						return true
					}
				}
			}
		}
	}
	return false
}

// matchExt evaluates the extension matches (after every other match of
// the rule matched, so that nfacct counts only matching packets).
func (nf *Netfilter) matchExt(r *Rule, ip packet.IPv4, c *pktCtx) bool {
	x := r.ext
	for _, m := range x.sets {
		in := m.set != nil && m.dims >= setDims[m.set.Type] && m.set.match(ip, m.src)
		if in == m.inv {
			return false
		}
	}
	if x.physIsIn {
		// br_netfilter records the bridge port a packet came in by: here,
		// a packet whose in device is a bridge came through one of its ports.
		bridged := c.in != nil && c.in.Kind == "bridge"
		if bridged == x.physIsInInv {
			return false
		}
	}
	if x.ipvs != nil || x.nfacctRef != nil {
		nf.impureSeen = true
	}
	if m := x.ipvs; m != nil && !nf.matchIPVS(m, c) {
		return false
	}
	if x.nfacctRef != nil {
		x.nfacctRef.Packets++
		x.nfacctRef.Bytes += uint64(c.pkt.Len())
	}
	return true
}

func (nf *Netfilter) matchIPVS(m *ipvsMatch, c *pktCtx) bool {
	var conn IPVSConn
	prop := false
	if nf.ext.ipvsLookup != nil {
		conn, prop = nf.ext.ipvsLookup(c.pkt)
	}
	if prop == m.propertyInv {
		return false
	}
	if !prop {
		// "! --ipvs" alone: a packet IPVS did not handle.
		return !m.vaddr.IsValid() && !m.vportSet && !m.vprotoSet
	}
	if m.vprotoSet && (conn.Proto == m.vproto) == m.vprotoInv {
		return false
	}
	if m.vaddr.IsValid() && m.vaddr.Contains(conn.VAddr) == m.vaddrInv {
		return false
	}
	if m.vportSet && (conn.VPort == m.vport) == m.vportInv {
		return false
	}
	return true
}
