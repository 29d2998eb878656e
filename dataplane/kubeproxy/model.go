// Package kubeproxy turns Services and their endpoints into what kube-proxy
// programs on a node: netfilter rules in iptables mode (the upstream chain
// structure and names), and in IPVS mode the kube-ipvs0 addresses, IPVS
// virtual/real servers, ipsets and the iptables rules IPVS mode still
// needs.
//
// The types in this file are the resolved, runtime view of Kubernetes
// objects (defaults applied, ClusterIPs and NodePorts allocated, endpoints
// derived); the topology package builds them from manifests.
package kubeproxy

import (
	"fmt"
	"net/netip"
)

// Protocol is a Service port protocol: "TCP", "UDP" or "SCTP".
type Protocol string

// Service types.
const (
	TypeClusterIP    = "ClusterIP"
	TypeNodePort     = "NodePort"
	TypeLoadBalancer = "LoadBalancer"
)

// ServicePort is one port of a Service.
type ServicePort struct {
	// Name is the port name ("" is allowed for a single-port Service).
	Name     string
	Protocol Protocol
	// Port is the Service (ClusterIP) port.
	Port int
	// NodePort is the allocated node port (0: none).
	NodePort int
}

// Service is a Service as kube-proxy sees it.
type Service struct {
	Namespace, Name string
	Type            string
	// ClusterIP is invalid for a headless Service (clusterIP: None).
	ClusterIP netip.Addr
	Ports     []ServicePort
	// ExternalTrafficPolicy is "Cluster" or "Local".
	ExternalTrafficPolicy string
	// InternalTrafficPolicy is "Cluster" or "Local".
	InternalTrafficPolicy string
	// SessionAffinity is "None" or "ClientIP"; AffinitySeconds its timeout.
	SessionAffinity string
	AffinitySeconds int
	// LoadBalancerIPs are status.loadBalancer.ingress IPs.
	LoadBalancerIPs []netip.Addr
	// SourceRanges is spec.loadBalancerSourceRanges.
	SourceRanges []netip.Prefix
	// ExternalIPs is spec.externalIPs.
	ExternalIPs []netip.Addr
	// HealthCheckNodePort is allocated for LoadBalancer + Local.
	HealthCheckNodePort int
	// Endpoints are per port name.
	Endpoints map[string][]Endpoint
}

// Endpoint is one backend address of one Service port.
type Endpoint struct {
	IP   netip.Addr
	Port int
	// NodeName is where the endpoint runs ("" if unknown).
	NodeName string
	// Ready, Serving and Terminating are the EndpointSlice conditions.
	Ready, Serving, Terminating bool
}

// Headless reports clusterIP: None.
func (s *Service) Headless() bool { return !s.ClusterIP.IsValid() }

// PortName is kube-proxy's ServicePortName string: "ns/name:port" or
// "ns/name" when the port has no name.
func (s *Service) PortName(p ServicePort) string {
	n := s.Namespace + "/" + s.Name
	if p.Name != "" {
		n += ":" + p.Name
	}
	return n
}

// Config is the node-level kube-proxy configuration.
type Config struct {
	// NodeName is this node.
	NodeName string
	// NodeIPs are the node's addresses (for NodePort and health checks).
	NodeIPs []netip.Addr
	// ClusterCIDR is --cluster-cidr (the local traffic detector).
	ClusterCIDR netip.Prefix
	// MasqueradeBit is --iptables-masquerade-bit (default 14: 0x4000); 0
	// means the default (bit 0 cannot be chosen).
	MasqueradeBit int
	// MasqueradeAll is --masquerade-all.
	MasqueradeAll bool
	// IPVSScheduler is the IPVS scheduler: "rr" (default), "lc", "sh".
	IPVSScheduler string

	// The fields below are zero for upstream's defaults.

	// DisableLocalhostNodePorts is --iptables-localhost-nodeports=false
	// (upstream default true: NodePorts answer on 127.0.0.0/8, with
	// route_localnet and the KUBE-FIREWALL anti-martian rule).
	DisableLocalhostNodePorts bool
	// NoNFAcct says the kernel lacks nfnetlink_acct, so kube-proxy's
	// nfacct counters (ct_state_invalid_dropped_pkts,
	// localhost_nps_accepted_pkts) could not be created and its rules leave
	// out "-m nfacct".
	NoNFAcct bool
	// ConntrackTCPBeLiberal is net.netfilter.nf_conntrack_tcp_be_liberal=1:
	// kube-proxy then installs no "--ctstate INVALID -j DROP" rule.
	ConntrackTCPBeLiberal bool
	// NoRandomFully says iptables lacks --random-fully (before 1.6.2):
	// MASQUERADE is written without it.
	NoRandomFully bool
	// NodePortAddresses is --nodeport-addresses (empty: every local
	// address, "-m addrtype --dst-type LOCAL"); the node addresses inside
	// these prefixes are taken from NodeIPs.
	NodePortAddresses []netip.Prefix
}

// masqueradeMark is the mark kube-proxy computes from the bit:
// fmt.Sprintf("%#08x", 1<<bit), e.g. "0x00004000".
func (c Config) masqueradeMark() string {
	bit := c.MasqueradeBit
	if bit == 0 {
		bit = 14
	}
	return fmt.Sprintf("%#08x", 1<<uint(bit))
}

// nodeIP is the node's primary address (kube-proxy's --bind-address /
// node IP), used for loadBalancerSourceRanges "allow from node".
func (c Config) nodeIP() netip.Addr {
	for _, a := range c.NodeIPs {
		if a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}
