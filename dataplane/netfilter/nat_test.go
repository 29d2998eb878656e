package netfilter

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// kubeProxyNAT is the nat table kube-proxy (iptables mode) writes for one
// ClusterIP service default/web:http 172.21.0.10:80 with one endpoint on
// another node, plus flannel's masquerade chain.
const kubeProxyNAT = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-WEB1 - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-WEB1 -s 10.244.2.7/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-WEB1 -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SERVICES -d 172.21.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB ! -s 10.244.0.0/16 -d 172.21.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.2.7:8080" -j KUBE-SEP-WEB1
COMMIT
`

func TestDNATClusterIPAndReply(t *testing.T) {
	r := newRig(t, 1)
	rec := r.traceOn()
	r.restore(kubeProxyNAT)
	dnat := r.rule("nat", "KUBE-SEP-WEB1", 1)

	// SYN from a pod to the cluster IP: DNAT at PREROUTING.
	syn := tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, "S", "")
	pre := r.run(syn, r.cni0, nil, netstack.PreRouting)
	require.Equal(t, netstack.Accept, pre.v.Kind)
	src, dst := endpoints(pre.bytes)
	assert.Equal(t, ap("10.244.1.5:40000"), src, "source untouched")
	assert.Equal(t, ap("10.244.2.7:8080"), dst, "destination rewritten to the endpoint")
	requireChecksums(t, pre.bytes)
	// Only the address and port changed.
	want := append([]byte(nil), syn...)
	copy(want[16:20], []byte{10, 244, 2, 7})
	want[22], want[23] = 8080>>8, 8080&0xff
	for _, i := range []int{10, 11, 36, 37} { // IP and TCP checksum fields
		want[i] = pre.bytes[i]
	}
	assert.Equal(t, want, pre.bytes)

	// On through FORWARD and POSTROUTING: no SNAT (pod source, no mark).
	pkt := pre.pkt
	require.Equal(t, netstack.Accept, r.nf.Hook(netstack.Forward, pkt, r.cni0, r.flannel).Kind)
	require.Equal(t, netstack.Accept, r.nf.Hook(netstack.PostRouting, pkt, r.cni0, r.flannel).Kind)
	assert.Equal(t, pre.bytes, pkt.Bytes())
	conn := pkt.CT.(*Conn)
	assert.True(t, conn.Confirmed())
	assert.True(t, conn.DstNAT())
	assert.False(t, conn.SrcNAT())
	assert.Equal(t, uint64(1), dnat.Packets)

	// SYN-ACK from the endpoint: de-DNATed source at POSTROUTING.
	synAck := tcpPkt(t, "10.244.2.7", 8080, "10.244.1.5", 40000, "SA", "")
	pre2 := r.run(synAck, r.flannel, r.cni0, netstack.PreRouting, netstack.Forward)
	require.Equal(t, netstack.Accept, pre2.v.Kind)
	assert.Equal(t, synAck, pre2.bytes, "nothing to undo before routing: the reply's destination is the real client")
	post := r.nf.Hook(netstack.PostRouting, pre2.pkt, r.flannel, r.cni0)
	require.Equal(t, netstack.Accept, post.Kind)
	reply := append([]byte(nil), pre2.pkt.Bytes()...)
	src, dst = endpoints(reply)
	assert.Equal(t, ap("172.21.0.10:80"), src, "the client sees the cluster IP answer")
	assert.Equal(t, ap("10.244.1.5:40000"), dst)
	requireChecksums(t, reply)
	assert.True(t, pre2.pkt.CTReply)

	// The client's ACK and data are translated from conntrack: the nat
	// rules are not evaluated again.
	natCounters := func() (n uint64) {
		for _, c := range r.nf.Table("nat").Chains {
			for _, rl := range c.Rules {
				n += rl.Packets
			}
		}
		return n
	}
	before := natCounters()
	for i, flags := range []string{"A", "PA", "FA"} {
		b := tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, flags, strings.Repeat("x", i*100))
		s := r.forward(b, r.cni0, r.flannel)
		require.Equal(t, netstack.Accept, s.v.Kind)
		_, d := endpoints(s.bytes)
		assert.Equal(t, ap("10.244.2.7:8080"), d)
		requireChecksums(t, s.bytes)
	}
	assert.Equal(t, before, natCounters(), "nat rules see only a connection's first packet")
	assert.Equal(t, uint64(1), dnat.Packets)
	assert.Equal(t, uint64(4), conn.Packets[0])
	assert.Equal(t, uint64(1), conn.Packets[1])

	// The trace tells the story.
	var changes []string
	for _, h := range rec.HopList() {
		if h.Kind == trace.KindNAT {
			changes = append(changes, h.Change)
		}
	}
	require.NotEmpty(t, changes)
	assert.Equal(t, "DNAT 172.21.0.10:80 → 10.244.2.7:8080; conntrack #1 reply tuple src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40000", changes[0])
	assert.Contains(t, changes, "de-DNAT src 10.244.2.7:8080 → 172.21.0.10:80 (conntrack #1, reply direction)")
}

func TestDNATFromOutsideIsMasqueraded(t *testing.T) {
	// A client outside the pod network reaches the cluster IP through the
	// node: KUBE-MARK-MASQ marks it, KUBE-POSTROUTING masquerades it.
	r := newRig(t, 3)
	r.restore(kubeProxyNAT)
	syn := tcpPkt(t, "192.168.0.50", 33333, "172.21.0.10", 80, "S", "")
	s := r.forward(syn, r.eth0, r.flannel)
	require.Equal(t, netstack.Accept, s.v.Kind)
	src, dst := endpoints(s.bytes)
	assert.Equal(t, ap("10.244.2.7:8080"), dst)
	assert.Equal(t, mustAddr("10.244.1.0"), src.Addr(), "MASQUERADE picks flannel.1's address")
	assert.GreaterOrEqual(t, src.Port(), uint16(1024))
	requireChecksums(t, s.bytes)
	assert.Zero(t, s.pkt.Mark, "KUBE-POSTROUTING clears the masquerade bit")
	conn := s.pkt.CT.(*Conn)
	assert.True(t, conn.SrcNAT() && conn.DstNAT())

	// The reply is de-SNATed at PREROUTING and de-DNATed at POSTROUTING.
	reply := tcpPkt(t, "10.244.2.7", 8080, "10.244.1.0", src.Port(), "SA", "")
	s2 := r.forward(reply, r.flannel, r.eth0)
	require.Equal(t, netstack.Accept, s2.v.Kind)
	rs, rd := endpoints(s2.bytes)
	assert.Equal(t, ap("172.21.0.10:80"), rs)
	assert.Equal(t, ap("192.168.0.50:33333"), rd)
	requireChecksums(t, s2.bytes)
	assert.Contains(t, conn.Format(r.sched.now), "src=192.168.0.50 dst=172.21.0.10 sport=33333 dport=80 src=10.244.2.7 dst=10.244.1.0 sport=8080 dport="+fmt.Sprint(src.Port()))
}

func TestMasqueradeRandomFully(t *testing.T) {
	r := newRig(t, 42)
	r.restore(`*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
`)
	ports := map[uint16]bool{}
	for i := 0; i < 200; i++ {
		sport := uint16(40000 + i)
		b := udpPkt(t, "10.244.1.5", sport, "8.8.8.8", 53, "query")
		s := r.forward(b, r.cni0, r.eth0)
		require.Equal(t, netstack.Accept, s.v.Kind)
		src, dst := endpoints(s.bytes)
		require.Equal(t, mustAddr(nodeIP), src.Addr())
		require.Equal(t, ap("8.8.8.8:53"), dst)
		require.GreaterOrEqual(t, src.Port(), uint16(1024))
		requireChecksums(t, s.bytes)
		require.False(t, ports[src.Port()], "each connection gets its own port")
		ports[src.Port()] = true

		// The reply is de-SNATed at PREROUTING, before routing.
		reply := udpPkt(t, "8.8.8.8", 53, nodeIP, src.Port(), "answer!")
		pre := r.run(reply, r.eth0, r.cni0, netstack.PreRouting)
		require.Equal(t, netstack.Accept, pre.v.Kind)
		rs, rd := endpoints(pre.bytes)
		require.Equal(t, ap("8.8.8.8:53"), rs)
		require.Equal(t, netip.AddrPortFrom(mustAddr("10.244.1.5"), sport), rd)
		requireChecksums(t, pre.bytes)
	}
	var kept int
	for p := range ports {
		if p >= 40000 && p < 40200 {
			kept++
		}
	}
	assert.Less(t, kept, 5, "--random-fully does not keep the original port")
	// Spread over the whole range.
	var lo, hi int
	for p := range ports {
		if p < 33000 {
			lo++
		} else {
			hi++
		}
	}
	assert.InDelta(t, 100, lo, 30)
	assert.InDelta(t, 100, hi, 30)

	// Pod-to-pod traffic is not masqueraded.
	s := r.forward(udpPkt(t, "10.244.1.5", 1, "10.244.2.7", 2, ""), r.cni0, r.flannel)
	src, _ := endpoints(s.bytes)
	assert.Equal(t, ap("10.244.1.5:1"), src)
}

func TestMasqueradePortChoice(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		proto     string
		sport     uint16
		lo, hi    uint16
		keepFirst bool
	}{
		{"keeps a free ephemeral port", "MASQUERADE", "udp", 40000, 40000, 40000, true},
		{"keeps a free privileged port", "MASQUERADE", "udp", 123, 123, 123, true},
		{"random-fully remaps a privileged port below 512", "MASQUERADE --random-fully", "udp", 123, 1, 511, false},
		{"random-fully remaps 600-1023 within it", "MASQUERADE --random-fully", "tcp", 700, 600, 1023, false},
		{"random remaps too", "MASQUERADE --random", "tcp", 40000, 1024, 65535, false},
		{"to-ports range", "MASQUERADE --to-ports 20000-20009", "udp", 40000, 20000, 20009, false},
		{"to-ports keeps a port inside", "MASQUERADE --to-ports 40000-40009", "udp", 40000, 40000, 40000, true},
		{"SNAT with a port", "SNAT --to-source 192.168.0.99:7777", "udp", 40000, 7777, 7777, false},
		{"SNAT without a port keeps it", "SNAT --to-source 192.168.0.99", "tcp", 40000, 40000, 40000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 9)
			r.restore(fmt.Sprintf("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -p %s -j %s\nCOMMIT\n", tc.proto, tc.target))
			var b []byte
			if tc.proto == "udp" {
				b = udpPkt(t, "10.244.1.5", tc.sport, "8.8.8.8", 53, "")
			} else {
				b = tcpPkt(t, "10.244.1.5", tc.sport, "8.8.8.8", 53, "S", "")
			}
			s := r.forward(b, r.cni0, r.eth0)
			require.Equal(t, netstack.Accept, s.v.Kind)
			src, _ := endpoints(s.bytes)
			assert.GreaterOrEqual(t, src.Port(), tc.lo)
			assert.LessOrEqual(t, src.Port(), tc.hi)
			if tc.keepFirst {
				assert.Equal(t, tc.sport, src.Port())
			} else {
				assert.NotEqual(t, tc.sport, src.Port())
			}
			requireChecksums(t, s.bytes)
			// A second client using the same port to the same server
			// cannot keep it: the tuple is taken.
			if tc.keepFirst && !strings.Contains(tc.target, ":7777") {
				var b2 []byte
				if tc.proto == "udp" {
					b2 = udpPkt(t, "10.244.1.6", tc.sport, "8.8.8.8", 53, "")
				} else {
					b2 = tcpPkt(t, "10.244.1.6", tc.sport, "8.8.8.8", 53, "S", "")
				}
				s2 := r.forward(b2, r.cni0, r.eth0)
				require.Equal(t, netstack.Accept, s2.v.Kind)
				src2, _ := endpoints(s2.bytes)
				assert.NotEqual(t, src.Port(), src2.Port())
			}
		})
	}
}

func TestMasqueradeWithoutAddressDrops(t *testing.T) {
	r := newRig(t, 1)
	r.restore("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n")
	s := r.forward(udpPkt(t, "10.244.1.5", 1, "8.8.8.8", 53, ""), r.cni0, r.tun0)
	assert.Equal(t, netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered,
		Detail: "MASQUERADE: node-1/tun0 has no address (-A POSTROUTING -j MASQUERADE)"}, s.v)
	assert.Equal(t, netstack.PostRouting, s.at)
}

func TestMasqueradeICMPEcho(t *testing.T) {
	r := newRig(t, 5)
	r.restore("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE --random-fully\nCOMMIT\n")
	s := r.forward(echoPkt(t, "10.244.1.5", "8.8.8.8", false, 77, 1), r.cni0, r.eth0)
	require.Equal(t, netstack.Accept, s.v.Kind)
	pk := requireChecksums(t, s.bytes)
	ic := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	assert.Equal(t, nodeIP, pk.NetworkLayer().NetworkFlow().Src().String())
	newID := ic.Id

	reply := echoPkt(t, "8.8.8.8", nodeIP, true, newID, 1)
	s2 := r.forward(reply, r.eth0, r.cni0)
	require.Equal(t, netstack.Accept, s2.v.Kind)
	pk2 := requireChecksums(t, s2.bytes)
	assert.Equal(t, "10.244.1.5", pk2.NetworkLayer().NetworkFlow().Dst().String())
	assert.Equal(t, uint16(77), pk2.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4).Id)
	conn := s2.pkt.CT.(*Conn)
	assert.Equal(t, fmt.Sprintf("icmp     1 30 src=10.244.1.5 dst=8.8.8.8 type=8 code=0 id=77 src=8.8.8.8 dst=192.168.0.10 type=0 code=0 id=%d mark=0 use=1", newID),
		conn.Format(r.sched.now))
}

func TestStatisticDistribution(t *testing.T) {
	// kube-proxy's three-endpoint service: 1/3, then 1/2 of the rest,
	// then the last one.
	r := newRig(t, 2024)
	r.restore(`*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
:KUBE-SEP-C - [0:0]
-A PREROUTING -d 172.21.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A
-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-B
-A KUBE-SVC-WEB -j KUBE-SEP-C
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.244.3.8:8080
-A KUBE-SEP-C -p tcp -m tcp -j DNAT --to-destination 10.244.4.9:8080
COMMIT
`)
	const n = 3000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		b := tcpPkt(t, "10.244.1.5", uint16(20000+i), "172.21.0.10", 80, "S", "")
		s := r.run(b, r.cni0, nil, netstack.PreRouting)
		require.Equal(t, netstack.Accept, s.v.Kind)
		_, d := endpoints(s.bytes)
		counts[d.Addr().String()]++
		// A retransmitted SYN of the same (unconfirmed) connection is
		// NEW again; a confirmed one would not be: confirm it.
		require.Equal(t, netstack.Accept, r.nf.Hook(netstack.PostRouting, s.pkt, r.cni0, r.flannel).Kind)
	}
	require.Len(t, counts, 3)
	chi2 := 0.0
	for _, ep := range []string{"10.244.2.7", "10.244.3.8", "10.244.4.9"} {
		d := float64(counts[ep]) - n/3.0
		chi2 += d * d / (n / 3.0)
	}
	// 2 degrees of freedom: P(chi2 > 13.82) = 0.001.
	assert.Less(t, chi2, 13.82, "counts %v", counts)
	// Counters count matches: the statistic rules match their share.
	assert.Equal(t, uint64(n), r.rule("nat", "PREROUTING", 0).Packets)
	assert.Equal(t, uint64(counts["10.244.2.7"]), r.rule("nat", "KUBE-SVC-WEB", 0).Packets)
	assert.Equal(t, uint64(counts["10.244.3.8"]), r.rule("nat", "KUBE-SVC-WEB", 1).Packets)
	assert.Equal(t, uint64(counts["10.244.4.9"]), r.rule("nat", "KUBE-SVC-WEB", 2).Packets)
	assert.Equal(t, uint64(counts["10.244.2.7"]), r.rule("nat", "KUBE-SEP-A", 0).Packets)
	assert.Len(t, r.nf.Conntrack().Entries(), n)
}

func TestRecentSessionAffinity(t *testing.T) {
	r := newRig(t, 77)
	r.restore(`*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A PREROUTING -d 172.21.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.2.7:8080" -m recent --name KUBE-SEP-A --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-SEP-A
-A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.3.8:8080" -m recent --name KUBE-SEP-B --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-SEP-B
-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A
-A KUBE-SVC-WEB -j KUBE-SEP-B
-A KUBE-SEP-A -p tcp -m recent --set --name KUBE-SEP-A --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SEP-B -p tcp -m recent --set --name KUBE-SEP-B --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.3.8:8080
COMMIT
`)
	port := uint16(1000)
	connect := func(client string) string {
		port++
		b := tcpPkt(t, client, port, "172.21.0.10", 80, "S", "")
		s := r.run(b, r.cni0, r.flannel, netstack.PreRouting, netstack.PostRouting)
		require.Equal(t, netstack.Accept, s.v.Kind)
		_, d := endpoints(s.bytes)
		return d.Addr().String()
	}
	first := connect("10.244.1.5")
	for i := 0; i < 50; i++ {
		r.sched.now += time.Minute
		require.Equal(t, first, connect("10.244.1.5"), "connection %d sticks to the first endpoint", i)
	}
	// Another client is balanced independently (and sticks too).
	other := connect("10.244.1.6")
	for i := 0; i < 10; i++ {
		require.Equal(t, other, connect("10.244.1.6"))
	}
	// Exactly at the limit the entry still matches (now - last <= seconds).
	r.sched.now += 10800 * time.Second
	require.Equal(t, first, connect("10.244.1.5"))

	// After --seconds without a new connection the affinity is gone: the
	// client is balanced again, so over many rounds both endpoints occur.
	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		r.sched.now += 10801 * time.Second
		seen[connect("10.244.1.5")]++
	}
	assert.Len(t, seen, 2, "after expiry both endpoints are picked: %v", seen)

	// --reap forgot the other client's stale entry.
	assert.NotContains(t, r.nf.recent["KUBE-SEP-A"], mustAddr("10.244.1.6"))
	assert.NotContains(t, r.nf.recent["KUBE-SEP-B"], mustAddr("10.244.1.6"))
}

func TestICMPFragNeededAboutMasqueradedPacket(t *testing.T) {
	r := newRig(t, 11)
	rec := r.traceOn()
	r.restore(`*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE --random-fully
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate RELATED -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A FORWARD -i cni0 -m conntrack --ctstate NEW -j ACCEPT
COMMIT
`)
	// A pod's big TCP segment leaves through eth0, masqueraded.
	data := tcpPkt(t, "10.244.1.5", 40000, "8.8.8.8", 443, "PA", strings.Repeat("d", 1400))
	out := r.forward(data, r.cni0, r.eth0)
	require.Equal(t, netstack.Accept, out.v.Kind)
	masqSrc, _ := endpoints(out.bytes)
	require.Equal(t, mustAddr(nodeIP), masqSrc.Addr())

	// A router on the path answers "fragmentation needed", quoting the
	// packet as it saw it (masqueraded), as much as fits in 576 bytes.
	for _, quote := range []int{28, 548} {
		t.Run(fmt.Sprintf("quoting %d bytes", quote), func(t *testing.T) {
			icmp := icmpErr(t, "192.168.0.1", nodeIP, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded, 1400, out.bytes, quote)
			relatedBefore := r.rule("filter", "FORWARD", 0).Packets
			s := r.forward(icmp, r.eth0, r.cni0)
			require.Equal(t, netstack.Accept, s.v.Kind)
			assert.Equal(t, relatedBefore+1, r.rule("filter", "FORWARD", 0).Packets, "the error is RELATED")
			assert.True(t, s.pkt.CTRelated)

			pk := requireChecksums(t, s.bytes)
			outer := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			assert.Equal(t, "192.168.0.1", outer.SrcIP.String(), "the router stays the source")
			assert.Equal(t, "10.244.1.5", outer.DstIP.String(), "outer destination translated back to the pod")
			ic := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			assert.Equal(t, layers.CreateICMPv4TypeCode(3, 4), ic.TypeCode)
			assert.Equal(t, uint16(1400), ic.Seq, "next-hop MTU kept")

			inner := packet.IPv4(ic.Payload)
			assert.Equal(t, mustAddr("10.244.1.5"), inner.Src(), "quoted source translated back")
			assert.Equal(t, mustAddr("8.8.8.8"), inner.Dst())
			assert.True(t, inner.ChecksumOK(), "quoted IPv4 header checksum fixed")
			l4 := inner[inner.HeaderLen():]
			assert.Equal(t, uint16(40000), packet.TCP(l4).SrcPort(), "quoted source port translated back")
			assert.Equal(t, uint16(443), packet.TCP(l4).DstPort())
			assert.Equal(t, quote, len(ic.Payload))
			var translated string
			for _, h := range rec.HopList() {
				if h.Kind == trace.KindNAT && strings.HasPrefix(h.Change, "ICMP error translated") {
					translated = h.Change
				}
			}
			assert.Equal(t, "ICMP error translated with conntrack #1: "+
				"192.168.0.1 > 192.168.0.10: ICMP unreachable - need to frag (mtu 1400) (about 192.168.0.10 > 8.8.8.8), ttl 64, DF, len "+fmt.Sprint(20+8+quote)+
				" ⇒ 192.168.0.1 > 10.244.1.5: ICMP unreachable - need to frag (mtu 1400) (about 10.244.1.5 > 8.8.8.8), ttl 64, DF, len "+fmt.Sprint(20+8+quote),
				translated)
			rec.Reset()
			if quote >= 40 {
				// With the TCP header quoted whole its checksum is updated
				// incrementally, so the quoted bytes stay consistent with
				// the original segment's checksum over the full payload.
				orig := packet.IPv4(data)
				assert.Equal(t, packet.TCP(orig.Payload()).Checksum(), packet.TCP(l4).Checksum())
			}
		})
	}
}

func TestICMPPortUnreachableAboutDNATedPacket(t *testing.T) {
	r := newRig(t, 12)
	r.restore(`*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -d 172.21.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.2.7:5353
COMMIT
`)
	q := udpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 53, "query")
	s := r.forward(q, r.cni0, r.flannel)
	require.Equal(t, netstack.Accept, s.v.Kind)
	_, d := endpoints(s.bytes)
	require.Equal(t, ap("10.244.2.7:5353"), d)

	// The backend has nothing on 5353: port unreachable about the
	// translated query. The client must see it come from the service IP,
	// about the packet it sent.
	icmp := icmpErr(t, "10.244.2.7", "10.244.1.5", layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort, 0, s.bytes, 0)
	s2 := r.forward(icmp, r.flannel, r.cni0)
	require.Equal(t, netstack.Accept, s2.v.Kind)
	pk := requireChecksums(t, s2.bytes)
	outer := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	assert.Equal(t, "172.21.0.10", outer.SrcIP.String())
	assert.Equal(t, "10.244.1.5", outer.DstIP.String())
	inner := packet.IPv4(pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4).Payload)
	assert.Equal(t, q, []byte(inner), "the quoted packet is exactly what the client sent")
	assert.True(t, packet.TransportChecksumOK(inner.Payload(), inner.Src(), inner.Dst(), packet.ProtoUDP))
}

func TestICMPErrorWithBogusQuoteIsInvalid(t *testing.T) {
	r := newRig(t, 1)
	r.restore(`*filter
:INPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID -j DROP
COMMIT
`)
	quoted := udpPkt(t, "192.168.0.10", 1, "8.8.8.8", 2, "")
	quoted[0] = 0x4f // IHL 15: 60 bytes of header, only 28 quoted
	icmp := icmpErr(t, "8.8.8.8", nodeIP, 3, 3, 0, quoted, 0)
	var s step
	require.NotPanics(t, func() { s = r.input(icmp, r.eth0) })
	assert.Equal(t, netstack.Drop, s.v.Kind)
	assert.Equal(t, "table filter: -A INPUT -m conntrack --ctstate INVALID -j DROP", s.v.Detail)

	// An error about an unknown connection is INVALID too.
	icmp2 := icmpErr(t, "8.8.8.8", nodeIP, 3, 3, 0, udpPkt(t, nodeIP, 1, "8.8.8.8", 2, ""), 0)
	assert.Equal(t, netstack.Drop, r.input(icmp2, r.eth0).v.Kind)
}

func TestReplyTupleClash(t *testing.T) {
	// Two services DNAT the same client port to the same backend: the
	// second connection's reply tuple equals the first's.
	nat := `*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -d 172.21.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.2.7:53
-A PREROUTING -d 172.21.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.2.7:53
COMMIT
`
	t.Run("live entry: source port remapped (null binding)", func(t *testing.T) {
		r := newRig(t, 1)
		r.restore(nat)
		s1 := r.forward(udpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 53, "a"), r.cni0, r.flannel)
		require.Equal(t, netstack.Accept, s1.v.Kind)
		s2 := r.forward(udpPkt(t, "10.244.1.5", 40000, "172.21.0.11", 53, "b"), r.cni0, r.flannel)
		require.Equal(t, netstack.Accept, s2.v.Kind, s2.v.Detail)
		src2, dst2 := endpoints(s2.bytes)
		assert.Equal(t, ap("10.244.2.7:53"), dst2)
		assert.Equal(t, mustAddr("10.244.1.5"), src2.Addr())
		assert.NotEqual(t, uint16(40000), src2.Port())
		requireChecksums(t, s2.bytes)
		// Each answer goes back through its own connection.
		a2 := r.forward(udpPkt(t, "10.244.2.7", 53, "10.244.1.5", src2.Port(), "B"), r.flannel, r.cni0)
		rs, rd := endpoints(a2.bytes)
		assert.Equal(t, ap("172.21.0.11:53"), rs)
		assert.Equal(t, ap("10.244.1.5:40000"), rd)
		a1 := r.forward(udpPkt(t, "10.244.2.7", 53, "10.244.1.5", 40000, "A"), r.flannel, r.cni0)
		rs, rd = endpoints(a1.bytes)
		assert.Equal(t, ap("172.21.0.10:53"), rs)
		assert.Equal(t, ap("10.244.1.5:40000"), rd)
	})
	t.Run("expired entry does not clash", func(t *testing.T) {
		r := newRig(t, 1)
		r.restore(nat)
		require.Equal(t, netstack.Accept, r.forward(udpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 53, "a"), r.cni0, r.flannel).v.Kind)
		r.sched.now += UDPTimeout + time.Second
		s := r.forward(udpPkt(t, "10.244.1.5", 40000, "172.21.0.11", 53, "b"), r.cni0, r.flannel)
		require.Equal(t, netstack.Accept, s.v.Kind, s.v.Detail)
		src, _ := endpoints(s.bytes)
		assert.Equal(t, ap("10.244.1.5:40000"), src, "no remapping needed once the old entry expired")
		assert.Len(t, r.nf.Conntrack().Entries(), 1)
	})
}

func TestNATTargetChainChecks(t *testing.T) {
	tests := []struct {
		table, rule, err string
	}{
		{"nat", "-A POSTROUTING -j DNAT --to-destination 10.0.0.1", "not valid in chain POSTROUTING (only in PREROUTING and OUTPUT)"},
		{"nat", "-A INPUT -j DNAT --to-destination 10.0.0.1", "not valid in chain INPUT"},
		{"nat", "-A PREROUTING -j SNAT --to-source 10.0.0.1", "not valid in chain PREROUTING (only in POSTROUTING and INPUT)"},
		{"nat", "-A INPUT -j MASQUERADE", "not valid in chain INPUT (only in POSTROUTING)"},
		{"filter", "-A FORWARD -j MASQUERADE", "only valid in the nat table"},
		{"nat", "-A PREROUTING -j REJECT", "REJECT is only valid in the filter table"},
		{"nat", "-A PREROUTING -j NOPE", `jump to unknown chain "NOPE"`},
		{"nat", "-A NOPE -j ACCEPT", `no chain "NOPE"`},
		{"raw2", "-A PREROUTING -j ACCEPT", `no table "raw2"`},
	}
	for _, tc := range tests {
		r := newRig(t, 1)
		err := r.nf.Append(tc.table, tc.rule)
		require.Error(t, err, tc.rule)
		assert.Contains(t, err.Error(), tc.err)
	}
	r := newRig(t, 1)
	require.NoError(t, r.nf.Append("nat", "-A OUTPUT -j DNAT --to-destination 10.0.0.1", "-A INPUT -j SNAT --to-source 10.0.0.1"))
	require.NoError(t, r.nf.NewChain("nat", "USER"))
	require.NoError(t, r.nf.Append("nat", "-A USER -j MASQUERADE", "-A USER -j DNAT --to-destination 10.0.0.1"))
}

func TestNATDropInNatTable(t *testing.T) {
	r := newRig(t, 1)
	r.restore("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 172.21.0.99/32 -j DROP\nCOMMIT\n")
	s := r.forward(udpPkt(t, "10.244.1.5", 1, "172.21.0.99", 2, ""), r.cni0, r.eth0)
	assert.Equal(t, netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered, Detail: "table nat: -A PREROUTING -d 172.21.0.99/32 -j DROP"}, s.v)
}

func TestLocalOutputToClusterIP(t *testing.T) {
	// curl on the node itself: DNAT at OUTPUT, KUBE-MARK-MASQ (the source
	// is not a pod), MASQUERADE at POSTROUTING; the answer is de-SNATed at
	// PREROUTING and de-DNATed at INPUT.
	r := newRig(t, 8)
	rec := r.traceOn()
	r.restore(kubeProxyNAT)
	out := r.output(tcpPkt(t, nodeIP, 45678, "172.21.0.10", 80, "S", ""), r.flannel)
	require.Equal(t, netstack.Accept, out.v.Kind)
	src, dst := endpoints(out.bytes)
	assert.Equal(t, ap("10.244.2.7:8080"), dst)
	assert.Equal(t, mustAddr("10.244.1.0"), src.Addr())
	requireChecksums(t, out.bytes)

	in := r.input(tcpPkt(t, "10.244.2.7", 8080, "10.244.1.0", src.Port(), "SA", ""), r.flannel)
	require.Equal(t, netstack.Accept, in.v.Kind)
	rs, rd := endpoints(in.bytes)
	assert.Equal(t, ap("172.21.0.10:80"), rs)
	assert.Equal(t, ap(nodeIP+":45678"), rd)
	requireChecksums(t, in.bytes)

	var nat []string
	for _, h := range rec.HopList() {
		if h.Kind == trace.KindNAT {
			nat = append(nat, h.Change)
		}
	}
	assert.Equal(t, []string{
		"DNAT 172.21.0.10:80 → 10.244.2.7:8080; conntrack #1 reply tuple src=10.244.2.7 dst=192.168.0.10 sport=8080 dport=45678",
		"DNAT 172.21.0.10:80 → 10.244.2.7:8080 (conntrack #1, original direction)",
		fmt.Sprintf("SNAT 192.168.0.10:45678 → 10.244.1.0:%d; conntrack #1 reply tuple src=10.244.2.7 dst=10.244.1.0 sport=8080 dport=%d", src.Port(), src.Port()),
		fmt.Sprintf("SNAT 192.168.0.10:45678 → 10.244.1.0:%d (conntrack #1, original direction)", src.Port()),
		fmt.Sprintf("de-SNAT dst 10.244.1.0:%d → 192.168.0.10:45678 (conntrack #1, reply direction)", src.Port()),
		"de-DNAT src 10.244.2.7:8080 → 172.21.0.10:80 (conntrack #1, reply direction)",
	}, nat)
}

func TestSNATAtInput(t *testing.T) {
	r := newRig(t, 1)
	r.restore("*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.244.1.5/32 -p udp -j SNAT --to-source 10.244.1.1\nCOMMIT\n")
	in := r.input(udpPkt(t, "10.244.1.5", 1000, nodeIP, 53, "q"), r.cni0)
	require.Equal(t, netstack.Accept, in.v.Kind)
	src, _ := endpoints(in.bytes)
	assert.Equal(t, ap("10.244.1.1:1000"), src)
	requireChecksums(t, in.bytes)
	// The local answer is addressed to the translated source; its
	// destination is de-SNATed at OUTPUT (a destination-manip hook).
	out := r.output(udpPkt(t, nodeIP, 53, "10.244.1.1", 1000, "a"), r.cni0)
	require.Equal(t, netstack.Accept, out.v.Kind)
	_, dst := endpoints(out.bytes)
	assert.Equal(t, ap("10.244.1.5:1000"), dst)
	requireChecksums(t, out.bytes)
}

func TestEstablishedPathAllocatesNothing(t *testing.T) {
	r := newRig(t, 1)
	r.restore(kubeProxyNAT + statefulFilter)
	syn := tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, "S", "")
	require.Equal(t, netstack.Accept, r.forward(syn, r.cni0, r.flannel).v.Kind)
	require.Equal(t, netstack.Accept, r.forward(tcpPkt(t, "10.244.2.7", 8080, "10.244.1.5", 40000, "SA", ""), r.flannel, r.cni0).v.Kind)
	ack := tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, "A", "")
	pkt := r.env.Pool.From(ack)
	allocs := testing.AllocsPerRun(200, func() {
		pkt.Trim(0)
		copy(pkt.Append(len(ack)), ack)
		pkt.CT = nil
		for _, h := range []netstack.Hook{netstack.PreRouting, netstack.Forward, netstack.PostRouting} {
			if v := r.nf.Hook(h, pkt, r.cni0, r.flannel); v.Kind != netstack.Accept {
				t.Fatal(v.Detail)
			}
		}
	})
	assert.Zero(t, allocs, "a packet of an established, translated connection allocates nothing")
	_, d := endpoints(pkt.Bytes())
	assert.Equal(t, ap("10.244.2.7:8080"), d)
}
