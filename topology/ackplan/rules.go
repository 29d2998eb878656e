package ackplan

import (
	"netsim/internal/prose"

	"fmt"
	"net/netip"
)

// The rule table, in the order the rules run: the VPC and its vSwitches
// first (a broken VPC CIDR silences every rule that compares with it),
// then the pod and Service CIDRs and the node CIDR mask, the VPC route
// table and the declared ranges, Terway's pod vSwitches, and the capacity
// rules last (a capacity error marks a CIDR invalid, which must not
// silence the overlap rules).
func init() {
	for _, group := range [][]Rule{vpcRules, clusterRules, routeRules, terwayRules, capacityRules} {
		Rules = append(Rules, group...)
	}
}

// RuleByID returns the rule with that ID, or nil.
func RuleByID(id string) *Rule {
	for i := range Rules {
		if Rules[i].ID == id {
			return &Rules[i]
		}
	}
	return nil
}

// Figures of Alibaba Cloud and ACK the rules use. Each says where it is
// written; the rule's Source quotes the words.
const (
	// CreateVpc / alicloud_vpc cidr_block: "The subnet mask must be 8 to
	// 28 bits in length" — https://help.aliyun.com/document_detail/2588228.html
	// (the console page https://www.alibabacloud.com/help/en/vpc/vpc-and-vswitch
	// recommends /16 to /28, but the API accepts /8; the API's range is taken).
	MinVPCMask = 8
	MaxVPCMask = 28
	// CreateVSwitch CidrBlock: "the subnet mask of a vSwitch must be /16 to
	// /29" — https://alibabacloud.com/help/ja/vpc/api-createvswitch
	MinVSwitchMask = 16
	MaxVSwitchMask = 29
	// MaxVSwitches: CreateVSwitch: "You can create at most 150 vSwitches in
	// a virtual private cloud (VPC)." —
	// https://www.alibabacloud.com/help/en/virtual-private-cloud/latest/createvswitch
	MaxVSwitches = 150
	// VSwitchReserved: CreateVSwitch: "The first IP address and last three
	// IP addresses of each vSwitch CIDR block are reserved." (same page).
	VSwitchReserved = 4
	// MinNodeMask, MaxNodeMask: ACK Flannel node_cidr_mask "24-28 is
	// allowed. 24 means 2^(32-24)-1=255 ..." — terraform
	// alicloud_cs_managed_kubernetes,
	// https://registry.terraform.io/providers/aliyun/alicloud/latest/docs/resources/cs_managed_kubernetes
	// (website/docs/r/cs_managed_kubernetes.html.markdown in
	// aliyun/terraform-provider-alicloud); the console offers 256..16 addresses.
	MinNodeMask = 24
	MaxNodeMask = 28
	// DefaultNodeMask is ACK's default node CIDR mask ("default: 24", same page).
	DefaultNodeMask = 24
	// MinCalicoBlock, MaxCalicoBlock: Calico IPPool blockSize, IPv4 "20
	// to 32 (inclusive)" — https://docs.tigera.io/calico/latest/reference/resources/ippool
	MinCalicoBlock = 20
	MaxCalicoBlock = 32
	// DefaultCalicoBlock is Calico's default IPv4 blockSize (same page: "26").
	DefaultCalicoBlock = 26
	// MinServiceMask, MaxServiceMask: ACK CreateCluster service_cidr:
	// "Valid values: 10.0.0.0/16-24, 172.16-31.0.0/16-24, and
	// 192.168.0.0/16-24." —
	// https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-createcluster
	MinServiceMask = 16
	MaxServiceMask = 24
	// DefaultRouteQuota, MaxRouteQuota: "VPC route table entries: By
	// default, 200 entries ... up to 1000 after applying" —
	// https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/comparison-between-terway-and-flannel;
	// "VPC默认情况下仅支持200条路由表项，如果集群节点数目多于200个，请到配额平台提交申请"
	// — https://help.aliyun.com/document_detail/447462.html
	DefaultRouteQuota = 200
	MaxRouteQuota     = 1000
	// Node limits of ACK Pro, same comparison page: Flannel 1,000 (the
	// route quota's maximum: "One node corresponds to one entry"),
	// Terway 5,000 by default and 15,000 on request; ACK Basic 10 nodes.
	FlannelMaxNodes       = 1000
	TerwayDefaultMaxNodes = 5000
	TerwayMaxNodes        = 15000
	BasicMaxNodes         = 10
	// DefaultPodSurgePercent is a Deployment's default maxSurge, 25% —
	// https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#max-surge
	DefaultPodSurgePercent = 25
)

// Source texts shared by several rules.
const (
	srcNetworkPlanning = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/kubernetes-cluster-network-planning"
	srcCreateCluster   = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-createcluster"
	srcCreateVSwitch   = "https://www.alibabacloud.com/help/en/virtual-private-cloud/latest/createvswitch"
	srcComparison      = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/comparison-between-terway-and-flannel"
	srcWorkWithFlannel = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/work-with-flannel"
	srcTerraformACK    = "https://registry.terraform.io/providers/aliyun/alicloud/latest/docs/resources/cs_managed_kubernetes"
	srcNodePods        = "https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/adjusting-the-number-of-node-pods"
)

// privateRanges are RFC 1918's blocks. ACK's pod CIDR must be "10.0.0.0/8,
// 172.16-31.0.0/12-16, 192.168.0.0/16, or their subnets" and its Service
// CIDR inside the same blocks (CreateCluster container_cidr /
// service_cidr); the ACK network planning page says the VPC CIDR is one
// of them ("Valid values: 10.0.0.0/8, 172.16.0.0/12, and 192.168.0.0/16").
// (A plain VPC also accepts other custom blocks; a VPC for ACK does not.)
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// CloudReserved is 100.64.0.0/10: the VPC's system route for cloud
// services; CreateRouteEntries: "The destination CIDR block of a custom
// route entry cannot be 100.64.0.0/10 or its subnets" —
// https://www.alibabacloud.com/help/ja/vpc/api-createrouteentries
var CloudReserved = netip.MustParsePrefix("100.64.0.0/10")

// InPrivateRange reports whether p lies inside one of RFC 1918's blocks.
func InPrivateRange(p netip.Prefix) bool {
	for _, r := range privateRanges {
		if Contains(r, p) {
			return true
		}
	}
	return false
}

// Contains reports whether inner lies entirely inside outer.
func Contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// Size is the number of addresses of an IPv4 prefix.
func Size(p netip.Prefix) int { return 1 << (32 - p.Bits()) }

// UsableVSwitchAddresses is the addresses of a vSwitch an ECS instance or
// ENI can take: its size minus the VSwitchReserved Alibaba keeps.
func UsableVSwitchAddresses(p netip.Prefix) int { return max(Size(p)-VSwitchReserved, 0) }

// ok reports whether b was written, parsed and broke no rule so far.
func (p *Plan) ok(b Block) bool { return b.Prefix.IsValid() && p.Valid(b.Path) }

// cidrOK reports whether vSwitch sw has a CIDR that parsed and broke no
// rule so far.
func (p *Plan) cidrOK(sw VSwitch) bool { return sw.CIDR.IsValid() && p.Valid(sw.Path+".cidr") }

// VSwitchByName returns the first vSwitch of that name, or nil.
func (p *Plan) VSwitchByName(name string) *VSwitch {
	for i := range p.VSwitches {
		if p.VSwitches[i].Name == name {
			return &p.VSwitches[i]
		}
	}
	return nil
}

// TotalNodes is the planned nodes of every pool.
func (p *Plan) TotalNodes() int {
	n := 0
	for _, pool := range p.Pools {
		n += pool.Nodes
	}
	return n
}

// FlannelAliVPC reports whether the plan is Flannel with ACK's VPC route
// backend (one route entry per node).
func (p *Plan) FlannelAliVPC() bool { return p.CNI.Mode == "flannel" && p.CNI.Backend == "alivpc" }

// edition is the plan's ACK edition ("pro" unless "basic").
func (p *Plan) edition() string {
	if p.Edition == "basic" {
		return "basic"
	}
	return "pro"
}

// thousands writes n with commas between groups of three digits: 1,000.
var thousands = prose.Thousands[int]

// plural is "1 node" or "3 nodes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// listOf formats "WHAT are: a, b, c" for messages, shortened when long.
var listOf = prose.ListOf

// poolWhat names a pool in messages: `node "node-2"` for a pool made of a
// scenario's nodes (its first node), `node pool "workers"` otherwise.
func (pool Pool) what() string {
	if pool.FirstNode != "" {
		return fmt.Sprintf("node %q", pool.FirstNode)
	}
	return fmt.Sprintf("node pool %q", pool.Name)
}
