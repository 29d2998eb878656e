package trace

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Level is how much of a trace is printed, in the spirit of ovn-trace's
// --detailed, --summary and --minimal.
type Level string

// The trace levels.
const (
	// LevelDetailed prints every hop: each lookup, what matched, what changed.
	LevelDetailed Level = "detailed"
	// LevelSummary prints one line per namespace a packet crossed, with its
	// devices and the decisions that mattered there (route chosen, NAT,
	// encapsulation, VPC entry, drop, delivery). ARP packets are left out.
	LevelSummary Level = "summary"
	// LevelMinimal prints the path of the request on one line and, when it
	// is not the same path backwards, the reply's on a second.
	LevelMinimal Level = "minimal"
)

// Levels are the trace levels, most detailed first.
func Levels() []Level { return []Level{LevelDetailed, LevelSummary, LevelMinimal} }

// ParseLevel returns the level named s.
func ParseLevel(s string) (Level, bool) {
	for _, l := range Levels() {
		if string(l) == s {
			return l, true
		}
	}
	return "", false
}

// Kinds lists every hop kind, in the order of their declaration.
func Kinds() []Kind {
	return []Kind{KindRx, KindTx, KindRoute, KindNeigh, KindARP, KindFDB, KindEncap, KindDecap, KindTTL,
		KindRule, KindCT, KindNAT, KindFrag, KindICMP, KindLocal, KindVPC, KindSwitch, KindDeliver,
		KindDrop, KindDNS, KindNote, KindApp}
}

// ParseKind returns the hop kind named s.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// Filter selects the hops to print.
type Filter struct {
	// Hide leaves out hops of these kinds. Hiding KindARP also leaves out
	// every hop of an ARP packet (its tx and fdb hops), so that no trace of
	// address resolution remains.
	Hide []Kind
	// Node keeps only hops in this namespace ("node-1", "default/web-1",
	// "vpc"); empty keeps all.
	Node string
}

// Apply returns the hops the filter keeps (hops itself when it keeps all).
func (f Filter) Apply(hops []Hop) []Hop {
	if len(f.Hide) == 0 && f.Node == "" {
		return hops
	}
	var arp map[uint64]bool
	if slices.Contains(f.Hide, KindARP) {
		arp = arpPackets(hops)
	}
	out := make([]Hop, 0, len(hops))
	for _, h := range hops {
		if slices.Contains(f.Hide, h.Kind) || arp[h.Packet] || (f.Node != "" && h.Node != f.Node) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// arpPackets returns the packets that are ARP requests or replies: packets
// with an arp hop and no hop that only an IP packet has. A dropped ARP
// packet is still an ARP packet.
func arpPackets(hops []Hop) map[uint64]bool {
	arp, ip := map[uint64]bool{}, map[uint64]bool{}
	for _, h := range hops {
		switch h.Kind {
		case KindARP:
			arp[h.Packet] = true
		case KindRoute, KindEncap, KindDecap, KindTTL, KindRule, KindCT, KindNAT, KindDeliver, KindICMP, KindFrag, KindApp:
			ip[h.Packet] = true
		}
	}
	for p := range ip {
		delete(arp, p)
	}
	delete(arp, 0)
	return arp
}

// Exchanges splits the hops of several exchanges (a flow traced with
// every exchange) at each restart of the sequence numbers: the recorder
// numbers every exchange's hops from 1.
func Exchanges(hops []Hop) [][]Hop {
	var out [][]Hop
	for i, h := range hops {
		if i == 0 || h.Seq <= hops[i-1].Seq {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], h)
	}
	return out
}

// WriteLevel prints hops at a level: detailed (WriteHops), summary
// (WriteSummaryHops) or minimal (WriteMinimal).
func WriteLevel(w io.Writer, hops []Hop, start time.Duration, level Level, width int) {
	switch level {
	case LevelSummary:
		WriteSummaryHops(w, hops, width)
	case LevelMinimal:
		WriteMinimal(w, hops, width)
	default:
		WriteHops(w, hops, start, width)
	}
}

// visit is one packet's stay in one namespace: the hops, in order, that
// the packet made there before it left.
type visit struct {
	node string
	devs []string
	hops []Hop
}

// underlay reports whether the namespace is the network between hosts:
// the VPC vRouter and vSwitches, an L2 segment, an SLB.
func underlay(node string) bool {
	return node == "vpc" || node == "l2" || strings.HasPrefix(node, "slb ")
}

// visitsOf groups the hops of packet p by consecutive namespace.
func visitsOf(hops []Hop, p uint64) []visit {
	var out []visit
	for _, h := range hops {
		if h.Packet != p {
			continue
		}
		if len(out) == 0 || out[len(out)-1].node != h.Node {
			out = append(out, visit{node: h.Node})
		}
		v := &out[len(out)-1]
		v.hops = append(v.hops, h)
		if h.Device != "" && !slices.Contains(v.devs, h.Device) {
			v.devs = append(v.devs, h.Device)
		}
	}
	return out
}

// place is "node dev → dev" of a visit.
func (v visit) place() string {
	if len(v.devs) == 0 {
		return v.node
	}
	return v.node + " " + strings.Join(v.devs, " → ")
}

// decisions are what mattered in a visit, in order: the route chosen, NAT,
// the rules that rewrote, dropped or rejected, encapsulation, the VPC's
// entry, ICMP generated, sockets, delivery, the drop.
func (v visit) decisions() []string {
	var out []string
	for _, h := range v.hops {
		var s string
		switch h.Kind {
		case KindRoute, KindSwitch:
			s = string(h.Kind) + " " + shortRoute(h.Match)
		case KindVPC:
			s = "vpc " + h.Lookup + " ⇒ " + h.Match
		case KindRule:
			if decisive(h.Match) {
				s = "rule " + h.Match
			}
		case KindEncap, KindDecap:
			// "VXLAN encap: outer … > …, vni 1, ttl 64", without the byte count.
			s = strings.TrimSpace(strings.TrimPrefix(HopText(h), string(h.Kind)))
			if i := strings.Index(s, " ("); i > 0 {
				s = s[:i]
			}
		case KindNAT:
			// "-j DNAT …" is the rule's target at work: the rule is shown.
			if !strings.HasPrefix(h.Match, "-j ") && !strings.HasPrefix(h.Lookup, "-j ") {
				s = HopText(h)
			}
		case KindFrag, KindICMP, KindLocal, KindDeliver, KindDNS, KindNote:
			s = HopText(h)
			if h.Kind == KindLocal || h.Kind == KindDeliver {
				s = strings.TrimPrefix(s, string(h.Kind)+" ")
			}
		case KindApp:
			// "flanneld route 172.20.1.2 ⇒ 172.20.1.0/24 → 192.168.1.11:8285";
			// the read and write hops show as the flanneld place.
			if h.Lookup != "" {
				s = strings.TrimPrefix(HopText(h), string(h.Kind)+" ")
			}
		case KindDrop:
			s = "DROPPED " + h.Change + " [" + h.Reason + "]"
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shortRoute leaves out of a matched route what `ip route` adds about
// its origin: "proto kernel scope link src …", "table local …".
func shortRoute(m string) string {
	for _, cut := range []string{" table ", " proto "} {
		if i := strings.Index(m, cut); i > 0 {
			m = m[:i]
		}
	}
	return m
}

// decisive reports whether an iptables rule decides the packet's fate or
// addresses rather than only jumping to another chain.
func decisive(rule string) bool {
	for _, t := range []string{"-j DNAT", "-j SNAT", "-j MASQUERADE", "-j DROP", "-j REJECT"} {
		if strings.Contains(rule, t) {
			return true
		}
	}
	return false
}

// packetOrder returns the packets of the hops in order of first appearance,
// with the packet that caused each.
func packetOrder(hops []Hop) ([]uint64, map[uint64]uint64) {
	var order []uint64
	parent := map[uint64]uint64{}
	seen := map[uint64]bool{}
	for _, h := range hops {
		if h.Packet == 0 || seen[h.Packet] {
			continue
		}
		seen[h.Packet] = true
		order = append(order, h.Packet)
		parent[h.Packet] = h.Parent
	}
	return order, parent
}

// packetLabel is the IP part of the first frame summary of a packet
// ("172.20.0.2 > 172.20.1.2: ICMP echo request id 2 seq 1, ttl 64, DF, len 84").
func packetLabel(hops []Hop, p uint64) string {
	for _, h := range hops {
		if h.Packet == p && h.After != "" {
			s := h.After
			// Drop the link layer: "aa:… > bb:…, " in front of the IP part.
			if i := strings.Index(s, ", "); i > 0 && strings.Count(s[:i], ":") >= 10 {
				s = s[i+2:]
			}
			return s
		}
	}
	return ""
}

// WriteSummaryHops prints one line per namespace each packet crossed:
// the namespace, the devices it used there, and the decisions that
// mattered. ARP packets are left out unless one was dropped; socket calls
// (hops of no packet) come first.
func WriteSummaryHops(w io.Writer, hops []Hop, width int) {
	arp := arpPackets(hops)
	order, parent := packetOrder(hops)
	line := func(prefix, text string) {
		for _, l := range WrapIndent(prefix, text, width, 8) {
			fmt.Fprintln(w, l)
		}
	}
	for _, h := range hops {
		if h.Packet == 0 {
			line("     "+h.Where()+": ", strings.TrimSpace(HopText(h)))
		}
	}
	for _, p := range order {
		vs := visitsOf(hops, p)
		if arp[p] && !slices.ContainsFunc(vs, func(v visit) bool {
			return slices.ContainsFunc(v.hops, func(h Hop) bool { return h.Kind == KindDrop })
		}) {
			continue
		}
		head := fmt.Sprintf("-- packet #%d", p)
		if parent[p] != 0 {
			head += fmt.Sprintf(", caused by #%d", parent[p])
		}
		if l := packetLabel(hops, p); l != "" {
			head += ": " + l
		}
		for _, l := range WrapIndent("  ", head, width, 6) {
			fmt.Fprintln(w, l)
		}
		for _, v := range vs {
			d := strings.Join(v.decisions(), "; ")
			if d == "" {
				d = "(passed through)"
			}
			line("     "+v.place()+": ", d)
		}
	}
}

// path is a packet's route through the namespaces, "a eth0 → node-1 cni0 →
// flannel.1 ⇒ vpc vsw ⇒ node-2 eth0 …", and how it ended.
func path(vs []visit) (string, string) {
	var b strings.Builder
	end := ""
	for i, v := range vs {
		if i > 0 {
			if underlay(v.node) || underlay(vs[i-1].node) {
				b.WriteString(" ⇒ ")
			} else {
				b.WriteString(" → ")
			}
		}
		b.WriteString(v.place())
		for _, h := range v.hops {
			switch h.Kind {
			case KindDrop:
				end = "DROPPED [" + h.Reason + "] at " + h.Where()
			case KindDeliver:
				if end == "" {
					end = "delivered"
				}
			}
		}
	}
	return b.String(), end
}

// reversed reports whether b's namespaces are a's backwards, through the
// same devices in each (a reply that skips a device the request crossed,
// such as ipvlan's reply past the host's ipvl_X, is another path).
func reversed(a, b []visit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		o := b[len(b)-1-i]
		// The underlay is entered by each sender's vSwitch: only hosts'
		// devices must match.
		if a[i].node != o.node || !underlay(o.node) && !sameDevices(a[i].devs, o.devs) {
			return false
		}
	}
	return true
}

// sameDevices reports whether two visits crossed the same set of devices.
// A bridge's veth ports ("veth…", the CNI bridge plugin's host side) are
// left out: the trace names a port where the bridge sends out of it, not
// where a frame comes in (that hop is the bridge's own).
func sameDevices(a, b []string) bool {
	keep := func(l []string) []string {
		l = slices.DeleteFunc(slices.Clone(l), func(d string) bool { return strings.HasPrefix(d, "veth") })
		slices.Sort(l)
		return slices.Compact(l)
	}
	return slices.Equal(keep(a), keep(b))
}

// WriteMinimal prints the request's path on one line with how it ended,
// and, when the answer (the first other packet that is not ARP: a reply,
// an ICMP error) does not take the same path backwards, the answer's path
// on a second line.
func WriteMinimal(w io.Writer, hops []Hop, width int) {
	arp := arpPackets(hops)
	order, _ := packetOrder(hops)
	var ips []uint64
	for _, p := range order {
		if !arp[p] {
			ips = append(ips, p)
		}
	}
	if len(ips) == 0 {
		if len(order) == 0 {
			text := "no packet was sent"
			for _, h := range hops {
				if h.Kind == KindDrop {
					text = h.Where() + " DROPPED [" + h.Reason + "] before anything was sent"
				}
			}
			WriteWrapped(w, "   path:  ", text, width)
			return
		}
		ips = order[:1]
	}
	req := visitsOf(hops, ips[0])
	p, end := path(req)
	if end == "" {
		end = "(no delivery, no drop)"
		if len(ips) > 1 {
			end = ""
		}
	}
	WriteWrapped(w, "   path:  ", strings.TrimSpace(p+"  "+end), width)
	// The answer: the first packet that starts where the request ended or
	// that the request caused (an ICMP error).
	last := req[len(req)-1].node
	for _, q := range ips[1:] {
		rep := visitsOf(hops, q)
		if rep[0].node != last && !slices.ContainsFunc(hops, func(h Hop) bool { return h.Packet == q && h.Parent == ips[0] }) {
			continue
		}
		dropped := strings.HasPrefix(end, "DROPPED")
		if reversed(req, rep) && !dropped {
			WriteWrapped(w, "   reply: ", "the same path back", width)
			return
		}
		p, rend := path(rep)
		if dropped {
			rend = strings.TrimSpace(rend + " — " + packetLabel(hops, q))
		}
		WriteWrapped(w, "   reply: ", strings.TrimSpace(p+"  "+rend), width)
		return
	}
}

// SortedKinds returns the names of kinds, sorted, for messages.
func SortedKinds(kinds []Kind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	sort.Strings(out)
	return out
}

// Endpoints names the first IP packet of the hops by its addresses and
// ports, "172.20.0.2:40468 > 172.21.7.189:80" ("" when there is none).
func Endpoints(hops []Hop) string {
	arp := arpPackets(hops)
	order, _ := packetOrder(hops)
	for _, p := range order {
		if arp[p] {
			continue
		}
		l := packetLabel(hops, p)
		if i := strings.Index(l, ": "); i > 0 {
			return l[:i]
		}
	}
	return ""
}
