package topology

import (
	"fmt"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"netsim/topology/ack"
	"netsim/topology/k8s"
)

// The types in this file describe a scenario file as written. They are
// decoded strictly (unknown fields are errors) and hold no runtime state:
// Build resolves them — defaults, references, IPAM — into a running world.
// Field names follow the YAML keys; the README's "Scenario format" section
// documents every key.

// Scenario is one scenario file.
type Scenario struct {
	// Name identifies the scenario in traces and captures.
	Name string `yaml:"name"`
	// Description is free text shown by `netsim validate`.
	Description string `yaml:"description"`
	// Seed seeds every random choice (ports, ISNs, endpoint picks). Default 1.
	Seed int64 `yaml:"seed"`
	// VPC is the underlay network.
	VPC VPC `yaml:"vpc"`
	// Nodes are the ECS instances that are Kubernetes nodes.
	Nodes []Node `yaml:"nodes"`
	// Instances are ECS instances in the VPC that are not nodes.
	Instances []Instance `yaml:"instances"`
	// Cluster is the Kubernetes cluster's network configuration.
	Cluster Cluster `yaml:"cluster"`
	// Pods are the pods to create.
	Pods []Pod `yaml:"pods"`
	// Failures are injected after the cluster is built, before flows run.
	Failures []Failure `yaml:"failures"`
	// Flows are the traffic to send, in order.
	Flows []Flow `yaml:"flows"`
	// Manifests are Kubernetes manifest files (YAML, one or more
	// documents), relative to the scenario file's directory.
	Manifests []string `yaml:"manifests"`
	// Resources are Kubernetes objects written inline, decoded like the
	// documents of a manifest.
	Resources []Resource `yaml:"resources"`
	// Internet is a client outside the VPC, on the Internet.
	Internet *Internet `yaml:"internet"`
	// InstanceTypes add ECS instance types to the built-in table or
	// override its figures (see instancetype.go and package ack).
	InstanceTypes []InstanceTypeSpec `yaml:"instanceTypes"`
	// Plan is the cluster at its planned size (see plan_config.go).
	Plan *PlanSpec `yaml:"plan"`

	// File is the path the scenario was read from (set by the loader).
	File string `yaml:"-"`
	// Objects are the decoded manifests and resources (set by Validate):
	// pods (Deployments expanded and placed), Services, explicit
	// endpoints, network policies, ingresses.
	Objects *k8s.Objects `yaml:"-"`

	// pos maps a field path to its line and column in File.
	pos func(path string) (int, int)
	// src is the scenario file's text, for the positions of resources.
	src []byte
	// inputs are the manifest files read, as given to the decoder.
	inputs []string
	// opts are the options the scenario was loaded with.
	opts LoadOptions
	// catalog is the built-in instance types with InstanceTypes applied
	// (set by Validate; nil means the built-in table).
	catalog *ack.Catalog
	// plan is what the planning rules found at load (see plan_load.go).
	plan *planState
}

// Resource is one Kubernetes object written inline under resources:, kept
// as its YAML node and decoded strictly by the manifest decoder (package
// k8s), with positions in the scenario file.
type Resource struct {
	node *yaml.Node
}

// NewResource wraps a Kubernetes object's YAML node as a Resource, for
// scenarios built in code.
func NewResource(n *yaml.Node) Resource { return Resource{node: n} }

// UnmarshalYAML keeps the node; the manifest decoder checks it.
func (r *Resource) UnmarshalYAML(n *yaml.Node) error {
	r.node = n
	return nil
}

// Node returns the object's YAML node.
func (r Resource) Node() *yaml.Node { return r.node }

// Internet is a client outside the VPC, somewhere on the Internet: it
// reaches the cluster through Internet-facing load balancers.
type Internet struct {
	// Name names the client in traces. Default "internet".
	Name string `yaml:"name"`
	// IP is the client's public address (not a private or reserved
	// range). Default 203.0.113.10 (TEST-NET-3, RFC 5737).
	IP string `yaml:"ip"`
	// Ports are the ports a program on the client listens on (see ListenPort).
	Ports []ListenPort `yaml:"ports"`
}

// ListenPort is a port a program listens on (an echo server in the model):
// a scenario pod's, node's, instance's or the Internet client's. Nothing
// else answers: TCP to any other port gets a RST, UDP an ICMP port
// unreachable, as from Linux with no socket bound.
type ListenPort struct {
	// Port is the port number, 1 to 65535.
	Port int `yaml:"port"`
	// Protocol is "TCP" (the default), "UDP" or "SCTP" (lowercase
	// accepted; Validate stores it uppercase, as Kubernetes writes it).
	Protocol string `yaml:"protocol"`
	// Name names the port (an IANA service name, as a container port's
	// name): a Service selecting a scenario pod may use it as a named
	// targetPort.
	Name string `yaml:"name"`
}

// At returns a Problem located at the field path (e.g. "pods[2].node"),
// for errors found after loading (at Build time).
func (s *Scenario) At(path, format string, args ...any) Problem {
	p := Problem{File: s.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	if s.pos != nil {
		p.Line, p.Column = s.pos(path)
	}
	return p
}

// VPC describes the Alibaba Cloud VPC (or a plain L2 segment) under the cluster.
type VPC struct {
	Name string `yaml:"name"`
	// CIDR is the VPC's primary IPv4 CIDR block.
	CIDR string `yaml:"cidr"`
	// Underlay is "vpc" (Alibaba Cloud VPC vRouter, the default) or "l2"
	// (one Ethernet segment, as on premises).
	Underlay string `yaml:"underlay"`
	// MTU of every ECS primary NIC. Default 1500.
	MTU int `yaml:"mtu"`
	// Latency is the modelled one-way delay of one underlay crossing.
	// Default 50µs.
	Latency *time.Duration `yaml:"latency"`
	// RouteQuota is the custom route entry quota of the route table. Default 200.
	RouteQuota int `yaml:"routeQuota"`
	// VSwitches are the VPC's vSwitches (subnets). An l2 underlay has exactly one.
	VSwitches []VSwitch `yaml:"vswitches"`
	// Routes are custom route entries added to the VPC route table by hand,
	// after the failures (so an entry a failure deleted can be re-added).
	Routes []VPCRoute `yaml:"routes"`
	// NATGateways are Internet NAT gateways (see natgw.go); at most one.
	NATGateways []NATGateway `yaml:"natGateways"`
	// EIPs are elastic IP addresses associated with ECS instances.
	EIPs []EIP `yaml:"eips"`
}

// VSwitch is one vSwitch: a subnet in one zone.
type VSwitch struct {
	Name string `yaml:"name"`
	Zone string `yaml:"zone"`
	CIDR string `yaml:"cidr"`
}

// VPCRoute is a custom route entry in the VPC route table.
type VPCRoute struct {
	// Destination CIDR of the entry.
	Destination string `yaml:"destination"`
	// NextHop names the ECS instance (node or instance) that receives the traffic.
	NextHop string `yaml:"nextHop"`
}

// Node is an ECS instance that runs kubelet.
type Node struct {
	Name    string `yaml:"name"`
	VSwitch string `yaml:"vswitch"`
	// IP is the primary private address; allocated from the vSwitch if empty.
	IP string `yaml:"ip"`
	// PodCIDR is the node's pod subnet; allocated from the cluster pod CIDR if empty.
	PodCIDR string `yaml:"podCIDR"`
	// InstanceType is the ECS instance type, e.g. "ecs.g7.xlarge" (the
	// default, ack.DefaultInstanceType): with Terway it sets the node's
	// pod capacity.
	InstanceType string `yaml:"instanceType"`
	// Ports are the ports programs on the node listen on, besides the
	// daemons netsim models on every node (kubelet 10250/TCP, kube-proxy's
	// health check node ports).
	Ports []ListenPort `yaml:"ports"`
	// Sysctls are the host's IPv4 sysctls, as in /etc/sysctl.d: keys
	// net.ipv4.conf.{all,default,DEV}.{rp_filter,accept_local,route_localnet}.
	// conf.all and conf.default apply when the host boots, so every device
	// created afterwards (eth0, cni0, flannel.1, veths) starts from
	// conf.default and pods inherit both (devconf_inherit_init_net=0);
	// conf.DEV applies once the CNI has created its devices. Unset keys keep
	// the kernel's 0 (what ACK's ECS images set is not confirmed: see the README).
	Sysctls map[string]int `yaml:"sysctls"`
}

// Instance is an ECS instance in the VPC that is not a Kubernetes node.
type Instance struct {
	Name    string `yaml:"name"`
	VSwitch string `yaml:"vswitch"`
	IP      string `yaml:"ip"`
	// InstanceType is the ECS instance type, as for a node.
	InstanceType string `yaml:"instanceType"`
	// Ports are the ports programs on the instance listen on.
	Ports []ListenPort `yaml:"ports"`
	// Sysctls are as for a node.
	Sysctls map[string]int `yaml:"sysctls"`
}

// Cluster is the cluster-wide network configuration.
type Cluster struct {
	// PodCIDR is the cluster pod network (flannel's "Network").
	PodCIDR string `yaml:"podCIDR"`
	// NodeCIDRMask is the prefix length of each node's pod subnet. Default 24.
	NodeCIDRMask int `yaml:"nodeCIDRMask"`
	// ServiceCIDR is the Service ClusterIP range.
	ServiceCIDR string `yaml:"serviceCIDR"`
	// CNI selects and configures the CNI data path.
	CNI CNI `yaml:"cni"`
	// ProxyMode is kube-proxy's mode: "iptables" (default) or "ipvs".
	ProxyMode string `yaml:"proxyMode"`
	// IPVSScheduler is the IPVS scheduler in ipvs mode: "rr" (default),
	// "lc" or "sh".
	IPVSScheduler string `yaml:"ipvsScheduler"`
	// NodePortAddresses is kube-proxy's --nodeport-addresses: the CIDRs
	// whose node addresses answer NodePorts. Empty (the default): every
	// local address of the node except loopback and kube-ipvs0 (in iptables
	// mode "-m addrtype --dst-type LOCAL", 127.0.0.1 included).
	NodePortAddresses []string `yaml:"nodePortAddresses"`
}

// CNI names the CNI mode and holds the options of that mode.
type CNI struct {
	// Mode is a registered CNI mode name, e.g. "flannel".
	Mode string `yaml:"mode"`
	// Flannel holds flannel's options (mode "flannel").
	Flannel *Flannel `yaml:"flannel"`
	// Terway holds Terway's options (mode "terway", see terway_config.go).
	Terway *Terway `yaml:"terway"`
	// Calico holds Calico's options (mode "calico"; see calico.go).
	Calico *Calico `yaml:"calico"`
}

// Flannel is flannel's net-conf.json, in YAML.
type Flannel struct {
	// Backend is "vxlan" (default), "host-gw", "udp" or "alivpc" ("ali-vpc" accepted).
	Backend string `yaml:"backend"`
	// VNI of the VXLAN device. Default 1.
	VNI *int `yaml:"vni"`
	// Port is the VXLAN UDP destination port, default 8472 (Linux's
	// historic port), or the udp backend's port, default 8285.
	Port *int `yaml:"port"`
	// DirectRouting makes the vxlan backend route directly (like host-gw)
	// to peers on the same subnet.
	DirectRouting bool `yaml:"directRouting"`
	// IPMasq installs flannel's masquerade rules (flanneld --ip-masq). Default true.
	IPMasq *bool `yaml:"ipMasq"`
	// MTU overrides the pod/flannel MTU. Default: underlay MTU minus the
	// backend's overhead (50 for vxlan, 28 for udp, 0 otherwise).
	MTU int `yaml:"mtu"`
}

// Pod is one pod.
type Pod struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Node      string            `yaml:"node"`
	Labels    map[string]string `yaml:"labels"`
	// IP pins the pod address; allocated from the node's pod CIDR if empty.
	IP string `yaml:"ip"`
	// MTU overrides the MTU of the pod's eth0 and its host-side veth
	// (to model a misconfigured CNI).
	MTU int `yaml:"mtu"`
	// Ports are the ports the pod's containers listen on (its container
	// ports); named ones may be a Service's targetPort.
	Ports []ListenPort `yaml:"ports"`
}

// Failure is one injected fault.
type Failure struct {
	// Type is "delete-vpc-route" or "link-down".
	Type string `yaml:"type"`
	// Destination selects the VPC route entry to delete (delete-vpc-route).
	Destination string `yaml:"destination"`
	// Node selects the node (or instance) that owns the device (link-down),
	// or, for delete-vpc-route, the node whose pod CIDR entry is deleted.
	Node string `yaml:"node"`
	// Pod selects a pod instead of a node (link-down), "NAME" or "NS/NAME".
	Pod string `yaml:"pod"`
	// Device is the interface to set down (link-down), e.g. "eth0", "flannel.1".
	Device string `yaml:"device"`
}

// Flow is traffic to send and, optionally, what should happen to it.
type Flow struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// From and To are endpoints: "pod/NAME", "pod/NS/NAME", "node/NAME",
	// "ecs/NAME", "internet" (From only: the Internet client); To also
	// takes an IPv4 address, "svc/NAME" or "svc/NS/NAME" (the Service's
	// ClusterIP), "slb/NAME" or "slb/NS/NAME" (its load balancer address)
	// and "dns:NAME.NS.svc.cluster.local" (resolved at run time).
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Protocol is "icmp" (default), "udp", "tcp" or "sctp".
	Protocol string `yaml:"protocol"`
	// Port is the destination port (udp, tcp). Only a listener answers on
	// it (a container port, a ports: entry, a node daemon); any other port
	// is refused (RST) or unreachable (ICMP port unreachable).
	Port int `yaml:"port"`
	// Size is the payload size in bytes. Default 56 (ping's default).
	Size *int `yaml:"size"`
	// Count is how many requests (ICMP echoes, datagrams, connections). Default 1.
	Count int `yaml:"count"`
	// DF sets (true) or clears (false) Don't Fragment; absent, the Linux
	// default applies (DF set on packets that fit the route MTU, local
	// fragmentation of larger ones).
	DF *bool `yaml:"df"`
	// Expect is the expected outcome.
	Expect *Expect `yaml:"expect"`

	// Action, when set, makes this item an action applied between the
	// flows (delete-vpc-route, link-down, …) instead of traffic; its
	// fields are those of ActionSpec (see actions.go).
	Action     string `yaml:"action"`
	ActionSpec `yaml:",inline"`
}

// Expect is a flow's expected outcome. In YAML it is either a scalar
// ("delivered") or a mapping with verdict, reason and seenSource.
type Expect struct {
	// Verdict is "delivered" or "dropped".
	Verdict string `yaml:"verdict" json:"verdict"`
	// Reason is the drop reason code (dropped only), e.g. "vpc-no-route".
	Reason string `yaml:"reason" json:"reason,omitempty"`
	// SeenSource is the source address the destination must see (delivered only).
	SeenSource string `yaml:"seenSource" json:"seen_source,omitempty"`
}
