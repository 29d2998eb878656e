// Package ack holds ACK's planning rules that depend on the ECS instance
// type: how many pods a node can run under each Terway ENI mode, the
// figures of common instance types (instancetypes.go, each with its
// source), the join rule ("max pods greater than 11") and Flannel's
// pods-per-node from the node CIDR mask. It imports nothing of netsim:
// the scenario loader (package topology) resolves a node's instance type
// with it, and the Terway data path and the planner read the result.
package ack

import (
	"fmt"
	"slices"
	"strings"
)

// InstanceType is the network figures of one ECS instance type, named as
// ECS DescribeInstanceTypes returns them and as Terway reads them
// (terway pkg/aliyun/client/limit.go, GetInstanceType).
type InstanceType struct {
	// Name is the InstanceTypeId, e.g. "ecs.g7.xlarge".
	Name string
	// ENIs is EniQuantity: the ENIs the instance can have attached,
	// the primary ENI (eth0) included. Terway calls it Adapters.
	ENIs int
	// IPv4PerENI is EniPrivateIpAddressQuantity: the private IPv4
	// addresses one ENI can hold, its primary address included. Terway
	// calls it IPv4PerAdapter.
	IPv4PerENI int
	// TotalENIs is EniTotalQuantity: ENIs including trunk member ENIs
	// (Terway's TotalAdapters); 0 when no source gave it.
	TotalENIs int
	// TrunkSupported is EniTrunkSupported: the instance type can carry a
	// trunk ENI (Terway's Vlan datapath).
	TrunkSupported bool
	// Source says where the figures come from.
	Source string
	// Unverified lists the figures (by their DescribeInstanceTypes field
	// names, see the Field constants) that no public source confirmed:
	// they are plausible values, to be overridden in the scenario when
	// the real ones are known.
	Unverified []string
}

// The DescribeInstanceTypes field names, as listed in Unverified.
const (
	FieldENIs           = "EniQuantity"
	FieldIPv4PerENI     = "EniPrivateIpAddressQuantity"
	FieldTotalENIs      = "EniTotalQuantity"
	FieldTrunkSupported = "EniTrunkSupported"
)

// Verified reports whether the figure named field (a Field constant) was
// confirmed by the type's source.
func (t InstanceType) Verified(field string) bool { return !slices.Contains(t.Unverified, field) }

// SharedENIPods is the pod limit in Terway's shared ENI mode (ENI
// multi-IP, veth or ipvlan): (EniQuantity − 1) × EniPrivateIpAddressQuantity.
// The primary ENI carries the node and is not used for pods, and on each
// secondary ENI every address (its primary one included) can be a pod's.
// Terway: Limits.MultiIPPod in pkg/aliyun/client/limit.go; ACK's example:
// ecs.g7.4xlarge "supports 8 ENIs, and each ENI supports 30 private IP
// addresses", so (8 − 1) × 30 = 210 pods
// (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/adjusting-the-number-of-node-pods).
func (t InstanceType) SharedENIPods() int { return max(t.ENIs-1, 0) * max(t.IPv4PerENI, 0) }

// ExclusiveENIPods is the pod limit in Terway's exclusive ENI mode, one
// ENI per pod: EniQuantity − 1 (Limits.ExclusiveENIPod in terway
// pkg/aliyun/client/limit.go).
func (t InstanceType) ExclusiveENIPods() int { return max(t.ENIs-1, 0) }

// TrunkPods is the number of trunk member ENIs, so of trunk (PodNetworking)
// pods: EniTotalQuantity − EniQuantity, 0 when the type has no trunk
// support (Limits.TrunkPod, MemberAdapterLimit in terway
// pkg/aliyun/client/limit.go, GetInstanceType).
func (t InstanceType) TrunkPods() int {
	if !t.TrunkSupported {
		return 0
	}
	return max(t.TotalENIs-t.ENIs, 0)
}

// MaximumTrunkPods is Terway's upper bound for trunk member ENIs:
// EniTotalQuantity − 2 ("exclude eth0 eth1"), 0 without trunk support
// (Limits.MaximumTrunkPod, MaxMemberAdapterLimit in terway
// pkg/aliyun/client/limit.go).
func (t InstanceType) MaximumTrunkPods() int {
	if !t.TrunkSupported {
		return 0
	}
	return max(t.TotalENIs-2, 0)
}

// ENIMode is how Terway gives pods their addresses on a node.
type ENIMode string

// The ENI modes. Shared is the default: Terway v1.11 and later use shared
// ENI unless a node pool is configured for exclusive ENI (ACK "FAQ about
// container networks").
const (
	SharedENI    ENIMode = "shared"
	ExclusiveENI ENIMode = "exclusive"
)

// MaxPods is the pod limit of the mode on this instance type.
func (t InstanceType) MaxPods(m ENIMode) int {
	if m == ExclusiveENI {
		return t.ExclusiveENIPods()
	}
	return t.SharedENIPods()
}

// Formula writes out how MaxPods of the mode is computed for t, e.g.
// "(EniQuantity 4 − 1) × EniPrivateIpAddressQuantity 15 = 45".
func (t InstanceType) Formula(m ENIMode) string {
	if m == ExclusiveENI {
		return fmt.Sprintf("%s %d − 1 = %d", FieldENIs, t.ENIs, t.ExclusiveENIPods())
	}
	return fmt.Sprintf("(%s %d − 1) × %s %d = %d", FieldENIs, t.ENIs, FieldIPv4PerENI, t.IPv4PerENI, t.SharedENIPods())
}

// MinPods is ACK's join threshold in shared ENI mode: "A node can join a
// cluster only if the maximum number of pods per node is greater than 11"
// (a note to the shared ENI row of the table in
// https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/adjusting-the-number-of-node-pods).
const MinPods = 11

// MinExclusiveENIs is ACK's join threshold in exclusive ENI mode: "A
// worker node must have more than six ENIs to join the cluster" —
// https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/configure-a-node-pool-level-container-network
// (so at least 6 exclusive-ENI pods: the >11 pods rule would exclude
// every instance type of up to 12 ENIs, and it is not stated for this mode).
const MinExclusiveENIs = 6

// CanJoin reports whether a node of this type may join an ACK cluster
// whose Terway gives its pods addresses in mode m; when it may not, why
// says which rule refuses it, with the figures.
func (t InstanceType) CanJoin(m ENIMode) (ok bool, why string) {
	if m == ExclusiveENI {
		if t.ENIs > MinExclusiveENIs {
			return true, ""
		}
		return false, fmt.Sprintf("%s has %s %d: in exclusive ENI mode ACK requires more than %d ENIs",
			t.Name, FieldENIs, t.ENIs, MinExclusiveENIs)
	}
	if p := t.SharedENIPods(); p > MinPods {
		return true, ""
	}
	return false, fmt.Sprintf("%s allows %s pods in shared ENI mode: ACK requires a maximum number of pods per node greater than %d",
		t.Name, t.Formula(SharedENI), MinPods)
}

// FlannelPodsPerNode is ACK's pod limit of a Flannel node with a node pod
// CIDR of /mask: 2^(32−mask) − 1 — "24 means 2^(32-24)-1=255 and the node
// can run at most 255 pods" (terraform alicloud_cs_managed_kubernetes
// node_cidr_mask, website/docs/r/cs_managed_kubernetes.html.markdown in
// aliyun/terraform-provider-alicloud). ACK allows masks 24 to 28; the
// function answers for any mask 0..32 and 0 outside. (The addresses a
// host-local IPAM can hand out are fewer: the network address, cni0's
// .1 and the broadcast address are not pods'; ACK's figure is quoted.)
func FlannelPodsPerNode(mask int) int {
	if mask < 0 || mask > 32 {
		return 0
	}
	return 1<<(32-mask) - 1
}

// FlannelFormula writes out FlannelPodsPerNode, e.g. "2^(32−24) − 1 = 255".
func FlannelFormula(mask int) string {
	return fmt.Sprintf("2^(32−%d) − 1 = %d", mask, FlannelPodsPerNode(mask))
}

// Catalog is the instance types a scenario can name: the built-in table
// with the scenario's own entries added or overriding.
type Catalog struct {
	types map[string]InstanceType
}

// NewCatalog returns the built-in table plus extra; an extra entry with
// the name of a built-in type replaces it.
func NewCatalog(extra ...InstanceType) *Catalog {
	c := &Catalog{types: make(map[string]InstanceType, len(builtin)+len(extra))}
	for _, t := range builtin {
		c.types[t.Name] = t
	}
	for _, t := range extra {
		c.types[t.Name] = t
	}
	return c
}

// Lookup returns the named type. A nil catalog is the built-in table.
func (c *Catalog) Lookup(name string) (InstanceType, bool) {
	if c == nil {
		return Builtin(name)
	}
	t, ok := c.types[name]
	return t, ok
}

// Names returns the catalog's type names, sorted.
func (c *Catalog) Names() []string {
	if c == nil {
		return BuiltinNames()
	}
	names := make([]string, 0, len(c.types))
	for n := range c.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Builtin returns the built-in type of that name.
func Builtin(name string) (InstanceType, bool) {
	for _, t := range builtin {
		if t.Name == name {
			return t, true
		}
	}
	return InstanceType{}, false
}

// BuiltinNames returns the names of the built-in types, sorted.
func BuiltinNames() []string {
	names := make([]string, len(builtin))
	for i, t := range builtin {
		names[i] = t.Name
	}
	slices.Sort(names)
	return names
}

// UnverifiedText is "" when every figure of t is sourced, else e.g.
// "unverified: EniTotalQuantity, EniTrunkSupported".
func (t InstanceType) UnverifiedText() string {
	if len(t.Unverified) == 0 {
		return ""
	}
	return "unverified: " + strings.Join(t.Unverified, ", ")
}
