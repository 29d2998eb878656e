package kubeproxy

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netfilter"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/NAME.golden (rewriting it with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test ./dataplane/kubeproxy -run %s -update", t.Name())
	requireSameLines(t, string(want), got)
}

// requireSameLines compares two texts line by line, reporting the first
// line that differs.
func requireSameLines(t *testing.T, want, got string) {
	t.Helper()
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			require.Equal(t, want, got, "first difference at line %d:\nwant: %s\ngot:  %s", i+1, wl, gl)
		}
	}
}

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// ---- a port of upstream's sortIPTablesRules (proxier_test.go) ----

type dumpChain struct {
	name  string
	rules []string
}

type dumpTable struct {
	name   string
	chains []*dumpChain
}

var commentRE = regexp.MustCompile(`--comment (?:"([^"]*)"|(\S+))`)

func ruleComment(r string) (string, bool) {
	m := commentRE.FindStringSubmatch(r)
	if m == nil {
		return "", false
	}
	if m[1] != "" {
		return m[1], true
	}
	return m[2], true
}

// parseDump reads iptables-restore text (chains declared with ":" lines)
// into tables of chains with their rules.
func parseDump(t *testing.T, text string) []*dumpTable {
	t.Helper()
	var tables []*dumpTable
	var cur *dumpTable
	byName := map[string]*dumpChain{}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
		case strings.HasPrefix(l, "*"):
			cur = &dumpTable{name: l[1:]}
			tables = append(tables, cur)
			byName = map[string]*dumpChain{}
		case l == "COMMIT":
			cur = nil
		case strings.HasPrefix(l, ":"):
			c := &dumpChain{name: strings.Fields(l[1:])[0]}
			cur.chains = append(cur.chains, c)
			byName[c.name] = c
		case strings.HasPrefix(l, "-A "):
			name := strings.Fields(l)[1]
			c := byName[name]
			require.NotNil(t, c, "rule for undeclared chain: %s", l)
			c.rules = append(c.rules, l)
		default:
			t.Fatalf("cannot parse dump line %q", l)
		}
	}
	return tables
}

// orderByCommentServiceName is upstream's: the service name is the
// comment up to the first space or colon.
func orderByCommentServiceName(a, b string) bool {
	ca, oka := ruleComment(a)
	cb, okb := ruleComment(b)
	if !oka || !okb {
		return false
	}
	if i := strings.IndexAny(ca, " :"); i != -1 {
		ca = ca[:i]
	}
	if i := strings.IndexAny(cb, " :"); i != -1 {
		cb = cb[:i]
	}
	return ca < cb
}

// sortIPTablesRules sorts iptables-restore text as upstream's test helper
// does, so that it does not depend on the order Services are processed in.
func sortIPTablesRules(t *testing.T, text string) string {
	t.Helper()
	tables := parseDump(t, text)
	sort.Slice(tables, func(i, j int) bool { return tables[i].name < tables[j].name })
	for _, tb := range tables {
		cs := tb.chains
		sort.SliceStable(cs, func(i, j int) bool {
			a, b := cs[i].name, cs[j].name
			switch {
			case a == kubeNodePortsChain:
				return true
			case b == kubeNodePortsChain:
				return false
			case a == kubeServicesChain:
				return true
			case b == kubeServicesChain:
				return false
			case strings.HasPrefix(a, "KUBE-") && !strings.HasPrefix(b, "KUBE-"):
				return true
			case !strings.HasPrefix(a, "KUBE-") && strings.HasPrefix(b, "KUBE-"):
				return false
			}
			return a < b
		})
		for _, c := range cs {
			rs := c.rules
			switch {
			case c.name == kubeNodePortsChain || (c.name == kubeServicesChain && tb.name == "filter"):
				sort.SliceStable(rs, func(i, j int) bool { return orderByCommentServiceName(rs[i], rs[j]) })
			case c.name == kubeServicesChain && tb.name == "nat":
				sort.SliceStable(rs, func(i, j int) bool {
					if strings.Contains(rs[i], "must be the last rule") {
						return false
					} else if strings.Contains(rs[j], "must be the last rule") {
						return true
					}
					return orderByCommentServiceName(rs[i], rs[j])
				})
			}
		}
	}
	var b strings.Builder
	for _, tb := range tables {
		b.WriteString("*" + tb.name + "\n")
		for _, c := range tb.chains {
			b.WriteString(":" + c.name + " - [0:0]\n")
		}
		for _, c := range tb.chains {
			for _, r := range c.rules {
				b.WriteString(r + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// dedent strips the common leading tabs of a raw string literal and the
// first newline, as upstream's dedent.Dedent does.
func dedent(s string) string {
	s = strings.TrimPrefix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// chainRules returns the "-A" lines of one chain of one table of
// iptables-restore or iptables-save text.
func chainRules(text, table, chain string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			in = l[1:] == table
		case in && strings.HasPrefix(l, "-A "+chain+" "):
			out = append(out, l)
		}
	}
	return out
}

// ---- a node's netfilter with a fake clock and host ----

type fakeSched struct{ now time.Duration }

func (s *fakeSched) Now() time.Duration { return s.now }
func (s *fakeSched) Deliver(time.Duration, link.Receiver, *link.Device, *packet.Buffer) {
	panic("no delivery in kube-proxy tests")
}
func (s *fakeSched) AfterFunc(time.Duration, func()) { panic("no timers in kube-proxy tests") }

type fakeHost struct {
	local map[netip.Addr]bool
	masq  map[string]netip.Addr
}

func (h *fakeHost) IsLocal(a netip.Addr) bool { return h.local[a] || a.IsLoopback() }
func (h *fakeHost) MasqueradeSource(out *link.Device, _ netip.Addr) (netip.Addr, bool) {
	if out == nil {
		return netip.Addr{}, false
	}
	a, ok := h.masq[out.Name]
	return a, ok
}

// node is one ACK node with flannel: pods on cni0 (172.20.0.0/24), the
// VXLAN device flannel.1 toward other nodes' pods, eth0 192.168.0.10.
type node struct {
	t                   *testing.T
	sched               *fakeSched
	env                 *link.Env
	nf                  *netfilter.Netfilter
	host                *fakeHost
	cni0, flannel, eth0 *link.Device
	lo                  *link.Device
}

func newNode(t *testing.T, seed uint64) *node {
	t.Helper()
	s := &fakeSched{now: time.Hour}
	env := link.NewEnv(s)
	h := &fakeHost{
		local: map[netip.Addr]bool{addr("192.168.0.10"): true, addr("172.20.0.1"): true, addr("172.20.0.0"): true},
		masq:  map[string]netip.Addr{"eth0": addr("192.168.0.10"), "cni0": addr("172.20.0.1"), "flannel.1": addr("172.20.0.0")},
	}
	n := &node{t: t, sched: s, env: env, host: h, nf: netfilter.New(env, "node-1", h, seed)}
	n.cni0 = link.NewDevice(env, "node-1", "cni0", "bridge", link.Ether, 1450, packet.MAC{0x0a, 0x58, 0xac, 0x14, 0, 1}, nil)
	n.flannel = link.NewDevice(env, "node-1", "flannel.1", "vxlan", link.Ether, 1450, packet.MAC{0x5e, 1, 2, 3, 4, 5}, nil)
	n.eth0 = link.NewDevice(env, "node-1", "eth0", "device", link.Ether, 1500, packet.MAC{0x00, 0x16, 0x3e, 0, 0, 1}, nil)
	n.lo = link.NewDevice(env, "node-1", "lo", "loopback", link.RawIP, 65536, packet.MAC{}, nil)
	return n
}

// result is a packet after some hooks.
type result struct {
	v     netstack.Verdict
	at    netstack.Hook
	pkt   *packet.Buffer
	bytes []byte
}

func (n *node) run(b []byte, in, out *link.Device, hooks ...netstack.Hook) result {
	n.t.Helper()
	pkt := n.env.Pool.From(b)
	for _, h := range hooks {
		var hin, hout *link.Device
		switch h {
		case netstack.PreRouting, netstack.LocalIn, netstack.LocalInNAT:
			hin = in
		case netstack.Forward, netstack.PostRouting:
			hin, hout = in, out
		case netstack.LocalOut, netstack.LocalOutFilter:
			hout = out
		}
		v := n.nf.Hook(h, pkt, hin, hout)
		if v.Kind != netstack.Accept {
			return result{v: v, at: h, pkt: pkt, bytes: append([]byte(nil), pkt.Bytes()...)}
		}
	}
	return result{pkt: pkt, bytes: append([]byte(nil), pkt.Bytes()...)}
}

// forward: PREROUTING, FORWARD, POSTROUTING.
func (n *node) forward(b []byte, in, out *link.Device) result {
	return n.run(b, in, out, netstack.PreRouting, netstack.Forward, netstack.PostRouting)
}

// input: PREROUTING, INPUT (filter, then nat).
func (n *node) input(b []byte, in *link.Device) result {
	return n.run(b, in, nil, netstack.PreRouting, netstack.LocalIn, netstack.LocalInNAT)
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var ip *layers.IPv4
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.IPv4:
			ip = v
		case *layers.TCP:
			require.NoError(t, v.SetNetworkLayerForChecksum(ip))
		case *layers.UDP:
			require.NoError(t, v.SetNetworkLayerForChecksum(ip))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

func ipv4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: proto,
		SrcIP: net.IP(addr(src).AsSlice()), DstIP: net.IP(addr(dst).AsSlice())}
}

func syn(t testing.TB, src string, sport uint16, dst string, dport uint16) []byte {
	return serialize(t, ipv4(src, dst, layers.IPProtocolTCP),
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Seq: 1000, Window: 64240})
}

func udp(t testing.TB, src string, sport uint16, dst string, dport uint16) []byte {
	return serialize(t, ipv4(src, dst, layers.IPProtocolUDP),
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload("hello"))
}

// ends returns the source and destination of a TCP/UDP packet.
func ends(b []byte) (netip.AddrPort, netip.AddrPort) {
	ip := packet.IPv4(b)
	u := packet.UDP(ip.Payload())
	return netip.AddrPortFrom(ip.Src(), u.SrcPort()), netip.AddrPortFrom(ip.Dst(), u.DstPort())
}

// requireChecksums recomputes every checksum with gopacket.
func requireChecksums(t testing.TB, b []byte) {
	t.Helper()
	pk := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ls := []gopacket.SerializableLayer{ip}
	switch l := pk.Layers()[1].(type) {
	case *layers.TCP:
		require.NoError(t, l.SetNetworkLayerForChecksum(ip))
		ls = append(ls, l, gopacket.Payload(l.Payload))
	case *layers.UDP:
		require.NoError(t, l.SetNetworkLayerForChecksum(ip))
		ls = append(ls, l, gopacket.Payload(l.Payload))
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...))
	require.Equal(t, buf.Bytes(), b, "checksums stay valid")
}

// icmpUnreachAbout is an ICMP port unreachable quoting a UDP datagram of no
// known connection (conntrack: INVALID).
func icmpUnreachAbout(t testing.TB, src, dst string) []byte {
	quoted := udp(t, dst, 53, src, 40000)
	return serialize(t, ipv4(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)},
		gopacket.Payload(quoted))
}
