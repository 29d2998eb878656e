package ackplan

// The values the rules offer as fixes: a block of the same size that
// passes the rules — outside the VPC with the planner's allocator
// (alloc.go findFree, ACK's examples first), inside it by a scan of the
// VPC's free space (vpcFree: the first free block at or after a place).

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
)

// taken is every address block of the plan that a new block must avoid
// — the VPC and the vSwitches when asked, the pod CIDR (not Terway's),
// the Service CIDR and the declared ranges — except the one at skip (the
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

// vpcFree finds free blocks inside the VPC: the blocks to avoid are
// sorted and merged once, and a scan jumps past each one in the way (a
// plan may hold thousands of vSwitches, each finding asking once).
type vpcFree struct {
	vpc   netip.Prefix
	spans []span
}

// span is an inclusive range of IPv4 addresses as numbers.
type span struct{ lo, hi uint64 }

// newVPCFree is the VPC less every prefix of avoid.
func newVPCFree(vpc netip.Prefix, avoid []netip.Prefix) *vpcFree {
	f := &vpcFree{vpc: vpc.Masked()}
	var spans []span
	for _, a := range avoid {
		if a.IsValid() && f.vpc.IsValid() && a.Overlaps(f.vpc) {
			a = a.Masked()
			spans = append(spans, span{uint64(blkU32(a.Addr())), uint64(blkLast(a))})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	for _, sp := range spans {
		if n := len(f.spans); n > 0 && sp.lo <= f.spans[n-1].hi+1 {
			f.spans[n-1].hi = max(f.spans[n-1].hi, sp.hi)
			continue
		}
		f.spans = append(f.spans, sp)
	}
	return f
}

// find returns a free /bits block: the first at or after from, else the
// first one.
func (f *vpcFree) find(bits int, from netip.Addr) (netip.Prefix, bool) {
	v := f.vpc
	if !v.IsValid() || bits < v.Bits() || bits > 32 {
		return netip.Prefix{}, false
	}
	step := blkSizeOf(bits)
	first, last := uint64(blkU32(v.Addr())), uint64(blkLast(v))
	alignUp := func(u uint64) uint64 { return (u + step - 1) / step * step }
	scan := func(u uint64) (netip.Prefix, bool) {
		u = alignUp(max(u, first))
		i := sort.Search(len(f.spans), func(i int) bool { return f.spans[i].hi >= u })
		for u+step-1 <= last {
			for i < len(f.spans) && f.spans[i].hi < u {
				i++
			}
			if i < len(f.spans) && f.spans[i].lo <= u+step-1 {
				u = alignUp(f.spans[i].hi + 1)
				continue
			}
			return netip.PrefixFrom(blkAddr(uint32(u)), bits), true
		}
		return netip.Prefix{}, false
	}
	if from.IsValid() {
		if b, ok := scan(uint64(blkU32(from))); ok {
			return b, true
		}
	}
	return scan(first)
}

// vswitchFixer returns the fix for a misplaced vSwitch: a free block of
// its size inside the VPC, the first at or after its own address, clear
// of every vSwitch (its own old place too: it is moving), the declared
// ranges and the pod CIDR (": use X, WHAT" or ""). The free space is
// computed once for all the findings of a rule.
func (p *Plan) vswitchFixer() func(sw VSwitch, what string) string {
	var free *vpcFree
	return func(sw VSwitch, what string) string {
		bits := sw.CIDR.Bits()
		if bits < MinVSwitchMask || bits > MaxVSwitchMask || !p.ok(p.VPC) {
			return ""
		}
		if free == nil {
			var avoid []netip.Prefix
			for _, o := range p.VSwitches {
				avoid = append(avoid, o.CIDR)
			}
			for _, rg := range p.Ranges {
				if p.Valid(rg.Path + ".cidr") {
					avoid = append(avoid, rg.CIDR)
				}
			}
			if p.CNI.Mode != "terway" {
				avoid = append(avoid, p.PodCIDR.Prefix)
			}
			free = newVPCFree(p.VPC.Prefix, avoid)
		}
		from := netip.Addr{}
		if Contains(p.VPC.Prefix, sw.CIDR) {
			from = sw.CIDR.Masked().Addr()
		}
		b, ok := free.find(bits, from)
		if !ok {
			return fmt.Sprintf(": the VPC %s has no free /%d left for it", p.VPC.Prefix, bits)
		}
		return fmt.Sprintf(": use %s, %s", b, what)
	}
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

// once returns f, computed on the first call only.
func once(f func() string) func() string {
	var v string
	done := false
	return func() string {
		if !done {
			v, done = f(), true
		}
		return v
	}
}
