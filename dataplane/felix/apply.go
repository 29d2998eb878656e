package felix

import (
	"fmt"
	"net/netip"
	"strings"

	"netsim/dataplane/netfilter"
	"netsim/dataplane/netpol"
	"netsim/dataplane/packet"
)

// kernelRules are felix's rules in the kernel chains: inserted at the top
// (ChainInsertMode "insert") or appended (StaticFilterForwardAppendRules).
var kernelRules = []struct {
	chain  string
	insert bool
	r      rule
}{
	{"INPUT", true, rule{action: jump(ChainInput)}},
	{"FORWARD", true, rule{action: jump(ChainForward)}},
	{"OUTPUT", true, rule{action: jump(ChainOutput)}},
	{"FORWARD", false, rule{match: []string{markSet(MarkAccept)}, action: actAccept, comments: []string{"Policy explicitly accepted packet."}}},
	{"FORWARD", false, rule{action: setMark(MarkAccept)}},
}

// owned reports whether felix owns a filter chain name.
func owned(name string) bool { return strings.HasPrefix(name, "cali-") }

// owned ipsets: the selector and named-port sets (the pool sets of
// cali-nat-outgoing belong to the IPAM side and are left alone).
func ownedSet(name string) bool {
	return strings.HasPrefix(name, "cali40s:") || strings.HasPrefix(name, "cali40n:") || name == ThisHostSet
}

func (b *builder) apply(nf *netfilter.Netfilter) error {
	// ipsets first: the rules refer to them.
	for _, n := range b.setOrder {
		s := b.sets[n]
		if nf.Set(n) == nil {
			if err := nf.CreateSet(n, s.typ); err != nil {
				return err
			}
		} else if err := nf.FlushSet(n); err != nil {
			return err
		}
		for _, m := range s.members {
			if err := nf.AddToSet(n, m, true); err != nil {
				return err
			}
		}
	}
	t := nf.Table("filter")
	var stale []string
	for name := range t.Chains {
		if _, ok := b.byName[name]; !ok && owned(name) {
			stale = append(stale, name)
		}
	}
	var doc strings.Builder
	doc.WriteString("*filter\n")
	for _, c := range b.chains {
		fmt.Fprintf(&doc, ":%s - [0:0]\n", c.name)
	}
	for _, n := range stale {
		fmt.Fprintf(&doc, ":%s - [0:0]\n", n)
	}
	for _, c := range b.chains {
		for _, l := range c.lines() {
			doc.WriteString(l + "\n")
		}
	}
	doc.WriteString("COMMIT\n")
	if err := nf.RestoreNoFlush(doc.String()); err != nil {
		return err
	}
	for _, n := range stale {
		if err := nf.DeleteChain("filter", n); err != nil {
			return err
		}
	}
	// The drop rules that are policy verdicts name the policy.
	for _, c := range b.chains {
		kc := t.Chains[c.name]
		for i := range c.rules {
			if r := c.rules[i]; r.reason != 0 && i < len(kc.Rules) {
				kc.Rules[i].Reason, kc.Rules[i].Explain = r.reason, r.explain
			}
		}
	}
	for _, s := range nf.Sets() {
		if _, ok := b.sets[s.Name]; !ok && ownedSet(s.Name) {
			if err := nf.DestroySet(s.Name); err != nil {
				return err
			}
		}
	}
	return kernelChains(nf)
}

// kernelChains (re)places felix's rules in INPUT, FORWARD and OUTPUT:
// felix's resync moves its inserted rules back to the top when another
// program put rules before them, and keeps its appended ones last.
func kernelChains(nf *netfilter.Netfilter) error {
	pos := map[string]int{}
	for _, k := range kernelRules {
		// felix hashes its inserted rules as a chain of the kernel
		// chain's name and its appended ones as "<chain>*appends*"
		// (Table.expectedHashesForInsertAppendChain).
		hashName := k.chain
		if !k.insert {
			hashName += "*appends*"
		}
		c := &chain{name: hashName}
		for _, o := range kernelRules {
			if o.chain == k.chain && o.insert == k.insert {
				c.rules = append(c.rules, o.r)
			}
		}
		i := pos[hashName]
		pos[hashName]++
		spec := fmt.Sprintf("%s -m comment --comment \"cali:%s\"", k.chain, c.hashes()[i])
		if b := k.r.body(); b != "" {
			spec += " " + b
		}
		if ok, err := nf.Check("filter", "-C "+spec); err != nil {
			return err
		} else if ok {
			if err := nf.Delete("filter", "-D "+spec); err != nil {
				return err
			}
		}
		var err error
		if k.insert {
			err = nf.Insert("filter", fmt.Sprintf("-I %s %d %s", k.chain, i+1, strings.TrimPrefix(spec, k.chain+" ")))
		} else {
			err = nf.Append("filter", "-A "+spec)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// explainer returns the explanation of a drop at the end of the tier of
// w's chain for one direction.
func (b *builder) explainer(w *Workload, pols []*netpol.Policy, ingress bool) func([]byte) string {
	dir, peerWord := "egress", "destination"
	if ingress {
		dir, peerWord = "ingress", "source"
	}
	refs := make([]string, len(pols))
	var withRules []string
	for i, p := range pols {
		refs[i] = p.Ref()
		if ingress && len(p.IngressRules) > 0 || !ingress && len(p.EgressRules) > 0 {
			withRules = append(withRules, p.Ref())
		}
	}
	byIP := map[netip.Addr]string{}
	for i := range b.in.Workloads {
		if x := &b.in.Workloads[i]; x.IP.IsValid() {
			byIP[x.IP] = x.Ref()
		}
	}
	pod, by := w.Ref(), strings.Join(refs, ", ")
	return func(raw []byte) string {
		ip := packet.IPv4(raw)
		peer := ip.Src()
		if !ingress {
			peer = ip.Dst()
		}
		who := peer.String()
		if ref, ok := byIP[peer]; ok {
			who = ref + " (" + peer.String() + ")"
		}
		what := fmt.Sprintf("%s %s on %s", peerWord, who, service(ip))
		if len(withRules) == 0 {
			return fmt.Sprintf("pod %s is isolated for %s by %s; no policy selecting it has an %s rule, so %s is denied", pod, dir, by, dir, what)
		}
		return fmt.Sprintf("pod %s is isolated for %s by %s; no rule of %s allows %s", pod, dir, by, strings.Join(withRules, ", "), what)
	}
}

// service names the packet's protocol and destination port ("TCP 81").
func service(ip packet.IPv4) string {
	l4 := ip[ip.HeaderLen():]
	switch p := ip.Protocol(); p {
	case packet.ProtoTCP, packet.ProtoUDP, 132:
		name := map[uint8]string{packet.ProtoTCP: "TCP", packet.ProtoUDP: "UDP", 132: "SCTP"}[p]
		if len(l4) >= 4 && ip.FragOffset() == 0 {
			return fmt.Sprintf("%s %d", name, packet.UDP(l4).DstPort())
		}
		return name
	case packet.ProtoICMP:
		return "ICMP"
	default:
		return fmt.Sprintf("protocol %d", p)
	}
}
