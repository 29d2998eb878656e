package kubeproxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// This file is kube-proxy's view of a Service port (pkg/proxy/serviceport.go,
// service.go newBaseServiceInfo) and of its endpoints (endpointslicecache.go
// and topology.go CategorizeEndpoints), shared by the iptables and IPVS
// proxiers.

// Upstream's default session affinity timeout
// (v1.DefaultClientIPServiceAffinitySeconds).
const defaultAffinitySeconds = 10800

// servicePort is one port of one Service with kube-proxy's derived values.
type servicePort struct {
	svc  *Service
	port ServicePort
	// name is ServicePortName.String(): "ns/name:port" or "ns/name".
	name string
	// proto is the lower-case protocol ("tcp"), Proto the upper-case one.
	proto, Proto string

	clusterIP    netip.Addr
	externalIPs  []netip.Addr
	lbVIPs       []netip.Addr
	sourceRanges []netip.Prefix
	nodePort     int
	hcNodePort   int

	affinity      bool
	stickySeconds int

	internalLocal, externalLocal bool

	endpoints []*endpoint
}

// endpoint is one endpoint of a service port.
type endpoint struct {
	Endpoint
	// str is BaseEndpointInfo.String(): "IP:port".
	str   string
	local bool
}

func (e *endpoint) ipString() string { return e.IP.String() }

// externallyAccessible is BaseServicePortInfo.ExternallyAccessible.
func (sp *servicePort) externallyAccessible() bool {
	return sp.nodePort != 0 || len(sp.lbVIPs) != 0 || len(sp.externalIPs) != 0
}

// usesClusterEndpoints is BaseServicePortInfo.UsesClusterEndpoints: the
// internal policy is Cluster, or the port takes external traffic at all
// (even with the Local external policy the short-circuit needs them).
func (sp *servicePort) usesClusterEndpoints() bool {
	return !sp.internalLocal || sp.externallyAccessible()
}

// usesLocalEndpoints is BaseServicePortInfo.UsesLocalEndpoints.
func (sp *servicePort) usesLocalEndpoints() bool {
	return sp.internalLocal || (sp.externalLocal && sp.externallyAccessible())
}

// servicePorts resolves the Services as kube-proxy's ServiceChangeTracker
// and EndpointsChangeTracker would for an IPv4 proxier on node cfg.NodeName,
// sorted by service port name (upstream walks a map, in random order; the
// order of the rules of one service port is upstream's).
func servicePorts(cfg Config, svcs []*Service) ([]*servicePort, error) {
	var out []*servicePort
	for _, s := range svcs {
		if s == nil {
			continue
		}
		// Headless and non-IPv4 services are not proxied.
		if s.Headless() || !s.ClusterIP.Is4() {
			continue
		}
		switch s.Type {
		case "", TypeClusterIP, TypeNodePort, TypeLoadBalancer:
		default:
			return nil, fmt.Errorf("kube-proxy: service %s/%s: type %q is not proxied (expected ClusterIP, NodePort or LoadBalancer)", s.Namespace, s.Name, s.Type)
		}
		// apiservice.ExternallyAccessible / ExternalPolicyLocal /
		// NeedsHealthCheck.
		svcExternal := s.Type == TypeLoadBalancer || s.Type == TypeNodePort || len(s.ExternalIPs) > 0
		externalLocal := svcExternal && s.ExternalTrafficPolicy == "Local"
		for _, p := range s.Ports {
			sp := &servicePort{svc: s, port: p, name: s.PortName(p), clusterIP: s.ClusterIP,
				nodePort: p.NodePort, externalLocal: externalLocal, internalLocal: s.InternalTrafficPolicy == "Local"}
			switch strings.ToUpper(string(p.Protocol)) {
			case "", "TCP":
				sp.proto, sp.Proto = "tcp", "TCP"
			case "UDP":
				sp.proto, sp.Proto = "udp", "UDP"
			case "SCTP":
				sp.proto, sp.Proto = "sctp", "SCTP"
			default:
				return nil, fmt.Errorf("kube-proxy: service port %s: protocol %q (expected TCP, UDP or SCTP)", sp.name, p.Protocol)
			}
			if p.Port <= 0 || p.Port > 65535 || p.NodePort < 0 || p.NodePort > 65535 {
				return nil, fmt.Errorf("kube-proxy: service port %s: port %d / nodePort %d out of range", sp.name, p.Port, p.NodePort)
			}
			for _, a := range s.ExternalIPs {
				if a.Is4() {
					sp.externalIPs = append(sp.externalIPs, a)
				}
			}
			for _, a := range s.LoadBalancerIPs {
				if a.Is4() {
					sp.lbVIPs = append(sp.lbVIPs, a)
				}
			}
			for _, pf := range s.SourceRanges {
				if pf.Addr().Is4() {
					sp.sourceRanges = append(sp.sourceRanges, pf.Masked())
				}
			}
			if s.Type == TypeLoadBalancer && externalLocal {
				sp.hcNodePort = s.HealthCheckNodePort
			}
			if s.SessionAffinity == "ClientIP" {
				sp.affinity = true
				sp.stickySeconds = s.AffinitySeconds
				if sp.stickySeconds <= 0 {
					sp.stickySeconds = defaultAffinitySeconds
				}
			}
			seen := map[string]bool{}
			for _, e := range s.Endpoints[p.Name] {
				if !e.IP.Is4() || e.Port <= 0 || e.Port > 65535 {
					continue
				}
				ep := &endpoint{Endpoint: e, str: netip.AddrPortFrom(e.IP, uint16(e.Port)).String(),
					local: e.NodeName != "" && e.NodeName == cfg.NodeName}
				if seen[ep.str] {
					continue
				}
				seen[ep.str] = true
				sp.endpoints = append(sp.endpoints, ep)
			}
			// endpointsMapFromEndpointInfo sorts by Endpoint.String().
			sort.Slice(sp.endpoints, func(i, j int) bool { return sp.endpoints[i].str < sp.endpoints[j].str })
			out = append(out, sp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].proto < out[j].proto
	})
	return out, nil
}

// categorize is proxy.CategorizeEndpoints (v1.32) without topology hints
// (the model has none): the endpoints for Cluster and Local policy, every
// endpoint reachable from this node, and whether the port has any usable
// endpoint in the cluster.
func (sp *servicePort) categorize() (cluster, local, reachable []*endpoint, hasAny bool) {
	filter := func(f func(*endpoint) bool) []*endpoint {
		var out []*endpoint
		for _, e := range sp.endpoints {
			if f(e) {
				out = append(out, e)
			}
		}
		return out
	}
	if sp.usesClusterEndpoints() {
		cluster = filter(func(e *endpoint) bool { return e.Ready })
		// No ready endpoint anywhere: fall back to serving terminating ones.
		if len(cluster) == 0 {
			cluster = filter(func(e *endpoint) bool { return e.Serving && e.Terminating })
		}
		if len(cluster) > 0 {
			hasAny = true
		}
	}
	if !sp.usesLocalEndpoints() {
		return cluster, nil, cluster, hasAny
	}
	var localReady, localServingTerminating bool
	for _, e := range sp.endpoints {
		if e.Ready {
			hasAny = true
			localReady = localReady || e.local
		} else if e.Serving && e.Terminating {
			hasAny = true
			localServingTerminating = localServingTerminating || e.local
		}
	}
	useServingTerminating := false
	if localReady {
		local = filter(func(e *endpoint) bool { return e.local && e.Ready })
	} else if localServingTerminating {
		useServingTerminating = true
		local = filter(func(e *endpoint) bool { return e.local && e.Serving && e.Terminating })
	}
	if !sp.usesClusterEndpoints() {
		return nil, local, local, hasAny
	}
	if !useServingTerminating {
		return cluster, local, cluster, hasAny
	}
	// Merge (upstream builds a map; sorted here for a stable order).
	m := map[string]*endpoint{}
	for _, e := range cluster {
		m[e.str] = e
	}
	for _, e := range local {
		m[e.str] = e
	}
	for _, e := range m {
		reachable = append(reachable, e)
	}
	sort.Slice(reachable, func(i, j int) bool { return reachable[i].str < reachable[j].str })
	return cluster, local, reachable, hasAny
}

// portProtoHash is upstream's: the first 16 characters of the base32
// (standard alphabet) encoding of sha256(servicePortName + protocol).
func portProtoHash(servicePortName, protocol string) string {
	hash := sha256.Sum256([]byte(servicePortName + protocol))
	encoded := base32.StdEncoding.EncodeToString(hash[:])
	return encoded[:16]
}

// Chain name prefixes of the iptables proxier.
const (
	servicePortPolicyClusterChainNamePrefix = "KUBE-SVC-"
	servicePortPolicyLocalChainNamePrefix   = "KUBE-SVL-"
	serviceFirewallChainNamePrefix          = "KUBE-FW-"
	serviceExternalChainNamePrefix          = "KUBE-EXT-"
	servicePortEndpointChainNamePrefix      = "KUBE-SEP-"
)

// ServicePortPolicyClusterChain is the KUBE-SVC- chain of a service port
// (servicePortName as "ns/name:port", protocol lower-case: "tcp").
func ServicePortPolicyClusterChain(servicePortName, protocol string) string {
	return servicePortPolicyClusterChainNamePrefix + portProtoHash(servicePortName, protocol)
}

// ServicePortPolicyLocalChain is the KUBE-SVL- chain (Local policy endpoints).
func ServicePortPolicyLocalChain(servicePortName, protocol string) string {
	return servicePortPolicyLocalChainNamePrefix + portProtoHash(servicePortName, protocol)
}

// ServiceFirewallChain is the KUBE-FW- chain (loadBalancerSourceRanges).
func ServiceFirewallChain(servicePortName, protocol string) string {
	return serviceFirewallChainNamePrefix + portProtoHash(servicePortName, protocol)
}

// ServiceExternalChain is the KUBE-EXT- chain (external destinations).
func ServiceExternalChain(servicePortName, protocol string) string {
	return serviceExternalChainNamePrefix + portProtoHash(servicePortName, protocol)
}

// ServicePortEndpointChain is the KUBE-SEP- chain of one endpoint
// ("IP:port"): sha256(servicePortName + protocol + endpoint).
func ServicePortEndpointChain(servicePortName, protocol, endpoint string) string {
	hash := sha256.Sum256([]byte(servicePortName + protocol + endpoint))
	encoded := base32.StdEncoding.EncodeToString(hash[:])
	return servicePortEndpointChainNamePrefix + encoded[:16]
}

func isServiceChainName(c string) bool {
	for _, p := range []string{servicePortPolicyClusterChainNamePrefix, servicePortPolicyLocalChainNamePrefix,
		servicePortEndpointChainNamePrefix, serviceFirewallChainNamePrefix, serviceExternalChainNamePrefix} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

// computeProbability is upstream's: fmt.Sprintf("%0.10f", 1.0/float64(n)).
func computeProbability(n int) string {
	return fmt.Sprintf("%0.10f", 1.0/float64(n))
}

func itoa(n int) string { return strconv.Itoa(n) }
