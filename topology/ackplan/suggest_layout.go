package ackplan

import (
	"fmt"
	"net/netip"
	"strings"
)

// The suggester's VPC layout: the nodes spread over the zones, a node
// vSwitch per zone and, with Terway, pod vSwitches, carved from the VPC
// largest first.

// layout spreads the nodes over the zones and carves the vSwitches from
// the VPC: sized for sgGrowth× the nodes when they fit, else for the
// nodes asked.
func (s *suggester) layout() error {
	n, zs := s.req.Nodes, s.req.Zones
	for i, z := range zs {
		s.zones = append(s.zones, sgZone{name: z, short: sgShortZone(z, zs), nodes: n/len(zs) + sgB2I(i < n%len(zs))})
	}
	var need []sgVSwitch
	for _, try := range []struct {
		growth int
		tight  bool
	}{{sgGrowth, false}, {1, false}, {1, true}} {
		g := try.growth
		s.growth, s.tight = g, try.tight
		s.target = n * g
		if s.nodeLimitMax > 0 {
			s.target = max(n, min(s.target, s.nodeLimitMax))
		}
		need = s.sizeVSwitches(try.tight)
		if len(need) > MaxVSwitches {
			return &NoPlanError{Requirement: "--nodes",
				Why:   fmt.Sprintf("the plan needs %d vSwitches; a VPC has at most %d by default", len(need), MaxVSwitches),
				Relax: "plan fewer nodes or pods per node, or fewer zones"}
		}
		want := make([]int, len(need))
		for i, v := range need {
			want[i] = v.bits
		}
		if got, ok := carve(s.req.VPC, nil, want); ok {
			for i := range need {
				need[i].cidr = got[i]
			}
			s.placeVSwitches(need)
			return nil
		}
	}
	// Not even the nodes asked fit: the smallest VPC that would.
	var total uint64
	var parts []string
	for _, v := range need {
		total += blkSizeOf(v.bits)
		parts = append(parts, fmt.Sprintf("%s /%d", v.name, v.bits))
	}
	m := blkBits(total)
	relax := "plan fewer nodes or pods per node"
	if m >= MinVPCMask {
		bigger := netip.PrefixFrom(s.req.VPC.Addr(), m).Masked()
		if !InPrivateRange(bigger) {
			bigger = netip.PrefixFrom(privateRanges[0].Addr(), m)
		}
		relax = fmt.Sprintf("use a VPC of /%d or larger (e.g. --vpc %s), or %s", m, bigger, relax)
	}
	return &NoPlanError{Requirement: "--vpc",
		Why: fmt.Sprintf("the VPC %s holds %s addresses, but the vSwitches for %s nodes need %s (%s)",
			s.req.VPC, sgNum64(blkLen(s.req.VPC)), sgNum(n), sgNum64(total), strings.Join(parts, ", ")),
		Relax: relax}
}

// sizeVSwitches lists the vSwitches for s.target nodes. Each need is one
// vSwitch, or several when it is above a /16; tight splits a need whose
// block would be mostly empty into two (a block and the rest), to fit a
// small VPC.
func (s *suggester) sizeVSwitches(tight bool) []sgVSwitch {
	var out []sgVSwitch
	add := func(z sgZone, kind, what string, need int) {
		parts := sgPieces(need, tight)
		for i, p := range parts {
			name := "vsw-" + kind + "-" + z.short
			if len(parts) > 1 {
				name += fmt.Sprintf("-%d", i+1)
			}
			out = append(out, sgVSwitch{name: name, zone: z.name, holds: p, what: what, bits: blkBits(uint64(p + VSwitchReserved)),
				part: i + 1, parts: len(parts), total: need})
		}
	}
	for _, z := range s.zones {
		nodes := sgCeil(z.nodes*s.target, s.req.Nodes)
		add(z, "node", "nodes", nodes)
		if s.terway() {
			add(z, "pod", "pod addresses", sgCeil(nodes*s.req.PodsPerNode*(100+DefaultPodSurgePercent), 100))
		}
	}
	return out
}

// sgPieces splits a need of n usable addresses over vSwitches: /16s (at
// most 65,532 usable each) and the rest in one block of /16–/29; tight
// splits that rest into the largest block it fills and a block for what
// remains, when that takes fewer addresses.
func sgPieces(n int, tight bool) []int {
	maxUsable := int(blkSizeOf(MinVSwitchMask)) - VSwitchReserved
	var out []int
	for n > maxUsable {
		out = append(out, maxUsable)
		n -= maxUsable
	}
	one := func(n int) uint64 { return blkSizeOf(min(MaxVSwitchMask, blkBits(uint64(n+VSwitchReserved)))) }
	if tight {
		// The largest block n fills, and one for the rest.
		floor := one(n) / 2
		if usable := int(floor) - VSwitchReserved; floor >= blkSizeOf(MaxVSwitchMask) && usable < n && floor+one(n-usable) < one(n) {
			return append(out, usable, n-usable)
		}
	}
	return append(out, n)
}

// placeVSwitches files the carved vSwitches under their zones and
// explains them.
func (s *suggester) placeVSwitches(vs []sgVSwitch) {
	if s.target > s.req.Nodes {
		s.choose("", "growth", fmt.Sprintf("%d×", s.growth), "sized for %s nodes, %d× the %s asked%s, where the VPC allows",
			sgNum(s.target), s.growth, sgNum(s.req.Nodes), sgCapNote(s))
	} else if s.growth > 1 {
		s.choose("", "growth", "none", "sized for the %s nodes asked: that is ACK's node limit with this CNI", sgNum(s.req.Nodes))
	} else {
		s.choose("", "growth", "none", "sized for the %s nodes asked: the VPC %s has no room for %d× (%s nodes)",
			sgNum(s.req.Nodes), s.req.VPC, sgGrowth, sgNum(s.req.Nodes*sgGrowth))
	}
	for _, v := range vs {
		for i := range s.zones {
			z := &s.zones[i]
			if z.name != v.zone {
				continue
			}
			if v.what == "nodes" {
				z.nodeVSW = append(z.nodeVSW, v)
			} else {
				z.podVSW = append(z.podVSW, v)
			}
		}
		usable := blkLen(v.cidr) - VSwitchReserved
		grown := ""
		if s.growth > 1 {
			grown = fmt.Sprintf(" (%d× growth)", s.growth)
		}
		zoneNeed := fmt.Sprintf("zone %s's node vSwitch: %s nodes%s", v.zone, sgNum(v.total), grown)
		if v.what != "nodes" {
			zoneNeed = fmt.Sprintf("zone %s's Terway pod vSwitch: %s pod addresses (%s nodes%s × %d pods × %d%% for the surge)",
				v.zone, sgNum(v.total), sgNum(sgCeil(s.zoneNodes(v.zone)*s.target, s.req.Nodes)), grown, s.req.PodsPerNode, 100+DefaultPodSurgePercent)
		}
		var why string
		switch {
		case v.parts == 1:
			why = fmt.Sprintf("%s + Alibaba's %d reserved addresses → /%d (%s usable)", zoneNeed, VSwitchReserved, v.bits, sgNum64(usable))
		case v.part == 1:
			split := fmt.Sprintf("a vSwitch is at most /%d (%s usable)", MinVSwitchMask, sgNum64(blkSizeOf(MinVSwitchMask)-VSwitchReserved))
			if s.tight {
				split = "split to fit the VPC"
			}
			why = fmt.Sprintf("%s, over %d vSwitches (%s); this one %s → /%d (%s usable, %d reserved)",
				zoneNeed, v.parts, split, sgNum(v.holds), v.bits, sgNum64(usable), VSwitchReserved)
		default:
			why = fmt.Sprintf("zone %s, %d of %d: %s %s → /%d (%s usable)", v.zone, v.part, v.parts, sgNum(v.holds), v.what, v.bits, sgNum64(usable))
		}
		if v.what != "nodes" && v.part == v.parts {
			why += "; more pod vSwitches can be added later"
		}
		s.choose("vswitch:"+v.name, "vSwitch "+v.name, v.cidr.String(), "%s", why)
	}
	s.choose("vpc.cidr", "vpc", s.req.VPC.String(), "given; the vSwitches take %s of its %s addresses, largest first, so the rest stays in aligned blocks for later vSwitches",
		sgNum64(sgTotal(vs)), sgNum64(blkLen(s.req.VPC)))
}

func sgCapNote(s *suggester) string {
	if s.target < s.req.Nodes*s.growth {
		return fmt.Sprintf(" capped at ACK's %s-node limit", sgNum(s.nodeLimitMax))
	}
	return ""
}

func sgTotal(vs []sgVSwitch) uint64 {
	var t uint64
	for _, v := range vs {
		t += blkLen(v.cidr)
	}
	return t
}
