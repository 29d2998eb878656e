package topology

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/kubeproxy"
	"netsim/dataplane/vpc"
	"netsim/topology/k8s"
)

// The kubernetes Service and the API server behind it.
//
// Every cluster has the Service default/kubernetes: the API server's
// bootstrap controller creates it with the first address of the service
// CIDR, one port "https" 443/TCP to targetPort 6443, no selector, and
// keeps its Endpoints (and the EndpointSlice "kubernetes") pointing at the
// API server's advertised address and secure port.
//
// On an ACK managed cluster the control plane runs in Alibaba's own VPC;
// the cluster reaches it through an internal-facing CLB created with the
// cluster in a vSwitch of the cluster's VPC (the "API server internal
// endpoint", listener TCP 6443), and `kubectl get ep kubernetes` shows that
// CLB's intranet address, port 6443. netsim models this as:
//
//   - an ECS-like host "kube-apiserver" in the first node's vSwitch that
//     listens on TCP 6443 (the API server itself; in ACK it is hidden in
//     the managed VPC, here it needs an address to be reachable);
//   - with the vpc underlay, an intranet SLB "kube-apiserver" in the same
//     vSwitch with a TCP 6443 listener whose one backend is that host at
//     6443; the Endpoints address is the SLB's;
//   - with the l2 underlay (on premises, kubeadm-like), no SLB: the
//     Endpoints address is the host's own (the --advertise-address).
//
// Both addresses are the lowest free ones of the vSwitch after the
// scenario's nodes and instances, so adding them moves no host address
// (the vSwitch is the first node's, or the next node vSwitch with room).
const (
	// APIServerName names the modelled API server host and its SLB.
	APIServerName = "kube-apiserver"
	// APIServerPort is kube-apiserver's --secure-port (ACK: 6443).
	APIServerPort = 6443
	// KubernetesServicePort is the kubernetes Service's port (443/TCP, "https").
	KubernetesServicePort = 443
	// KubernetesPortName is the kubernetes Service port's name.
	KubernetesPortName = "https"
)

// APIServer is the modelled API server: the host that answers on 6443,
// the SLB in front of it (vpc underlay), and the endpoint address the
// kubernetes Service's Endpoints carry.
type APIServer struct {
	Host *Host
	// SLB is the internal-facing CLB (nil with the l2 underlay).
	SLB *vpc.SLB
	// Endpoint is the address of the kubernetes Endpoints (the SLB's, or
	// the host's) and port 6443.
	Endpoint netip.AddrPort
}

// String describes the API server for `validate`.
func (a *APIServer) String() string {
	s := fmt.Sprintf("apiserver %s %s (modelled) vSwitch %s, listens on tcp/%d", a.Host.Name, a.Host.IP, a.Host.VSwitch, APIServerPort)
	if a.SLB != nil {
		s += fmt.Sprintf("; endpoint %s: intranet SLB %s (API server internal endpoint)", a.Endpoint, a.SLB.ID)
	} else {
		s += fmt.Sprintf("; endpoint %s", a.Endpoint)
	}
	return s
}

// apiServer creates the modelled API server in the first node's vSwitch.
func (b *builder) apiServer() {
	s, w := b.s, b.w
	if len(s.Nodes) == 0 {
		return
	}
	for i, n := range s.Nodes {
		if n.Name == APIServerName {
			b.fail(fmt.Sprintf("nodes[%d].name", i), "%q is the name of netsim's modelled API server host: choose another name", APIServerName)
			return
		}
	}
	for i, n := range s.Instances {
		if n.Name == APIServerName {
			b.fail(fmt.Sprintf("instances[%d].name", i), "%q is the name of netsim's modelled API server host: choose another name", APIServerName)
			return
		}
	}
	// The first node vSwitch (in node order) with room for the host and,
	// on a VPC, its SLB.
	need := 1
	if w.VPC != nil {
		need = 2
	}
	vsw := ""
	for _, n := range s.Nodes {
		if b.free(b.cidr[n.VSwitch]) >= need {
			vsw = n.VSwitch
			break
		}
	}
	if vsw == "" {
		b.fail("nodes[0].vswitch", "no node vSwitch has %d free addresses left for the API server (netsim's modelled kube-apiserver and its intranet SLB): make a node's vSwitch larger", need)
		return
	}
	h := b.host("nodes[0]", APIServerName, vsw, "", nil)
	if h == nil {
		return
	}
	h.Stack.ListenTCP(APIServerPort, true)
	a := &APIServer{Host: h, Endpoint: netip.AddrPortFrom(h.IP, APIServerPort)}
	w.APIServer = a
	if w.VPC == nil {
		return
	}
	cidr := b.cidr[h.VSwitch]
	addr := b.allocate(cidr)
	if !addr.IsValid() {
		b.fail("nodes[0].vswitch", "no free address left in vSwitch %s (%s) for the API server's intranet SLB", h.VSwitch, cidr)
		return
	}
	b.used.add(addr)
	lb := vpc.NewSLB(APIServerName, addr, "intranet")
	lb.Service = "the API server (ACK's internal endpoint, default/kubernetes)"
	lb.AddListener(&vpc.Listener{Proto: "TCP", Port: APIServerPort, BackendType: "ecs",
		Backends: []*vpc.Backend{{Name: h.Name, Addr: h.IP, Port: APIServerPort, Weight: 100}}})
	if err := w.VPC.AddSLB(lb); err != nil {
		b.fail("nodes[0].vswitch", "API server SLB: %v", err)
		return
	}
	a.SLB = lb
	a.Endpoint = netip.AddrPortFrom(addr, APIServerPort)
	w.Notes = append(w.Notes, fmt.Sprintf("ACK control plane: %s", lb))
}

// free counts the assignable addresses of a vSwitch that are not used yet.
func (b *builder) free(cidr netip.Prefix) int {
	n := 0
	for i := 1; i < 1<<(32-cidr.Bits())-3; i++ {
		if !b.used.has(cniNth(cidr, i)) {
			n++
		}
	}
	return n
}

// KubernetesService is the Service default/kubernetes as the API server's
// bootstrap controller keeps it: the first address of serviceCIDR, port
// https 443/TCP, no selector, one ready endpoint at the API server's
// endpoint (invalid endpoint: none).
func KubernetesService(serviceCIDR netip.Prefix, endpoint netip.AddrPort) *kubeproxy.Service {
	s := &kubeproxy.Service{
		Namespace: "default", Name: "kubernetes", Type: kubeproxy.TypeClusterIP,
		ClusterIP:             serviceCIDR.Masked().Addr().Next(),
		Ports:                 []kubeproxy.ServicePort{{Name: KubernetesPortName, Protocol: "TCP", Port: KubernetesServicePort}},
		InternalTrafficPolicy: "Cluster", SessionAffinity: "None",
		Endpoints: map[string][]kubeproxy.Endpoint{},
	}
	if endpoint.IsValid() {
		s.Endpoints[KubernetesPortName] = []kubeproxy.Endpoint{{IP: endpoint.Addr(), Port: int(endpoint.Port()), Ready: true, Serving: true}}
	}
	return s
}

// kubernetesServiceSpec is the kubernetes Service as the API server
// writes it (for validating flows before Build): type ClusterIP, no
// selector, port https 443/TCP to targetPort 6443.
func kubernetesServiceSpec() *k8s.Service {
	return &k8s.Service{
		Meta: k8s.Meta{Kind: "Service", Namespace: "default", Name: "kubernetes",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Type: k8s.TypeClusterIP,
		Ports: []k8s.ServicePort{{Name: KubernetesPortName, Protocol: "TCP", Port: KubernetesServicePort,
			TargetPort: k8s.TargetPort{Number: APIServerPort}}},
		SessionAffinity: "None", InternalTrafficPolicy: "Cluster",
		IPFamilies: []string{"IPv4"}, IPFamilyPolicy: "SingleStack",
	}
}

// service returns the manifests' Service ns/name, or the kubernetes
// Service (every cluster with a node has it), or nil.
func (v *validator) service(ns, name string) *k8s.Service {
	if s := v.s.Objects.Service(ns, name); s != nil {
		return s
	}
	if ns == "default" && name == "kubernetes" && len(v.s.Nodes) > 0 {
		return kubernetesServiceSpec()
	}
	return nil
}
