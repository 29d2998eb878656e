package k8s

import (
	"net/netip"
	"strconv"

	"netsim/dataplane/netpol"
)

// Objects is everything decoded from a scenario's manifests, in the order
// the objects were declared (files in order, then inline resources).
// Defaults are applied and the objects validated.
type Objects struct {
	// Pods are the Pod objects and the pods of the Deployments' replicas,
	// in declaration order (a Deployment's pods where the Deployment is).
	Pods        []*Pod
	Deployments []*Deployment
	Services    []*Service
	// Endpoints are the explicit Endpoints and EndpointSlice objects.
	Endpoints       []*Endpoints
	NetworkPolicies []*NetworkPolicy
	Ingresses       []*Ingress
	// Namespaces are the Namespace objects, in declaration order.
	Namespaces []*Namespace
	// Warnings are located warnings about objects that are valid but
	// use something netsim does not model (an SLB annotation it accepts
	// and ignores).
	Warnings Errors
}

// Service returns the Service namespace/name, or nil.
func (o *Objects) Service(namespace, name string) *Service {
	if o == nil {
		return nil
	}
	for _, s := range o.Services {
		if s.Namespace == namespace && s.Name == name {
			return s
		}
	}
	return nil
}

// Pod returns the pod namespace/name, or nil.
func (o *Objects) Pod(namespace, name string) *Pod {
	if o == nil {
		return nil
	}
	for _, p := range o.Pods {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

// Meta is what every object has: kind, namespace, name, labels,
// annotations, and where it was declared.
type Meta struct {
	// Kind is the object's kind: "Pod", "Service", ...
	Kind      string
	Namespace string // defaulted to "default"
	Name      string
	Labels    map[string]string
	// Annotations are metadata.annotations as written.
	Annotations map[string]string
	// Source says where the object was declared.
	Source Source
}

// Ref is "namespace/name" ("name" for a cluster-scoped object).
func (m *Meta) Ref() string {
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// String is "Kind namespace/name", how messages name an object ("Kind
// name" for a cluster-scoped one).
func (m *Meta) String() string { return m.Kind + " " + m.Ref() }

// Errorf returns an Error about the field at path (a Kubernetes field path
// such as "spec.clusterIP") of this object, located in its file.
func (m *Meta) Errorf(path, format string, args ...any) Error {
	return m.Source.errorf(m.String(), path, format, args...)
}

// Pod is a pod: from a Pod object or a Deployment's replica.
type Pod struct {
	Meta
	// Owner is "Deployment namespace/name" for a Deployment's replica,
	// "" for a Pod object.
	Owner string
	// Node is spec.nodeName, or the node netsim placed the pod on
	// (round-robin over the scenario's nodes). "" when there was no node
	// to place it on.
	Node string
	// Placed reports that Node was chosen by netsim, not spec.nodeName.
	Placed     bool
	Containers []Container
	// IP is status.podIP when the manifest gives one (e.g. pasted from
	// `kubectl get pod -o yaml`); invalid otherwise (the CNI allocates it).
	IP netip.Addr
	// Ready is false when status.conditions has Ready=False; true otherwise.
	Ready bool
}

// Ports lists the ports of every container, in order.
func (p *Pod) Ports() []ContainerPort {
	var out []ContainerPort
	for _, c := range p.Containers {
		out = append(out, c.Ports...)
	}
	return out
}

// Container is one container of a pod: what matters to the network.
type Container struct {
	Name  string
	Image string
	Ports []ContainerPort
}

// ContainerPort is one entry of a container's ports.
type ContainerPort struct {
	// Name is the port name (an IANA_SVC_NAME) that a Service's targetPort
	// may refer to; "" when unnamed.
	Name string
	// Port is containerPort.
	Port int
	// Protocol is "TCP" (the default), "UDP" or "SCTP".
	Protocol string
	// HostPort is hostPort (0: none).
	HostPort int
}

// Deployment is an apps/v1 Deployment, already expanded into Pods.
type Deployment struct {
	Meta
	Replicas int
	// Selector is spec.selector written as a label selector string
	// ("app=web,tier in (a,b)").
	Selector string
	// TemplateLabels are spec.template.metadata.labels (without
	// pod-template-hash).
	TemplateLabels map[string]string
	// PodTemplateHash is the pod-template-hash label of the replicas.
	PodTemplateHash string
	// Pods are the names of the replicas, in order.
	Pods []string
}

// Service types.
const (
	TypeClusterIP    = "ClusterIP"
	TypeNodePort     = "NodePort"
	TypeLoadBalancer = "LoadBalancer"
	TypeExternalName = "ExternalName"
)

// Service is a v1 Service, defaults applied.
type Service struct {
	Meta
	// Type is ClusterIP (default), NodePort, LoadBalancer or ExternalName.
	Type string
	// ClusterIP is the requested address: invalid when the allocator picks
	// one (or for ExternalName). See Headless.
	ClusterIP netip.Addr
	// Headless is clusterIP: None.
	Headless bool
	// Selector is spec.selector; nil for a Service without a selector
	// (whose endpoints come from Endpoints or EndpointSlice objects).
	Selector map[string]string
	Ports    []ServicePort
	// SessionAffinity is None (default) or ClientIP; AffinitySeconds the
	// ClientIP timeout (default 10800, 0 for None).
	SessionAffinity string
	AffinitySeconds int
	// ExternalTrafficPolicy is Cluster (the default for NodePort,
	// LoadBalancer and Services with externalIPs) or Local; "" otherwise.
	ExternalTrafficPolicy string
	// InternalTrafficPolicy is Cluster (default) or Local; "" for ExternalName.
	InternalTrafficPolicy string
	// HealthCheckNodePort is spec.healthCheckNodePort as written (0: the
	// allocator picks one for LoadBalancer + Local).
	HealthCheckNodePort int
	// LoadBalancerIP is the deprecated spec.loadBalancerIP (invalid if unset).
	LoadBalancerIP netip.Addr
	// LoadBalancerSourceRanges is spec.loadBalancerSourceRanges, or the
	// service.beta.kubernetes.io/load-balancer-source-ranges annotation
	// when the field is empty (as kube-proxy and the API server read it).
	LoadBalancerSourceRanges []netip.Prefix
	// LoadBalancerClass is spec.loadBalancerClass ("" unset).
	LoadBalancerClass string
	// AllocateLoadBalancerNodePorts is true (the default) for a
	// LoadBalancer unless set false; false for other types.
	AllocateLoadBalancerNodePorts bool
	ExternalIPs                   []netip.Addr
	// ExternalName is the DNS name of an ExternalName Service.
	ExternalName             string
	PublishNotReadyAddresses bool
	// IPFamilies is ["IPv4"] and IPFamilyPolicy "SingleStack": netsim
	// models an IPv4 single-stack cluster.
	IPFamilies     []string
	IPFamilyPolicy string
	// ACK is what ACK's cloud controller manager reads from the
	// annotations (LoadBalancer Services).
	ACK ACKLoadBalancer
}

// NeedsHealthCheck reports a LoadBalancer with externalTrafficPolicy Local:
// kube-proxy serves a health check node port for it.
func (s *Service) NeedsHealthCheck() bool {
	return s.Type == TypeLoadBalancer && s.ExternalTrafficPolicy == "Local"
}

// HasNodePorts reports whether node ports are allocated for the Service's
// ports: NodePort, and LoadBalancer unless allocateLoadBalancerNodePorts
// is false.
func (s *Service) HasNodePorts() bool {
	return s.Type == TypeNodePort || (s.Type == TypeLoadBalancer && s.AllocateLoadBalancerNodePorts)
}

// Port returns the Service port with the given number and protocol, or nil.
func (s *Service) Port(port int, protocol string) *ServicePort {
	for i := range s.Ports {
		if s.Ports[i].Port == port && s.Ports[i].Protocol == protocol {
			return &s.Ports[i]
		}
	}
	return nil
}

// ServicePort is one entry of spec.ports.
type ServicePort struct {
	// Name is required (a DNS-1123 label) when the Service has more than one port.
	Name string
	// Protocol is TCP (default), UDP or SCTP.
	Protocol string
	Port     int
	// TargetPort is a number or a container port name; defaults to Port.
	TargetPort TargetPort
	// NodePort is the requested node port (0: allocated if the type has
	// node ports).
	NodePort    int
	AppProtocol string
}

// String is "NAME PORT/PROTO" or "PORT/PROTO".
func (p ServicePort) String() string {
	s := strconv.Itoa(p.Port) + "/" + p.Protocol
	if p.Name != "" {
		s = p.Name + " " + s
	}
	return s
}

// TargetPort is a Service port's targetPort: a number, or the name of a
// container port (resolved per pod).
type TargetPort struct {
	Number int
	Name   string
}

// String is the number or the name.
func (t TargetPort) String() string {
	if t.Name != "" {
		return t.Name
	}
	return strconv.Itoa(t.Number)
}

// Endpoints is an Endpoints or an EndpointSlice object: explicit
// endpoints, used for Services without a selector.
type Endpoints struct {
	Meta
	// Service is the Service the endpoints belong to: the Endpoints
	// object's name, or an EndpointSlice's kubernetes.io/service-name
	// label ("" when it has none).
	Service string
	// Subsets are the Endpoints subsets; an EndpointSlice has one.
	Subsets []EndpointSubset
}

// EndpointSubset is a set of addresses that all serve the same ports.
type EndpointSubset struct {
	Ports     []EndpointPort
	Addresses []EndpointAddress
}

// EndpointPort is one port of an endpoint subset.
type EndpointPort struct {
	// Name matches the Service port's name ("" for an unnamed port).
	Name     string
	Port     int
	Protocol string
}

// EndpointAddress is one endpoint address.
type EndpointAddress struct {
	IP       netip.Addr
	NodeName string
	// Ready, Serving and Terminating are the EndpointSlice conditions (an
	// Endpoints object's addresses are ready, its notReadyAddresses not).
	Ready, Serving, Terminating bool
	// TargetPod is "namespace/name" of a Pod targetRef, "" otherwise.
	TargetPod string
}

// NetworkPolicy is a networking.k8s.io/v1 NetworkPolicy: validated and
// converted (Policy) for the CNIs that enforce it.
type NetworkPolicy struct {
	Meta
	// Policy is the policy as the data plane sees it (defaults applied:
	// protocol TCP, policyTypes as the API server sets them); nil when the
	// object is invalid.
	Policy *netpol.Policy
	// PodSelector is spec.podSelector as a selector string ("" selects
	// every pod of the namespace).
	PodSelector string
	// PolicyTypes are Ingress and/or Egress (defaulted as the API server does).
	PolicyTypes []string
	// Summary is one line describing the rules.
	Summary string
	// Spec is the spec as JSON.
	Spec []byte
}

// Namespace is a v1 Namespace: its name and labels, with the
// kubernetes.io/metadata.name label the API server sets. Meta.Namespace
// is "" (a Namespace is cluster-scoped).
type Namespace struct {
	Meta
}

// Netpol returns the namespace as the data plane sees it.
func (n *Namespace) Netpol() netpol.Namespace {
	return netpol.Namespace{Name: n.Name, Labels: n.Labels}
}

// Ingress is a networking.k8s.io/v1 Ingress: validated and kept, not
// enforced yet.
type Ingress struct {
	Meta
	ClassName string
	// Backends lists "host/path → service:port" for every rule path, and
	// the default backend.
	Backends []string
	// Summary is one line describing the rules.
	Summary string
	// Spec is the spec as JSON.
	Spec []byte
}
