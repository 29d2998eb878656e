package felix

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"netsim/dataplane/netpol"
	"netsim/dataplane/netstack"
)

// spec is an independent evaluator of Kubernetes NetworkPolicy semantics
// as enforced on one node: a local source pod's egress and a local
// destination pod's ingress (pods of other nodes are enforced there).
// ipBlock matches pod addresses too, as Calico's CIDR match does.
type spec struct {
	in Input
}

func (s spec) pod(a string) *Workload {
	for i := range s.in.Workloads {
		if s.in.Workloads[i].IP.String() == a {
			return &s.in.Workloads[i]
		}
	}
	return nil
}

func (s spec) nsLabels(ns string) map[string]string {
	for _, n := range s.in.Namespaces {
		if n.Name == ns {
			return n.Labels
		}
	}
	return nil
}

func (s spec) peerOK(p *netpol.Policy, peers []netpol.Peer, addr string) bool {
	if len(peers) == 0 {
		return true
	}
	w := s.pod(addr)
	for _, pe := range peers {
		if pe.IPBlock != nil {
			if pe.IPBlock.Contains(netip.MustParseAddr(addr)) {
				return true
			}
			continue
		}
		if w == nil {
			continue
		}
		nsOK := w.Namespace == p.Namespace
		if pe.NamespaceSelector != nil {
			nsOK = pe.NamespaceSelector.Matches(s.nsLabels(w.Namespace))
		}
		if nsOK && (pe.PodSelector == nil || pe.PodSelector.Matches(w.Labels)) {
			return true
		}
	}
	return false
}

func (s spec) portOK(ports []netpol.Port, proto string, dst string, dport int) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pt := range ports {
		pp := strings.ToLower(pt.Protocol)
		if pp == "" {
			pp = "tcp"
		}
		if pp != proto {
			continue
		}
		switch {
		case pt.Port == 0 && pt.Name == "":
			return true
		case pt.Name != "":
			if w := s.pod(dst); w != nil {
				for _, cp := range w.Ports {
					if cp.Name == pt.Name && strings.ToLower(cp.Protocol) == proto && cp.Port == dport {
						return true
					}
				}
			}
		case dport >= pt.Port && (dport == pt.Port || pt.EndPort >= dport):
			return true
		}
	}
	return false
}

func (s spec) allowed(proto, src, dst string, dport int) bool {
	if w := s.pod(src); w != nil && w.Node == s.in.Node {
		isolated, ok := false, false
		for _, p := range s.in.Policies {
			if !p.Egress || !p.Selects(w.Namespace, w.Labels) {
				continue
			}
			isolated = true
			for _, r := range p.EgressRules {
				ok = ok || s.peerOK(p, r.Peers, dst) && s.portOK(r.Ports, proto, dst, dport)
			}
		}
		if isolated && !ok {
			return false
		}
	}
	if w := s.pod(dst); w != nil && w.Node == s.in.Node {
		isolated, ok := false, false
		for _, p := range s.in.Policies {
			if !p.Ingress || !p.Selects(w.Namespace, w.Labels) {
				continue
			}
			isolated = true
			for _, r := range p.IngressRules {
				ok = ok || s.peerOK(p, r.Peers, src) && s.portOK(r.Ports, proto, dst, dport)
			}
		}
		if isolated && !ok {
			return false
		}
	}
	return true
}

// gen draws policies of every shape from a small vocabulary.
type gen struct{ r *rand.Rand }

func (g gen) pick(n int) int { return g.r.IntN(n) }

func (g gen) selector() netpol.Selector {
	switch g.pick(6) {
	case 0, 1:
		return netpol.Selector{}
	case 2:
		return *sel("pod", []string{"a", "b", "c"}[g.pick(3)])
	case 3:
		return *sel("app", "web")
	case 4:
		return netpol.Selector{MatchExpressions: []netpol.Requirement{{Key: "pod", Operator: []netpol.Operator{netpol.In, netpol.NotIn}[g.pick(2)], Values: []string{"a", "c"}}}}
	default:
		return netpol.Selector{MatchExpressions: []netpol.Requirement{{Key: "app", Operator: []netpol.Operator{netpol.Exists, netpol.DoesNotExist}[g.pick(2)]}}}
	}
}

func (g gen) nsSelector() *netpol.Selector {
	switch g.pick(4) {
	case 0:
		return &netpol.Selector{}
	case 1:
		return sel("team", "blue")
	case 2:
		return sel(netpol.MetadataNameLabel, []string{"x", "y", "z"}[g.pick(3)])
	default:
		return &netpol.Selector{MatchExpressions: []netpol.Requirement{{Key: netpol.MetadataNameLabel, Operator: netpol.NotIn, Values: []string{"x"}}}}
	}
}

func (g gen) peer() netpol.Peer {
	switch g.pick(4) {
	case 0:
		s := g.selector()
		return netpol.Peer{PodSelector: &s}
	case 1:
		return netpol.Peer{NamespaceSelector: g.nsSelector()}
	case 2:
		s := g.selector()
		return netpol.Peer{PodSelector: &s, NamespaceSelector: g.nsSelector()}
	default:
		b := &netpol.IPBlock{CIDR: netip.MustParsePrefix([]string{"10.0.0.0/16", "203.0.113.0/24", "0.0.0.0/0"}[g.pick(3)])}
		for range g.pick(3) {
			b.Except = append(b.Except, netip.MustParsePrefix([]string{"10.0.1.20/31", "203.0.113.0/28", "10.0.2.0/24", "10.0.1.8/30"}[g.pick(4)]))
		}
		return netpol.Peer{IPBlock: b}
	}
}

func (g gen) port() netpol.Port {
	switch g.pick(6) {
	case 0:
		return netpol.Port{Protocol: "TCP", Port: 80}
	case 1:
		return netpol.Port{Protocol: "TCP", Port: 80, EndPort: 81}
	case 2:
		return netpol.Port{Protocol: "TCP", Name: "http"}
	case 3:
		return netpol.Port{Protocol: "UDP", Port: 53}
	case 4:
		return netpol.Port{Protocol: "UDP", Name: "dns"}
	default:
		return netpol.Port{Protocol: []string{"SCTP", "TCP"}[g.pick(2)]}
	}
}

func (g gen) rules() []netpol.Rule {
	var out []netpol.Rule
	for range g.pick(3) {
		var r netpol.Rule
		for range g.pick(3) {
			r.Peers = append(r.Peers, g.peer())
		}
		for range g.pick(3) {
			r.Ports = append(r.Ports, g.port())
		}
		out = append(out, r)
	}
	return out
}

func (g gen) policy(i int) *netpol.Policy {
	p := &netpol.Policy{Namespace: []string{"x", "y", "z"}[g.pick(3)], Name: fmt.Sprintf("p%d", i), PodSelector: g.selector()}
	switch g.pick(3) {
	case 0:
		p.Ingress, p.IngressRules = true, g.rules()
	case 1:
		p.Egress, p.EgressRules = true, g.rules()
	default:
		p.Ingress, p.Egress, p.IngressRules, p.EgressRules = true, true, g.rules(), g.rules()
	}
	return p
}

// The data plane against the spec: a few hundred generated policy sets,
// every pair of pods (and an address outside the cluster) on five
// services, cell by cell.
func TestGeneratedAgainstSpec(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(8, 42))}
	srcs := []string{"x/a", "x/b", "y/a", "y/b", "z/c", "203.0.113.7"}
	dsts := []string{"x/a", "x/b", "y/a", "y/b", "z/c"}
	probes := []struct {
		proto string
		port  int
	}{{"tcp", 80}, {"tcp", 81}, {"tcp", 8080}, {"udp", 53}, {"sctp", 80}}
	cells, denied := 0, 0
	for n := range 300 {
		in := universe()
		for i := range 1 + g.pick(3) {
			in.Policies = append(in.Policies, g.policy(i))
		}
		r := newRig(t, in)
		sp := spec{in}
		for _, s := range srcs {
			for _, d := range dsts {
				if s == d {
					continue
				}
				for _, pr := range probes {
					want := sp.allowed(pr.proto, ip(s), ip(d), pr.port)
					v := r.send(probe(t, pr.proto, ip(s), 40000, ip(d), uint16(pr.port)))
					cells++
					if !want {
						denied++
					}
					if !assert.Equal(t, want, v.Kind == netstack.Accept, "set %d: %s %s -> %s:%d (%s)", n, pr.proto, s, d, pr.port, v.Detail) {
						for _, p := range in.Policies {
							t.Logf("policy %s %+v", p.Ref(), *p)
						}
						return
					}
				}
			}
		}
	}
	t.Logf("%d cells, %d denied", cells, denied)
	assert.Greater(t, denied, cells/10, "the generated policies deny a fair share")
	assert.Less(t, denied, cells*9/10, "and allow a fair share")
}
