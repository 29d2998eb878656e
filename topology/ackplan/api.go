package ackplan

import (
	"errors"
	"io"
	"net/netip"

	"netsim/topology/ack"
)

// This file is the contract between the planner's parts: capacity
// (capacity.go), comparison and suggestion (compare.go, suggest.go). The
// bodies marked "filled by" are replaced by those files' authors.

// errNotBuilt is returned by parts not written yet.
var errNotBuilt = errors.New("not built yet")

// Capacity, ComputeCapacity and WriteCapacity are in capacity.go.

// Comparison is one workload planned as Flannel ali-vpc, Flannel VXLAN and
// Terway, side by side (JSON tags for -o json). Filled by compare.go.
type Comparison struct {
	// Fields defined by compare.go.
}

// Compare plans p's VPC and workload under each CNI. Filled by compare.go.
func Compare(p *Plan) (Comparison, error) { return Comparison{}, errNotBuilt }

// WriteComparison prints c as a table. Filled by compare.go.
func WriteComparison(w io.Writer, c Comparison) error { return errNotBuilt }

// Request is what `netsim plan --suggest` is asked for.
type Request struct {
	VPC         netip.Prefix
	Nodes       int
	PodsPerNode int
	// CNI is "flannel-alivpc", "flannel-vxlan", "terway" (shared ENI),
	// "terway-exclusive" or "calico".
	CNI string
	// Zones are the zones to spread nodes over; empty means one default zone.
	Zones []string
	// InstanceType is the nodes' type (ack.DefaultInstanceType when empty).
	InstanceType ack.InstanceType
	// Services is the Services to hold (0: ACK's example Service CIDR size).
	Services int
	// Ranges are on-premises / peered ranges the plan must avoid.
	Ranges []Range
}

// Suggestion is a proposed plan: the Plan (Check finds no error in it),
// each choice with why, and the scenario YAML `netsim validate` accepts.
// Filled by suggest.go.
type Suggestion struct {
	Plan    *Plan
	Choices []Choice
	YAML    []byte
}

// Choice is one decision of the suggester and the reason for it.
type Choice struct {
	What  string `json:"what"`
	Value string `json:"value"`
	Why   string `json:"why"`
}

// NoPlanError says no valid plan exists for a Request, and which
// requirement to relax.
type NoPlanError struct {
	// Requirement is the request field that cannot be met, e.g. "--nodes".
	Requirement string
	// Why explains the arithmetic; Relax says what would work.
	Why, Relax string
}

func (e *NoPlanError) Error() string {
	return "no valid plan: " + e.Why + "; " + e.Relax
}

// Suggest proposes a plan for req. Filled by suggest.go.
func Suggest(req Request) (*Suggestion, error) { return nil, errNotBuilt }
