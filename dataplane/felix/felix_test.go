package felix

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netpol"
	"netsim/dataplane/netstack"
	"netsim/dataplane/trace"
)

// The hashes a real felix node carries for these rules
// (projectcalico/calico felix/fv/cali-iptables-dump.txt; that node's
// cali-INPUT starts with a VXLAN rule and its cali-OUTPUT differs after
// the second rule, so their later hashes are not comparable).
func TestRuleHashesAreFelixs(t *testing.T) {
	r := newRig(t, universe())
	save := r.nf.Save(false, "filter")
	for _, want := range []string{
		`-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT`,
		`-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD`,
		`-A FORWARD -m comment --comment "cali:S93hcgKJrXEqnTfs" -m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT`,
		`-A FORWARD -m comment --comment "cali:mp77cMpurHhyjLrM" -j MARK --set-xmark 0x10000/0x10000`,
		`-A OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT`,
		`-A cali-FORWARD -m comment --comment "cali:W_vvds1Nw3n9QE2f" -j MARK --set-xmark 0x0/0x1a0000`,
		`-A cali-FORWARD -m comment --comment "cali:ZfgmjuiLaA8Pg0kp" -m mark --mark 0x0/0x10000 -j cali-from-hep-forward`,
		`-A cali-FORWARD -i cali+ -m comment --comment "cali:tAzwBLPaV-j53OOZ" -j cali-from-wl-dispatch`,
		`-A cali-FORWARD -o cali+ -m comment --comment "cali:4Z0Pf0byo05NFe-P" -j cali-to-wl-dispatch`,
		`-A cali-FORWARD -m comment --comment "cali:hQ7Oc16wmUtLuneJ" -j cali-to-hep-forward`,
		`-A cali-FORWARD -m comment --comment "cali:rnKNH2WxGcRQcIlD" -j cali-cidr-block`,
		`-A cali-OUTPUT -m comment --comment "cali:Mq1_rAdXXH3YkrzW" -m mark --mark 0x10000/0x10000 -j ACCEPT`,
		`-A cali-OUTPUT -o cali+ -m comment --comment "cali:69FkRTJDvD5Vu6Vl" -j RETURN`,
		`-A cali-wl-to-host -m comment --comment "cali:Ee9Sbo10IpVujdIY" -j cali-from-wl-dispatch`,
		`-A cali-wl-to-host -m comment --comment "cali:nSZbcOoG1xPONxb8" -m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT`,
	} {
		assert.Contains(t, save, want+"\n")
	}
}

func TestPolicyChainNames(t *testing.T) {
	for _, tc := range []struct {
		ns, name string
		ingress  bool
		want     string
	}{
		{"x", "deny-all", true, "cali-pi-knp/x/deny-all"},
		{"x", "deny-all", false, "cali-po-knp/x/deny-all"},
		// 8 + 4 + 16 > 28: felix's shortened name, 28 characters.
		{"default", "allow-frontend-to-db", true, "cali-pi-_"},
	} {
		got := PolicyChain(&netpol.Policy{Namespace: tc.ns, Name: tc.name}, tc.ingress)
		assert.True(t, strings.HasPrefix(got, tc.want), got)
		assert.LessOrEqual(t, len(got), 28, got)
	}
}

type flow struct {
	proto    string
	src, dst string
	dport    uint16
	allowed  bool
	detail   string // a part of the drop detail
}

func ip(w string) string {
	for _, x := range universe().Workloads {
		if x.Ref() == w {
			return x.IP.String()
		}
	}
	return w
}

func ingressPolicy(ns, name string, podSel netpol.Selector, rules ...netpol.Rule) *netpol.Policy {
	return &netpol.Policy{Namespace: ns, Name: name, PodSelector: podSel, Ingress: true, IngressRules: rules}
}

func egressPolicy(ns, name string, podSel netpol.Selector, rules ...netpol.Rule) *netpol.Policy {
	return &netpol.Policy{Namespace: ns, Name: name, PodSelector: podSel, Egress: true, EgressRules: rules}
}

func tcp(port int) netpol.Port { return netpol.Port{Protocol: "TCP", Port: port} }

func TestEnforcement(t *testing.T) {
	all := netpol.Selector{}
	for _, tc := range []struct {
		name     string
		policies []*netpol.Policy
		flows    []flow
	}{
		{"no policy: everything flows", nil, []flow{
			{"tcp", "y/a", "x/a", 80, true, ""},
			{"udp", "z/c", "x/b", 53, true, ""},
		}},
		{"deny-all ingress isolates the namespace's pods, not others", []*netpol.Policy{ingressPolicy("x", "deny-all", all)}, []flow{
			{"tcp", "y/a", "x/a", 80, false, "pod x/a is isolated for ingress by x/deny-all; no policy selecting it has an ingress rule, so source y/a (10.0.1.20) on TCP 80 is denied"},
			{"tcp", "x/b", "x/a", 80, false, "source x/b (10.0.1.11)"},
			{"tcp", "x/a", "y/a", 80, true, ""},
			{"tcp", "z/c", "x/b", 80, false, "source z/c (10.0.2.30)"},
		}},
		{"union: deny-all plus allow from team=blue namespaces on TCP 80", []*netpol.Policy{
			ingressPolicy("x", "deny-all", all),
			ingressPolicy("x", "allow-blue", all, netpol.Rule{Ports: []netpol.Port{tcp(80)}, Peers: []netpol.Peer{{NamespaceSelector: sel("team", "blue")}}}),
		}, []flow{
			{"tcp", "y/a", "x/a", 80, true, ""},
			{"tcp", "y/a", "x/a", 81, false, "pod x/a is isolated for ingress by x/allow-blue, x/deny-all; no rule of x/allow-blue allows source y/a (10.0.1.20) on TCP 81"},
			{"udp", "y/a", "x/a", 80, false, "UDP 80"},
			{"tcp", "z/c", "x/a", 80, false, "z/c"},
		}},
		{"AND: namespaceSelector and podSelector in one peer", []*netpol.Policy{
			ingressPolicy("x", "and", all, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: sel("team", "blue"), PodSelector: sel("app", "web")}}}),
		}, []flow{
			{"tcp", "y/b", "x/a", 80, true, ""},
			{"tcp", "y/a", "x/a", 80, false, "y/a"},
			{"tcp", "x/b", "x/a", 80, false, "x/b"},
		}},
		{"OR: the same selectors as two peers", []*netpol.Policy{
			ingressPolicy("x", "or", all, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: sel("team", "blue")}, {PodSelector: sel("pod", "b")}}}),
		}, []flow{
			{"tcp", "y/b", "x/a", 80, true, ""},
			{"tcp", "y/a", "x/a", 80, true, ""},
			{"tcp", "x/b", "x/a", 80, true, ""},
			{"tcp", "z/c", "x/a", 80, false, "z/c"},
		}},
		{"podSelector alone is the policy's namespace only", []*netpol.Policy{
			ingressPolicy("x", "same-ns", all, netpol.Rule{Peers: []netpol.Peer{{PodSelector: sel("pod", "a")}}}),
		}, []flow{
			{"tcp", "y/a", "x/b", 80, false, "y/a"},
			{"tcp", "x/a", "x/b", 80, true, ""},
		}},
		{"empty namespaceSelector is every namespace", []*netpol.Policy{
			ingressPolicy("x", "any-ns", all, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: &netpol.Selector{}}}}),
		}, []flow{
			{"tcp", "z/c", "x/b", 80, true, ""},
			{"tcp", "203.0.113.7", "x/b", 80, false, "source 203.0.113.7 on TCP 80"},
		}},
		{"matchExpressions", []*netpol.Policy{
			ingressPolicy("x", "expr", netpol.Selector{MatchExpressions: []netpol.Requirement{{Key: "app", Operator: netpol.Exists}}},
				netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: &netpol.Selector{MatchExpressions: []netpol.Requirement{{Key: netpol.MetadataNameLabel, Operator: netpol.NotIn, Values: []string{"y"}}}}}}}),
		}, []flow{
			{"tcp", "z/c", "x/a", 80, true, ""},
			{"tcp", "y/a", "x/a", 80, false, "y/a"},
			{"tcp", "y/a", "x/b", 80, true, ""}, // x/b has no app label: not selected
		}},
		{"ipBlock with excepts", []*netpol.Policy{
			ingressPolicy("x", "cidr", all, netpol.Rule{Peers: []netpol.Peer{{IPBlock: &netpol.IPBlock{CIDR: netip.MustParsePrefix("203.0.113.0/24"),
				Except: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28"), netip.MustParsePrefix("203.0.113.128/25")}}}}}),
		}, []flow{
			{"tcp", "203.0.113.20", "x/a", 80, true, ""},
			{"tcp", "203.0.113.5", "x/a", 80, false, "203.0.113.5"},
			{"tcp", "203.0.113.200", "x/a", 80, false, "203.0.113.200"},
			{"tcp", "198.51.100.1", "x/a", 80, false, "198.51.100.1"},
		}},
		{"named port resolved against the destination pod", []*netpol.Policy{
			ingressPolicy("x", "named", all, netpol.Rule{Ports: []netpol.Port{{Protocol: "TCP", Name: "http"}}}),
			ingressPolicy("y", "named", all, netpol.Rule{Ports: []netpol.Port{{Protocol: "TCP", Name: "http"}}}),
		}, []flow{
			{"tcp", "z/c", "x/a", 8080, true, ""},
			{"tcp", "z/c", "x/a", 9090, false, "TCP 9090"},
			{"tcp", "z/c", "y/b", 9090, true, ""},
			{"tcp", "z/c", "y/b", 8080, false, "TCP 8080"},
			{"tcp", "z/c", "x/b", 8080, false, "x/b"}, // no port named http
		}},
		{"named and numeric ports together, endPort range, protocols", []*netpol.Policy{
			ingressPolicy("x", "mixed", all, netpol.Rule{Ports: []netpol.Port{{Protocol: "TCP", Name: "http"}, {Protocol: "TCP", Port: 80, EndPort: 82},
				{Protocol: "UDP", Port: 53}, {Protocol: "SCTP", Port: 80}}}),
		}, []flow{
			{"tcp", "z/c", "x/a", 8080, true, ""},
			{"tcp", "z/c", "x/a", 81, true, ""},
			{"tcp", "z/c", "x/a", 83, false, "TCP 83"},
			{"udp", "z/c", "x/a", 53, true, ""},
			{"udp", "z/c", "x/a", 80, false, "UDP 80"},
			{"sctp", "z/c", "x/a", 80, true, ""},
			{"sctp", "z/c", "x/a", 81, false, "SCTP 81"},
		}},
		{"ingress: [{}] allows everything", []*netpol.Policy{
			ingressPolicy("x", "deny-all", all), ingressPolicy("x", "allow-all", all, netpol.Rule{}),
		}, []flow{
			{"tcp", "z/c", "x/a", 1234, true, ""},
			{"udp", "203.0.113.9", "x/b", 53, true, ""},
		}},
		{"egress isolation: the source pod's policy", []*netpol.Policy{
			egressPolicy("x", "egress-dns", *sel("pod", "a"), netpol.Rule{Ports: []netpol.Port{{Protocol: "UDP", Port: 53}}}),
		}, []flow{
			{"udp", "x/a", "z/c", 53, true, ""},
			{"tcp", "x/a", "z/c", 80, false, "pod x/a is isolated for egress by x/egress-dns; no rule of x/egress-dns allows destination z/c (10.0.2.30) on TCP 80"},
			{"tcp", "x/b", "z/c", 80, true, ""},
			{"tcp", "y/a", "x/a", 80, true, ""}, // ingress to x/a is not isolated
		}},
		{"egress to pods of a namespace and to a CIDR", []*netpol.Policy{
			egressPolicy("x", "egress", all, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: sel(netpol.MetadataNameLabel, "z")}, {IPBlock: &netpol.IPBlock{CIDR: netip.MustParsePrefix("198.51.100.0/24")}}}}),
		}, []flow{
			{"tcp", "x/a", "z/c", 80, true, ""},
			{"tcp", "x/a", "198.51.100.8", 443, true, ""},
			{"tcp", "x/a", "y/a", 80, false, "destination y/a (10.0.1.20)"},
		}},
		{"both directions: egress of the source and ingress of the destination", []*netpol.Policy{
			egressPolicy("x", "to-y", all, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: sel("team", "blue")}}}),
			ingressPolicy("y", "from-x-b", all, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: sel(netpol.MetadataNameLabel, "x"), PodSelector: sel("pod", "b")}}}),
		}, []flow{
			{"tcp", "x/b", "y/a", 80, true, ""},
			{"tcp", "x/a", "y/a", 80, false, "pod y/a is isolated for ingress by y/from-x-b"},
			{"tcp", "x/a", "z/c", 80, false, "pod x/a is isolated for egress by x/to-y"},
		}},
		{"the node's own traffic to its pods is not policed (felix's cali-OUTPUT)", []*netpol.Policy{ingressPolicy("x", "deny-all", all)}, []flow{
			{"tcp", nodeIP, "x/a", 80, true, ""},
		}},
		{"a pod's traffic to its node passes its egress policy (cali-wl-to-host)", []*netpol.Policy{egressPolicy("x", "deny-egress", all)}, []flow{
			{"tcp", "x/a", nodeIP, 10250, false, "pod x/a is isolated for egress by x/deny-egress"},
			{"tcp", "y/a", nodeIP, 10250, true, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := universe()
			in.Policies = tc.policies
			r := newRig(t, in)
			for _, f := range tc.flows {
				v := r.send(probe(t, f.proto, ip(f.src), 40000, ip(f.dst), f.dport))
				what := f.proto + " " + f.src + " -> " + f.dst
				if f.allowed {
					assert.Equal(t, netstack.Accept, v.Kind, "%s:%d: %s", what, f.dport, v.Detail)
					continue
				}
				if assert.Equal(t, netstack.Drop, v.Kind, "%s:%d", what, f.dport) {
					assert.Equal(t, trace.ReasonPolicyDenied, v.Reason, "%s:%d: %s", what, f.dport, v.Detail)
					assert.Contains(t, v.Detail, f.detail, what)
					assert.Contains(t, v.Detail, "End of tier default. Drop if no policies passed packet")
				}
			}
		})
	}
}

// Replies of an allowed connection pass by conntrack even where the other
// direction is isolated; a new connection the other way is denied.
func TestRepliesPassByConntrack(t *testing.T) {
	in := universe()
	all := netpol.Selector{}
	in.Policies = []*netpol.Policy{
		ingressPolicy("x", "deny-all", all),
		egressPolicy("y", "deny-all", all),
		egressPolicy("x", "deny-all", all),
		ingressPolicy("x", "from-y", all, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: sel("team", "blue")}}}),
	}
	in.Policies[1].Egress = true
	// y/a may not send anything new; x/a may not either.
	r := newRig(t, in)
	// z/c -> y/a is not isolated for y's ingress; y/a replies despite its egress isolation.
	require.Equal(t, netstack.Accept, r.send(probe(t, "tcp", ip("z/c"), 40000, ip("y/a"), 80)).Kind)
	assert.Equal(t, netstack.Accept, r.send(synAck(t, ip("y/a"), 80, ip("z/c"), 40000)).Kind)
	v := r.send(probe(t, "tcp", ip("y/a"), 40001, ip("z/c"), 80))
	assert.Equal(t, trace.ReasonPolicyDenied, v.Reason, v.Detail)
	assert.Contains(t, v.Detail, "pod y/a is isolated for egress by y/deny-all")
}

// A second Sync replaces the first: chains of policies and pods gone are
// deleted, and ipsets follow the pods.
func TestResync(t *testing.T) {
	in := universe()
	in.Policies = []*netpol.Policy{ingressPolicy("x", "allow-blue", netpol.Selector{}, netpol.Rule{Peers: []netpol.Peer{{NamespaceSelector: sel("team", "blue")}}})}
	r := newRig(t, in)
	require.Equal(t, netstack.Accept, r.send(probe(t, "tcp", ip("y/a"), 40000, ip("x/a"), 80)).Kind)
	assert.Contains(t, r.nf.Save(false, "filter"), ":cali-pi-knp/x/allow-blue - ")

	in.Policies = nil
	in.Workloads = in.Workloads[:2]
	require.NoError(t, Sync(r.nf, in))
	save := r.nf.Save(false, "filter")
	assert.NotContains(t, save, "cali-pi-knp/x/allow-blue")
	assert.NotContains(t, save, "cali-tw-cali9f8e7d6c5b4")
	assert.Equal(t, 1, strings.Count(save, "-j cali-FORWARD\n"), "the kernel-chain jumps are not duplicated")
	for _, s := range r.nf.Sets() {
		assert.False(t, strings.HasPrefix(s.Name, "cali40s:"), "stale set %s", s.Name)
	}
}

// Policies with the same selector form felix's policy group: one
// cali-gi- chain the endpoint jumps to, jumping to each policy and
// returning on a verdict every five.
func TestPolicyGroups(t *testing.T) {
	in := universe()
	for i := range 6 {
		in.Policies = append(in.Policies, ingressPolicy("x", fmt.Sprintf("p%d", i), netpol.Selector{},
			netpol.Rule{Ports: []netpol.Port{tcp(1000 + i)}}))
	}
	in.Policies = append(in.Policies, ingressPolicy("x", "web-only", *sel("app", "web"), netpol.Rule{Ports: []netpol.Port{tcp(2000)}}))
	r := newRig(t, in)
	save := r.nf.Save(false, "filter")
	var group string
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, ":cali-gi-") {
			require.Empty(t, group, "one group")
			group = strings.Fields(l[1:])[0]
		}
	}
	require.Len(t, group, 28)
	assert.Equal(t, 7, strings.Count(save, "-A "+group+" "), "six jumps and one Return on verdict")
	assert.Contains(t, save, "-A "+group+` -m comment --comment "cali:`)
	assert.Regexp(t, `-A `+group+` -m comment --comment "cali:\S+" -m comment --comment "Return on verdict" -m mark ! --mark 0x0/0x30000 -j RETURN`, save)
	assert.Regexp(t, `-A cali-tw-cali1a2b3c4d5e6 -m comment --comment "cali:\S+" -m mark --mark 0x0/0x20000 -j `+group, save)
	assert.Regexp(t, `-A cali-tw-cali1a2b3c4d5e6 -m comment --comment "cali:\S+" -m mark --mark 0x0/0x20000 -j cali-pi-knp/x/web-only`, save)
	for i, port := range []uint16{1000, 1005, 2000} {
		v := r.send(probe(t, "tcp", ip("z/c"), uint16(41000+i), ip("x/a"), port))
		assert.Equal(t, netstack.Accept, v.Kind, "port %d: %s", port, v.Detail)
	}
	v := r.send(probe(t, "tcp", ip("z/c"), 41010, ip("x/b"), 2000))
	assert.Equal(t, trace.ReasonPolicyDenied, v.Reason, "x/b is not app=web")
}

// Endpoint marks (kube-proxy IPVS mode) are distinct, inside the
// endpoint mark field, and never the non-Calico endpoint's.
func TestEndpointMarks(t *testing.T) {
	var names []string
	for i := range 300 {
		names = append(names, fmt.Sprintf("cali%011x", i*7919))
	}
	marks := endpointMarks(names)
	require.Len(t, marks, len(names))
	seen := map[uint32]bool{}
	for n, m := range marks {
		assert.NotZero(t, m, n)
		assert.Equal(t, m, m&MarkEndpoint, n)
		assert.NotEqual(t, MarkNonCaliEndpoint, m, n)
		assert.False(t, seen[m], "%s: mark %#x taken twice", n, m)
		seen[m] = true
	}
}
