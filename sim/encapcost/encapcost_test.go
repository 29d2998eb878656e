package encapcost

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/trace"
)

// TestMeasure checks each mode's derived figures against what the modes
// are known to do: the headers each adds (VXLAN 50 = outer Ethernet, IPv4,
// UDP and VXLAN; IPIP 20; flannel udp's outer IPv4 and UDP 28; none for a
// routed mode), the pod MTU it sets for a 1500-byte underlay, and one
// encapsulation and one decapsulation for a tunnel.
func TestMeasure(t *testing.T) {
	tests := []struct {
		mode     string
		overhead int
		mtu      int
		tunnel   bool
	}{
		{"flannel vxlan", 50, 1450, true},
		{"flannel host-gw", 0, 1500, false},
		{"flannel alivpc", 0, 1500, false},
		{"flannel udp", 28, 1472, true},
		{"calico ipip", 20, 1480, true},
		{"calico vxlan", 50, 1450, true},
		{"calico bgp", 0, 1500, false},
		{"terway veth", 0, 1500, false},
		{"terway ipvlan", 0, 1500, false},
		{"terway exclusive", 0, 1500, false},
	}
	modes := Modes()
	require.Len(t, modes, len(tests))
	for i, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			require.Equal(t, tt.mode, modes[i].Name)
			c, err := Measure(modes[i])
			require.NoError(t, err)
			assert.Equal(t, tt.overhead, c.Overhead, "headers added")
			assert.Equal(t, tt.mtu, c.PodMTU, "pod MTU")
			assert.Equal(t, tt.mtu-28, c.MaxPayload)
			require.Len(t, c.Wire, len(Payloads)+1)
			for j, w := range c.Wire {
				want := c.MaxPayload
				if j < len(Payloads) {
					want = Payloads[j]
				}
				assert.Equal(t, want, w.Payload)
				assert.Equal(t, 14+20+8+w.Payload+tt.overhead, w.Frame, "frame of a %d-byte payload", w.Payload)
			}
			// The largest payload fills the 1500-byte underlay exactly.
			assert.Equal(t, 1514, c.Wire[len(c.Wire)-1].Frame)
			n := 0
			if tt.tunnel {
				n = 1
			}
			assert.Equal(t, n, c.Work.Encaps, "encapsulations")
			assert.Equal(t, n, c.Work.Decaps, "decapsulations")
			assert.Equal(t, tt.mode == "flannel udp", c.Work.Userspace > 0, "userspace steps")
			assert.GreaterOrEqual(t, c.Work.Namespaces, 3, "pod a, the fabric, pod b at least")
			assert.GreaterOrEqual(t, c.Work.Routes, 2, "a route lookup in each pod at least")
			assert.Equal(t, 1, c.Work.Fabric+boolInt(modes[i].underlay == "l2"), "one VPC lookup (none modelled on l2)")
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestPerByte(t *testing.T) {
	assert.InDelta(t, 156.0/64, Wire{Payload: 64, Frame: 156}.PerByte(), 1e-9)
}

func TestHookOf(t *testing.T) {
	tests := []struct{ lookup, want string }{
		{"iptables -t filter FORWARD", "filter FORWARD"},
		{"iptables -t nat POSTROUTING → KUBE-POSTROUTING", "nat POSTROUTING"},
		{"cilium policy", "cilium policy"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hookOf(tt.lookup))
	}
}

// TestRequest: the request ends at its delivery in the destination pod;
// ARP is left out; a drop or a packet that is not warm is an error.
func TestRequest(t *testing.T) {
	hop := func(p uint64, node string, k trace.Kind) trace.Hop { return trace.Hop{Packet: p, Node: node, Kind: k} }
	ct := func(p uint64, match string) trace.Hop {
		return trace.Hop{Packet: p, Node: "node-1", Kind: trace.KindCT, Lookup: "conntrack ...", Match: match}
	}
	hops := []trace.Hop{
		hop(1, "default/a", trace.KindTx),
		hop(2, "node-1", trace.KindARP),
		ct(1, "original direction of #4"),
		hop(1, "default/b", trace.KindDeliver),
		hop(3, "default/b", trace.KindTx), // the echo
	}
	got, err := request(hops, "default/b")
	require.NoError(t, err)
	assert.Equal(t, []trace.Hop{hops[0], hops[2], hops[3]}, got)

	_, err = request([]trace.Hop{hop(1, "default/a", trace.KindTx), ct(1, "no entry: NEW"), hop(1, "default/b", trace.KindDeliver)}, "default/b")
	assert.ErrorContains(t, err, "not warm")
	_, err = request([]trace.Hop{hop(1, "default/a", trace.KindTx), {Packet: 1, Node: "node-1", Kind: trace.KindDrop, Change: "no route"}}, "default/b")
	assert.ErrorContains(t, err, "dropped at node-1")
	_, err = request([]trace.Hop{hop(1, "default/a", trace.KindTx)}, "default/b")
	assert.ErrorContains(t, err, "not delivered to default/b")
}
