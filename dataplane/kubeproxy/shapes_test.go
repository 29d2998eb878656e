package kubeproxy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/ipvs"
	"netsim/dataplane/netfilter"
)

// ackConfig is node-1 of an ACK cluster with flannel: eth0 192.168.0.10,
// pod CIDR 172.20.0.0/16 (the node's 172.20.0.0/24: cni0 .1, flannel.1
// .0), service CIDR 172.21.0.0/20.
func ackConfig() Config {
	return Config{
		NodeName:    "node-1",
		NodeIPs:     []netip.Addr{addr("192.168.0.10"), addr("172.20.0.1"), addr("172.20.0.0")},
		ClusterCIDR: prefix("172.20.0.0/16"),
	}
}

func ep(ip string, port int, node string) Endpoint {
	return Endpoint{IP: addr(ip), Port: port, NodeName: node, Ready: true, Serving: true}
}

func http(port, nodePort int) []ServicePort {
	return []ServicePort{{Name: "http", Protocol: "TCP", Port: port, NodePort: nodePort}}
}

// shapes are the Service shapes of the golden files.
var shapes = []struct {
	name string
	svcs []*Service
}{
	{"clusterip-1ep", []*Service{{Namespace: "default", Name: "web", Type: TypeClusterIP, ClusterIP: addr("172.21.0.20"),
		Ports: http(80, 0), Endpoints: map[string][]Endpoint{"http": {ep("172.20.1.5", 8080, "node-2")}}}}},
	{"clusterip-3ep", []*Service{{Namespace: "default", Name: "api", Type: TypeClusterIP, ClusterIP: addr("172.21.0.21"),
		Ports:     []ServicePort{{Protocol: "TCP", Port: 8080}},
		Endpoints: map[string][]Endpoint{"": {ep("172.20.0.5", 8080, "node-1"), ep("172.20.1.6", 8080, "node-2"), ep("172.20.2.7", 8080, "node-3")}}}}},
	{"no-endpoints", []*Service{{Namespace: "default", Name: "empty", Type: TypeClusterIP, ClusterIP: addr("172.21.0.22"), Ports: http(80, 0)}}},
	{"multiport-named", []*Service{{Namespace: "kube-system", Name: "kube-dns", Type: TypeClusterIP, ClusterIP: addr("172.21.0.10"),
		Ports: []ServicePort{{Name: "dns", Protocol: "UDP", Port: 53}, {Name: "dns-tcp", Protocol: "TCP", Port: 53}, {Name: "metrics", Protocol: "TCP", Port: 9153}},
		Endpoints: map[string][]Endpoint{
			"dns":     {ep("172.20.0.3", 53, "node-1"), ep("172.20.1.3", 53, "node-2")},
			"dns-tcp": {ep("172.20.0.3", 53, "node-1"), ep("172.20.1.3", 53, "node-2")},
			"metrics": {ep("172.20.0.3", 9153, "node-1"), ep("172.20.1.3", 9153, "node-2")},
		}}}},
	{"nodeport-cluster", []*Service{{Namespace: "default", Name: "web-np", Type: TypeNodePort, ClusterIP: addr("172.21.0.23"),
		ExternalTrafficPolicy: "Cluster", Ports: http(80, 30080),
		Endpoints: map[string][]Endpoint{"http": {ep("172.20.0.5", 8080, "node-1"), ep("172.20.1.5", 8080, "node-2")}}}}},
	{"nodeport-local-with-local-ep", []*Service{{Namespace: "default", Name: "web-local", Type: TypeNodePort, ClusterIP: addr("172.21.0.24"),
		ExternalTrafficPolicy: "Local", Ports: http(80, 30081),
		Endpoints: map[string][]Endpoint{"http": {ep("172.20.0.6", 8080, "node-1"), ep("172.20.1.6", 8080, "node-2")}}}}},
	{"nodeport-local-without-local-ep", []*Service{{Namespace: "default", Name: "web-remote", Type: TypeNodePort, ClusterIP: addr("172.21.0.25"),
		ExternalTrafficPolicy: "Local", Ports: http(80, 30082),
		Endpoints: map[string][]Endpoint{"http": {ep("172.20.1.7", 8080, "node-2")}}}}},
	{"loadbalancer-sourceranges", []*Service{{Namespace: "default", Name: "shop", Type: TypeLoadBalancer, ClusterIP: addr("172.21.0.26"),
		ExternalTrafficPolicy: "Local", HealthCheckNodePort: 32000,
		Ports:           []ServicePort{{Name: "https", Protocol: "TCP", Port: 443, NodePort: 31443}},
		LoadBalancerIPs: []netip.Addr{addr("47.100.10.20")},
		SourceRanges:    []netip.Prefix{prefix("203.0.113.0/24"), prefix("192.168.0.0/16")},
		Endpoints:       map[string][]Endpoint{"https": {ep("172.20.0.8", 8443, "node-1"), ep("172.20.1.8", 8443, "node-2")}}}}},
	{"loadbalancer-cluster-no-node-access", []*Service{{Namespace: "default", Name: "pay", Type: TypeLoadBalancer, ClusterIP: addr("172.21.0.29"),
		Ports:           []ServicePort{{Name: "https", Protocol: "TCP", Port: 443, NodePort: 31444}},
		LoadBalancerIPs: []netip.Addr{addr("47.100.10.21")}, ExternalIPs: []netip.Addr{addr("192.168.0.100")},
		SourceRanges: []netip.Prefix{prefix("203.0.113.0/24")},
		Endpoints:    map[string][]Endpoint{"https": {ep("172.20.1.9", 8443, "node-2")}}}}},
	{"affinity-clientip", []*Service{{Namespace: "default", Name: "session", Type: TypeClusterIP, ClusterIP: addr("172.21.0.27"),
		SessionAffinity: "ClientIP", AffinitySeconds: 3600, Ports: http(80, 0),
		Endpoints: map[string][]Endpoint{"http": {ep("172.20.0.7", 8080, "node-1"), ep("172.20.1.7", 8080, "node-2")}}}}},
	{"headless", []*Service{{Namespace: "default", Name: "db", Type: TypeClusterIP, Ports: []ServicePort{{Name: "pg", Protocol: "TCP", Port: 5432}},
		Endpoints: map[string][]Endpoint{"pg": {ep("172.20.1.10", 5432, "node-2")}}}}},
	{"internal-local-with-local-ep", []*Service{{Namespace: "default", Name: "cache", Type: TypeClusterIP, ClusterIP: addr("172.21.0.30"),
		InternalTrafficPolicy: "Local", Ports: []ServicePort{{Name: "redis", Protocol: "TCP", Port: 6379}},
		Endpoints: map[string][]Endpoint{"redis": {ep("172.20.0.12", 6379, "node-1"), ep("172.20.1.12", 6379, "node-2")}}}}},
	{"internal-local-without-local-ep", []*Service{{Namespace: "default", Name: "cache-remote", Type: TypeClusterIP, ClusterIP: addr("172.21.0.31"),
		InternalTrafficPolicy: "Local", Ports: []ServicePort{{Name: "redis", Protocol: "TCP", Port: 6379}},
		Endpoints: map[string][]Endpoint{"redis": {ep("172.20.1.13", 6379, "node-2")}}}}},
	{"ready-over-terminating", []*Service{{Namespace: "default", Name: "draining", Type: TypeClusterIP, ClusterIP: addr("172.21.0.32"),
		Ports: http(80, 0),
		Endpoints: map[string][]Endpoint{"http": {
			{IP: addr("172.20.1.14"), Port: 8080, NodeName: "node-2", Serving: true, Terminating: true},
			ep("172.20.1.15", 8080, "node-2"),
		}}}}},
	{"sctp-nodeport", []*Service{{Namespace: "default", Name: "sig", Type: TypeNodePort, ClusterIP: addr("172.21.0.33"),
		Ports:     []ServicePort{{Name: "sctp", Protocol: "SCTP", Port: 9999, NodePort: 30999}},
		Endpoints: map[string][]Endpoint{"sctp": {ep("172.20.1.16", 9999, "node-2")}}}}},
	{"udp", []*Service{{Namespace: "default", Name: "syslog", Type: TypeClusterIP, ClusterIP: addr("172.21.0.28"),
		Ports:     []ServicePort{{Name: "syslog", Protocol: "UDP", Port: 514}},
		Endpoints: map[string][]Endpoint{"syslog": {ep("172.20.1.11", 514, "node-2")}}}}},
}

// flannelRules are the rules flanneld (vxlan, --ip-masq) had installed on
// node-1 before kube-proxy started (dataplane/cni/flannel).
func installFlannel(t *testing.T, nf *netfilter.Netfilter) {
	t.Helper()
	require.NoError(t, nf.NewChain("filter", "FLANNEL-FWD"))
	require.NoError(t, nf.Append("filter",
		`-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
		`-A FLANNEL-FWD -s 172.20.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`,
		`-A FLANNEL-FWD -d 172.20.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`))
	require.NoError(t, nf.NewChain("nat", "FLANNEL-POSTRTG"))
	require.NoError(t, nf.Append("nat",
		`-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
		`-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG -s 172.20.0.0/24 -d 172.20.0.0/16 -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG -s 172.20.0.0/16 -d 172.20.0.0/24 -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG ! -s 172.20.0.0/16 -d 172.20.0.0/24 -m comment --comment "flanneld masq" -j RETURN`,
		`-A FLANNEL-POSTRTG -s 172.20.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
		`-A FLANNEL-POSTRTG ! -s 172.20.0.0/16 -d 172.20.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`))
}

func TestGoldenIPTables(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			r, err := IPTables(ackConfig(), sh.svcs)
			require.NoError(t, err)
			n := newNode(t, 1)
			installFlannel(t, n.nf)
			require.NoError(t, Install(n.nf, r))
			var b strings.Builder
			b.WriteString("# kube-proxy v1.32, iptables mode, node-1: iptables-restore --noflush input\n")
			b.WriteString(r.Restore())
			b.WriteString("# rules ensured outside the restore (iptables -C, else -I CHAIN 1), in this order\n")
			for _, j := range r.Jumps {
				fmt.Fprintf(&b, "-t %s %s\n", j.Table, j.Line())
			}
			b.WriteString("# iptables-save -t nat; iptables-save -t filter (after flanneld's rules)\n")
			b.WriteString(n.nf.Save(false, "nat", "filter"))
			golden(t, "iptables-"+sh.name, b.String())

			// Installing again changes nothing (EnsureRule finds the
			// jumps; the restore replaces kube-proxy's chains).
			before := n.nf.Save(false, "nat", "filter")
			require.NoError(t, Install(n.nf, r))
			assert.Equal(t, before, n.nf.Save(false, "nat", "filter"))
		})
	}
}

func TestGoldenIPVS(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			cfg := ackConfig()
			r, err := IPVS(cfg, sh.svcs)
			require.NoError(t, err)
			n := newNode(t, 1)
			installFlannel(t, n.nf)
			require.NoError(t, InstallIPVS(n.nf, r))
			tbl := ipvs.NewTable()
			r.AddTo(tbl)
			var b strings.Builder
			b.WriteString("# kube-proxy v1.32, IPVS mode, node-1\n# ip addr show kube-ipvs0\n")
			for _, a := range r.Addresses {
				fmt.Fprintf(&b, "    inet %s scope global %s\n", a, DummyDevice)
			}
			b.WriteString("# ipvsadm -Ln\n")
			b.WriteString(tbl.Format())
			b.WriteString("# ipset save\n")
			b.WriteString(n.nf.SaveIPSets())
			b.WriteString("# iptables-restore --noflush input\n")
			b.WriteString(r.Restore())
			b.WriteString("# rules ensured outside the restore (iptables -C, else -I CHAIN 1), in this order\n")
			for _, j := range r.Jumps {
				fmt.Fprintf(&b, "-t %s %s\n", j.Table, j.Line())
			}
			b.WriteString("# iptables-save -t nat; iptables-save -t filter (after flanneld's rules)\n")
			b.WriteString(n.nf.Save(false, "nat", "filter"))
			golden(t, "ipvs-"+sh.name, b.String())

			// The ipset restore text loads into the same sets.
			n2 := newNode(t, 1)
			require.NoError(t, n2.nf.IPSetRestore(r.IPSetRestore()))
			assert.Equal(t, n.nf.SaveIPSets(), n2.nf.SaveIPSets())
			before := n.nf.Save(false, "nat", "filter") + n.nf.SaveIPSets()
			require.NoError(t, InstallIPVS(n.nf, r))
			assert.Equal(t, before, n.nf.Save(false, "nat", "filter")+n.nf.SaveIPSets(), "re-installing is idempotent")
		})
	}
}

// A headless Service gets no rules at all: the output equals that of no
// Service.
func TestHeadlessHasNoRules(t *testing.T) {
	none, err := IPTables(ackConfig(), nil)
	require.NoError(t, err)
	var headless []*Service
	for _, sh := range shapes {
		if sh.name == "headless" {
			headless = sh.svcs
		}
	}
	r, err := IPTables(ackConfig(), headless)
	require.NoError(t, err)
	assert.Equal(t, none.Restore(), r.Restore())
	ri, err := IPVS(ackConfig(), headless)
	require.NoError(t, err)
	assert.Empty(t, ri.Services)
	assert.Empty(t, ri.Addresses)
}

// The jump rules go in front of what other agents appended, in upstream's
// order (each inserted at position 1), and after an agent appends more the
// order stays.
func TestJumpRulesPosition(t *testing.T) {
	r, err := IPTables(ackConfig(), shapes[0].svcs)
	require.NoError(t, err)
	n := newNode(t, 1)
	installFlannel(t, n.nf)
	require.NoError(t, Install(n.nf, r))
	save := n.nf.Save(false, "nat", "filter")
	assert.Equal(t, []string{
		`-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`,
		`-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
	}, chainRules(save, "nat", "POSTROUTING"))
	assert.Equal(t, []string{
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
		`-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
	}, chainRules(save, "filter", "FORWARD"))
	assert.Equal(t, []string{
		`-A INPUT -j KUBE-FIREWALL`,
		`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS`,
		`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
	}, chainRules(save, "filter", "INPUT"))
	assert.Equal(t, []string{
		`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
	}, chainRules(save, "nat", "PREROUTING"))

	// If kubelet had created its KUBE-FIREWALL jump first, kube-proxy's
	// EnsureRule finds it and leaves it where it is (last).
	n2 := newNode(t, 1)
	require.NoError(t, n2.nf.NewChain("filter", "KUBE-FIREWALL"))
	require.NoError(t, n2.nf.Append("filter", "-A INPUT -j KUBE-FIREWALL"))
	require.NoError(t, Install(n2.nf, r))
	in := chainRules(n2.nf.Save(false, "filter"), "filter", "INPUT")
	assert.Equal(t, "-A INPUT -j KUBE-FIREWALL", in[len(in)-1])
}

// A Service that goes away leaves no chains behind: Install deletes the
// stale KUBE-SVC/SEP chains as kube-proxy does (":CHAIN" and "-X CHAIN").
func TestStaleChainsDeleted(t *testing.T) {
	n := newNode(t, 1)
	var svcs []*Service
	for _, sh := range shapes {
		svcs = append(svcs, sh.svcs...)
	}
	r, err := IPTables(ackConfig(), svcs)
	require.NoError(t, err)
	require.NoError(t, Install(n.nf, r))
	assert.Contains(t, n.nf.Save(false, "nat"), "KUBE-SVC-")
	none, err := IPTables(ackConfig(), nil)
	require.NoError(t, err)
	require.NoError(t, Install(n.nf, none))
	fresh := newNode(t, 1)
	require.NoError(t, Install(fresh.nf, none))
	assert.Equal(t, fresh.nf.Save(false, "nat", "filter"), n.nf.Save(false, "nat", "filter"))
}
