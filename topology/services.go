package topology

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"netsim/dataplane/kubeproxy"
	"netsim/topology/k8s"
)

// PodAddr is a pod as the endpoints controller sees it: where it runs,
// its address, labels, container ports and readiness.
type PodAddr struct {
	Namespace, Name string
	Labels          map[string]string
	// IP is the pod's address; a pod without one is no endpoint yet.
	IP netip.Addr
	// Node is the node the pod runs on.
	Node string
	// Ports are the container ports, for named targetPorts.
	Ports []k8s.ContainerPort
	// Ready is the pod's Ready condition.
	Ready bool
}

// The API server's defaults for the Service ranges.
const (
	// NodePortMin and NodePortMax are --service-node-port-range's default.
	NodePortMin = 30000
	NodePortMax = 32767
)

// ResolveServices turns the Services of objs into what kube-proxy
// programs: ClusterIPs, node ports and health check node ports allocated,
// endpoints derived. It does what the API server's allocators and the
// endpoint controllers do:
//
//   - ClusterIPs come from serviceCIDR like the API server's allocator:
//     the network and broadcast addresses are never used, the first
//     address is the kubernetes Service's (the API server's own), a
//     requested spec.clusterIP must be inside the range and free, and
//     the others are picked at random (seeded), from the upper part of
//     the range first (the lower part, min(max(16, size/16), 256)
//     addresses, is kept for requested addresses, KEP-3070).
//   - Node ports come from 30000–32767 the same way (lower band
//     min(max(16, 2768/32), 128) = 86 ports); requested ones are
//     honoured; a port number serves one Service (both protocols of one
//     Service may share it). A LoadBalancer with externalTrafficPolicy
//     Local also gets a health check node port.
//   - Requested addresses and ports are reserved before any is picked at
//     random, so the order of the objects does not decide a collision.
//   - Endpoints: a Service with a selector gets the pods of its namespace
//     whose labels match and that have an address; a named targetPort is
//     looked up in the pod's container ports (with the Service port's
//     protocol), and a pod without that port is no endpoint of that
//     Service port, as the endpoint controllers do. A pod that is not
//     ready is kept with Ready and Serving false (as EndpointSlices
//     carry it), unless publishNotReadyAddresses. A Service without a
//     selector gets its EndpointSlices (kubernetes.io/service-name
//     label), or else its Endpoints object (mirrored, as the
//     EndpointSliceMirroring controller does).
//
// ExternalName Services are left out (kube-proxy ignores them). Load
// balancer addresses are not allocated here: see AssignLoadBalancerIPs.
// Problems (a requested address outside the range or taken, a node port
// collision) are located at the Service's field.
func ResolveServices(objs *k8s.Objects, pods []PodAddr, serviceCIDR netip.Prefix, seed int64) ([]*kubeproxy.Service, Problems) {
	if objs == nil {
		return nil, nil
	}
	var probs Problems
	fail := func(s *k8s.Service, path, format string, args ...any) {
		probs = append(probs, k8sProblem(s.Errorf(path, format, args...)))
	}
	for _, e := range objs.Endpoints {
		if e.Namespace == "default" && e.Service == "kubernetes" {
			probs = append(probs, k8sProblem(e.Errorf("", "the endpoints of the Service default/kubernetes are the API server's: it keeps them pointing at itself (netsim's modelled API server); remove this object")))
		}
	}
	if len(objs.Services) == 0 {
		return nil, probs
	}
	ips := newIPAllocator(serviceCIDR, seed)
	ports := newPortAllocator(NodePortMin, NodePortMax, seed)

	var svcs []*k8s.Service
	var out []*kubeproxy.Service
	for _, s := range objs.Services {
		if s.Namespace == "default" && s.Name == "kubernetes" {
			fail(s, "metadata.name", "the Service default/kubernetes is the API server's own: every cluster has it (ClusterIP %s, https 443/TCP → the API server at 6443) and the API server keeps it as it is; give this Service another name", serviceCIDR.Masked().Addr().Next())
			continue
		}
		if s.Type == k8s.TypeExternalName {
			continue
		}
		svcs = append(svcs, s)
		ks := &kubeproxy.Service{
			Namespace: s.Namespace, Name: s.Name, Type: s.Type,
			ExternalTrafficPolicy: s.ExternalTrafficPolicy, InternalTrafficPolicy: s.InternalTrafficPolicy,
			SessionAffinity: s.SessionAffinity, AffinitySeconds: s.AffinitySeconds,
			SourceRanges: slices.Clone(s.LoadBalancerSourceRanges), ExternalIPs: slices.Clone(s.ExternalIPs),
			Endpoints: map[string][]kubeproxy.Endpoint{},
		}
		for _, p := range s.Ports {
			ks.Ports = append(ks.Ports, kubeproxy.ServicePort{Name: p.Name, Protocol: kubeproxy.Protocol(p.Protocol), Port: p.Port})
		}
		out = append(out, ks)
	}

	// Requested addresses and ports first.
	for i, s := range svcs {
		ks := out[i]
		if s.ClusterIP.IsValid() {
			if msg := ips.allocate(s.ClusterIP, s.Ref()); msg != "" {
				fail(s, "spec.clusterIP", "%s", msg)
			} else {
				ks.ClusterIP = s.ClusterIP
			}
		}
		for j, p := range s.Ports {
			if p.NodePort == 0 {
				continue
			}
			if msg := ports.allocate(p.NodePort, s.Ref(), fmt.Sprintf("spec.ports[%d]", j)); msg != "" {
				fail(s, fmt.Sprintf("spec.ports[%d].nodePort", j), "%s", msg)
			} else {
				ks.Ports[j].NodePort = p.NodePort
			}
		}
		if s.HealthCheckNodePort != 0 {
			if msg := ports.allocate(s.HealthCheckNodePort, s.Ref(), "spec.healthCheckNodePort"); msg != "" {
				fail(s, "spec.healthCheckNodePort", "%s", msg)
			} else {
				ks.HealthCheckNodePort = s.HealthCheckNodePort
			}
		}
	}
	// Then the random picks, Service by Service in declaration order:
	// ClusterIP, node ports in port order, health check node port.
	for i, s := range svcs {
		ks := out[i]
		if !s.Headless && !s.ClusterIP.IsValid() {
			a, ok := ips.allocateNext(s.Ref())
			if !ok {
				fail(s, "spec.clusterIP", "no free address left in the service CIDR %s", serviceCIDR)
			}
			ks.ClusterIP = a
		}
		if s.HasNodePorts() {
			for j, p := range s.Ports {
				if p.NodePort != 0 {
					continue
				}
				// Both protocols of a port of one Service share a node port.
				if np := sameServiceNodePort(s, ks, j); np != 0 {
					ks.Ports[j].NodePort = np
					continue
				}
				np, ok := ports.allocateNext(s.Ref())
				if !ok {
					fail(s, fmt.Sprintf("spec.ports[%d].nodePort", j), "no free node port left in %d-%d", NodePortMin, NodePortMax)
				}
				ks.Ports[j].NodePort = np
			}
		}
		if s.NeedsHealthCheck() && s.HealthCheckNodePort == 0 {
			np, ok := ports.allocateNext(s.Ref())
			if !ok {
				fail(s, "spec.healthCheckNodePort", "no free node port left in %d-%d", NodePortMin, NodePortMax)
			}
			ks.HealthCheckNodePort = np
		}
	}

	for i, s := range svcs {
		if s.Selector != nil {
			selectorEndpoints(s, out[i], pods)
		} else {
			explicitEndpoints(s, out[i], objs.Endpoints)
		}
	}
	return out, probs
}

// sameServiceNodePort returns the node port already given to another
// port of the Service with the same number (TCP and UDP of one port), or 0.
func sameServiceNodePort(s *k8s.Service, ks *kubeproxy.Service, j int) int {
	for k := range j {
		if s.Ports[k].Port == s.Ports[j].Port && s.Ports[k].Protocol != s.Ports[j].Protocol && ks.Ports[k].NodePort != 0 {
			return ks.Ports[k].NodePort
		}
	}
	return 0
}

// selectorEndpoints derives the endpoints of a Service with a selector.
func selectorEndpoints(s *k8s.Service, ks *kubeproxy.Service, pods []PodAddr) {
	for _, pod := range pods {
		if pod.Namespace != s.Namespace || !pod.IP.IsValid() || !matches(s.Selector, pod.Labels) {
			continue
		}
		ready := pod.Ready || s.PublishNotReadyAddresses
		for _, p := range s.Ports {
			port, ok := targetPort(p, pod.Ports)
			if !ok {
				continue
			}
			ks.Endpoints[p.Name] = append(ks.Endpoints[p.Name], kubeproxy.Endpoint{
				IP: pod.IP, Port: port, NodeName: pod.Node, Ready: ready, Serving: ready,
			})
		}
	}
}

// targetPort resolves a Service port's targetPort for one pod, as
// podutil.FindPort does: a number is used as is; a name must be a
// container port of the pod with the Service port's protocol.
func targetPort(p k8s.ServicePort, ports []k8s.ContainerPort) (int, bool) {
	if p.TargetPort.Name == "" {
		return p.TargetPort.Number, true
	}
	for _, cp := range ports {
		if cp.Name == p.TargetPort.Name && cp.Protocol == p.Protocol {
			return cp.Port, true
		}
	}
	return 0, false
}

// matches reports whether a Service selector selects the labels (an
// empty, non-nil selector selects every pod of the namespace).
func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// explicitEndpoints takes a selector-less Service's endpoints from its
// EndpointSlices, or else from its Endpoints object.
func explicitEndpoints(s *k8s.Service, ks *kubeproxy.Service, all []*k8s.Endpoints) {
	var fromSlices, fromEndpoints []*k8s.Endpoints
	for _, e := range all {
		if e.Namespace != s.Namespace || e.Service != s.Name {
			continue
		}
		if e.Kind == "EndpointSlice" {
			fromSlices = append(fromSlices, e)
		} else {
			fromEndpoints = append(fromEndpoints, e)
		}
	}
	use := fromSlices
	if len(use) == 0 {
		use = fromEndpoints
	}
	for _, e := range use {
		for _, sub := range e.Subsets {
			for _, p := range s.Ports {
				for _, ep := range sub.Ports {
					if ep.Name != p.Name || ep.Protocol != p.Protocol || ep.Port == 0 {
						continue
					}
					for _, a := range sub.Addresses {
						ks.Endpoints[p.Name] = append(ks.Endpoints[p.Name], kubeproxy.Endpoint{
							IP: a.IP, Port: ep.Port, NodeName: a.NodeName,
							Ready: a.Ready, Serving: a.Serving, Terminating: a.Terminating,
						})
					}
				}
			}
		}
	}
}

// LoadBalancerAllocator gives a LoadBalancer Service handled by ACK's
// cloud controller manager its load balancer addresses
// (status.loadBalancer.ingress); the SLB model implements it, reading
// spec.ACK (address type, backend type, ...).
type LoadBalancerAllocator func(svc *kubeproxy.Service, spec *k8s.Service) ([]netip.Addr, error)

// AssignLoadBalancerIPs is the hook for the SLB model: it calls alloc for
// every LoadBalancer Service that ACK's CCM handles (spec.ACK.Kind set),
// in declaration order, and stores the addresses in LoadBalancerIPs.
// svcs is ResolveServices' result for objs. An error becomes a Problem at
// the Service.
func AssignLoadBalancerIPs(svcs []*kubeproxy.Service, objs *k8s.Objects, alloc LoadBalancerAllocator) Problems {
	var probs Problems
	for _, ks := range svcs {
		if ks.Type != kubeproxy.TypeLoadBalancer {
			continue
		}
		s := objs.Service(ks.Namespace, ks.Name)
		if s == nil || s.ACK.Kind == "" {
			continue
		}
		ips, err := alloc(ks, s)
		if err != nil {
			path, msg := fieldPath(err)
			probs = append(probs, k8sProblem(s.Errorf(path, "%s", msg)))
			continue
		}
		ks.LoadBalancerIPs = ips
	}
	return probs
}

// k8sProblem turns a manifest problem into a Problem: its file (the
// manifest, or the scenario for an inline object), position, field path,
// and the object named first in the message.
func k8sProblem(e k8s.Error) Problem {
	return Problem{File: e.File, Line: e.Line, Column: e.Column, Path: e.Path, Msg: e.Message()}
}

// rangeOffset is the API server's calculateRangeOffset: the size of the
// lower band of a range kept for requested values, min(max(lo, size/step), hi).
func rangeOffset(size, lo, hi, step int) int {
	if size <= lo {
		return 0
	}
	return min(max(lo, size/step), hi)
}

// bitmap is the API server's bitmap allocator with its random scan
// strategy with offset: random picks start at a random place in the
// upper band and wrap; when the upper band is full, the lower one.
type bitmap struct {
	max, offset int
	owner       map[int]string
	rng         *rand.Rand
}

func newBitmap(max, offset int, seed int64, what string) *bitmap {
	h := fnv.New64a()
	h.Write([]byte(what))
	return &bitmap{max: max, offset: offset, owner: map[int]string{}, rng: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

func (b *bitmap) next() (int, bool) {
	if upper := b.max - b.offset; upper > 0 {
		start := b.rng.IntN(upper)
		for i := range upper {
			if at := b.offset + (start+i)%upper; b.owner[at] == "" {
				return at, true
			}
		}
	}
	if b.offset > 0 {
		start := b.rng.IntN(b.offset)
		for i := range b.offset {
			if at := (start + i) % b.offset; b.owner[at] == "" {
				return at, true
			}
		}
	}
	return 0, false
}

// ipAllocator hands out ClusterIPs: bit i is network address + 1 + i.
type ipAllocator struct {
	cidr netip.Prefix
	bits *bitmap
}

const kubernetesService = "default/kubernetes"

func newIPAllocator(cidr netip.Prefix, seed int64) *ipAllocator {
	size := 1 << (32 - cidr.Bits())
	a := &ipAllocator{cidr: cidr, bits: newBitmap(max(size-2, 0), rangeOffset(size, 16, 256, 16), seed, "clusterip")}
	if a.bits.max > 0 {
		a.bits.owner[0] = kubernetesService // the first address: the API server's Service
	}
	return a
}

// allocate reserves a requested address; it returns what is wrong, or "".
func (a *ipAllocator) allocate(ip netip.Addr, owner string) string {
	if !a.cidr.Contains(ip) {
		return fmt.Sprintf("%s is not inside the service CIDR %s (cluster.serviceCIDR): leave clusterIP out to have one allocated, or pick a free address in the range", ip, a.cidr)
	}
	i := int(addrUint32(ip)-addrUint32(a.cidr.Addr())) - 1
	switch {
	case i < 0:
		return fmt.Sprintf("%s is the network address of the service CIDR %s: it cannot be a ClusterIP", ip, a.cidr)
	case i >= a.bits.max:
		return fmt.Sprintf("%s is the broadcast address of the service CIDR %s: it cannot be a ClusterIP", ip, a.cidr)
	case a.bits.owner[i] == kubernetesService:
		return fmt.Sprintf("%s is the first address of the service CIDR %s, the kubernetes Service's (the API server's ClusterIP)", ip, a.cidr)
	case a.bits.owner[i] != "":
		return fmt.Sprintf("%s is already the ClusterIP of Service %s", ip, a.bits.owner[i])
	}
	a.bits.owner[i] = owner
	return ""
}

func (a *ipAllocator) allocateNext(owner string) (netip.Addr, bool) {
	i, ok := a.bits.next()
	if !ok {
		return netip.Addr{}, false
	}
	a.bits.owner[i] = owner
	return addrAdd(a.cidr.Addr(), i+1), true
}

// portAllocator hands out node ports.
type portAllocator struct {
	base int
	bits *bitmap
	// where says which field holds each port, for messages.
	where map[int]string
}

func newPortAllocator(lo, hi int, seed int64) *portAllocator {
	size := hi - lo + 1
	return &portAllocator{base: lo, bits: newBitmap(size, rangeOffset(size, 16, 128, 32), seed, "nodeport"), where: map[int]string{}}
}

// allocate reserves a requested node port; it returns what is wrong, or
// "". A Service may use one port number for two protocols.
func (p *portAllocator) allocate(port int, owner, field string) string {
	i := port - p.base
	if i < 0 || i >= p.bits.max {
		return fmt.Sprintf("%d is out of range: a node port is %d to %d", port, p.base, p.base+p.bits.max-1)
	}
	switch o := p.bits.owner[i]; {
	case o == "":
	case o == owner && field != "spec.healthCheckNodePort" && p.where[i] != "spec.healthCheckNodePort":
		return ""
	case o == owner:
		return fmt.Sprintf("%d is already this Service's %s", port, p.where[i])
	default:
		return fmt.Sprintf("%d is already allocated to Service %s (%s): node ports are unique in the cluster", port, o, p.where[i])
	}
	p.bits.owner[i] = owner
	p.where[i] = field
	return ""
}

func (p *portAllocator) allocateNext(owner string) (int, bool) {
	i, ok := p.bits.next()
	if !ok {
		return 0, false
	}
	p.bits.owner[i] = owner
	p.where[i] = "allocated"
	return p.base + i, true
}

// PodAddrs lists the world's pods for ResolveServices: scenario pods
// (their ports:, ready) and manifest pods (their container ports and
// readiness), with their addresses.
func (w *World) PodAddrs() []PodAddr {
	if len(w.Pods) == 0 {
		return nil
	}
	out := make([]PodAddr, 0, len(w.Pods))
	for _, p := range w.Pods {
		pa := PodAddr{Namespace: p.Namespace, Name: p.Name, Labels: maps.Clone(p.Labels), IP: p.IP, Ready: true}
		if p.Node != nil {
			pa.Node = p.Node.Name
		}
		pa.Ports = w.podPorts(p)
		if w.Scenario != nil {
			if mp := w.Scenario.Objects.Pod(p.Namespace, p.Name); mp != nil {
				pa.Ready = mp.Ready
			}
		}
		out = append(out, pa)
	}
	return out
}

// ManifestPods returns the pods of the scenario's manifests and inline
// resources as scenario pods (name, namespace, node, labels, pinned
// address), for Build to wire after the scenario's own pods.
func (s *Scenario) ManifestPods() []Pod {
	if s.Objects == nil {
		return nil
	}
	var out []Pod
	for _, p := range s.Objects.Pods {
		pod := Pod{Name: p.Name, Namespace: p.Namespace, Node: p.Node, Labels: maps.Clone(p.Labels)}
		if p.IP.IsValid() {
			pod.IP = p.IP.String()
		}
		out = append(out, pod)
	}
	return out
}

// portList formats a Service's ports for messages: "80/TCP (http), 443/TCP (https)".
func portList(s *k8s.Service) string {
	var parts []string
	for _, p := range s.Ports {
		t := strconv.Itoa(p.Port) + "/" + p.Protocol
		if p.Name != "" {
			t += " (" + p.Name + ")"
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
