package ackplan

import (
	"errors"
	"io"
)

// This file is the contract between the planner's parts: capacity
// (capacity.go), comparison and suggestion (compare.go, suggest.go). The
// bodies marked "filled by" are replaced by those files' authors.

// errNotBuilt is returned by parts not written yet.
var errNotBuilt = errors.New("not built yet")

// Capacity is what a plan gives: pods per node and where the figure comes
// from, the most nodes and the limit that binds first, the Services the
// Service CIDR holds, the addresses each vSwitch and zone has left with the
// rolling-upgrade headroom, and the VPC route entries used. Fields carry
// JSON tags: `netsim plan -o json` prints it. Filled by capacity.go.
type Capacity struct {
	// Fields defined by capacity.go.
}

// ComputeCapacity works out p's capacity. Filled by capacity.go.
func ComputeCapacity(p *Plan) Capacity { return Capacity{} }

// WriteCapacity prints c as tables for people. Filled by capacity.go.
func WriteCapacity(w io.Writer, c Capacity) error { return errNotBuilt }
