package netfilter

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// kubeProxySCTP is kube-proxy's nat table for an SCTP Service port
// default/sig:sctp 172.21.0.20:80 → 10.244.2.7:9000, and a filter table
// that accepts SCTP to port 9000 and ESTABLISHED,RELATED and drops the rest.
const kubeProxySCTP = `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SEP-SIG1 - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-SIG - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SEP-SIG1 -p sctp -m comment --comment "default/sig:sctp" -m sctp -j DNAT --to-destination 10.244.2.7:9000
-A KUBE-SERVICES -d 172.21.0.20/32 -p sctp -m comment --comment "default/sig:sctp cluster IP" -m sctp --dport 80 -j KUBE-SVC-SIG
-A KUBE-SVC-SIG -m comment --comment "default/sig:sctp -> 10.244.2.7:9000" -j KUBE-SEP-SIG1
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -p sctp -m multiport --dports 9000,9001 -j ACCEPT
COMMIT
`

// sctpPkt builds an SCTP packet with one chunk written by put.
func sctpPkt(t testing.TB, src string, sport uint16, dst string, dport uint16, vtag uint32, n int, put func(b []byte)) []byte {
	t.Helper()
	l4 := make([]byte, packet.SCTPHeaderLen+n)
	sc := packet.SCTP(l4)
	sc.SetPorts(sport, dport)
	sc.SetVTag(vtag)
	put(l4[packet.SCTPHeaderLen:])
	sc.SetChecksum()
	return serialize(t, ipLayer(src, dst, layers.IPProtocolSCTP), gopacket.Payload(l4))
}

// chunkPkt builds an SCTP packet with one well-formed chunk of type typ.
func chunkPkt(t testing.TB, src string, sport uint16, dst string, dport uint16, vtag uint32, typ uint8) []byte {
	switch typ {
	case packet.SCTPChunkInit, packet.SCTPChunkInitAck:
		in := &packet.SCTPInit{Tag: 0x55, ARwnd: 106496, Out: 10, In: 10, TSN: 1}
		if typ == packet.SCTPChunkInitAck {
			in.Cookie = []byte("cookie")
		}
		return sctpPkt(t, src, sport, dst, dport, vtag, packet.SCTPInitChunkLen(in), func(b []byte) { packet.PutInit(b, typ, in) })
	case packet.SCTPChunkData:
		return sctpPkt(t, src, sport, dst, dport, vtag, packet.SCTPChunkLen(12+5), func(b []byte) { packet.PutData(b, 1, 0, []byte("hello")) })
	case packet.SCTPChunkShutdown:
		return sctpPkt(t, src, sport, dst, dport, vtag, packet.SCTPChunkLen(4), func(b []byte) { packet.PutShutdown(b, 1) })
	case packet.SCTPChunkCookieEcho:
		return sctpPkt(t, src, sport, dst, dport, vtag, packet.SCTPChunkLen(6), func(b []byte) { packet.PutChunk(b, typ, 0, []byte("cookie")) })
	}
	return sctpPkt(t, src, sport, dst, dport, vtag, packet.SCTPChunkLen(0), func(b []byte) { packet.PutChunk(b, typ, 0, nil) })
}

func sctpEnds(t *testing.T, b []byte) (netip.AddrPort, netip.AddrPort) {
	t.Helper()
	ip := packet.IPv4(b)
	sc := packet.SCTP(ip.Payload())
	require.True(t, sc.ChecksumOK(), "CRC32c valid after NAT")
	require.True(t, ip.ChecksumOK())
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	return netip.AddrPortFrom(ip.Src(), sc.SrcPort()), netip.AddrPortFrom(ip.Dst(), sc.DstPort())
}

func TestSCTPServiceDNATConntrack(t *testing.T) {
	r := newRig(t, 1)
	r.restore(kubeProxySCTP)
	client, vip, ep := "10.244.1.5", "172.21.0.20", "10.244.2.7"
	in := &packet.SCTPInit{Tag: 0xaabbccdd, ARwnd: 106496, Out: 10, In: 65535, TSN: 1}
	init := sctpPkt(t, client, 40000, vip, 80, 0, packet.SCTPInitChunkLen(in), func(b []byte) { packet.PutInit(b, packet.SCTPChunkInit, in) })

	s := r.forward(init, r.cni0, r.flannel)
	require.Equal(t, netstack.Accept, s.v.Kind)
	src, dst := sctpEnds(t, s.bytes)
	assert.Equal(t, ap("10.244.1.5:40000"), src)
	assert.Equal(t, ap("10.244.2.7:9000"), dst, "DNAT to the endpoint, port rewritten")
	conn := s.pkt.CT.(*Conn)
	assert.Equal(t, "COOKIE_WAIT", sctpStateNames[conn.SCTP])

	steps := []struct {
		name      string
		reply     bool
		typ       uint8
		wantState string
	}{
		{"INIT ACK", true, packet.SCTPChunkInitAck, "COOKIE_WAIT"},
		{"COOKIE ECHO", false, packet.SCTPChunkCookieEcho, "COOKIE_ECHOED"},
		{"COOKIE ACK", true, packet.SCTPChunkCookieAck, "ESTABLISHED"},
		{"DATA", false, packet.SCTPChunkData, "ESTABLISHED"},
		{"SHUTDOWN", false, packet.SCTPChunkShutdown, "SHUTDOWN_SENT"},
		{"SHUTDOWN ACK", true, packet.SCTPChunkShutdownAck, "SHUTDOWN_ACK_SENT"},
		{"SHUTDOWN COMPLETE", false, packet.SCTPChunkShutdownComplete, "CLOSED"},
	}
	for _, st := range steps {
		var b []byte
		if st.reply {
			b = chunkPkt(t, ep, 9000, client, 40000, 0xaabbccdd, st.typ)
		} else {
			b = chunkPkt(t, client, 40000, vip, 80, 0x11, st.typ)
		}
		s := r.forward(b, r.cni0, r.flannel)
		require.Equal(t, netstack.Accept, s.v.Kind, "%s passes the filter (conntrack ESTABLISHED)", st.name)
		src, dst := sctpEnds(t, s.bytes)
		if st.reply {
			assert.Equal(t, ap("172.21.0.20:80"), src, "%s: de-DNAT to the cluster IP", st.name)
			assert.Equal(t, ap("10.244.1.5:40000"), dst)
		} else {
			assert.Equal(t, ap("10.244.2.7:9000"), dst, st.name)
		}
		assert.Same(t, conn, s.pkt.CT.(*Conn))
		assert.Equal(t, st.wantState, sctpStateNames[conn.SCTP], st.name)
	}
	assert.True(t, conn.Status&ipsAssured != 0, "ASSURED after COOKIE ACK")
	assert.Contains(t, conn.Format(r.env.Now()), "sctp     132 10 CLOSED src=10.244.1.5 dst=172.21.0.20 sport=40000 dport=80 src=10.244.2.7 dst=10.244.1.5 sport=9000 dport=40000 [ASSURED]")

	// A new association to a port the filter does not accept is dropped.
	other := chunkPkt(t, client, 40002, "10.244.2.7", 9999, 0, packet.SCTPChunkInit)
	assert.Equal(t, netstack.Drop, r.forward(other, r.cni0, r.flannel).v.Kind)
}

func TestSCTPRulesSave(t *testing.T) {
	r := newRig(t, 1)
	r.restore(kubeProxySCTP)
	assert.Equal(t, `-A KUBE-SERVICES -d 172.21.0.20/32 -p sctp -m comment --comment "default/sig:sctp cluster IP" -m sctp --dport 80 -j KUBE-SVC-SIG`, r.rule("nat", "KUBE-SERVICES", 0).String())
	assert.Equal(t, `-A FORWARD -p sctp -m multiport --dports 9000,9001 -j ACCEPT`, r.rule("filter", "FORWARD", 1).String())
}
