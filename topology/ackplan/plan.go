// Package ackplan is netsim's ACK network planner: the one table of
// planning rules (VPC and vSwitch ranges, pod and Service CIDRs, node CIDR
// mask, VPC route quota, Terway pod vSwitches, declared on-premises and
// peered ranges), each named and sourced; the capacity a plan gives and
// the limit that binds first; the Flannel-vs-Terway comparison; and the
// suggester that proposes a valid plan.
//
// It imports nothing of netsim but package ack (instance types) and
// package hint (did-you-mean in messages). The
// scenario loader (package topology) turns a scenario, or a plan file,
// into a Plan, runs Check and turns each Finding into a located problem;
// `netsim validate` and `netsim plan` run the same rules that way.
package ackplan

import (
	"net/netip"

	"netsim/topology/ack"
)

// Plan is a cluster's network plan: what must be chosen before an ACK
// cluster exists. Every element carries the field path of the scenario
// (or plan file) it came from, so a finding can be located. Prefixes are
// already parsed and masked; an element whose text did not parse is left
// out by the loader (it reported the syntax error itself) and its path is
// listed in Invalid, so rules that depend on it stay silent.
type Plan struct {
	// VPC is the VPC's primary IPv4 CIDR ("vpc.cidr").
	VPC Block
	// RouteQuota is the custom route entry quota of the VPC's route table
	// (vpc.routeQuota, default 200). RouteQuotaSet says it was written.
	RouteQuota    int
	RouteQuotaSet bool
	// VSwitches are the VPC's vSwitches, in file order.
	VSwitches []VSwitch
	// Routes are the custom route entries written in the file (vpc.routes).
	Routes []Route
	// Ranges are declared address ranges outside the VPC that it reaches:
	// on-premises networks (VPN gateway, Express Connect) and peered
	// VPCs / CEN (plan.ranges).
	Ranges []Range

	// CNI is the CNI choice.
	CNI CNI
	// PodCIDR is cluster.podCIDR (Flannel's Network, Calico's pool; with
	// Terway only kube-proxy's --cluster-cidr, usually absent).
	PodCIDR Block
	// NodeMask is cluster.nodeCIDRMask (Flannel; Calico's block size is in
	// CNI.CalicoBlock). NodeMaskPath is its path.
	NodeMask     int
	NodeMaskPath string
	// ServiceCIDR is cluster.serviceCIDR.
	ServiceCIDR Block

	// Pools are the node pools at the planned size: from plan.nodePools,
	// or, without a plan block, one pool per (vSwitch, instance type) of
	// the scenario's nodes (Path then names the first such node).
	Pools []Pool
	// NodePools are the scenario's own nodes (one pool per vSwitch and
	// instance type) when a plan block gives the Pools: they are not
	// counted in the planned size, but ACK's join rule and Terway's zone
	// rule judge them, since they are built. Empty otherwise.
	NodePools []Pool
	// PodsPerNode is the pods a node must hold (plan.podsPerNode); 0 when
	// not stated (capacity is then reported without a requirement).
	PodsPerNode int
	// Services is the Services the cluster must hold (plan.services); 0
	// when not stated.
	Services int
	// PodSurgePercent is the extra pods a rolling update starts before it
	// stops old ones (plan.podSurgePercent; default 25, a Deployment's
	// default maxSurge). SurgeNodes is the extra nodes a node pool upgrade
	// adds (plan.surgeNodes, default 0).
	PodSurgePercent int
	SurgeNodes      int
	// Edition is the ACK edition: "pro" (ACK Pro, the default) or "basic".
	Edition string

	// Catalog is the instance types the plan may name (the built-in table
	// with the scenario's instanceTypes); rules use it to suggest a type
	// that fits. nil means the built-in table.
	Catalog *ack.Catalog

	// Invalid lists field paths whose values did not parse: rules that
	// need them do not run.
	Invalid []string
}

// Block is one CIDR in the plan and where it was written. A zero Prefix
// means the field was absent (or did not parse, see Plan.Invalid).
type Block struct {
	Prefix netip.Prefix
	Path   string
}

// VSwitch is one vSwitch.
type VSwitch struct {
	Name, Zone string
	CIDR       netip.Prefix
	// Path is the vSwitch's element path, e.g. "vpc.vswitches[2]"; its
	// fields are Path+".name", ".zone", ".cidr".
	Path string
}

// Route is one custom route entry.
type Route struct {
	Destination netip.Prefix
	NextHop     string
	Path        string // e.g. "vpc.routes[0]"
}

// Range kinds.
const (
	OnPremises = "on-premises" // reached over a VPN gateway or Express Connect
	PeeredVPC  = "peered-vpc"  // a VPC peering connection or CEN attachment
)

// Range is an address range outside the VPC that the VPC reaches.
type Range struct {
	Name string
	Kind string // OnPremises or PeeredVPC
	CIDR netip.Prefix
	Path string // e.g. "plan.ranges[0]"
}

// CNI is the CNI choice, as far as planning is concerned.
type CNI struct {
	// Mode is "flannel", "terway" or "calico".
	Mode string
	// Backend is flannel's backend: "vxlan", "host-gw", "udp" or "alivpc".
	Backend string
	// ENIMode is Terway's "shared" or "exclusive".
	ENIMode string
	// PodVSwitches are Terway's pod vSwitches per zone, by name, in order.
	PodVSwitches map[string][]string
	// PodVSwitchesPath is "cluster.cni.terway.podVSwitches".
	PodVSwitchesPath string
	// CalicoBlock is Calico's IPAM block size (default 26).
	CalicoBlock int
}

// Pool is a group of identical nodes in one vSwitch.
type Pool struct {
	Name    string
	VSwitch string
	Nodes   int
	// Type is the instance type's figures (the loader resolved its name
	// in the scenario's catalog).
	// Type is zero (Name "") when the name is not in the catalog (the
	// loader reported it); rules that need it skip the pool.
	Type ack.InstanceType
	Path string // e.g. "plan.nodePools[0]" or "nodes[0]"
	// TypePath is where the instance type is written (Path+".instanceType"),
	// or Path when it is not written and TypeDefault says the default
	// type (ack.DefaultInstanceType) applies.
	TypePath    string
	TypeDefault bool
	// FirstNode is the name of the pool's first node when the pool was
	// made from a scenario's nodes (no plan block); "" for a plan pool.
	FirstNode string
}

// Severity says how ACK treats a rule's violation.
type Severity string

// Severities.
const (
	// Error: ACK refuses the plan (CreateCluster, CreateVSwitch,
	// CreateRouteEntry fail) or the cluster it builds cannot work.
	Error Severity = "error"
	// Warning: ACK accepts it, but something will break or run out.
	Warning Severity = "warning"
)

// Rule is one planning rule.
type Rule struct {
	// ID names the rule, e.g. "vswitch-in-vpc"; stable, lowercase, for
	// scripts and for `netsim plan --rule`.
	ID string
	// Title says the rule in one line, e.g. "a vSwitch is inside the VPC CIDR".
	Title string
	// Source is where the rule comes from: a URL and the words quoted.
	Source string
	// Kinds are the severities Check may report, for `netsim plan
	// --rules`; nil when not stated (printed as "?").
	Kinds []Severity
	// Scope says which plans the rule concerns when Applies is set, e.g.
	// "Terway plans"; `netsim plan` prints "n/a (only for Terway plans)"
	// when it does not apply. "" when not stated.
	Scope string
	// Applies says whether the rule concerns the plan (e.g. a Terway rule
	// on a Flannel plan does not); nil means always.
	Applies func(p *Plan) bool
	// Check reports each violation through r.
	Check func(p *Plan, r *Reporter)
}

// Finding is one violation of a rule.
type Finding struct {
	Rule     *Rule
	Severity Severity
	// Path is the field path the finding is located at.
	Path string
	// Msg says what is wrong and how to fix it.
	Msg string
}

// Reporter collects the findings of one rule.
type Reporter struct {
	rule     *Rule
	findings []Finding
}

// Errorf reports a violation ACK refuses, located at path.
func (r *Reporter) Errorf(path, format string, args ...any) {
	r.add(Error, path, format, args...)
}

// Warnf reports a violation ACK accepts, located at path.
func (r *Reporter) Warnf(path, format string, args ...any) {
	r.add(Warning, path, format, args...)
}

// Result is the outcome of checking one plan: each rule, whether it
// applied, and its findings.
type Result struct {
	Rules []RuleResult
}

// RuleResult is one rule's outcome.
type RuleResult struct {
	Rule     *Rule
	Applied  bool
	Findings []Finding
}
