package felix

import (
	"crypto/sha3"
	"encoding/base64"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"netsim/dataplane/netfilter"
	"netsim/dataplane/netpol"
)

// calRule is one Calico rule of a converted Kubernetes rule (libcalico-go
// k8sRuleToCalico): one protocol, its ports, and one peer.
type calRule struct {
	proto string // "", "tcp", "udp", "sctp"
	ports [][2]int
	named []string
	peer  *netpol.Peer
}

// convert turns a Kubernetes rule into Calico rules: one per protocol
// (sorted, "" when the rule has no ports) and peer.
func convert(r netpol.Rule) []calRule {
	type pp struct {
		all   bool
		ports [][2]int
		named []string
	}
	byProto := map[string]*pp{}
	if len(r.Ports) == 0 {
		byProto[""] = &pp{all: true}
	}
	for _, p := range r.Ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		e := byProto[proto]
		if e == nil {
			e = &pp{}
			byProto[proto] = e
		}
		switch {
		case p.Port == 0 && p.Name == "":
			e.all, e.ports, e.named = true, nil, nil
		case e.all:
		case p.Name != "":
			e.named = append(e.named, p.Name)
		default:
			end := p.Port
			if p.EndPort > p.Port {
				end = p.EndPort
			}
			e.ports = append(e.ports, [2]int{p.Port, end})
		}
	}
	protos := make([]string, 0, len(byProto))
	for k := range byProto {
		protos = append(protos, k)
	}
	sort.Strings(protos)
	peers := make([]*netpol.Peer, 0, len(r.Peers))
	for i := range r.Peers {
		peers = append(peers, &r.Peers[i])
	}
	if len(peers) == 0 {
		peers = []*netpol.Peer{nil}
	}
	var out []calRule
	for _, proto := range protos {
		e := byProto[proto]
		for _, peer := range peers {
			out = append(out, calRule{proto: proto, ports: e.ports, named: e.named, peer: peer})
		}
	}
	return out
}

// policyChain renders a policy's chain for one direction (once).
func (b *builder) policyChain(p *netpol.Policy, name string, ingress bool) {
	if _, ok := b.byName[name]; ok {
		return
	}
	c := b.newChain(name)
	rules := p.EgressRules
	dir := "egress"
	if ingress {
		rules, dir = p.IngressRules, "ingress"
	}
	for _, kr := range rules {
		for _, cr := range convert(kr) {
			c.rules = append(c.rules, b.render(p, cr, ingress)...)
		}
	}
	// felix drops the chain's trailing RETURNs and puts the policy's
	// comment on its first rule (an otherwise empty rule when none).
	for len(c.rules) > 0 && c.rules[len(c.rules)-1].action == actReturn {
		c.rules = c.rules[:len(c.rules)-1]
	}
	if len(c.rules) == 0 {
		c.rules = append(c.rules, rule{})
	}
	c.rules[0].comments = append(c.rules[0].comments, fmt.Sprintf("KubernetesNetworkPolicy %s/%s %s", p.Namespace, p.Name, dir))
}

// render is felix's ProtoRuleToIptablesRules for an allow rule: match
// blocks (scratch marks) for several port matches or ipBlock excepts,
// then the rule setting the accept mark and the RETURN.
func (b *builder) render(p *netpol.Policy, cr calRule, ingress bool) []rule {
	var pre []rule
	using, donePos := false, false
	initial := func(bits uint32) {
		if !using {
			pre = append(pre, rule{action: maskedMark(bits, MarkScratch0|MarkScratch1)})
			using = true
		}
	}
	posMark := func() uint32 {
		if !donePos {
			return MarkScratch0
		}
		return MarkScratch1
	}
	finishPos := func() {
		if !donePos {
			donePos = true
			return
		}
		pre = append(pre, rule{match: []string{markClear(MarkScratch1)}, action: clearMark(MarkScratch0)})
	}
	protoFrag := ""
	if cr.proto != "" {
		protoFrag = "-p " + cr.proto
	}
	splits := splitPorts(cr.ports)
	var portMatch []string
	if len(splits)+len(cr.named) > 1 {
		initial(0)
		m := posMark()
		for _, s := range splits {
			pre = append(pre, rule{match: []string{protoFrag, dportsFrag(s)}, action: setMark(m)})
		}
		for _, n := range cr.named {
			pre = append(pre, rule{match: []string{"-m set --match-set " + b.namedPortSet(cr.proto, n) + " dst,dst"}, action: setMark(m)})
		}
		finishPos()
	} else {
		for _, s := range splits {
			portMatch = append(portMatch, dportsFrag(s))
		}
		for _, n := range cr.named {
			portMatch = append(portMatch, "-m set --match-set "+b.namedPortSet(cr.proto, n)+" dst,dst")
		}
	}
	// The peer: source for ingress, destination for egress.
	side, setDir := "--source ", " src"
	if !ingress {
		side, setDir = "--destination ", " dst"
	}
	var netFrag, setFrag string
	if cr.peer != nil {
		if blk := cr.peer.IPBlock; blk != nil {
			netFrag = side + blk.CIDR.Masked().String()
			if len(blk.Except) > 0 {
				initial(MarkScratch0)
				for _, e := range blk.Except {
					pre = append(pre, rule{match: []string{side + e.Masked().String()}, action: clearMark(MarkScratch0)})
				}
			}
		} else {
			setFrag = "-m set --match-set " + b.selectorSet(p, cr.peer) + setDir
		}
	}
	var match []string
	if protoFrag != "" {
		match = append(match, protoFrag)
	}
	// felix's CalculateRuleMatch order: protocol, nets, ipsets, ports.
	match = appendNonEmpty(match, netFrag, setFrag)
	match = append(match, portMatch...)
	if using {
		match = append(match, markSet(MarkScratch0))
	}
	return append(pre,
		rule{match: match, action: setMark(MarkAccept)},
		rule{match: []string{markSet(MarkAccept)}, action: actReturn})
}

func appendNonEmpty(m []string, frags ...string) []string {
	for _, f := range frags {
		if f != "" {
			m = append(m, f)
		}
	}
	return m
}

// splitPorts is felix's SplitPortList: multiport takes 15 slots, a range
// uses two.
func splitPorts(ports [][2]int) [][][2]int {
	var out [][][2]int
	var cur [][2]int
	left := 15
	for _, p := range ports {
		need := 1
		if p[0] != p[1] {
			need = 2
		}
		if left < need {
			out = append(out, cur)
			cur, left = nil, 15
		}
		cur = append(cur, p)
		left -= need
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out
}

func dportsFrag(ps [][2]int) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = strconv.Itoa(p[0])
		if p[1] != p[0] {
			parts[i] += ":" + strconv.Itoa(p[1])
		}
	}
	return "-m multiport --destination-ports " + strings.Join(parts, ",")
}

// calicoSelector renders a label selector in Calico's selector syntax
// (libcalico-go k8sSelectorToCalico), label keys prefixed for namespace
// labels ("pcns.").
func calicoSelector(s netpol.Selector, keyPfx string) []string {
	var terms []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("%s%s == '%s'", keyPfx, k, s.MatchLabels[k]))
	}
	for _, e := range s.MatchExpressions {
		vals := "'" + strings.Join(e.Values, "', '") + "'"
		switch e.Operator {
		case netpol.In:
			terms = append(terms, fmt.Sprintf("%s%s in { %s }", keyPfx, e.Key, vals))
		case netpol.NotIn:
			terms = append(terms, fmt.Sprintf("%s%s not in { %s }", keyPfx, e.Key, vals))
		case netpol.Exists:
			terms = append(terms, fmt.Sprintf("has(%s%s)", keyPfx, e.Key))
		case netpol.DoesNotExist:
			terms = append(terms, fmt.Sprintf("! has(%s%s)", keyPfx, e.Key))
		}
	}
	return terms
}

// peerSelector is the selector felix matches a pod peer with: the pod
// selector (every pod when absent) in the policy's namespace, or in the
// namespaces the namespace selector matches.
func peerSelector(p *netpol.Policy, peer *netpol.Peer) string {
	pod := []string{"projectcalico.org/orchestrator == 'k8s'"}
	if peer.PodSelector != nil {
		pod = append(pod, calicoSelector(*peer.PodSelector, "")...)
	}
	ns := fmt.Sprintf("projectcalico.org/namespace == '%s'", p.Namespace)
	if peer.NamespaceSelector != nil {
		if peer.NamespaceSelector.Empty() {
			ns = "all()"
		} else {
			ns = strings.Join(calicoSelector(*peer.NamespaceSelector, "pcns."), " && ")
		}
	}
	return "(" + ns + ") && (" + strings.Join(pod, " && ") + ")"
}

// peerMatches is the peer's pod membership: which pods the ipset holds.
func (b *builder) peerMatches(p *netpol.Policy, peer *netpol.Peer, w *Workload) bool {
	if peer.NamespaceSelector == nil {
		if w.Namespace != p.Namespace {
			return false
		}
	} else if !peer.NamespaceSelector.Matches(b.nsLabels(w.Namespace)) {
		return false
	}
	return peer.PodSelector == nil || peer.PodSelector.Matches(w.Labels)
}

// selectorSet returns (creating) the hash:net set of the peer's pods.
func (b *builder) selectorSet(p *netpol.Policy, peer *netpol.Peer) string {
	name := setName(uniqueID("s", peerSelector(p, peer)))
	if _, ok := b.sets[name]; ok {
		return name
	}
	s := &ipset{name: name, typ: netfilter.SetHashNet}
	for i := range b.in.Workloads {
		w := &b.in.Workloads[i]
		if w.IP.IsValid() && b.peerMatches(p, peer, w) {
			s.members = append(s.members, netip.PrefixFrom(w.IP, 32).String())
		}
	}
	b.addSet(s)
	return name
}

// namedPortSet returns (creating) the hash:ip,port set of every pod's
// container port of that name and protocol.
func (b *builder) namedPortSet(proto, port string) string {
	if proto == "" {
		proto = "tcp"
	}
	name := setName(uniqueID("n", uniqueID("s", "all()")+","+proto+","+port))
	if _, ok := b.sets[name]; ok {
		return name
	}
	s := &ipset{name: name, typ: netfilter.SetHashIPPort}
	for i := range b.in.Workloads {
		w := &b.in.Workloads[i]
		if !w.IP.IsValid() {
			continue
		}
		for _, cp := range w.Ports {
			cpProto := strings.ToLower(cp.Protocol)
			if cpProto == "" {
				cpProto = "tcp"
			}
			if cp.Name == port && cpProto == proto {
				s.members = append(s.members, fmt.Sprintf("%s,%s:%d", w.IP, proto, cp.Port))
			}
		}
	}
	b.addSet(s)
	return name
}

func (b *builder) addSet(s *ipset) {
	b.sets[s.name] = s
	b.setOrder = append(b.setOrder, s.name)
}

// policySelector is the policy's own selector as felix's calculation
// graph holds it: the pod selector (libcalico-go k8sSelectorToCalico)
// scoped to the policy's namespace.
func policySelector(p *netpol.Policy) string {
	pod := append([]string{"projectcalico.org/orchestrator == 'k8s'"}, calicoSelector(p.PodSelector, "")...)
	return fmt.Sprintf("(projectcalico.org/namespace == '%s') && (%s)", p.Namespace, strings.Join(pod, " && "))
}

// groups cuts a tier's policies into felix's policy groups: runs of
// consecutive policies with the same selector (endpoint_mgr.go
// groupPolicies).
func groups(pols []*netpol.Policy) [][]*netpol.Policy {
	var out [][]*netpol.Policy
	last := ""
	for _, p := range pols {
		sel := policySelector(p)
		if len(out) == 0 || sel != last {
			out = append(out, nil)
			last = sel
		}
		out[len(out)-1] = append(out[len(out)-1], p)
	}
	return out
}

// groupChain renders a group of more than one policy as felix's
// cali-gi-/cali-go- chain (PolicyGroupToIptablesChains): a jump to each
// policy, after the first only while no verdict mark is set, and a
// "Return on verdict" every five policies. The name is the group's
// UniqueID: SHA3-224 over the selector, the direction, the count and
// each policy ID, base64url, cut to fit 28 characters.
func (b *builder) groupChain(g []*netpol.Policy, ingress bool) string {
	pfx, dir := "cali-go-", "outbound"
	if ingress {
		pfx, dir = "cali-gi-", "inbound"
	}
	h := sha3.New224()
	write := func(s string) { h.Write([]byte(s + "\n")) }
	write(policySelector(g[0]))
	write(dir)
	write(strconv.Itoa(len(g)))
	for _, p := range g {
		write(fmt.Sprintf("{Name: %s, Namespace: %s, Kind: KubernetesNetworkPolicy}", p.Name, p.Namespace))
	}
	name := pfx + base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:maxChainName-len(pfx)]
	if _, ok := b.byName[name]; ok {
		return name
	}
	c := b.newChain(name)
	for i, p := range g {
		if i != 0 && i%5 == 0 {
			c.add(rule{match: []string{"-m mark ! --mark 0/" + fmt.Sprintf("%#x", MarkPass|MarkAccept)}, action: actReturn, comments: []string{"Return on verdict"}})
		}
		var m []string
		if i%5 != 0 {
			m = []string{markClear(MarkPass | MarkAccept)}
		}
		c.add(rule{match: m, action: jump(PolicyChain(p, ingress))})
	}
	return name
}
