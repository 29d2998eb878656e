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
		growth       int
		tight, floor bool
	}{{sgGrowth, false, true}, {sgGrowth, false, false}, {1, false, true}, {1, false, false}, {1, true, false}} {
		g := try.growth
		s.growth, s.tight = g, try.tight
		s.target = max(n, min(n*g, s.growthCap()))
		need = s.sizeVSwitches(try.tight, try.floor)
		if try.floor && sgTotalBits(need)*2 > blkLen(s.req.VPC) {
			// The floors only where the VPC has room: at most half of it.
			continue
		}
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

// Size floors where the VPC has room (the vSwitches then take at most half
// of it): a vSwitch's CIDR cannot be changed once it is created, and a
// tiny one (a /26 node vSwitch for 50 nodes) is full at the first node
// pool scale-out; a /24 node vSwitch holds 252 nodes, a /22 pod vSwitch
// 1,020 pod addresses. netsim's choice, not an ACK rule.
const (
	sgNodeVSwitchFloor = 24
	sgPodVSwitchFloor  = 22
)

// growthCap is the most nodes the suggester grows a plan to: ACK's node
// limit of the CNI (on request), else netsim's --nodes bound (ACK's
// largest cluster, TerwayMaxNodes) for a CNI ACK does not limit.
func (s *suggester) growthCap() int {
	if s.nodeLimitMax > 0 {
		return s.nodeLimitMax
	}
	return TerwayMaxNodes
}

// grownText says the growth a vSwitch is sized for, for its comment: ""
// when it holds only the nodes asked.
func (s *suggester) grownText() string {
	switch {
	case s.target <= s.req.Nodes:
		return ""
	case s.target == s.req.Nodes*s.growth:
		return fmt.Sprintf(" (%d× growth)", s.growth)
	default:
		return fmt.Sprintf(" (growth to %s nodes%s)", sgNum(s.target), sgCapNote(s))
	}
}

func sgTotalBits(vs []sgVSwitch) uint64 {
	var t uint64
	for _, v := range vs {
		t += blkSizeOf(v.bits)
	}
	return t
}

// sizeVSwitches lists the vSwitches for s.target nodes. Each need is one
// vSwitch, or several when it is above a /16; tight splits a need whose
// block would be mostly empty into two (a block and the rest), to fit a
// small VPC; floor raises a single vSwitch to sgNodeVSwitchFloor or
// sgPodVSwitchFloor.
func (s *suggester) sizeVSwitches(tight, floor bool) []sgVSwitch {
	var out []sgVSwitch
	add := func(z sgZone, kind, what string, need int) {
		parts := sgPieces(need, tight)
		for i, p := range parts {
			name := "vsw-" + kind + "-" + z.short
			if len(parts) > 1 {
				name += fmt.Sprintf("-%d", i+1)
			}
			v := sgVSwitch{name: name, zone: z.name, holds: p, what: what, bits: blkBits(uint64(p + VSwitchReserved)),
				part: i + 1, parts: len(parts), total: need}
			f := sgNodeVSwitchFloor
			if kind == "pod" {
				f = sgPodVSwitchFloor
			}
			if floor && len(parts) == 1 && v.bits > f {
				v.floored, v.bits = v.bits, f
			}
			out = append(out, v)
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
	switch {
	case s.target == s.req.Nodes*s.growth && s.growth > 1:
		s.choose("", "growth", fmt.Sprintf("%d×", s.growth), "sized for %s nodes, %d× the %s asked, where the VPC allows",
			sgNum(s.target), s.growth, sgNum(s.req.Nodes))
	case s.target > s.req.Nodes:
		s.choose("", "growth", fmt.Sprintf("to %s nodes", sgNum(s.target)), "sized for %s nodes, less than %d× the %s asked:%s",
			sgNum(s.target), s.growth, sgNum(s.req.Nodes), sgCapNote(s))
	case s.growth > 1:
		s.choose("", "growth", "none", "sized for the %s nodes asked: that is %s", sgNum(s.req.Nodes), sgCapWhat(s))
	default:
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
		grown := s.grownText()
		zoneNeed := fmt.Sprintf("zone %s's node vSwitch: %s nodes%s", v.zone, sgNum(v.total), grown)
		if v.what != "nodes" {
			zoneNeed = fmt.Sprintf("zone %s's Terway pod vSwitch: %s pod addresses (%s nodes%s × %d pods × %d%% for the surge)",
				v.zone, sgNum(v.total), sgNum(sgCeil(s.zoneNodes(v.zone)*s.target, s.req.Nodes)), grown, s.req.PodsPerNode, 100+DefaultPodSurgePercent)
		}
		var why string
		switch {
		case v.parts == 1 && v.floored > 0:
			floor := "node vSwitch"
			if v.what != "nodes" {
				floor = "Terway pod vSwitch"
			}
			why = fmt.Sprintf("%s + Alibaba's %d reserved addresses → /%d, raised to /%d (%s usable): netsim's smallest %s where the VPC has room, since a vSwitch's CIDR cannot be changed once created",
				zoneNeed, VSwitchReserved, v.floored, v.bits, sgNum64(usable), floor)
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
		return " capped at " + sgCapWhat(s)
	}
	return ""
}

// sgCapWhat names the cap growth stops at.
func sgCapWhat(s *suggester) string {
	if s.nodeLimitMax > 0 {
		return fmt.Sprintf("ACK's %s-node limit with this CNI", sgNum(s.nodeLimitMax))
	}
	return fmt.Sprintf("%s nodes, netsim's --nodes bound (ACK's largest cluster)", sgNum(s.growthCap()))
}

func sgTotal(vs []sgVSwitch) uint64 {
	var t uint64
	for _, v := range vs {
		t += blkLen(v.cidr)
	}
	return t
}
