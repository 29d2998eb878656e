package main

import (
	"netsim/internal/prose"

	"fmt"
	"slices"

	"netsim/sim"
	"netsim/topology"
)

// maxMatrixProbes bounds a reachability matrix: rows × columns × ports ×
// protocols probes, each a TCP half-open probe (or a UDP/SCTP exchange)
// through the data plane. Memory decides it: every cell is kept for the
// report (about 150 bytes, and a denied cell its drop's detail, about 470
// bytes for a policy denial), and above 100,000 cells two worlds probe
// the shards. Measured (issue 12, calico ipip, 34 nodes × 30 pods, TCP 80,
// 1,040,400 probes, load average 1.6 on the 2-core machine): with a third
// of the pods isolated by a policy 12.4 s wall, 21 s CPU, 1.07 GB RSS;
// with every pod isolated (every cell a policy denial with its detail)
// 14.1 s and 1.44 GB under matrixMemoryLimit (1.95 GB without it).
// 1,100,000 lets a full matrix of up to 1,048 pods on one port and
// protocol run within 2 GiB; the default two ports of 1,000 pods (2
// million probes, 2.5–3 GB if every cell is a denial) are refused with the
// ways to narrow it.
const maxMatrixProbes = 1100000

// matrixMemoryLimit is the soft memory limit (runtime/debug.SetMemoryLimit)
// of `netsim matrix` unless GOMEMLIMIT sets one: the cells of a big matrix
// are most of the live heap, and without it the garbage collector lets the
// heap grow to twice the live data (1.95 GB RSS for the million policy
// denials above, 1.44 GB with it, in less CPU time).
const matrixMemoryLimit = 1400 << 20

// matrixSize checks the size of the matrix o asks of s before anything is
// built; a non-empty message is a usage error. The pods are the scenario's
// and the manifests' (pending ones included, as the matrix lists them).
func matrixSize(s *topology.Scenario, o sim.MatrixOptions) string {
	in := func(ns string) bool { return len(o.Namespaces) == 0 || slices.Contains(o.Namespaces, ns) }
	pods := 0
	for _, p := range s.Pods {
		if in(p.Namespace) {
			pods++
		}
	}
	services := 0
	if s.Objects != nil {
		for _, p := range s.Objects.Pods {
			if in(p.Namespace) {
				pods++
			}
		}
		services = len(s.Objects.Services) + 1 // and default/kubernetes
	}
	if o.Sample > 0 && o.Sample < pods {
		pods = o.Sample
	}
	extra := len(o.External)
	for _, svc := range o.Services {
		if svc == "all" {
			extra += services
		} else {
			extra++
		}
	}
	probes := pods * (pods + extra) * len(o.Ports) * len(o.Protocols)
	if probes <= maxMatrixProbes {
		return ""
	}
	return fmt.Sprintf("%s × %s × %s × %s are %s probes, more than netsim's limit of %s (about 15 s and 1.5 GB): narrow it with --namespaces, --port, --protocol or --sample",
		count(pods, "pod"), count(pods+extra, "column"), count(len(o.Ports), "port"), count(len(o.Protocols), "protocol"), thousandsInt(probes), thousandsInt(maxMatrixProbes))
}

// thousandsInt writes n with commas between groups of three digits.
var thousandsInt = prose.Thousands[int]

// count is "1 port", "2 ports".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return thousandsInt(n) + " " + what + "s"
}

// maxTracedExchanges bounds `run --trace-all`: every exchange of every
// flow traced hop by hop. netsim's time (memory stays flat: the report
// streams exchange by exchange): measured, 20,000 traced pings 27.5 s and
// 52 MB RSS with the text report, 7.8 s and 96 MB with -o json; 2,000
// pings 2 s. 5,000 keeps the text report under about 7 s.
const maxTracedExchanges = 5000

// traceAllSize checks what --trace-all would trace: the exchanges (count)
// of the flows that run (only --flow's when given); a non-empty message is
// a usage error.
func traceAllSize(s *topology.Scenario, flow string) string {
	total, biggest, name := 0, 0, ""
	for _, f := range s.Flows {
		if f.Action != "" || (flow != "" && f.Name != flow) {
			continue
		}
		total += f.Count
		if f.Count > biggest {
			biggest, name = f.Count, f.Name
		}
	}
	if total <= maxTracedExchanges {
		return ""
	}
	return fmt.Sprintf("--trace-all would trace %s exchanges (the most: flow %s, count %s), more than netsim's limit of %s traced exchanges (about 10 s): leave --trace-all out (the first exchange of each flow is traced), pick one flow with --flow, or lower count",
		thousandsInt(total), name, thousandsInt(biggest), thousandsInt(maxTracedExchanges))
}
