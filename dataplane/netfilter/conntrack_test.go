package netfilter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
)

// statefulFilter is a typical stateful FORWARD: replies and related
// errors pass, pods may open connections, nothing else.
const statefulFilter = `*filter
:FORWARD DROP [0:0]
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i cni0 -m conntrack --ctstate NEW -j ACCEPT
COMMIT
`

func TestCtstateNewEstablished(t *testing.T) {
	r := newRig(t, 1)
	r.restore(statefulFilter)
	invalid, established, newRule := r.rule("filter", "FORWARD", 0), r.rule("filter", "FORWARD", 1), r.rule("filter", "FORWARD", 2)

	steps := []struct {
		name     string
		b        []byte
		in, out  string
		want     netstack.VerdictKind
		counters [3]uint64 // INVALID, RELATED/ESTABLISHED, NEW rule packets after the step
	}{
		{"pod SYN is NEW", tcpPkt(t, "10.244.1.5", 40000, "8.8.8.8", 443, "S", ""), "cni0", "eth0", netstack.Accept, [3]uint64{0, 0, 1}},
		{"retransmitted SYN is still NEW", tcpPkt(t, "10.244.1.5", 40000, "8.8.8.8", 443, "S", ""), "cni0", "eth0", netstack.Accept, [3]uint64{0, 0, 2}},
		{"SYN-ACK is ESTABLISHED (reply)", tcpPkt(t, "8.8.8.8", 443, "10.244.1.5", 40000, "SA", ""), "eth0", "cni0", netstack.Accept, [3]uint64{0, 1, 2}},
		{"ACK after a reply is ESTABLISHED", tcpPkt(t, "10.244.1.5", 40000, "8.8.8.8", 443, "A", ""), "cni0", "eth0", netstack.Accept, [3]uint64{0, 2, 2}},
		{"unsolicited inbound SYN is NEW, not from cni0: policy", tcpPkt(t, "8.8.8.8", 443, "10.244.1.5", 40001, "S", ""), "eth0", "cni0", netstack.Drop, [3]uint64{0, 2, 2}},
		{"truncated TCP is INVALID", func() []byte {
			b := tcpPkt(t, "10.244.1.5", 40000, "8.8.8.8", 443, "A", "")
			ip := packet.IPv4(b[:22])
			ip[3] = 22 // total length: 2 bytes of TCP
			ip.SetChecksum()
			return ip
		}(), "cni0", "eth0", netstack.Drop, [3]uint64{1, 2, 2}},
	}
	devs := map[string]*link.Device{"cni0": r.cni0, "eth0": r.eth0}
	for _, s := range steps {
		got := r.forward(s.b, devs[s.in], devs[s.out])
		assert.Equal(t, s.want, got.v.Kind, s.name)
		assert.Equal(t, s.counters, [3]uint64{invalid.Packets, established.Packets, newRule.Packets}, s.name)
	}
	entries := r.nf.Conntrack().Entries()
	require.Len(t, entries, 1, "the dropped inbound SYN was never confirmed")
	assert.Equal(t, "tcp      6 432000 ESTABLISHED src=10.244.1.5 dst=8.8.8.8 sport=40000 dport=443 src=8.8.8.8 dst=10.244.1.5 sport=443 dport=40000 [ASSURED] mark=0 use=1",
		entries[0].Format(r.sched.now))
}

func TestCtstateDNATAndSNAT(t *testing.T) {
	r := newRig(t, 1)
	r.restore(kubeProxyNAT + `*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate DNAT -m comment --comment "service traffic" -j ACCEPT
-A FORWARD -m conntrack --ctstate SNAT -j ACCEPT
COMMIT
`)
	r.forward(tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, "S", ""), r.cni0, r.flannel)
	assert.Equal(t, uint64(1), r.rule("filter", "FORWARD", 0).Packets)
	assert.Equal(t, uint64(0), r.rule("filter", "FORWARD", 1).Packets)
	r.forward(tcpPkt(t, "10.244.1.5", 40001, "10.244.2.7", 8080, "S", ""), r.cni0, r.flannel)
	assert.Equal(t, uint64(1), r.rule("filter", "FORWARD", 0).Packets, "no DNAT, no match")
}

func TestTCPConntrackStates(t *testing.T) {
	r := newRig(t, 1)
	c, s := "10.244.1.5", "10.244.2.7"
	type pkt struct {
		fromClient bool
		flags      string
		state      string
		timeout    time.Duration
		assured    bool
	}
	seq := []pkt{
		{true, "S", "SYN_SENT", 120 * time.Second, false},
		{false, "SA", "SYN_RECV", 60 * time.Second, false},
		{true, "A", "ESTABLISHED", 432000 * time.Second, true},
		{true, "PA", "ESTABLISHED", 432000 * time.Second, true},
		{false, "FA", "FIN_WAIT", 120 * time.Second, true},
		{true, "FA", "LAST_ACK", 30 * time.Second, true},
		{false, "A", "TIME_WAIT", 120 * time.Second, true},
	}
	var conn *Conn
	for i, p := range seq {
		var b []byte
		if p.fromClient {
			b = tcpPkt(t, c, 40000, s, 8080, p.flags, "")
		} else {
			b = tcpPkt(t, s, 8080, c, 40000, p.flags, "")
		}
		got := r.forward(b, r.cni0, r.flannel)
		require.Equal(t, netstack.Accept, got.v.Kind)
		conn = got.pkt.CT.(*Conn)
		assert.Equal(t, p.state, tcpStateNames[conn.TCP], "packet %d %s", i, p.flags)
		assert.Equal(t, r.sched.now+p.timeout, conn.Expires, "packet %d", i)
		assert.Equal(t, p.assured, conn.Status&ipsAssured != 0, "packet %d", i)
		r.sched.now += time.Second
	}
	// TIME_WAIT ends: a new SYN with the same ports opens a new entry.
	r.sched.now += 121 * time.Second
	got := r.forward(tcpPkt(t, c, 40000, s, 8080, "S", ""), r.cni0, r.flannel)
	assert.NotSame(t, conn, got.pkt.CT)
	assert.Equal(t, uint64(2), got.pkt.CT.(*Conn).ID)

	// RST closes.
	got = r.forward(tcpPkt(t, s, 8080, c, 40000, "R", ""), r.flannel, r.cni0)
	assert.Equal(t, "CLOSE", tcpStateNames[got.pkt.CT.(*Conn).TCP])

	// A mid-stream ACK without a SYN is picked up as ESTABLISHED
	// (nf_conntrack_tcp_loose).
	got = r.forward(tcpPkt(t, c, 50000, s, 8080, "A", ""), r.cni0, r.flannel)
	assert.Equal(t, "ESTABLISHED", tcpStateNames[got.pkt.CT.(*Conn).TCP])
}

func TestConntrackFormat(t *testing.T) {
	r := newRig(t, 1)
	r.restore(kubeProxyNAT)
	now := func() time.Duration { return r.sched.now }

	// UDP: unreplied, then replied, then assured.
	q := r.forward(udpPkt(t, "10.244.1.5", 5353, "10.244.3.3", 53, "q"), r.cni0, r.flannel)
	udp := q.pkt.CT.(*Conn)
	assert.Equal(t, "udp      17 30 src=10.244.1.5 dst=10.244.3.3 sport=5353 dport=53 [UNREPLIED] src=10.244.3.3 dst=10.244.1.5 sport=53 dport=5353 mark=0 use=1", udp.Format(now()))
	r.sched.now += 10*time.Second + 500*time.Millisecond
	assert.Equal(t, "udp      17 20 src=10.244.1.5 dst=10.244.3.3 sport=5353 dport=53 [UNREPLIED] src=10.244.3.3 dst=10.244.1.5 sport=53 dport=5353 mark=0 use=1", udp.Format(now()))
	r.forward(udpPkt(t, "10.244.3.3", 53, "10.244.1.5", 5353, "a"), r.flannel, r.cni0)
	assert.Equal(t, "udp      17 30 src=10.244.1.5 dst=10.244.3.3 sport=5353 dport=53 src=10.244.3.3 dst=10.244.1.5 sport=53 dport=5353 mark=0 use=1", udp.Format(now()))
	r.forward(udpPkt(t, "10.244.1.5", 5353, "10.244.3.3", 53, "q2"), r.cni0, r.flannel)
	assert.Equal(t, "udp      17 120 src=10.244.1.5 dst=10.244.3.3 sport=5353 dport=53 src=10.244.3.3 dst=10.244.1.5 sport=53 dport=5353 [ASSURED] mark=0 use=1", udp.Format(now()))

	// TCP through the service: the reply tuple shows the endpoint.
	syn := r.forward(tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, "S", ""), r.cni0, r.flannel)
	tcp := syn.pkt.CT.(*Conn)
	assert.Equal(t, "tcp      6 120 SYN_SENT src=10.244.1.5 dst=172.21.0.10 sport=40000 dport=80 [UNREPLIED] src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40000 mark=0 use=1", tcp.Format(now()))

	// ICMP echo.
	ping := r.forward(echoPkt(t, "10.244.1.5", "10.244.2.7", false, 9, 1), r.cni0, r.flannel)
	icmp := ping.pkt.CT.(*Conn)
	assert.Equal(t, "icmp     1 30 src=10.244.1.5 dst=10.244.2.7 type=8 code=0 id=9 [UNREPLIED] src=10.244.2.7 dst=10.244.1.5 type=0 code=0 id=9 mark=0 use=1", icmp.Format(now()))

	// Entries are listed oldest first; expired ones show 0 seconds left.
	es := r.nf.Conntrack().Entries()
	require.Len(t, es, 3)
	assert.Equal(t, []*Conn{udp, tcp, icmp}, es)
	r.sched.now += time.Hour
	assert.Contains(t, icmp.Format(now()), "icmp     1 0 src=")

	// Tuple text.
	assert.Equal(t, "src=10.244.1.5 dst=10.244.2.7 id=9", icmp.Tuple[0].String())
	assert.Equal(t, "src=1.2.3.4 dst=5.6.7.8", Tuple{Src: [4]byte{1, 2, 3, 4}, Dst: [4]byte{5, 6, 7, 8}, Proto: 47}.String())
}

func TestConntrackExpiryMakesANewConnection(t *testing.T) {
	r := newRig(t, 1)
	r.restore(statefulFilter)
	q := udpPkt(t, "10.244.1.5", 5353, "8.8.8.8", 53, "q")
	a := udpPkt(t, "8.8.8.8", 53, "10.244.1.5", 5353, "a")
	require.Equal(t, netstack.Accept, r.forward(q, r.cni0, r.eth0).v.Kind)
	require.Equal(t, netstack.Accept, r.forward(a, r.eth0, r.cni0).v.Kind)
	// Unreplied-but-replied UDP lives 30 s after the last packet.
	r.sched.now += UDPTimeout
	got := r.forward(a, r.eth0, r.cni0)
	assert.Equal(t, netstack.Drop, got.v.Kind, "the entry expired: the answer is NEW from eth0")
	assert.Equal(t, "policy DROP of chain FORWARD in table filter", got.v.Detail)
}

func TestHookTraceHops(t *testing.T) {
	r := newRig(t, 1)
	rec := r.traceOn()
	r.restore(kubeProxyNAT + statefulFilter)
	r.forward(tcpPkt(t, "10.244.1.5", 40000, "172.21.0.10", 80, "S", ""), r.cni0, r.flannel)
	r.forward(tcpPkt(t, "10.244.2.7", 8080, "10.244.1.5", 40000, "SA", ""), r.flannel, r.cni0)
	var lines []string
	for _, h := range rec.HopList() {
		lines = append(lines, string(h.Kind)+" | "+h.Lookup+" | "+h.Match+" | "+h.Change)
	}
	assert.Contains(t, lines, "ct | conntrack src=10.244.1.5 dst=172.21.0.10 sport=40000 dport=80 | no entry: NEW | ")
	assert.Contains(t, lines, "rule | iptables -t nat PREROUTING | -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES | ")
	assert.Contains(t, lines, "rule | iptables -t nat PREROUTING → KUBE-SERVICES → KUBE-SVC-WEB → KUBE-SEP-WEB1 | -A KUBE-SEP-WEB1 -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination 10.244.2.7:8080 | ")
	assert.Contains(t, lines, "ct |  |  | confirmed #1: tcp      6 120 SYN_SENT src=10.244.1.5 dst=172.21.0.10 sport=40000 dport=80 [UNREPLIED] src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40000 mark=0 use=1")
	assert.Contains(t, lines, "ct | conntrack src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40000 | reply direction of #1: tcp      6 60 SYN_RECV src=10.244.1.5 dst=172.21.0.10 sport=40000 dport=80 src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40000 mark=0 use=1 | ")
}
