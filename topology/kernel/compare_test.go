package kernel_test

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/kernel"
)

var (
	macA = net.HardwareAddr{0x0a, 0x58, 10, 244, 0, 2}
	macB = net.HardwareAddr{0x0a, 0x58, 10, 244, 0, 1}
	ipA  = net.IP{10, 244, 0, 2}
	ipB  = net.IP{10, 244, 1, 2}
)

func testNames() kernel.Names {
	return kernel.Names{
		IP:    map[netip.Addr]string{netip.MustParseAddr("10.244.0.2"): "pod-a", netip.MustParseAddr("10.244.1.2"): "pod-b"},
		MAC:   map[string]string{macA.String(): "pod-a/eth0", macB.String(): "node-1/cni0"},
		Ports: map[uint16]bool{8080: true, 8472: true},
		VXLAN: 8472,
	}
}

// tcpFrame builds an Ethernet/IPv4/TCP frame with gopacket.
func tcpFrame(t *testing.T, id uint16, sport, dport uint16, seq uint32, syn, ack bool, opts []layers.TCPOption) []byte {
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: ipA, DstIP: ipB}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, SYN: syn, ACK: ack, Window: 64240, Options: opts}
	require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp))
	return buf.Bytes()
}

func field(p kernel.Packet, name string) string {
	for _, f := range p.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return "(absent)"
}

func TestDescribeReducesVaryingValuesToTheirRules(t *testing.T) {
	mss := []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0x82}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}}
	d := kernel.NewDescriber(testNames())
	syn := d.Describe(kernel.Frame{Data: tcpFrame(t, 0x1234, 40000, 8080, 1000, true, false, mss), Out: true})
	next := d.Describe(kernel.Frame{Data: tcpFrame(t, 0x1235, 40000, 8080, 1001, false, false, nil), Out: true})
	bad := tcpFrame(t, 9, 1234, 8080, 1001, false, false, nil)
	bad[14+20+19] ^= 0xff // corrupt the TCP urgent pointer, not the checksum
	odd := d.Describe(kernel.Frame{Data: bad})
	tests := []struct {
		p           kernel.Packet
		name, value string
	}{
		{syn, "tcp.sport", "ephemeral"},
		{syn, "tcp.dport", "8080"},
		{syn, "tcp.seq", "isn"},
		{syn, "tcp.flags", "S"},
		{syn, "tcp.options", "mss(4),sackOK(2),eol"},
		{syn, "tcp.opt.mss", "1410"},
		{syn, "tcp.csum", "valid"},
		{syn, "ip.id", "non-zero"},
		{syn, "ip.csum", "valid"},
		{syn, "eth.src", "pod-a/eth0"},
		{next, "ip.id", "prev+1"},
		{next, "tcp.seq", "isn+1"},
		{next, "tcp.options", "none"},
		{odd, "tcp.sport", "1234 (not ephemeral)"},
		{odd, "tcp.csum", "bad"},
		{odd, "ip.id", "non-zero, not prev+1"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.value, field(tt.p, tt.name), "%s of %s", tt.name, tt.p.Kind)
	}
	assert.Equal(t, "out tcp S pod-a>pod-b", syn.Kind)
	assert.Equal(t, "in tcp none pod-a>pod-b", odd.Kind)
}

func TestIPutilsPayloadIsRecognised(t *testing.T) {
	b := make([]byte, 56)
	kernel.IPutilsPayload(b, testTime)
	assert.Equal(t, byte(16), b[16])
	assert.Equal(t, byte(55), b[55])
	echo := func(data []byte) kernel.Packet {
		eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: ipA, DstIP: ipB}
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, ic, gopacket.Payload(data)))
		return kernel.NewDescriber(testNames()).Describe(kernel.Frame{Data: buf.Bytes(), Out: true})
	}
	pattern := make([]byte, 56)
	for i := range pattern {
		pattern[i] = byte(0x10 + i)
	}
	assert.Equal(t, "iputils (struct timeval, then each byte = its offset)", field(echo(b), "icmp.data"))
	assert.Equal(t, "0x10 + offset (no timeval)", field(echo(pattern), "icmp.data"))
	assert.Equal(t, "valid", field(echo(b), "icmp.csum"))
}

func pkts(kinds ...string) []kernel.Packet {
	out := make([]kernel.Packet, len(kinds))
	for i, k := range kinds {
		out[i] = kernel.Packet{Kind: k, Fields: []kernel.Field{{Name: "ip.ttl", Value: "64"}}}
	}
	return out
}

func TestCompareAlignsOnKindsAndNamesMissingPackets(t *testing.T) {
	k := pkts("out arp", "in arp", "out tcp S", "in tcp S.", "out tcp .", "out tcp P.")
	n := pkts("out arp", "out tcp S", "in tcp S.", "out tcp P.", "in tcp R")
	n[3].Fields[0].Value = "63"
	got := kernel.Compare("c", "p", k, n)
	want := []kernel.Difference{
		{Case: "c", Point: "p", Packet: "in arp", Field: "packet", Kernel: "sent", Netsim: "missing"},
		{Case: "c", Point: "p", Packet: "out tcp .", Field: "packet", Kernel: "sent", Netsim: "missing"},
		{Case: "c", Point: "p", Packet: "out tcp P.", Field: "ip.ttl", Kernel: "64", Netsim: "63"},
		{Case: "c", Point: "p", Packet: "in tcp R", Field: "packet", Kernel: "missing", Netsim: "sent"},
	}
	assert.Equal(t, want, got)
	assert.Empty(t, kernel.Compare("c", "p", k, k), "a capture compared with itself")
}

func TestKnownListFailsOnNewAndOnGoneDifferences(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known.txt")
	listed := kernel.Difference{Case: "tcp", Point: "pod-a/eth0", Packet: "out tcp S pod-a>pod-b", Field: "tcp.opt.wscale", Kernel: "10", Netsim: "7"}
	fixed := kernel.Difference{Case: "ping", Point: "pod-a/eth0", Packet: "out icmp", Field: "ip.id", Kernel: "0", Netsim: "non-zero"}
	require.NoError(t, os.WriteFile(path, []byte("# comment\n\n"+listed.Key()+" | reason one\n"+fixed.Key()+" | reason two\n"), 0o644))
	k, err := kernel.LoadKnown(path)
	require.NoError(t, err)
	fresh := kernel.Difference{Case: "udp", Point: "pod-a/eth0", Packet: "out udp", Field: "udp.csum", Kernel: "valid", Netsim: "bad"}
	unlisted, gone := k.Verdict([]kernel.Difference{listed, fresh}, "")
	assert.Equal(t, []kernel.Difference{fresh}, unlisted)
	assert.Equal(t, []string{fixed.Key()}, gone)
	var rep bytes.Buffer
	kernel.WriteReport(&rep, k, []kernel.Difference{listed, fresh}, gone)
	assert.Contains(t, rep.String(), "NEW")
	assert.Contains(t, rep.String(), "GONE")
	assert.Regexp(t, `(?m)^NEW .*udp\.csum +valid +bad`, rep.String(), "new differences come first")

	for name, text := range map[string]string{
		"too few columns": "a | b | c\n",
		"listed twice":    listed.Key() + " | r\n" + listed.Key() + " | r\n",
	} {
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		_, err := kernel.LoadKnown(path)
		assert.ErrorContains(t, err, path+":", name)
	}
}

var testTime = time.Date(2026, 12, 2, 0, 0, 0, 123456000, time.UTC)
