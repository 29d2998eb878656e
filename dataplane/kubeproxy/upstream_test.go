package kubeproxy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Comparisons with the expectations of upstream's own tests:
// kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go, v1.32
// (TestOverallIPTablesRules, TestDropInvalidRule, TestMasqueradeRule,
// TestNodePorts and the hashed chain names used throughout).
//
// Upstream's NewFakeProxier: node "test-node" with IP 192.168.0.2 (also
// 192.168.1.2 and 192.168.99.11), the local traffic detector
// NewDetectLocalByCIDR("10.0.0.0/8"), localhostNodePorts true, both nfacct
// counters present, and a fake iptables without --random-fully (so
// NoRandomFully here). Two adaptations, both of the fake and not of the
// rules: the fake proxier's masqueradeMark is the literal "0x4000" where
// NewProxier computes fmt.Sprintf("%#08x", 1<<14) = "0x00004000" (the same
// mark once in the kernel: iptables-save prints 0x4000 either way), and the
// expected text is sorted by upstream's sortIPTablesRules (ported in
// helpers_test.go), which upstream applies because it walks its services
// in map order. Addresses are upstream's unchanged.

func upstreamConfig() Config {
	return Config{
		NodeName:      "test-node",
		NodeIPs:       []netip.Addr{addr("192.168.0.2"), addr("192.168.1.2"), addr("192.168.99.11")},
		ClusterCIDR:   prefix("10.0.0.0/8"),
		MasqueradeBit: 14,
		NoRandomFully: true,
	}
}

func readyEP(ip string, port int, nodeName string) Endpoint {
	return Endpoint{IP: addr(ip), Port: port, NodeName: nodeName, Ready: true, Serving: true}
}

// upstreamOverallServices are the Services and EndpointSlices of
// TestOverallIPTablesRules (v1.32).
func upstreamOverallServices() map[string]*Service {
	p80 := func(np int) []ServicePort {
		return []ServicePort{{Name: "p80", Protocol: "TCP", Port: 80, NodePort: np}}
	}
	return map[string]*Service{
		// create ClusterIP service
		"ns1/svc1": {Namespace: "ns1", Name: "svc1", Type: TypeClusterIP, ClusterIP: addr("172.30.0.41"), Ports: p80(0),
			Endpoints: map[string][]Endpoint{"p80": {readyEP("10.180.0.1", 80, "")}}},
		// create LoadBalancer service with Local traffic policy (its one
		// endpoint has no NodeName: non-local)
		"ns2/svc2": {Namespace: "ns2", Name: "svc2", Type: TypeLoadBalancer, ExternalTrafficPolicy: "Local",
			ClusterIP: addr("172.30.0.42"), Ports: p80(3001), LoadBalancerIPs: []netip.Addr{addr("1.2.3.4")},
			ExternalIPs: []netip.Addr{addr("192.168.99.22")}, HealthCheckNodePort: 30000,
			Endpoints: map[string][]Endpoint{"p80": {readyEP("10.180.0.2", 80, "")}}},
		// create NodePort service
		"ns3/svc3": {Namespace: "ns3", Name: "svc3", Type: TypeNodePort, ClusterIP: addr("172.30.0.43"), Ports: p80(3003),
			Endpoints: map[string][]Endpoint{"p80": {readyEP("10.180.0.3", 80, "")}}},
		// create ExternalIP service (type NodePort, no node port allocated
		// in the fake)
		"ns4/svc4": {Namespace: "ns4", Name: "svc4", Type: TypeNodePort, ClusterIP: addr("172.30.0.44"), Ports: p80(0),
			ExternalIPs: []netip.Addr{addr("192.168.99.33")},
			Endpoints:   map[string][]Endpoint{"p80": {readyEP("10.180.0.4", 80, ""), readyEP("10.180.0.5", 80, "test-node")}}},
		// create LoadBalancer service with Cluster traffic policy, source
		// ranges, and session affinity
		"ns5/svc5": {Namespace: "ns5", Name: "svc5", Type: TypeLoadBalancer, ExternalTrafficPolicy: "Cluster",
			ClusterIP: addr("172.30.0.45"), Ports: p80(3002), LoadBalancerIPs: []netip.Addr{addr("5.6.7.8")},
			HealthCheckNodePort: 30000, SourceRanges: []netip.Prefix{prefix("203.0.113.0/25")},
			SessionAffinity: "ClientIP", AffinitySeconds: 10800,
			Endpoints: map[string][]Endpoint{"p80": {readyEP("10.180.0.3", 80, "")}}},
		// create ClusterIP service with no endpoints
		"ns6/svc6": {Namespace: "ns6", Name: "svc6", Type: TypeClusterIP, ClusterIP: addr("172.30.0.46"), Ports: p80(0)},
	}
}

// upstreamOverallExpected is TestOverallIPTablesRules' expected text, v1.32,
// verbatim.
const upstreamOverallExpected = `
		*filter
		:KUBE-NODEPORTS - [0:0]
		:KUBE-SERVICES - [0:0]
		:KUBE-EXTERNAL-SERVICES - [0:0]
		:KUBE-FIREWALL - [0:0]
		:KUBE-FORWARD - [0:0]
		:KUBE-PROXY-FIREWALL - [0:0]
		-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
		-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
		-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
		-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
		-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
		-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
		-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
		-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
		-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
		-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
		COMMIT
		*nat
		:KUBE-NODEPORTS - [0:0]
		:KUBE-SERVICES - [0:0]
		:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
		:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
		:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
		:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
		:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
		:KUBE-MARK-MASQ - [0:0]
		:KUBE-POSTROUTING - [0:0]
		:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
		:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
		:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
		:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
		:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
		:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
		:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
		:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
		:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
		:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
		:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
		-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
		-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
		-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK
		-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
		-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3002 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-NUKIZ6OKUXPJNT4C
		-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
		-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
		-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
		-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
		-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
		-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
		-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
		-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
		-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
		-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
		-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
		-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
		-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
		-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
		-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
		-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
		-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
		-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
		-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
		-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
		-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
		-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
		-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
		-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
		-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
		-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
		-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
		-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
		-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
		-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
		-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
		-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
		-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
		-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
		-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
		-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
		-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
		-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
		-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
		-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
		-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
		-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
		-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
		-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
		-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
		-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
		-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
		-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
		-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
		-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
		COMMIT
		`

// upstreamRestore runs IPTables and adapts the mark as the fake does.
func upstreamRestore(t *testing.T, cfg Config, svcs ...*Service) string {
	t.Helper()
	r, err := IPTables(cfg, svcs)
	require.NoError(t, err)
	return strings.ReplaceAll(r.Restore(), "0x00004000", "0x4000")
}

func TestUpstreamOverallIPTablesRules(t *testing.T) {
	all := upstreamOverallServices()
	var svcs []*Service
	for _, k := range []string{"ns1/svc1", "ns2/svc2", "ns3/svc3", "ns4/svc4", "ns5/svc5", "ns6/svc6"} {
		svcs = append(svcs, all[k])
	}
	got := upstreamRestore(t, upstreamConfig(), svcs...)
	requireSameLines(t, sortIPTablesRules(t, dedent(upstreamOverallExpected)), sortIPTablesRules(t, got))
}

// hashChainRE finds the hashed chains a rule names.
var hashChainRE = regexp.MustCompile(`KUBE-(?:SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}`)

// expectedSubset is the part of the upstream expectation that one service
// produces on its own: the rules naming the service in a comment or
// naming one of its port hashes, every rule that names no service, and the
// chains of those rules plus the top-level chains.
func expectedSubset(t *testing.T, expected, svcPortName string) string {
	t.Helper()
	hash := portProtoHash(svcPortName, "tcp")
	svcRE := regexp.MustCompile(`ns\d/svc\d`)
	keep := map[string]bool{}
	var out []string
	lines := strings.Split(dedent(expected), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "-A ") {
			continue
		}
		mine := strings.Contains(l, svcPortName) || strings.Contains(l, hash)
		common := !svcRE.MatchString(l) && !hashChainRE.MatchString(l)
		if mine || common {
			for _, c := range hashChainRE.FindAllString(l, -1) {
				keep[c] = true
			}
		}
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, ":"):
			c := strings.Fields(l[1:])[0]
			if !hashChainRE.MatchString(c) || keep[c] {
				out = append(out, l)
			}
		case strings.HasPrefix(l, "-A "):
			mine := strings.Contains(l, svcPortName) || strings.Contains(l, hash)
			common := !svcRE.MatchString(l) && !hashChainRE.MatchString(l)
			if mine || common {
				out = append(out, l)
			}
		default:
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Each Service of TestOverallIPTablesRules alone must give exactly its part
// of upstream's expectation: a ClusterIP with one endpoint, a LoadBalancer
// with Local policy and no local endpoint, a NodePort with Cluster policy,
// external IPs with two endpoints (one local), a LoadBalancer with source
// ranges and ClientIP affinity, and a Service without endpoints.
func TestUpstreamShapesOneByOne(t *testing.T) {
	all := upstreamOverallServices()
	tests := []struct{ name, svc, portName string }{
		{"clusterip one endpoint", "ns1/svc1", "ns1/svc1:p80"},
		{"loadbalancer local without local endpoints", "ns2/svc2", "ns2/svc2:p80"},
		{"nodeport cluster", "ns3/svc3", "ns3/svc3:p80"},
		{"external IP two endpoints", "ns4/svc4", "ns4/svc4:p80"},
		{"loadbalancer source ranges and affinity", "ns5/svc5", "ns5/svc5:p80"},
		{"no endpoints", "ns6/svc6", "ns6/svc6:p80"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := expectedSubset(t, upstreamOverallExpected, tc.portName)
			got := upstreamRestore(t, upstreamConfig(), all[tc.svc])
			requireSameLines(t, sortIPTablesRules(t, want), sortIPTablesRules(t, got))
		})
	}
}

// TestDropInvalidRule (v1.32): the KUBE-FORWARD chain with and without the
// nfacct counter and with nf_conntrack_tcp_be_liberal.
func TestUpstreamDropInvalidRule(t *testing.T) {
	forward := dedent(`
				-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
				-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	`)
	tests := []struct {
		nfacct, tcpLiberal bool
		dropRule           string
	}{
		{false, false, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"},
		{true, false, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP"},
		{false, true, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("tcpLiberal is %t and nfacctEnsured is %t", tc.tcpLiberal, tc.nfacct), func(t *testing.T) {
			cfg := upstreamConfig()
			cfg.NoNFAcct, cfg.ConntrackTCPBeLiberal = !tc.nfacct, tc.tcpLiberal
			got := strings.Join(chainRules(upstreamRestore(t, cfg), "filter", "KUBE-FORWARD"), "\n") + "\n"
			want := forward
			if tc.dropRule != "" {
				want = tc.dropRule + "\n" + forward
			}
			assert.Equal(t, strings.TrimSpace(want), strings.TrimSpace(got))
		})
	}
}

// TestMasqueradeRule (v1.32).
func TestUpstreamMasqueradeRule(t *testing.T) {
	for _, randomFully := range []bool{false, true} {
		t.Run(fmt.Sprintf("randomFully %t", randomFully), func(t *testing.T) {
			cfg := upstreamConfig()
			cfg.NoRandomFully = !randomFully
			want := dedent(`
				-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
				-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
				-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE%s
				`)
			suffix := ""
			if randomFully {
				suffix = " --random-fully"
			}
			got := strings.Join(chainRules(upstreamRestore(t, cfg), "nat", "KUBE-POSTROUTING"), "\n")
			assert.Equal(t, strings.TrimSpace(fmt.Sprintf(want, suffix)), got)
		})
	}
}

// TestNodePorts (v1.32), the part checked literally: KUBE-FIREWALL's
// anti-martian rule exists with localhost NodePorts only; and the
// nodeport-addresses variants of the KUBE-SERVICES tail rule.
func TestUpstreamNodePortsFirewall(t *testing.T) {
	svc := upstreamOverallServices()["ns3/svc3"]
	for _, tc := range []struct {
		name      string
		localhost bool
		addrs     []netip.Prefix
		firewall  bool
		tail      []string
	}{
		{"ipv4, localhost-nodeports enabled", true, nil, true,
			[]string{`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`}},
		{"ipv4, localhost-nodeports disabled", false, nil, false,
			[]string{`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS`}},
		{"ipv4, localhost-nodeports disabled, localhost in nodeport-addresses", false,
			[]netip.Prefix{prefix("192.168.0.0/24"), prefix("127.0.0.1/32")}, false,
			[]string{`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS`}},
		{"ipv4, multiple nodeport-addresses", false,
			[]netip.Prefix{prefix("192.168.0.0/24"), prefix("192.168.1.0/24")}, false,
			[]string{
				`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS`,
				`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.1.2 -j KUBE-NODEPORTS`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := upstreamConfig()
			cfg.DisableLocalhostNodePorts = !tc.localhost
			cfg.NodePortAddresses = tc.addrs
			restore := upstreamRestore(t, cfg, svc)
			fw := chainRules(restore, "filter", "KUBE-FIREWALL")
			if tc.firewall {
				assert.Equal(t, []string{`-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`}, fw)
			} else {
				assert.Empty(t, fw)
				assert.NotContains(t, restore, ":KUBE-FIREWALL")
			}
			var tail []string
			for _, l := range chainRules(restore, "nat", "KUBE-SERVICES") {
				if strings.Contains(l, "must be the last rule") {
					tail = append(tail, l)
				}
			}
			assert.Equal(t, tc.tail, tail)
			svcRules := chainRules(restore, "nat", "KUBE-SERVICES")
			assert.Contains(t, svcRules[len(svcRules)-1], "must be the last rule", "the KUBE-NODEPORTS jump is the last rule")
		})
	}
}

// Chain names against the hashes in upstream's tests and in iptables-save
// output of real clusters.
func TestChainNameHashes(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"SVC ns1/svc1:p80", ServicePortPolicyClusterChain("ns1/svc1:p80", "tcp"), "KUBE-SVC-XPGD46QRK7WJZT7O"},
		{"SVL ns1/svc1:p80", ServicePortPolicyLocalChain("ns1/svc1:p80", "tcp"), "KUBE-SVL-XPGD46QRK7WJZT7O"},
		{"SVC ns2/svc2:p80", ServicePortPolicyClusterChain("ns2/svc2:p80", "tcp"), "KUBE-SVC-GNZBNJ2PO5MGZ6GT"},
		{"EXT ns2/svc2:p80", ServiceExternalChain("ns2/svc2:p80", "tcp"), "KUBE-EXT-GNZBNJ2PO5MGZ6GT"},
		{"SVC ns3/svc3:p80", ServicePortPolicyClusterChain("ns3/svc3:p80", "tcp"), "KUBE-SVC-X27LE4BHSL4DOUIK"},
		{"SVC ns4/svc4:p80", ServicePortPolicyClusterChain("ns4/svc4:p80", "tcp"), "KUBE-SVC-4SW47YFZTEDKD3PK"},
		{"FW ns5/svc5:p80", ServiceFirewallChain("ns5/svc5:p80", "tcp"), "KUBE-FW-NUKIZ6OKUXPJNT4C"},
		{"SVC ns1/svc1 (unnamed port)", ServicePortPolicyClusterChain("ns1/svc1", "tcp"), "KUBE-SVC-AQI2S6QIMU7PVVRP"},
		{"SEP ns1/svc1:p80 10.180.0.1:80", ServicePortEndpointChain("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ"},
		{"SEP ns2/svc2:p80 10.180.0.2:80", ServicePortEndpointChain("ns2/svc2:p80", "tcp", "10.180.0.2:80"), "KUBE-SEP-RS4RBKLTHTF2IUXJ"},
		{"SEP ns3/svc3:p80 10.180.0.3:80", ServicePortEndpointChain("ns3/svc3:p80", "tcp", "10.180.0.3:80"), "KUBE-SEP-OYPFS5VJICHGATKP"},
		{"SEP ns4/svc4:p80 10.180.0.4:80", ServicePortEndpointChain("ns4/svc4:p80", "tcp", "10.180.0.4:80"), "KUBE-SEP-UKSFD7AGPMPPLUHC"},
		{"SEP ns4/svc4:p80 10.180.0.5:80", ServicePortEndpointChain("ns4/svc4:p80", "tcp", "10.180.0.5:80"), "KUBE-SEP-C6EBXVWJJZMIWKLZ"},
		{"SEP ns5/svc5:p80 10.180.0.3:80", ServicePortEndpointChain("ns5/svc5:p80", "tcp", "10.180.0.3:80"), "KUBE-SEP-I77PXRDZVX7PMWMN"},
		// Well-known chains of every cluster.
		{"SVC default/kubernetes:https", ServicePortPolicyClusterChain("default/kubernetes:https", "tcp"), "KUBE-SVC-NPX46M4PTMTKRN6Y"},
		{"SVC kube-system/kube-dns:dns", ServicePortPolicyClusterChain("kube-system/kube-dns:dns", "udp"), "KUBE-SVC-TCOU7JCQXEZGVUNU"},
		{"SVC kube-system/kube-dns:dns-tcp", ServicePortPolicyClusterChain("kube-system/kube-dns:dns-tcp", "tcp"), "KUBE-SVC-ERIFXISQEP7F7OF4"},
		{"SVC kube-system/kube-dns:metrics", ServicePortPolicyClusterChain("kube-system/kube-dns:metrics", "tcp"), "KUBE-SVC-JD5MR3NA4I4DYORP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.got) })
	}
}
