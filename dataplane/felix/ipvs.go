package felix

import (
	"fmt"
	"hash/fnv"
	"sort"
)

// kube-proxy IPVS mode (felix's KubeIPVSSupportEnabled): traffic IPVS
// forwards hits INPUT and OUTPUT instead of FORWARD. felix marks it in
// cali-INPUT with the incoming workload's endpoint mark
// (cali-forward-check → cali-set-endpoint-mark → cali-sm-<iface>), skips
// the workload-to-host processing, and in cali-OUTPUT sends marked
// packets to cali-forward-endpoint-mark, which applies the source
// workload's egress chain (cali-from-endpoint-mark, by mark) and the
// destination workload's ingress chain (-o cali+), as FORWARD would.

// Chain and set names of the IPVS support.
const (
	chainForwardCheck   = "cali-forward-check"
	chainSetEPMark      = "cali-set-endpoint-mark"
	chainFromEPMark     = "cali-from-endpoint-mark"
	chainForwardEPMark  = "cali-forward-endpoint-mark"
	setEndpointMarkPfx  = "cali-sm-"
	ThisHostSet         = "cali40this-host"
	defaultNodePortLo   = 30000
	defaultNodePortHigh = 32767
)

// MarkEndpoint is the endpoint mark field: the bits of felix's mark mask
// 0xffff0000 left after the single-bit marks; its lowest bit is the
// non-Calico endpoint mark.
const (
	MarkEndpoint        uint32 = 0xffe00000
	MarkNonCaliEndpoint uint32 = 0x200000
)

// endpointMarks is felix's DefaultEPMarkManager: an endpoint's position
// is FNV-1 (32 bit) of its interface name modulo the number of
// positions, probing forward past 0 and taken positions (1 is the
// non-Calico endpoint); the mark is the position in the mark field.
func endpointMarks(ifaces []string) map[string]uint32 {
	const shift = 21
	positions := int(MarkEndpoint>>shift) + 1
	taken := map[int]bool{1: true}
	out := map[string]uint32{}
	names := append([]string(nil), ifaces...)
	sort.Strings(names)
	for _, n := range names {
		h := fnv.New32()
		h.Write([]byte(n))
		total := int(h.Sum32())
		for i := 0; i < positions; i++ {
			p := (total + i) % positions
			if p == 0 || taken[p] {
				continue
			}
			taken[p] = true
			out[n] = uint32(p) << shift
			break
		}
	}
	return out
}

func maskedMatch(v, m uint32) string    { return fmt.Sprintf("-m mark --mark %#x/%#x", v, m) }
func notMaskedMatch(v, m uint32) string { return fmt.Sprintf("-m mark ! --mark %#x/%#x", v, m) }
func markNotClear(m uint32) string      { return fmt.Sprintf("-m mark ! --mark 0/%#x", m) }

// ipvs renders the IPVS support chains and the this-host set.
func (b *builder) ipvs() {
	names := make([]string, 0, len(b.local))
	for _, w := range b.local {
		names = append(names, w.Iface)
	}
	marks := endpointMarks(names)

	hs := &ipset{name: ThisHostSet, typ: "hash:ip"}
	for _, a := range b.in.HostIPs {
		if a.Is4() {
			hs.members = append(hs.members, a.String())
		}
	}
	b.addSet(hs)

	lo, hi := b.in.NodePortRange[0], b.in.NodePortRange[1]
	if lo == 0 {
		lo, hi = defaultNodePortLo, defaultNodePortHigh
	}
	fc := b.newChain(chainForwardCheck)
	fc.add(rule{match: []string{ctState("RELATED,ESTABLISHED")}, action: actReturn})
	for _, proto := range []string{"tcp", "udp"} {
		fc.add(rule{match: []string{"-p " + proto, dportsFrag([][2]int{{lo, hi}}), "-m set --match-set " + ThisHostSet + " dst"},
			action: gotoChain(chainSetEPMark), comments: []string{"To kubernetes NodePort service"}})
	}
	fc.add(rule{match: []string{"-m set ! --match-set " + ThisHostSet + " dst"}, action: jump(chainSetEPMark), comments: []string{"To kubernetes service"}})

	sm := b.newChain(chainSetEPMark)
	common, prefixes, byPrefix := divide(names)
	for _, p := range prefixes {
		ns := byPrefix[p]
		if len(ns) == 1 {
			sm.add(rule{match: []string{inIface(ns[0])}, action: gotoChain(endpointChain(setEndpointMarkPfx, ns[0]))})
			continue
		}
		child := b.newChain(chainSetEPMark + "-wep-" + p[len(common):])
		sm.add(rule{match: []string{inIface(p + "+")}, action: gotoChain(child.name)})
		for _, n := range ns {
			child.add(rule{match: []string{inIface(n)}, action: gotoChain(endpointChain(setEndpointMarkPfx, n))})
		}
	}
	sm.add(rule{match: []string{inIface(WorkloadIfacePfx + "+")}, action: actDrop, comments: []string{"Unknown endpoint"}})
	sm.add(rule{action: maskedMark(MarkNonCaliEndpoint, MarkEndpoint), comments: []string{"Non-Cali endpoint mark"}})
	for _, n := range names {
		b.newChain(endpointChain(setEndpointMarkPfx, n)).add(rule{action: maskedMark(marks[n], MarkEndpoint)})
	}

	fm := b.newChain(chainFromEPMark)
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, n := range sorted {
		fm.add(rule{match: []string{maskedMatch(marks[n], MarkEndpoint)}, action: gotoChain(endpointChain(fromWorkloadPfx, n))})
	}
	fm.add(rule{action: actDrop, comments: []string{"Unknown interface"}})

	fe := b.newChain(chainForwardEPMark)
	fe.add(rule{match: []string{notMaskedMatch(MarkNonCaliEndpoint, MarkEndpoint)}, action: jump(chainFromEPMark)})
	fe.add(rule{match: []string{outIface(WorkloadIfacePfx + "+")}, action: jump(ChainToWLDisp)})
	fe.add(rule{action: jump(chainToHEPFwd)})
	fe.add(rule{action: clearMark(MarkEndpoint)})
	fe.add(rule{match: []string{markSet(MarkAccept)}, action: actAccept, comments: []string{"Policy explicitly accepted packet."}})
}
