package link_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// fakePolicy records what it is asked and denies the listed calls
// ("egress default/a/eth0", "ingress default/b/eth0").
type fakePolicy struct {
	calls []string
	deny  map[string]bool
	// l3 is true while every judged packet started with its IPv4 header.
	l3 bool
}

func (p *fakePolicy) judge(dir string, s *link.IPVlan, pkt *packet.Buffer) (bool, trace.Reason, string) {
	key := dir + " " + s.Dev.String()
	p.calls = append(p.calls, key)
	if b := pkt.Bytes(); len(b) == 0 || b[0]>>4 != 4 {
		p.l3 = false
	}
	if p.deny[key] {
		return false, trace.ReasonPolicyDenied, "denied: " + key
	}
	return true, 0, ""
}

func (p *fakePolicy) Egress(s *link.IPVlan, pkt *packet.Buffer) (bool, trace.Reason, string) {
	return p.judge("egress", s, pkt)
}

func (p *fakePolicy) Ingress(s *link.IPVlan, pkt *packet.Buffer) (bool, trace.Reason, string) {
	return p.judge("ingress", s, pkt)
}

// TestIPVlanPolicyHook: a port's policy judges every unicast IPv4 frame a
// slave sends (egress) and every one handed to a slave (ingress), from
// another slave or from the wire, with the Ethernet header pulled; a
// denial drops the frame at the slave with the policy's reason; ARP and
// multicast are not judged.
func TestIPVlanPolicyHook(t *testing.T) {
	outside := netip.MustParseAddr("10.0.2.20")
	tests := []struct {
		name  string
		send  func(f *ipvlanFixture)
		deny  []string
		calls []string
		want  []string
		// dropAt is the device of the expected drop ("" none).
		dropAt string
	}{
		{name: "same ENI, allowed: the sender's egress then the receiver's ingress",
			send:  func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podAIP, podBIP))) },
			calls: []string{"egress default/a/eth0", "ingress default/b/eth0"}, want: []string{"b"}},
		{name: "same ENI, the receiver's ingress denies",
			send: func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(eniMAC, eniMAC, podAIP, podBIP))) },
			deny: []string{"ingress default/b/eth0"}, calls: []string{"egress default/a/eth0", "ingress default/b/eth0"},
			dropAt: "default/b eth0"},
		{name: "to the VPC, the sender's egress denies: nothing leaves the ENI",
			send: func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(gwMAC, eniMAC, podAIP, outside))) },
			deny: []string{"egress default/a/eth0"}, calls: []string{"egress default/a/eth0"},
			dropAt: "default/a eth0"},
		{name: "to the VPC, allowed",
			send:  func(f *ipvlanFixture) { f.a.Dev.Transmit(f.env.Pool.From(ipFrame(gwMAC, eniMAC, podAIP, outside))) },
			calls: []string{"egress default/a/eth0"}, want: []string{"wire"}},
		{name: "from the wire: the receiver's ingress",
			send:  func(f *ipvlanFixture) { f.vpc.Transmit(f.env.Pool.From(ipFrame(eniMAC, gwMAC, outside, podBIP))) },
			calls: []string{"ingress default/b/eth0"}, want: []string{"b"}},
		{name: "from the wire, denied",
			send: func(f *ipvlanFixture) { f.vpc.Transmit(f.env.Pool.From(ipFrame(eniMAC, gwMAC, outside, podBIP))) },
			deny: []string{"ingress default/b/eth0"}, calls: []string{"ingress default/b/eth0"}, dropAt: "default/b eth0"},
		{name: "ARP is not judged",
			send: func(f *ipvlanFixture) {
				f.a.Dev.Transmit(f.env.Pool.From(arpFrame(eniMAC, eniMAC, packet.ARPReply, podAIP, podBIP)))
			},
			deny: []string{"egress default/a/eth0", "ingress default/b/eth0"}, want: []string{"b"}},
		{name: "all-hosts multicast is not judged",
			send: func(f *ipvlanFixture) {
				f.a.Dev.Transmit(f.env.Pool.From(ipFrame(packet.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, eniMAC, podAIP, netip.MustParseAddr("224.0.0.1"))))
			},
			deny: []string{"egress default/a/eth0"}, want: []string{"b", "ipvl", "wire"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIPVlanFixture(t)
			pol := &fakePolicy{deny: map[string]bool{}, l3: true}
			for _, d := range tt.deny {
				pol.deny[d] = true
			}
			f.port.SetPolicy(pol)
			require.Same(t, f.a, link.AsIPVlan(f.a.Dev))
			tt.send(f)
			f.s.Run()
			assert.Equal(t, tt.calls, pol.calls)
			assert.True(t, pol.l3, "the policy sees the IPv4 header first")
			assert.Equal(t, tt.want, f.got())
			for _, fr := range f.sinks["b"].Frames {
				assert.Contains(t, []packet.MAC{eniMAC, gwMAC}, packet.Ethernet(fr.Data).Src(), "the Ethernet header is back")
			}
			drops := f.env.Trace.DropList()
			if tt.dropAt == "" {
				assert.Empty(t, drops)
			} else {
				require.Len(t, drops, 1)
				assert.Equal(t, tt.dropAt, drops[0].Node+" "+drops[0].Device)
				assert.Equal(t, trace.ReasonPolicyDenied, drops[0].Reason)
				assert.Contains(t, drops[0].Detail, "denied: ")
			}
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}
