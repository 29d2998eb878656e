package topology

import (
	"netsim/topology/ackplan"
)

// PlanSpec is a scenario's plan: block, the cluster at its planned size
// for `netsim plan` (and the planning rules `netsim validate` runs). A
// file with a plan: block may leave out nodes, pods and flows: it is then
// a plan file, which `netsim plan` checks and `netsim validate` checks
// without building a world.
type PlanSpec struct {
	// NodePools are the cluster's node pools at the planned size.
	NodePools []NodePool `yaml:"nodePools"`
	// PodsPerNode is the pods each node must run (the workload).
	PodsPerNode int `yaml:"podsPerNode"`
	// Services is the Services the cluster must hold.
	Services int `yaml:"services"`
	// PodSurgePercent is the rolling-update headroom for pods, percent
	// (default 25: a Deployment's default maxSurge).
	PodSurgePercent *int `yaml:"podSurgePercent"`
	// SurgeNodes is the extra nodes a node pool upgrade adds (default 0).
	SurgeNodes int `yaml:"surgeNodes"`
	// Edition is "pro" (ACK Pro, the default) or "basic".
	Edition string `yaml:"edition"`
	// Ranges are on-premises networks and peered VPCs the VPC reaches.
	Ranges []PlanRange `yaml:"ranges"`
}

// NodePool is a group of identical nodes in one vSwitch.
type NodePool struct {
	Name    string `yaml:"name"`
	VSwitch string `yaml:"vswitch"`
	// Nodes is how many nodes the pool has at the planned size.
	Nodes int `yaml:"nodes"`
	// InstanceType is the nodes' ECS type (default ack.DefaultInstanceType).
	InstanceType string `yaml:"instanceType"`
}

// PlanRange is an address range outside the VPC that it reaches.
type PlanRange struct {
	Name string `yaml:"name"`
	// Kind is "on-premises" (VPN gateway, Express Connect) or "peered-vpc"
	// (VPC peering, CEN).
	Kind string `yaml:"kind"`
	CIDR string `yaml:"cidr"`
}

// PlanCheck is a scenario or plan file checked against the planning rule
// table (package ackplan): the plan, each rule's outcome, and each finding
// located in the file.
type PlanCheck struct {
	Scenario *Scenario
	Plan     *ackplan.Plan
	Result   ackplan.Result
	// Findings are Result's findings in rule order, each with its
	// location (Problem.Msg is the finding's message).
	Findings []LocatedFinding
}

// LocatedFinding is a rule finding and where it is in the file.
type LocatedFinding struct {
	ackplan.Finding
	At Problem
}
