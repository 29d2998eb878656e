package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"netsim/topology"
)

// Field is one compared header field of a packet, its value already
// reduced to what must be equal in both worlds: a value Linux fixes is
// itself (TTL "64"); a value that legitimately varies is replaced by how it
// varies ("ephemeral" for a port in 32768–60999, "isn+1" for a sequence
// number, "prev+1" for an IP ID), so a value outside its rule still differs.
type Field struct {
	Name, Value string
}

// Packet is one decoded frame: what it is and which way it went (its
// kind, such as "out icmp echo-request pod-a>pod-b") and its fields in
// header order.
type Packet struct {
	Kind   string
	Fields []Field
	// Noise marks what the kernel sends on its own and netsim does not
	// model: IGMP membership reports of devices coming up (multicast is
	// out of scope).
	Noise bool
}

// Names names addresses, MACs and ports in packet descriptions.
type Names struct {
	// IP names an address by its owner: a pod, a node, "node-1/cni0".
	IP map[netip.Addr]string
	// MAC names a hardware address by its device, "pod-a/eth0".
	MAC map[string]string
	// Ports are the well-known ports of the traffic (listeners, VXLAN):
	// shown as numbers; any other port must be ephemeral.
	Ports map[uint16]bool
	// VXLAN is the VXLAN UDP port.
	VXLAN uint16
	// NATPorts: the packets may carry a source port that MASQUERADE
	// --random-fully chose (nf_nat_l4proto_unique_tuple: any port in
	// 1024–65535 for an original port ≥ 1024), so a port that is not
	// well-known is checked against that range instead of the ephemeral one.
	NATPorts bool
}

// Ephemeral is Linux's default net.ipv4.ip_local_port_range; the VXLAN
// driver takes its source ports from the same range (udp_flow_src_port).
var Ephemeral = [2]uint16{32768, 60999}

// NamesOf names everything of a built netsim world (the kernel realisation
// uses the same addresses and MACs).
func NamesOf(w *topology.World, vxlanPort uint16) Names {
	nm := Names{IP: map[netip.Addr]string{}, MAC: map[string]string{"ff:ff:ff:ff:ff:ff": "broadcast", "00:00:00:00:00:00": "zero"},
		Ports: map[uint16]bool{vxlanPort: true}, VXLAN: vxlanPort}
	short := map[string]string{}
	for _, p := range w.Pods {
		short[p.Ref()] = p.Name
		nm.IP[p.IP] = p.Name
	}
	for _, h := range append(append([]*topology.Host(nil), w.Nodes...), w.Instances...) {
		nm.IP[h.IP] = h.Name
	}
	for _, st := range w.Stacks() {
		ns := st.Name
		if s, ok := short[ns]; ok {
			ns = s
		}
		for _, ifc := range st.Ifaces() {
			if _, ok := nm.MAC[ifc.Dev.MAC.String()]; !ok {
				nm.MAC[ifc.Dev.MAC.String()] = ns + "/" + ifc.Dev.Name
			}
			for _, a := range ifc.Addrs {
				if _, ok := nm.IP[a.Prefix.Addr()]; !ok {
					nm.IP[a.Prefix.Addr()] = ns + "/" + ifc.Dev.Name
				}
			}
		}
	}
	for _, f := range w.Scenario.Flows {
		if f.Port != 0 {
			nm.Ports[uint16(f.Port)] = true
		}
	}
	return nm
}

func (nm Names) ip(a []byte) string {
	ad, ok := netip.AddrFromSlice(a)
	if !ok {
		return fmt.Sprintf("%x", a)
	}
	ad = ad.Unmap()
	if s, ok := nm.IP[ad]; ok {
		return s
	}
	return ad.String()
}

func (nm Names) mac(m []byte) string {
	s := strings.ToLower(fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]))
	if n, ok := nm.MAC[s]; ok {
		return n
	}
	return s
}

func (nm Names) port(p uint16) string {
	switch {
	case nm.Ports[p]:
		return strconv.Itoa(int(p))
	case nm.NATPorts && p >= 1024:
		return "1024–65535 (NAT or ephemeral)"
	case p >= Ephemeral[0] && p <= Ephemeral[1]:
		return "ephemeral"
	}
	return fmt.Sprintf("%d (not ephemeral)", p)
}

// Describer decodes the frames of one capture point in order; it keeps
// what the rules for varying values need (ISNs, last IP IDs, timestamps,
// requests for ICMP quotes).
type Describer struct {
	names  Names
	ipID   map[string]uint16
	isn    map[string]uint32
	tsval  map[string]uint32
	vxPort map[string]uint16
	sent   [][]byte
	echo   map[string][]byte
}

// NewDescriber returns a Describer for one capture point.
func NewDescriber(nm Names) *Describer {
	return &Describer{names: nm, ipID: map[string]uint16{}, isn: map[string]uint32{}, tsval: map[string]uint32{},
		vxPort: map[string]uint16{}, echo: map[string][]byte{}}
}

type fields struct {
	prefix string
	list   []Field
}

func (f *fields) add(name string, v any) {
	f.list = append(f.list, Field{Name: f.prefix + name, Value: fmt.Sprint(v)})
}

// Describe decodes one frame.
func (d *Describer) Describe(fr Frame) Packet {
	f := &fields{}
	dir := "in"
	if fr.Out {
		dir = "out"
	}
	kind := dir + " " + d.eth(f, fr.Data)
	return Packet{Kind: kind, Fields: f.list, Noise: strings.Contains(kind, " IGMP ")}
}

func (d *Describer) eth(f *fields, b []byte) string {
	var eth layers.Ethernet
	if err := eth.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return "undecodable frame"
	}
	if eth.EthernetType != layers.EthernetTypeIPv4 {
		// For IPv4, ip.len and ip.len=frame say the same.
		f.add("frame.len", len(b))
	}
	f.add("eth.src", d.names.mac(eth.SrcMAC))
	f.add("eth.dst", d.names.mac(eth.DstMAC))
	f.add("eth.type", eth.EthernetType)
	switch eth.EthernetType {
	case layers.EthernetTypeARP:
		return d.arp(f, eth.Payload)
	case layers.EthernetTypeIPv4:
		return d.ipv4(f, eth.Payload)
	}
	return "ethertype " + eth.EthernetType.String()
}

func (d *Describer) arp(f *fields, b []byte) string {
	var a layers.ARP
	if err := a.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return "undecodable arp"
	}
	f.add("arp.len", len(b))
	f.add("arp.htype/ptype/hlen/plen", fmt.Sprintf("%d/%#x/%d/%d", a.AddrType, uint16(a.Protocol), a.HwAddressSize, a.ProtAddressSize))
	f.add("arp.op", a.Operation)
	f.add("arp.sha", d.names.mac(a.SourceHwAddress))
	f.add("arp.spa", d.names.ip(a.SourceProtAddress))
	f.add("arp.tha", d.names.mac(a.DstHwAddress))
	f.add("arp.tpa", d.names.ip(a.DstProtAddress))
	if a.Operation == layers.ARPRequest {
		return fmt.Sprintf("arp who-has %s tell %s", d.names.ip(a.DstProtAddress), d.names.ip(a.SourceProtAddress))
	}
	return fmt.Sprintf("arp reply %s is-at %s", d.names.ip(a.SourceProtAddress), d.names.mac(a.SourceHwAddress))
}

// inetSum is the one's complement sum of b folded to 16 bits.
func inetSum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s
}

func checksumText(ok bool) string {
	if ok {
		return "valid"
	}
	return "bad"
}

// transportOK checks a TCP or UDP checksum with the IPv4 pseudo-header.
func transportOK(ip *layers.IPv4, seg []byte) bool {
	ph := make([]byte, 12)
	copy(ph[0:4], ip.SrcIP.To4())
	copy(ph[4:8], ip.DstIP.To4())
	ph[9] = byte(ip.Protocol)
	binary.BigEndian.PutUint16(ph[10:12], uint16(len(seg)))
	return inetSum(seg, inetSum(ph, 0)) == 0xffff
}

func (d *Describer) ipv4(f *fields, b []byte) string {
	var ip layers.IPv4
	if err := ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return "undecodable ipv4"
	}
	src, dst := d.names.ip(ip.SrcIP), d.names.ip(ip.DstIP)
	hl := int(ip.IHL) * 4
	f.add("ip.version", ip.Version)
	f.add("ip.ihl", ip.IHL)
	f.add("ip.tos", fmt.Sprintf("%#02x", ip.TOS))
	f.add("ip.len", ip.Length)
	f.add("ip.len=frame", int(ip.Length) == len(b))
	key := f.prefix + src + ">" + dst + "/" + ip.Protocol.String()
	f.add("ip.id", d.idRule(key, ip.Id, ip.Flags&layers.IPv4DontFragment != 0))
	f.add("ip.df", ip.Flags&layers.IPv4DontFragment != 0)
	f.add("ip.mf", ip.Flags&layers.IPv4MoreFragments != 0)
	f.add("ip.frag", ip.FragOffset)
	f.add("ip.ttl", ip.TTL)
	f.add("ip.proto", ip.Protocol)
	f.add("ip.csum", checksumText(len(b) >= hl && inetSum(b[:hl], 0) == 0xffff))
	f.add("ip.src", src)
	f.add("ip.dst", dst)
	f.add("ip.options", len(ip.Options))
	end := min(int(ip.Length), len(b))
	if end < hl {
		return "short ipv4"
	}
	pl := b[hl:end]
	who := src + ">" + dst
	switch ip.Protocol {
	case layers.IPProtocolICMPv4:
		return d.icmp(f, &ip, pl, who)
	case layers.IPProtocolUDP:
		return d.udp(f, &ip, b[:end], pl, who)
	case layers.IPProtocolTCP:
		return d.tcp(f, &ip, pl, who)
	}
	return "ipv4 " + ip.Protocol.String() + " " + who
}

// idRule reduces an IP ID to its rule: 0, or non-zero and, with DF set,
// how it follows the previous ID of the same stream (source, destination,
// protocol): a connected socket counts (inet_id++). Without DF the kernel
// takes IDs from a hashed counter per destination with a random
// time-based increment (ip_idents_reserve), so only "non-zero" is a rule.
func (d *Describer) idRule(key string, id uint16, df bool) string {
	prev, seen := d.ipID[key]
	d.ipID[key] = id
	switch {
	case id == 0:
		return "0"
	case !df:
		return "non-zero"
	case seen && prev != 0 && id == prev+1:
		return "prev+1"
	case seen && prev != 0:
		return "non-zero, not prev+1"
	}
	return "non-zero"
}

// payloadLayout names an echo payload's pattern.
func payloadLayout(b []byte) string {
	match := func(from int, f func(i int) byte) bool {
		for i := from; i < len(b); i++ {
			if b[i] != f(i) {
				return false
			}
		}
		return true
	}
	offset := func(i int) byte { return byte(i) }
	switch {
	case len(b) >= 16 && match(16, offset) && !match(0, offset) && binary.LittleEndian.Uint64(b[8:16]) < 1e6:
		return "iputils (struct timeval, then each byte = its offset)"
	case match(0, offset):
		return "each byte = its offset (no timeval)"
	case match(0, func(i int) byte { return byte(0x10 + i) }):
		return "0x10 + offset (no timeval)"
	}
	return "other"
}

func (d *Describer) icmp(f *fields, ip *layers.IPv4, pl []byte, who string) string {
	var ic layers.ICMPv4
	if err := ic.DecodeFromBytes(pl, gopacket.NilDecodeFeedback); err != nil || len(pl) < 8 {
		return "undecodable icmp " + who
	}
	t, c := ic.TypeCode.Type(), ic.TypeCode.Code()
	f.add("icmp.type/code", fmt.Sprintf("%d/%d", t, c))
	f.add("icmp.csum", checksumText(inetSum(pl, 0) == 0xffff))
	switch t {
	case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
		data := pl[8:]
		key := fmt.Sprintf("%d/%d", ic.Id, ic.Seq)
		f.add("icmp.seq", ic.Seq)
		f.add("icmp.data.len", len(data))
		kind := "icmp echo-request " + who
		if t == layers.ICMPv4TypeEchoRequest {
			f.add("icmp.id", map[bool]string{true: "0", false: "non-zero"}[ic.Id == 0])
			f.add("icmp.data", payloadLayout(data))
			d.echo[key] = append([]byte(nil), data...)
			d.sent = append(d.sent, append([]byte(nil), ip.Contents...))
			d.sent[len(d.sent)-1] = append(d.sent[len(d.sent)-1], pl...)
		} else {
			kind = "icmp echo-reply " + who
			req, ok := d.echo[key]
			f.add("icmp.id", map[bool]string{true: "= request's", false: "no matching request"}[ok])
			f.add("icmp.data", map[bool]string{true: "= request's", false: payloadLayout(data)}[ok && bytes.Equal(req, data)])
		}
		return kind
	case layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4TypeTimeExceeded:
		f.add("icmp.unused", binary.BigEndian.Uint16(pl[4:6]))
		if t == layers.ICMPv4TypeDestinationUnreachable && c == layers.ICMPv4CodeFragmentationNeeded {
			f.add("icmp.next-hop-mtu", binary.BigEndian.Uint16(pl[6:8]))
		} else {
			f.add("icmp.rest", binary.BigEndian.Uint16(pl[6:8]))
		}
		q := pl[8:]
		f.add("icmp.quote.len", len(q))
		f.add("icmp.quote", d.quote(q))
		name := fmt.Sprintf("icmp %d/%d", t, c)
		if t == layers.ICMPv4TypeDestinationUnreachable && c == layers.ICMPv4CodeFragmentationNeeded {
			name = "icmp frag-needed"
		}
		return name + " " + who
	}
	return fmt.Sprintf("icmp %d/%d %s", t, c, who)
}

// quote says what an ICMP error quotes, compared with the packets sent
// through this capture point.
func (d *Describer) quote(q []byte) string {
	if len(q) < 20 {
		return "short"
	}
	for i := len(d.sent) - 1; i >= 0; i-- {
		s := d.sent[i]
		if len(s) < len(q) {
			continue
		}
		if bytes.Equal(s[:len(q)], q) {
			return "the request's first bytes as sent"
		}
		if bytes.Equal(s[12:20], q[12:20]) && bytes.Equal(s[20:len(q)], q[20:]) {
			return fmt.Sprintf("the request with ttl %d (sent %d)", q[8], s[8])
		}
	}
	return "not a packet sent here"
}

func (d *Describer) udp(f *fields, ip *layers.IPv4, ipb, pl []byte, who string) string {
	var u layers.UDP
	if err := u.DecodeFromBytes(pl, gopacket.NilDecodeFeedback); err != nil {
		return "undecodable udp " + who
	}
	f.add("udp.sport", d.names.port(uint16(u.SrcPort)))
	f.add("udp.dport", d.names.port(uint16(u.DstPort)))
	f.add("udp.len", u.Length)
	cs := "0"
	if u.Checksum != 0 {
		cs = checksumText(transportOK(ip, pl))
	}
	f.add("udp.csum", cs)
	if uint16(u.DstPort) != d.names.VXLAN || len(pl) < 16 || f.prefix != "" {
		f.add("udp.data.len", len(pl)-8)
		if f.prefix == "" {
			d.sent = append(d.sent, append([]byte(nil), ipb...))
		}
		return "udp " + who
	}
	vx := pl[8:16]
	f.add("vxlan.flags", fmt.Sprintf("%#02x", vx[0]))
	f.add("vxlan.reserved", map[bool]string{true: "zero", false: fmt.Sprintf("%x %x", vx[1:4], vx[7])}[vx[1]|vx[2]|vx[3]|vx[7] == 0])
	f.add("vxlan.vni", uint32(vx[4])<<16|uint32(vx[5])<<8|uint32(vx[6]))
	in := &fields{prefix: "inner."}
	inner := d.eth(in, pl[16:])
	// The source port is the inner flow's hash in the ephemeral range:
	// the same for every packet of one inner flow direction.
	if prev, ok := d.vxPort[innerFlow(inner)]; ok {
		f.add("udp.sport-flow", map[bool]string{true: "same as the inner flow's first", false: "differs from the inner flow's first"}[prev == uint16(u.SrcPort)])
	}
	d.vxPort[innerFlow(inner)] = uint16(u.SrcPort)
	f.list = append(f.list, in.list...)
	return "vxlan " + who + " [" + inner + "]"
}

// innerFlow strips the flags from a TCP kind so that all segments of one
// direction share the VXLAN source-port rule.
func innerFlow(kind string) string {
	p := strings.Fields(kind)
	if len(p) >= 3 && p[0] == "tcp" {
		return "tcp " + p[2]
	}
	return kind
}

var tcpOptNames = map[layers.TCPOptionKind]string{0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 8: "ts"}

func (d *Describer) tcp(f *fields, ip *layers.IPv4, pl []byte, who string) string {
	var t layers.TCP
	if err := t.DecodeFromBytes(pl, gopacket.NilDecodeFeedback); err != nil {
		return "undecodable tcp " + who
	}
	flags := tcpFlags(&t)
	dirKey := fmt.Sprintf("%s:%d>%s:%d", ip.SrcIP, t.SrcPort, ip.DstIP, t.DstPort)
	revKey := fmt.Sprintf("%s:%d>%s:%d", ip.DstIP, t.DstPort, ip.SrcIP, t.SrcPort)
	f.add("tcp.sport", d.names.port(uint16(t.SrcPort)))
	f.add("tcp.dport", d.names.port(uint16(t.DstPort)))
	if t.SYN {
		d.isn[dirKey] = t.Seq
		f.add("tcp.seq", "isn")
	} else if isn, ok := d.isn[dirKey]; ok {
		f.add("tcp.seq", fmt.Sprintf("isn+%d", t.Seq-isn))
	} else {
		f.add("tcp.seq", "no SYN seen")
	}
	switch isn, ok := d.isn[revKey]; {
	case !t.ACK:
		f.add("tcp.ack", map[bool]string{true: "0", false: "non-zero without ACK"}[t.Ack == 0])
	case ok:
		f.add("tcp.ack", fmt.Sprintf("peer isn+%d", t.Ack-isn))
	default:
		f.add("tcp.ack", "no peer SYN seen")
	}
	f.add("tcp.flags", flags)
	f.add("tcp.hdrlen", int(t.DataOffset)*4)
	f.add("tcp.window", t.Window)
	f.add("tcp.csum", checksumText(transportOK(ip, pl)))
	f.add("tcp.urgent", t.Urgent)
	var kinds []string
	for _, o := range t.Options {
		name, ok := tcpOptNames[o.OptionType]
		if !ok {
			name = strconv.Itoa(int(o.OptionType))
		}
		if o.OptionType > 1 {
			name += fmt.Sprintf("(%d)", o.OptionLength)
		}
		kinds = append(kinds, name)
		switch o.OptionType {
		case 2:
			f.add("tcp.opt.mss", binary.BigEndian.Uint16(o.OptionData))
		case 3:
			f.add("tcp.opt.wscale", o.OptionData[0])
		case 8:
			val, ecr := binary.BigEndian.Uint32(o.OptionData[0:4]), binary.BigEndian.Uint32(o.OptionData[4:8])
			v := "non-zero"
			if prev, ok := d.tsval[dirKey]; ok {
				v = map[bool]string{true: "≥ previous", false: "< previous"}[val-prev < 1<<31]
			}
			if val == 0 {
				v = "0"
			}
			f.add("tcp.opt.ts.val", v)
			e := "other"
			switch peer, ok := d.tsval[revKey]; {
			case ecr == 0:
				e = "0"
			case ok && ecr == peer:
				e = "peer's last tsval"
			}
			f.add("tcp.opt.ts.ecr", e)
			d.tsval[dirKey] = val
		}
	}
	if len(kinds) == 0 {
		kinds = []string{"none"}
	}
	f.add("tcp.options", strings.Join(kinds, ","))
	f.add("tcp.data.len", len(t.Payload))
	kind := "tcp " + flags + " " + who
	if len(t.Payload) > 0 {
		kind += " +data"
	}
	return kind
}

// tcpFlags prints flags as tcpdump does: "S", "S.", "P.", "F.", "R.".
func tcpFlags(t *layers.TCP) string {
	var b strings.Builder
	for _, x := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.PSH, 'P'}, {t.RST, 'R'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}, {t.ACK, '.'}} {
		if x.on {
			b.WriteByte(x.c)
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
