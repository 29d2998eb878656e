package netfilter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

func TestFilterVerdicts(t *testing.T) {
	type pktSpec struct {
		b       func(t *testing.T) []byte
		in, out string // device names; "" none
		mark    uint32
	}
	syn := func(t *testing.T) []byte { return tcpPkt(t, "10.244.1.5", 40000, "10.244.2.7", 8080, "S", "") }
	dns := func(t *testing.T) []byte { return udpPkt(t, "10.244.1.5", 5353, "10.96.0.10", 53, "q") }
	tests := []struct {
		name   string
		filter string // rules for *filter, with chain lines
		pkt    pktSpec
		hook   string // "forward", "input", "output"
		want   netstack.Verdict
	}{
		{
			name:   "accept by default",
			filter: ":FORWARD ACCEPT [0:0]\n",
			pkt:    pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook:   "forward",
			want:   netstack.Verdict{},
		},
		{
			name: "DROP with comment",
			filter: `:FORWARD ACCEPT [0:0]
-A FORWARD -s 10.244.1.5/32 -p tcp -m comment --comment "deny pod" -m tcp --dport 8080 -j DROP
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered,
				Detail: `table filter: -A FORWARD -s 10.244.1.5/32 -p tcp -m comment --comment "deny pod" -m tcp --dport 8080 -j DROP (deny pod)`},
		},
		{
			name: "port does not match",
			filter: `:FORWARD ACCEPT [0:0]
-A FORWARD -p tcp -m tcp --dport 80 -j DROP
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{},
		},
		{
			name: "REJECT default code",
			filter: `:INPUT ACCEPT [0:0]
-A INPUT -p udp -m udp --dport 53 -j REJECT
`,
			pkt:  pktSpec{b: func(t *testing.T) []byte { return udpPkt(t, "10.244.1.5", 5353, nodeIP, 53, "q") }, in: "cni0"},
			hook: "input",
			want: netstack.Verdict{Kind: netstack.Reject, Reason: trace.ReasonFiltered, RejectICMPCode: packet.ICMPCodePortUnreach,
				Detail: "table filter: -A INPUT -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable"},
		},
		{
			name: "REJECT tcp-reset",
			filter: `:FORWARD ACCEPT [0:0]
-A FORWARD -p tcp -j REJECT --reject-with tcp-reset
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{Kind: netstack.Reject, Reason: trace.ReasonFiltered, RejectTCPReset: true,
				Detail: "table filter: -A FORWARD -p tcp -j REJECT --reject-with tcp-reset"},
		},
		{
			name: "REJECT host-prohibited",
			filter: `:FORWARD ACCEPT [0:0]
-A FORWARD -o flannel.1 -j REJECT --reject-with icmp-host-prohibited
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{Kind: netstack.Reject, Reason: trace.ReasonFiltered, RejectICMPCode: 10,
				Detail: "table filter: -A FORWARD -o flannel.1 -j REJECT --reject-with icmp-host-prohibited"},
		},
		{
			name:   "policy DROP",
			filter: ":FORWARD DROP [0:0]\n-A FORWARD -o eth0 -j ACCEPT\n",
			pkt:    pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook:   "forward",
			want:   netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered, Detail: "policy DROP of chain FORWARD in table filter"},
		},
		{
			name:   "policy DROP after RETURN from the builtin chain",
			filter: ":FORWARD DROP [0:0]\n-A FORWARD -i cni0 -j RETURN\n-A FORWARD -j ACCEPT\n",
			pkt:    pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook:   "forward",
			want:   netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered, Detail: "policy DROP of chain FORWARD in table filter"},
		},
		{
			name: "policy DROP after -g to a chain that falls off its end",
			filter: `:FORWARD DROP [0:0]
:POD-FWD - [0:0]
-A FORWARD -i cni0 -g POD-FWD
-A FORWARD -j ACCEPT
-A POD-FWD -d 10.244.9.0/24 -j ACCEPT
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered, Detail: "policy DROP of chain FORWARD in table filter"},
		},
		{
			name: "RETURN from a -j chain resumes the caller",
			filter: `:FORWARD DROP [0:0]
:POD-FWD - [0:0]
-A FORWARD -i cni0 -j POD-FWD
-A FORWARD -s 10.244.1.0/24 -j ACCEPT
-A POD-FWD -d 10.244.2.7/32 -j RETURN
-A POD-FWD -j DROP
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{},
		},
		{
			name: "nested chains: DROP deep inside",
			filter: `:FORWARD ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A FORWARD -j A
-A A -j B
-A B -p tcp -m tcp --dport 8000:9000 -j DROP
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered, Detail: "table filter: -A B -p tcp -m tcp --dport 8000:9000 -j DROP"},
		},
		{
			name: "inverted source and interface wildcard",
			filter: `:FORWARD ACCEPT [0:0]
-A FORWARD ! -s 10.244.0.0/16 -o flannel+ -j DROP
-A FORWARD -s 10.244.0.0/16 ! -o flannel+ -j DROP
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1"},
			hook: "forward",
			want: netstack.Verdict{},
		},
		{
			name: "mark match",
			filter: `:FORWARD ACCEPT [0:0]
-A FORWARD -m mark --mark 0x4000/0x4000 -j DROP
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1", mark: 0x4001},
			hook: "forward",
			want: netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered, Detail: "table filter: -A FORWARD -m mark --mark 0x4000/0x4000 -j DROP"},
		},
		{
			name: "inverted mark does not match",
			filter: `:FORWARD ACCEPT [0:0]
-A FORWARD -m mark ! --mark 0x4000/0x4000 -j DROP
`,
			pkt:  pktSpec{b: syn, in: "cni0", out: "flannel.1", mark: 0x4000},
			hook: "forward",
			want: netstack.Verdict{},
		},
		{
			name: "multiport",
			filter: `:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m multiport --dports 53,5353 -j DROP
`,
			pkt:  pktSpec{b: dns, out: "eth0"},
			hook: "output",
			want: netstack.Verdict{Kind: netstack.Drop, Reason: trace.ReasonFiltered, Detail: "table filter: -A OUTPUT -p udp -m multiport --dports 53,5353 -j DROP"},
		},
		{
			name: "addrtype LOCAL",
			filter: `:INPUT ACCEPT [0:0]
-A INPUT -m addrtype ! --dst-type LOCAL -j DROP
`,
			pkt:  pktSpec{b: func(t *testing.T) []byte { return udpPkt(t, "10.244.1.5", 5353, nodeIP, 53, "q") }, in: "cni0"},
			hook: "input",
			want: netstack.Verdict{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			r.restore("*filter\n" + tc.filter + "COMMIT\n")
			dev := map[string]*link.Device{"": nil, "cni0": r.cni0, "flannel.1": r.flannel, "eth0": r.eth0}
			pkt := r.env.Pool.From(tc.pkt.b(t))
			pkt.Mark = tc.pkt.mark
			in, out := dev[tc.pkt.in], dev[tc.pkt.out]
			var hooks []netstack.Hook
			switch tc.hook {
			case "forward":
				hooks = []netstack.Hook{netstack.PreRouting, netstack.Forward, netstack.PostRouting}
			case "input":
				hooks = []netstack.Hook{netstack.PreRouting, netstack.LocalIn}
			case "output":
				hooks = []netstack.Hook{netstack.LocalOut, netstack.LocalOutFilter, netstack.PostRouting}
			}
			var got netstack.Verdict
			for _, h := range hooks {
				hin, hout := in, out
				if h == netstack.PreRouting || h == netstack.LocalIn {
					hout = nil
				}
				if h == netstack.LocalOut || h == netstack.LocalOutFilter {
					hin = nil
				}
				if got = r.nf.Hook(h, pkt, hin, hout); got.Kind != netstack.Accept {
					break
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFilterCountersAndPolicyCounters(t *testing.T) {
	r := newRig(t, 1)
	r.restore(`*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:POD-FWD - [0:0]
-A FORWARD -i cni0 -g POD-FWD
-A POD-FWD -p tcp -m tcp --dport 8080 -j ACCEPT
COMMIT
`)
	ok := tcpPkt(t, "10.244.1.5", 40000, "10.244.2.7", 8080, "S", "")
	bad := tcpPkt(t, "10.244.1.5", 40001, "10.244.2.7", 9090, "S", "")
	for i := 0; i < 3; i++ {
		require.Equal(t, netstack.Accept, r.forward(ok, r.cni0, r.flannel).v.Kind)
	}
	for i := 0; i < 2; i++ {
		require.Equal(t, netstack.Drop, r.forward(bad, r.cni0, r.flannel).v.Kind)
	}
	g := r.rule("filter", "FORWARD", 0)
	assert.Equal(t, uint64(5), g.Packets)
	assert.Equal(t, uint64(5*40), g.Bytes)
	a := r.rule("filter", "POD-FWD", 0)
	assert.Equal(t, uint64(3), a.Packets)
	assert.Equal(t, uint64(120), a.Bytes)
	fwd := r.nf.Table("filter").Chains["FORWARD"]
	assert.Equal(t, uint64(2), fwd.Packets, "the builtin chain's policy counter counts the -g fall-through")
	assert.Equal(t, uint64(80), fwd.Bytes)
	assert.Zero(t, r.nf.Table("filter").Chains["POD-FWD"].Packets)
	assert.Contains(t, r.nf.Save(false, "filter"), ":FORWARD DROP [2:80]\n")
}

func TestMarkTargets(t *testing.T) {
	r := newRig(t, 1)
	r.restore(`*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j MARK --set-xmark 0x10/0xf0
-A PREROUTING -j MARK --or-mark 0x4000
-A PREROUTING -j MARK --xor-mark 0x1
-A PREROUTING -j MARK --and-mark 0xffff
-A PREROUTING -j CONNMARK --set-mark 0x7
COMMIT
`)
	pkt := r.env.Pool.From(udpPkt(t, "10.244.1.5", 1, "10.244.2.7", 2, ""))
	pkt.Mark = 0xabcd00ff
	require.Equal(t, netstack.Accept, r.nf.Hook(netstack.PreRouting, pkt, r.cni0, nil).Kind)
	// mark = (mark &^ mask) ^ value for each MARK rule in turn.
	want := uint32(0xabcd00ff)
	want = want&^0xf0 ^ 0x10
	want = want&^0x4000 ^ 0x4000
	want ^= 0x1
	want &= 0xffff
	assert.Equal(t, want, pkt.Mark)
	assert.Equal(t, uint32(0x401e), pkt.Mark)
	conn := pkt.CT.(*Conn)
	assert.Equal(t, uint32(7), conn.Mark)
}

func TestAddrtypeMatch(t *testing.T) {
	tests := []struct {
		rule string
		dst  string
		hit  bool
	}{
		{"-m addrtype --dst-type LOCAL", nodeIP, true},
		{"-m addrtype --dst-type LOCAL", "10.244.1.5", false},
		{"-m addrtype ! --dst-type LOCAL", "10.244.1.5", true},
		{"-m addrtype --dst-type BROADCAST", "255.255.255.255", true},
		{"-m addrtype --dst-type BROADCAST", "10.244.1.255", false},
		{"-m addrtype --dst-type MULTICAST", "224.0.0.251", true},
		{"-m addrtype --dst-type MULTICAST", "10.244.1.5", false},
		{"-m addrtype --dst-type UNICAST", "10.244.1.5", true},
		{"-m addrtype --dst-type UNICAST", "224.0.0.251", false},
		{"-m addrtype --src-type LOCAL", "10.244.1.5", false}, // source is the pod
		{"-m addrtype ! --src-type LOCAL", "10.244.1.5", true},
	}
	for _, tc := range tests {
		t.Run(tc.rule+" "+tc.dst, func(t *testing.T) {
			r := newRig(t, 1)
			require.NoError(t, r.nf.Append("filter", "-A FORWARD "+tc.rule+" -j DROP"))
			got := r.nf.Hook(netstack.Forward, r.env.Pool.From(udpPkt(t, "10.244.1.5", 1, tc.dst, 2, "")), r.cni0, r.eth0)
			assert.Equal(t, tc.hit, got.Kind == netstack.Drop)
		})
	}
}
