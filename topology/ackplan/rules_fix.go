package ackplan

// The values the rules offer as fixes: a block of the same size that
// passes the rules, found with the planner's allocator (alloc.go).

import (
	"fmt"
	"net/netip"
)

// taken is every address block of the plan that a new block must avoid
// — the VPC (outside) and the vSwitches when asked, the pod CIDR (not Terway's), the
// Service CIDR and the declared ranges — except the one at skip (the
// path of the block being replaced) and the ones that did not parse.
func (p *Plan) taken(skip string, vpc, vswitches bool) []netip.Prefix {
	var out []netip.Prefix
	add := func(path string, c netip.Prefix) {
		if path != skip && c.IsValid() {
			out = append(out, c.Masked())
		}
	}
	if vpc {
		add(p.VPC.Path, p.VPC.Prefix)
	}
	for _, sw := range p.VSwitches {
		if vswitches {
			add(sw.Path+".cidr", sw.CIDR)
		}
	}
	if p.CNI.Mode != "terway" {
		add(p.PodCIDR.Path, p.PodCIDR.Prefix)
	}
	add(p.ServiceCIDR.Path, p.ServiceCIDR.Prefix)
	for _, rg := range p.Ranges {
		if p.Valid(rg.Path + ".cidr") { // not one the loader refused (0.0.0.0/0)
			add(rg.Path+".cidr", rg.CIDR)
		}
	}
	return out
}

// freeInVPC returns a free /bits block inside the VPC that overlaps no
// prefix of avoid: the first one at or after from, else the first one.
func (p *Plan) freeInVPC(bits int, from netip.Addr, avoid []netip.Prefix) (netip.Prefix, bool) {
	v := p.VPC.Prefix
	if !v.IsValid() || bits < v.Bits() || bits > 32 {
		return netip.Prefix{}, false
	}
	s := newBlockSet(v, avoid...)
	var first, after netip.Prefix
	for _, f := range s.free {
		if f.Bits() > bits {
			continue
		}
		b := netip.PrefixFrom(f.Addr(), bits)
		if !first.IsValid() || b.Addr().Less(first.Addr()) {
			first = b
		}
		if from.IsValid() && !b.Addr().Less(from) && (!after.IsValid() || b.Addr().Less(after.Addr())) {
			after = b
		}
		// The free block f may start before from and reach past it.
		if from.IsValid() && f.Contains(from) {
			a := netip.PrefixFrom(from, bits).Masked()
			if a.Addr().Less(from) {
				a = netip.PrefixFrom(blkAddr(blkU32(a.Addr())+uint32(blkSizeOf(bits))), bits)
			}
			if Contains(f, a) && (!after.IsValid() || a.Addr().Less(after.Addr())) {
				after = a
			}
		}
	}
	if after.IsValid() {
		return after, true
	}
	return first, first.IsValid()
}

// vswitchFix offers a free block of the vSwitch's size inside the VPC,
// the first at or after its own address, clear of the other vSwitches
// and the declared ranges (" : use X, ..." or "").
func (p *Plan) vswitchFix(sw VSwitch, what string) string {
	bits := sw.CIDR.Bits()
	if bits < MinVSwitchMask || bits > MaxVSwitchMask {
		return ""
	}
	var avoid []netip.Prefix
	for _, o := range p.VSwitches {
		if o.Path != sw.Path && o.CIDR.IsValid() {
			avoid = append(avoid, o.CIDR.Masked())
		}
	}
	for _, rg := range p.Ranges {
		if rg.CIDR.IsValid() && p.Valid(rg.Path+".cidr") {
			avoid = append(avoid, rg.CIDR.Masked())
		}
	}
	if p.CNI.Mode != "terway" && p.PodCIDR.Prefix.IsValid() {
		avoid = append(avoid, p.PodCIDR.Prefix.Masked())
	}
	from := netip.Addr{}
	if Contains(p.VPC.Prefix, sw.CIDR) {
		from = sw.CIDR.Masked().Addr()
	}
	b, ok := p.freeInVPC(bits, from, avoid)
	if !ok {
		return fmt.Sprintf(": the VPC %s has no free /%d left for it", p.VPC.Prefix, bits)
	}
	return fmt.Sprintf(": use %s, %s", b, what)
}

// outsideFix offers a private block of c's size clear of every other
// block of the plan (the VPC included), ACK's example first: "e.g. X".
func (p *Plan) outsideFix(c Block, prefer netip.Prefix, lo, hi int) string {
	bits := c.Prefix.Bits()
	if bits < lo || bits > hi {
		bits = prefer.Bits()
	}
	b, ok := findFree(bits, p.taken(c.Path, true, true), prefer)
	if !ok {
		return fmt.Sprintf("no private /%d is clear of the VPC, the vSwitches, the other CIDRs and the declared ranges", bits)
	}
	return fmt.Sprintf("e.g. %s, a /%d clear of the VPC, its vSwitches, the other cluster CIDRs and the declared ranges", b, bits)
}

// specialRanges are the blocks the VPC page excludes from a custom VPC
// CIDR ("custom ranges allowed except 100.64.0.0/10, 224.0.0.0/4,
// 127.0.0.0/8, 169.254.0.0/16" — ack-cni-facts §5, from
// https://www.alibabacloud.com/help/doc-detail/86500.html), with why.
var specialRanges = []struct {
	block netip.Prefix
	why   string
}{
	{CloudReserved, `Alibaba Cloud uses 100.64.0.0/10 for its cloud services (a VPC reaches them through it: CreateRouteEntries "The destination CIDR block of a custom route entry cannot be 100.64.0.0/10 or its subnets"), so a VPC may never use it`},
	{netip.MustParsePrefix("127.0.0.0/8"), "127.0.0.0/8 is loopback (RFC 1122): every host keeps it to itself"},
	{netip.MustParsePrefix("169.254.0.0/16"), "169.254.0.0/16 is link-local (RFC 3927): Terway's pod gateway 169.254.1.1 and node-local-dns 169.254.20.10 live there on every node"},
	{netip.MustParsePrefix("224.0.0.0/4"), "224.0.0.0/4 is multicast (RFC 5771), not unicast host addresses"},
}

// vpcFix says why a non-private VPC CIDR is refused when it touches a
// special block, and offers a private VPC CIDR of the same size.
func (p *Plan) vpcFix() string {
	v := p.VPC.Prefix
	out := ""
	for _, s := range specialRanges {
		if v.Overlaps(s.block) {
			out += "; " + s.why
		}
	}
	bits := min(max(v.Bits(), MinVPCMask), MaxVPCMask)
	if b, ok := findFree(bits, p.taken(p.VPC.Path, false, false), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("10.0.0.0/8")); ok {
		out += fmt.Sprintf("; use e.g. %s (a /%d clear of the pod and Service CIDRs and the declared ranges) and vSwitches inside it", b, bits)
	}
	return out
}

// podFix offers a pod CIDR for cluster.podCIDR, ACK's example
// 172.20.0.0/16 first.
func (p *Plan) podFix() string {
	return p.outsideFix(p.PodCIDR, ackPodCIDR, 0, 32)
}

// serviceFix offers a Service CIDR for cluster.serviceCIDR (mask /16 to
// /24), ACK's example 172.21.0.0/20 first.
func (p *Plan) serviceFix() string {
	return p.outsideFix(p.ServiceCIDR, ackServiceCIDR, MinServiceMask, MaxServiceMask)
}

// rangeVPCFix offers a VPC CIDR of the VPC's size clear of the declared
// ranges and the cluster CIDRs (" (e.g. X)" or "").
func (p *Plan) rangeVPCFix() string {
	bits := p.VPC.Prefix.Bits()
	if b, ok := findFree(bits, p.taken(p.VPC.Path, false, false), p.VPC.Prefix); ok {
		return fmt.Sprintf(" (e.g. %s, with its vSwitches inside it)", b)
	}
	return fmt.Sprintf(" (no private /%d is clear of the declared ranges and the cluster CIDRs)", bits)
}
