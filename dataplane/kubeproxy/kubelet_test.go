package kubeproxy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// realNodeFilter is the filter table's builtin chains and kubelet's
// chains as `iptables-save` prints them on a v1.32 node with flannel:
// kubelet (started first) prepended "-j KUBE-FIREWALL" to OUTPUT and
// INPUT, kube-proxy then prepended its jumps above it, flanneld appended
// FLANNEL-FWD to FORWARD. Real dumps (AKS, kubeadm clusters) show
// "-A INPUT -j KUBE-FIREWALL" after kube-proxy's INPUT jumps and
// "-A OUTPUT -j KUBE-FIREWALL" last in OUTPUT.
var realNodeFilter = map[string][]string{
	"iptables": {
		`:KUBE-FIREWALL - [0:0]`,
		`:KUBE-KUBELET-CANARY - [0:0]`,
		`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS`,
		`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
		`-A INPUT -j KUBE-FIREWALL`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
		`-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
		`-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-A OUTPUT -j KUBE-FIREWALL`,
		`-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
	},
	"ipvs": {
		`:KUBE-FIREWALL - [0:0]`,
		`:KUBE-KUBELET-CANARY - [0:0]`,
		`-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER`,
		`-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`,
		`-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT`,
		`-A INPUT -j KUBE-FIREWALL`,
		`-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`,
		`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`,
		`-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
		`-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER`,
		`-A OUTPUT -j KUBE-FIREWALL`,
		`-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
	},
}

// layoutLines is what realNodeFilter compares: the filter table's chain
// declarations of kubelet's chains, the builtin chains' rules in order,
// and KUBE-FIREWALL's rules.
func layoutLines(save string) []string {
	var out []string
	for _, l := range strings.Split(save, "\n") {
		switch {
		case l == ":KUBE-FIREWALL - [0:0]" || l == ":KUBE-KUBELET-CANARY - [0:0]":
			out = append(out, l)
		case strings.HasPrefix(l, "-A INPUT "), strings.HasPrefix(l, "-A FORWARD "), strings.HasPrefix(l, "-A OUTPUT "),
			strings.HasPrefix(l, "-A KUBE-FIREWALL "):
			out = append(out, l)
		}
	}
	return out
}

// positionalShare is the share of want's lines found at the same place
// (among lines of the same chain) in got.
func positionalShare(want, got []string) float64 {
	key := func(l string) string { f := strings.Fields(l); return f[0] + " " + f[1] }
	pos := func(ls []string) map[string]int {
		n := map[string]int{}
		out := map[string]int{}
		for _, l := range ls {
			k := key(l)
			out[l+"\x00"+string(rune('0'+n[k]))] = 1
			n[k]++
		}
		return out
	}
	g := pos(got)
	hit := 0
	for k := range pos(want) {
		hit += g[k]
	}
	return float64(hit) / float64(len(want))
}

// TestKubeletFirewallPosition builds a node as it boots — kubelet, then
// flanneld, then kube-proxy — and compares the filter table with a real
// node's. Without kubelet's part (what netsim modelled before) the share
// of matching lines is lower; the test logs both.
func TestKubeletFirewallPosition(t *testing.T) {
	for _, mode := range []string{"iptables", "ipvs"} {
		t.Run(mode, func(t *testing.T) {
			build := func(kubelet bool) []string {
				n := newNode(t, 1)
				if kubelet {
					require.NoError(t, InstallKubelet(n.nf))
				}
				installFlannel(t, n.nf)
				if mode == "iptables" {
					r, err := IPTables(ackConfig(), shapes[0].svcs)
					require.NoError(t, err)
					require.NoError(t, Install(n.nf, r))
				} else {
					r, err := IPVS(ackConfig(), shapes[0].svcs)
					require.NoError(t, err)
					require.NoError(t, InstallIPVS(n.nf, r))
				}
				if kubelet {
					require.NoError(t, InstallKubelet(n.nf), "kubelet's resync changes nothing")
				}
				if kubelet {
					for _, table := range []string{"mangle", "nat", "filter"} {
						assert.Contains(t, n.nf.Save(false, table), ":KUBE-KUBELET-CANARY - [0:0]", table)
					}
					assert.Contains(t, n.nf.Save(false, "mangle"), ":KUBE-IPTABLES-HINT - [0:0]")
				}
				return layoutLines(n.nf.Save(false, "filter"))
			}
			before := positionalShare(realNodeFilter[mode], build(false))
			got := build(true)
			after := positionalShare(realNodeFilter[mode], got)
			t.Logf("%s mode: %.0f%% of the real node's filter layout lines in place with kube-proxy alone, %.0f%% with kubelet", mode, before*100, after*100)
			assert.Equal(t, realNodeFilter[mode], got)
			assert.Less(t, before, after)
		})
	}
}

// TestInstallKubeletAlone: a node without Services still has kubelet's
// chains and the localnet guard.
func TestInstallKubeletAlone(t *testing.T) {
	n := newNode(t, 1)
	require.NoError(t, InstallKubelet(n.nf))
	require.NoError(t, InstallKubelet(n.nf))
	save := n.nf.Save(false, "filter")
	assert.Equal(t, []string{`-A INPUT -j KUBE-FIREWALL`}, chainRules(save, "filter", "INPUT"))
	assert.Equal(t, []string{`-A OUTPUT -j KUBE-FIREWALL`}, chainRules(save, "filter", "OUTPUT"))
	assert.Len(t, chainRules(save, "filter", "KUBE-FIREWALL"), 1)
}
