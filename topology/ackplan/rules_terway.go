package ackplan

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"netsim/topology/hint"
)

// terwayPlan applies to a Terway plan whose pod vSwitches were given.
func terwayPlan(p *Plan) bool {
	return p.CNI.Mode == "terway" && p.CNI.PodVSwitchesPath != "" && p.Valid(p.CNI.PodVSwitchesPath)
}

// zones returns the zones of the pod vSwitch map, sorted.
func (p *Plan) podZones() []string {
	zones := make([]string, 0, len(p.CNI.PodVSwitches))
	for z := range p.CNI.PodVSwitches {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	return zones
}

// zoneOf is the zone of the vSwitch named name, "" if there is none.
func (p *Plan) zoneOf(name string) string {
	if sw := p.VSwitchByName(name); sw != nil {
		return sw.Zone
	}
	return ""
}

// zonePath is the path of a zone's pod vSwitch list.
func (p *Plan) zonePath(zone string) string { return p.CNI.PodVSwitchesPath + "." + zone }

var terwayRules = []Rule{
	{
		ID:    "terway-pod-vswitch-ref",
		Title: "a Terway pod vSwitch exists, is in the zone it is listed under, and is listed once",
		// Error: eni_conf names vSwitches by ID; terwayd uses only those of
		// the node's zone (cfg.VSwitches[zoneID]), so one listed under
		// another zone never gives an address.
		Source:  `terway daemon/config.go — the vSwitch list is per zone and only the node's zone is used (cfg.VSwitches[zoneID]); ACK: "Pod vSwitch must be in the node's zone" (ack-cni-facts §1.7, §5, increase-the-number-of-vswitches-in-a-cluster-that-uses-the-terway-plug-in)`,
		Kinds:   []Severity{Error},
		Scope:   "Terway plans",
		Applies: terwayPlan,
		Check: func(p *Plan, r *Reporter) {
			var names []string
			for _, sw := range p.VSwitches {
				names = append(names, sw.Name)
			}
			seen := map[string]string{}
			for _, z := range p.podZones() {
				zp := p.zonePath(z)
				if len(p.CNI.PodVSwitches[z]) == 0 {
					r.Errorf(zp, "zone %s lists no vSwitch", z)
				}
				for i, name := range p.CNI.PodVSwitches[z] {
					path := zp + "[" + strconv.Itoa(i) + "]"
					zone := p.zoneOf(name)
					switch {
					case zone == "":
						r.Errorf(path, "vSwitch %q does not exist (%s)%s", name, listOf("vSwitches", names), hint.DidYouMean(name, names))
					case zone != z:
						r.Errorf(path, "vSwitch %q is in zone %s, not %s: Terway only uses the pod vSwitches of a node's own zone", name, zone, z)
					case seen[name] != "":
						r.Errorf(path, "vSwitch %q is already listed at %s", name, seen[name])
					default:
						seen[name] = path
					}
				}
			}
		},
	},
	{
		ID:    "terway-pod-vswitch-zone",
		Title: "every zone that has Terway nodes has pod vSwitches",
		// Warning: terwayd does not fail such a zone, it falls back to the
		// instance's own vSwitch (the primary ENI's), so the pods there
		// share the node vSwitch's addresses with the nodes.
		Source:  `terway daemon/builder.go (AliyunContainerService/terway @89aadf8, lines 261-263): "if len(eniConfig.VSwitchOptions) == 0 { eniConfig.VSwitchOptions = []string{vswitchID} }" — with no pod vSwitch for the zone terwayd uses the instance's own vSwitch; ACK network planning (ack-cni-facts §5): if the zone has no pod vSwitch, "the vSwitch of the primary ENI is used"`,
		Kinds:   []Severity{Warning},
		Scope:   "Terway plans",
		Applies: terwayPlan,
		Check: func(p *Plan, r *Reporter) {
			// Once per node vSwitch (the vSwitch its pods fall back to),
			// at its first pool.
			seen := map[string]bool{}
			for _, pool := range p.joinPools() {
				z := p.zoneOf(pool.VSwitch)
				if z == "" || len(p.CNI.PodVSwitches[z]) > 0 || seen[pool.VSwitch] {
					continue
				}
				seen[pool.VSwitch] = true
				who := "node " + pool.FirstNode
				if pool.FirstNode == "" {
					who = "node pool " + pool.Name
				}
				r.Warnf(pool.Path+".vswitch", "%s is in zone %s, which has no pod vSwitch in %s: terwayd falls back to the node's own vSwitch %s, so the pods of zone %s take addresses of the node vSwitch, shared with the nodes (and running out together); add a pod vSwitch for %s under %s",
					who, z, p.CNI.PodVSwitchesPath, pool.VSwitch, z, z, p.CNI.PodVSwitchesPath)
			}
		},
	},
	{
		ID:    "terway-pod-vswitch-addresses",
		Title: "the pod vSwitches of a zone hold its planned pods with the rolling-update surge",
		// Warning: ACK accepts the plan; pods past the last free address
		// fail, and pod vSwitches can be added to a zone later.
		Source:  `ACK network planning (ack-cni-facts §5): "Size pod vSwitch CIDR blocks to accommodate all pods across nodes and zones, plus rolling-upgrade headroom."; terway pkg/vswitch/vswitch.go: a vSwitch with no address left is skipped ("no ip left"), ECS answers InvalidVSwitchId.IpNotEnough; ` + srcCreateVSwitch + ` — 4 addresses reserved per vSwitch; Terway pod vSwitches can be added later ("Terway uses VPC (vSwitch) addresses, expandable by adding vSwitches", §1.11)`,
		Kinds:   []Severity{Warning},
		Scope:   "Terway plans that state plan.podsPerNode",
		Applies: func(p *Plan) bool { return terwayPlan(p) && p.PodsPerNode > 0 },
		Check: func(p *Plan, r *Reporter) {
			for _, z := range p.terwayZones() {
				nodes := 0
				var own []string // the zone's node vSwitches, terwayd's fallback
				for _, pool := range p.Pools {
					if p.zoneOf(pool.VSwitch) == z {
						nodes += pool.Nodes
						if !slices.Contains(own, pool.VSwitch) {
							own = append(own, pool.VSwitch)
						}
					}
				}
				if nodes == 0 {
					continue
				}
				names, fallback := p.CNI.PodVSwitches[z], false
				if len(names) == 0 {
					names, fallback = own, true
				}
				pods := nodes * p.PodsPerNode
				need := pods + (pods*p.PodSurgePercent+99)/100
				free, counted := 0, []string{}
				for _, name := range names {
					sw := p.VSwitchByName(name)
					if sw == nil || sw.Zone != z || !p.cidrOK(*sw) || slices.Contains(counted, name) {
						continue
					}
					counted = append(counted, name)
					n := UsableVSwitchAddresses(sw.CIDR)
					for _, pool := range p.Pools {
						if pool.VSwitch == name {
							n -= pool.Nodes // the nodes' primary ENIs come off first
						}
					}
					free += max(n, 0)
				}
				if len(counted) == 0 || need <= free {
					continue
				}
				what := fmt.Sprintf("the pod vSwitches of zone %s (%s) have %s free addresses", z, strings.Join(counted, ", "), thousands(free))
				path := p.zonePath(z)
				if fallback {
					what = fmt.Sprintf("zone %s has no pod vSwitch, so its pods take addresses of its node vSwitches (%s): %s free after the nodes' own", z, strings.Join(counted, ", "), thousands(free))
					path = p.CNI.PodVSwitchesPath
				}
				r.Warnf(path, "%s, but %s × %s pods = %s pods need %s with the %d%% rolling-update surge: terwayd fails the pods past the last address (InvalidVSwitchId.IpNotEnough, \"no ip left\"); add a pod vSwitch in zone %s or use larger ones (%s more addresses)",
					what, plural(nodes, "node", "nodes"), thousands(p.PodsPerNode), thousands(pods), thousands(need), p.PodSurgePercent, z, thousands(need-free))
			}
		},
	},
}

// terwayZones are the zones of the pod vSwitch map and of the planned
// pools' vSwitches, sorted.
func (p *Plan) terwayZones() []string {
	zones := p.podZones()
	for _, pool := range p.Pools {
		if z := p.zoneOf(pool.VSwitch); z != "" && !slices.Contains(zones, z) {
			zones = append(zones, z)
		}
	}
	sort.Strings(zones)
	return zones
}

// what a declared range is, in messages: `on-premises network "idc"`.
func (rg Range) what() string {
	if rg.Kind == PeeredVPC {
		return fmt.Sprintf("peered VPC %q", rg.Name)
	}
	return fmt.Sprintf("on-premises network %q", rg.Name)
}
