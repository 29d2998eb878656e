package sim_test

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/link"
	"netsim/dataplane/packet"
)

// TestVXLANOnTheWire decodes what node-1's eth0 sent for the cross-node
// ping of scenarios/flannel-vxlan.yaml and checks every field against what
// a kernel flannel.1 (VNI 1, dstport 8472, local 192.168.0.10, udpcsum:
// flanneld does not set IFLA_VXLAN_UDP_CSUM, so the IPv4 default of a
// computed outer UDP checksum applies) puts on the wire.
func TestVXLANOnTheWire(t *testing.T) {
	layers.RegisterUDPPortLayerType(8472, layers.LayerTypeVXLAN)
	r, _, sink := runScenario(t, "../scenarios/flannel-vxlan.yaml", true)
	w := r.World
	n1, n2 := w.Node("node-1"), w.Node("node-2")
	vtep1, ok := flannel.VTEPMAC(n1.CNI)
	require.True(t, ok)
	vtep2, _ := flannel.VTEPMAC(n2.CNI)
	frames, dirs := sink.Frames("node-1/eth0")
	var checked int
	for i, f := range frames {
		if dirs[i] != link.Out {
			continue
		}
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || udp.DstPort != 8472 {
			continue
		}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		assert.Equal(t, n1.NIC.Dev.MAC[:], []byte(eth.SrcMAC), "outer source MAC is node-1's eth0")
		assert.Equal(t, []byte{0xee, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte(eth.DstMAC), "outer destination MAC is the vSwitch gateway")
		assert.Equal(t, uint8(4), ip.Version)
		assert.Equal(t, uint8(5), ip.IHL)
		assert.Equal(t, uint8(0), ip.TOS&^0x03)
		assert.Zero(t, ip.Flags&layers.IPv4DontFragment, "vxlan df unset: outer DF clear")
		assert.Equal(t, uint8(64), ip.TTL)
		assert.Equal(t, layers.IPProtocolUDP, ip.Protocol)
		assert.Equal(t, "192.168.0.10", ip.SrcIP.String())
		assert.Equal(t, "192.168.1.11", ip.DstIP.String())
		assert.True(t, packet.IPv4(f[14:]).ChecksumOK(), "outer IPv4 header checksum")
		assert.Equal(t, int(ip.Length), len(f)-14)
		assert.GreaterOrEqual(t, int(udp.SrcPort), 32768)
		assert.LessOrEqual(t, int(udp.SrcPort), 60999)
		assert.NotZero(t, udp.Checksum, "flannel.1 has udpcsum: the outer UDP checksum is computed")
		assert.True(t, packet.TransportChecksumOK(f[34:], packet.IPv4(f[14:]).Src(), packet.IPv4(f[14:]).Dst(), packet.ProtoUDP),
			"outer UDP checksum over the pseudo-header and the whole datagram")
		assert.Equal(t, int(udp.Length), len(f)-14-20)
		vx := p.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
		assert.True(t, vx.ValidIDFlag)
		assert.Equal(t, uint32(1), vx.VNI)
		assert.Equal(t, []byte{0x08, 0, 0, 0}, f[42:46], "VXLAN flags and reserved bytes")
		assert.Zero(t, f[49], "VXLAN reserved byte after the VNI")
		inner := p.Layers()
		var innerEth *layers.Ethernet
		for _, l := range inner {
			if e, ok := l.(*layers.Ethernet); ok && e != eth {
				innerEth = e
			}
		}
		require.NotNil(t, innerEth)
		assert.Equal(t, vtep1[:], []byte(innerEth.SrcMAC), "inner source MAC is node-1's VTEP")
		assert.Equal(t, vtep2[:], []byte(innerEth.DstMAC), "inner destination MAC is node-2's VTEP")
		innerIP := packet.IPv4(f[14+20+8+8+14:])
		assert.True(t, innerIP.ChecksumOK(), "inner IPv4 checksum")
		if innerIP.Src() == n1.PodCIDR.Addr() {
			assert.Equal(t, uint8(64), innerIP.TTL(), "node-1's own packet (source flannel.1's address) is not forwarded")
		} else {
			assert.Equal(t, uint8(63), innerIP.TTL(), "inner TTL decremented once by node-1")
		}
		checked++
	}
	require.Positive(t, checked, "no VXLAN frame left node-1")
}
