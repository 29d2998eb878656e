package ackplan

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"netsim/topology/ack"
)

// sgWidth is the width the YAML's comments are wrapped to.
const sgWidth = 100

// sgYAML writes one suggestion as a scenario file.
type sgYAML struct {
	s    *suggester
	b    bytes.Buffer
	done []bool // choices already written
}

// yaml writes the suggestion as a scenario `netsim validate` accepts and
// `netsim run` runs: the planned VPC, vSwitches and cluster ranges, a
// sample of two nodes with a pod each and a pod-to-pod flow, and the
// planned size in the plan: block. Every choice is a comment above the
// line it explains; the choices that concern the whole plan head the file.
func (s *suggester) yaml() []byte {
	w := &sgYAML{s: s, done: make([]bool, len(s.choices))}
	r := s.req
	w.comment(0, "Suggested by netsim plan --suggest "+s.flags()+".")
	w.comment(0, "The vpc and cluster sections and the plan: block are the plan at its planned size; nodes:, pods: and flows: are a small sample of it that netsim builds and runs (netsim run FILE).")
	w.comments(0, "")
	w.line(0, "name: %s", s.name())
	w.line(0, "description: %s", sgQuote(s.describe()))
	w.line(0, "seed: 1")
	if sgCustomType(r.InstanceType) {
		w.line(0, "instanceTypes:")
		w.line(1, "- {name: %s, eniQuantity: %d, eniPrivateIpAddressQuantity: %d}", r.InstanceType.Name, r.InstanceType.ENIs, r.InstanceType.IPv4PerENI)
	}
	w.line(0, "vpc:")
	w.line(1, "name: vpc-ack")
	w.comments(1, "vpc.cidr")
	w.line(1, "cidr: %s", r.VPC)
	w.line(1, "underlay: vpc")
	if s.routeQuota > 0 {
		w.comments(1, "vpc.routeQuota")
		w.line(1, "routeQuota: %d", s.routeQuota)
	}
	w.line(1, "vswitches:")
	for _, v := range s.vswitches() {
		w.comments(2, "vswitch:"+v.name)
		w.line(2, "- {name: %s, zone: %s, cidr: %s}", v.name, v.zone, v.cidr)
	}
	nodes := s.sampleNodes()
	w.comment(0, fmt.Sprintf("The sample: %d of the plan's %s.", len(nodes), sgPlural(r.Nodes, "node")))
	w.line(0, "nodes:")
	for i, z := range nodes {
		w.line(1, "- {name: node-%d, vswitch: %s, instanceType: %s}", i+1, z.nodeVSW[0].name, r.InstanceType.Name)
	}
	w.line(0, "cluster:")
	if s.podCIDR.IsValid() {
		w.comments(1, "cluster.podCIDR")
		w.line(1, "podCIDR: %s", s.podCIDR)
	}
	if s.flannel() {
		w.comments(1, "cluster.nodeCIDRMask")
		w.line(1, "nodeCIDRMask: %d", s.mask)
	}
	w.comments(1, "cluster.serviceCIDR")
	w.line(1, "serviceCIDR: %s", s.serviceCIDR)
	w.comments(1, "cluster.cni")
	w.line(1, "cni:")
	switch {
	case s.flannel():
		w.line(2, "mode: flannel")
		w.line(2, "flannel:")
		w.line(3, "backend: %s", strings.TrimPrefix(r.CNI, "flannel-"))
	case s.terway():
		w.line(2, "mode: terway")
		w.line(2, "terway:")
		w.line(3, "eniMode: %s", s.eniMode())
		w.line(3, "podVSwitches:")
		for _, z := range s.zones {
			var names []string
			for _, v := range z.podVSW {
				names = append(names, v.name)
			}
			w.line(4, "%s: [%s]", z.name, strings.Join(names, ", "))
		}
	default:
		w.line(2, "mode: calico")
		w.line(2, "calico:")
		w.line(3, "blockSize: %d", s.mask)
		w.line(3, "ipipMode: Always")
	}
	w.line(0, "pods:")
	for i := range 2 {
		w.line(1, "- {name: pod-%d, node: node-%d}", i+1, min(i, len(nodes)-1)+1)
	}
	w.line(0, "flows:")
	w.line(1, "- name: pod-to-pod")
	if len(nodes) > 1 {
		w.line(2, "description: %s", sgQuote("pod-1 on node-1 to pod-2 on node-2, across the plan's data path"))
	}
	w.line(2, "from: pod/pod-1")
	w.line(2, "to: pod/pod-2")
	w.line(2, "expect: delivered")
	w.comment(0, "The plan at its planned size: what netsim plan checks and sizes.")
	w.comments(0, "plan")
	w.line(0, "plan:")
	w.line(1, "nodePools:")
	for _, pl := range s.plan.Pools {
		w.line(2, "- {name: %s, vswitch: %s, nodes: %d, instanceType: %s}", pl.Name, pl.VSwitch, pl.Nodes, pl.Type.Name)
	}
	w.line(1, "podsPerNode: %d", r.PodsPerNode)
	if r.Services > 0 {
		w.line(1, "services: %d", r.Services)
	}
	w.line(1, "podSurgePercent: %d", DefaultPodSurgePercent)
	if len(r.Ranges) > 0 {
		w.line(1, "ranges:")
		for _, rg := range r.Ranges {
			w.line(2, "- {name: %s, kind: %s, cidr: %s}", sgQuote(rg.Name), rg.Kind, rg.CIDR)
		}
	}
	// Any choice not placed yet (none should be) goes at the end.
	for i, c := range s.choices {
		if !w.done[i] {
			w.comment(0, c.What+": "+c.Value+" — "+c.Why)
		}
	}
	return w.b.Bytes()
}

// sampleNodes is the zones of the sample's nodes: two nodes (in two zones
// when the plan has two), one when the plan has one.
func (s *suggester) sampleNodes() []sgZone {
	if s.req.Nodes == 1 {
		return s.zones[:1]
	}
	return []sgZone{s.zones[0], s.zones[min(1, len(s.zones)-1)]}
}

// flags writes the request as the command's flags.
func (s *suggester) flags() string {
	r := s.req
	f := fmt.Sprintf("--vpc %s --nodes %d --pods-per-node %d --cni %s", r.VPC, r.Nodes, r.PodsPerNode, r.CNI)
	if !(len(r.Zones) == 1 && r.Zones[0] == sgDefaultZone) {
		f += " --zones " + strings.Join(r.Zones, ",")
	}
	if r.InstanceType.Name != ack.DefaultInstanceType {
		f += " --instance-type " + r.InstanceType.Name
	}
	if r.Services > 0 {
		f += fmt.Sprintf(" --services %d", r.Services)
	}
	return f
}

// name is the scenario's name, e.g. "plan-terway-50-nodes".
func (s *suggester) name() string {
	return fmt.Sprintf("plan-%s-%d-nodes", s.req.CNI, s.req.Nodes)
}

// describe is the scenario's description.
func (s *suggester) describe() string {
	r := s.req
	cni := map[string]string{CNIFlannelAliVPC: "Flannel ali-vpc", CNIFlannelVXLAN: "Flannel VXLAN", CNITerway: "Terway shared ENI",
		CNITerwayExclusive: "Terway exclusive ENI", CNICalico: "Calico IPIP"}[r.CNI]
	zones := "1 zone"
	if len(s.zones) > 1 {
		zones = fmt.Sprintf("%d zones", len(s.zones))
	}
	return fmt.Sprintf("Suggested ACK plan: %s, %s × %s in %s of VPC %s; a sample of it to run.",
		cni, sgPlural(r.Nodes, "node"), sgPlural(r.PodsPerNode, "pod"), zones, r.VPC)
}

// comments writes the choices anchored at at, each once.
func (w *sgYAML) comments(indent int, at string) {
	for i, c := range w.s.choices {
		if w.done[i] || c.at != at {
			continue
		}
		w.done[i] = true
		if strings.HasPrefix(at, "vswitch:") {
			w.comment(indent, c.Why)
			continue
		}
		w.comment(indent, c.What+": "+c.Value+" — "+c.Why)
	}
}

// comment writes text as YAML comment lines wrapped to sgWidth.
func (w *sgYAML) comment(indent int, text string) {
	pad := strings.Repeat("  ", indent)
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len([]rune(pad+"# "+line+" "+word)) > sgWidth {
			w.b.WriteString(pad + "# " + line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		w.b.WriteString(pad + "# " + line + "\n")
	}
}

func (w *sgYAML) line(indent int, format string, args ...any) {
	w.b.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(&w.b, format, args...)
	w.b.WriteByte('\n')
}

// sgQuote is s as a YAML double-quoted scalar.
func sgQuote(s string) string { return strconv.Quote(s) }

// sgPlural is "1 node", "2 nodes", "1,000 nodes".
func sgPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return sgNum(n) + " " + what + "s"
}
