package link_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// bridgeFixture is br0 in namespace "node" with n veth ports veth1..vethN;
// the other end of port i is host hI's eth0 with MAC 02:00:00:00:00:0I.
type bridgeFixture struct {
	env   *link.Env
	s     *linktest.Sched
	br    *link.Bridge
	ports []*link.Device
	hosts []*link.Device
	sinks []*linktest.Sink
	up    *linktest.Sink
}

var brMAC = packet.MAC{0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x01}

func newBridgeFixture(t *testing.T, n int) *bridgeFixture {
	t.Helper()
	env, s := linktest.NewEnv()
	f := &bridgeFixture{env: env, s: s, br: link.NewBridge(env, "node", "br0", 1500, brMAC), up: &linktest.Sink{}}
	f.br.Dev.SetReceiver(f.up)
	for i := 1; i <= n; i++ {
		h, p := link.NewVethPair(env, fmt.Sprintf("h%d", i), "eth0", linktest.MAC(byte(i)),
			"node", fmt.Sprintf("veth%d", i), linktest.MAC(byte(0x10+i)), 1500)
		f.br.AddPort(p)
		sink := &linktest.Sink{}
		h.SetReceiver(sink)
		f.ports, f.hosts, f.sinks = append(f.ports, p), append(f.hosts, h), append(f.sinks, sink)
	}
	return f
}

// send has host i (1-based) transmit a frame and runs the world; it
// returns who received it: "h2", "up", ... in order.
func (f *bridgeFixture) send(i int, dst, src packet.MAC) []string {
	f.hosts[i-1].Transmit(f.env.Pool.From(ethFrame(dst, src, 60)))
	f.s.Run()
	return f.collect()
}

func (f *bridgeFixture) collect() []string {
	var got []string
	for i, s := range f.sinks {
		for range s.Frames {
			got = append(got, fmt.Sprintf("h%d", i+1))
		}
		s.Reset()
	}
	for range f.up.Frames {
		got = append(got, "up")
	}
	f.up.Reset()
	return got
}

func TestBridgeLearnForwardFlood(t *testing.T) {
	f := newBridgeFixture(t, 3)
	m := func(i int) packet.MAC { return linktest.MAC(byte(i)) }
	steps := []struct {
		name     string
		from     int
		dst, src packet.MAC
		want     []string
	}{
		{"broadcast floods to the other ports and up to br0", 1, packet.Broadcast, m(1), []string{"h2", "h3", "up"}},
		{"known unicast goes to the learned port only", 2, m(1), m(2), []string{"h1"}},
		{"unknown unicast floods to the other ports, not up", 3, m(0x99), m(3), []string{"h1", "h2"}},
		{"learned from the previous steps", 3, m(2), m(3), []string{"h2"}},
		{"frame for the bridge's own MAC goes up only", 1, brMAC, m(1), []string{"up"}},
		{"frame for a port's own MAC goes up (local entry)", 2, f.ports[0].MAC, m(2), []string{"up"}},
		{"multicast is flooded like broadcast", 2, packet.MAC{0x01, 0x00, 0x5e, 0, 0, 1}, m(2), []string{"h1", "h3", "up"}},
	}
	for _, st := range steps {
		got := f.send(st.from, st.dst, st.src)
		assert.Equal(t, st.want, got, st.name)
	}
	assert.Empty(t, f.env.Trace.DropList())
	assert.Zero(t, f.env.Pool.Out)

	fdb := f.br.FDB()
	for i := 1; i <= 3; i++ {
		e := fdb[m(i)]
		require.NotNil(t, e, "MAC of h%d learned", i)
		assert.Same(t, f.ports[i-1], e.Port)
		assert.False(t, e.Local)
		assert.False(t, e.Static)
	}
	assert.NotContains(t, fdb, m(0x99), "destinations are not learned")
	assert.NotContains(t, fdb, packet.Broadcast)
}

func TestBridgeLearnsMove(t *testing.T) {
	f := newBridgeFixture(t, 3)
	mac := linktest.MAC(0x55)
	f.send(1, packet.Broadcast, mac)
	assert.Same(t, f.ports[0], f.br.FDB()[mac].Port)
	f.s.RunFor(10 * time.Second)
	f.send(2, packet.Broadcast, mac)
	assert.Same(t, f.ports[1], f.br.FDB()[mac].Port, "a MAC seen on another port moves there")
	assert.Equal(t, 10*time.Second, f.br.FDB()[mac].Updated)
	assert.Equal(t, []string{"h2"}, f.send(3, mac, linktest.MAC(3)))
	// A frame claiming the bridge's own address as source does not move it.
	f.send(3, packet.Broadcast, brMAC)
	assert.Nil(t, f.br.FDB()[brMAC].Port)
	assert.True(t, f.br.FDB()[brMAC].Local)
}

func TestBridgeHairpin(t *testing.T) {
	tests := []struct {
		name    string
		hairpin bool
		want    []string
		drop    bool
	}{
		{name: "hairpin off drops", hairpin: false, drop: true},
		{name: "hairpin on sends back out the ingress port", hairpin: true, want: []string{"h1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBridgeFixture(t, 2)
			other := linktest.MAC(0x44) // lives behind h1 too (a second pod MAC, a VM)
			f.send(1, packet.Broadcast, other)
			f.ports[0].Hairpin = tt.hairpin
			got := f.send(1, other, linktest.MAC(1))
			assert.Equal(t, tt.want, got)
			if tt.drop {
				drops := f.env.Trace.DropList()
				require.Len(t, drops, 1)
				assert.Equal(t, trace.ReasonHairpin, drops[0].Reason)
				assert.Equal(t, "veth1", drops[0].Device)
				assert.Equal(t, "node", drops[0].Node)
			} else {
				assert.Empty(t, f.env.Trace.DropList())
			}
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}

// TestBridgeFloodHairpin: br_flood's should_deliver skips the ingress
// port only when hairpin mode is off on it; with hairpin on (cni0 ports,
// hairpinMode: true) a broadcast or unknown unicast goes back to the
// sender as well. Frames from the bridge device itself reach every port.
func TestBridgeFloodHairpin(t *testing.T) {
	m := func(i int) packet.MAC { return linktest.MAC(byte(i)) }
	tests := []struct {
		name    string
		hairpin []bool // per port
		from    int    // 0: transmitted by br0 itself
		dst     packet.MAC
		want    []string
	}{
		{"broadcast, hairpin on the ingress port", []bool{true, false, false}, 1, packet.Broadcast, []string{"h1", "h2", "h3", "up"}},
		{"broadcast, hairpin on another port only", []bool{false, true, false}, 1, packet.Broadcast, []string{"h2", "h3", "up"}},
		{"broadcast, hairpin everywhere", []bool{true, true, true}, 2, packet.Broadcast, []string{"h1", "h2", "h3", "up"}},
		{"unknown unicast, hairpin on the ingress port", []bool{false, false, true}, 3, m(0x99), []string{"h1", "h2", "h3"}},
		{"unknown unicast, hairpin off", []bool{false, false, false}, 3, m(0x99), []string{"h1", "h2"}},
		{"broadcast from br0, hairpin everywhere", []bool{true, true, true}, 0, packet.Broadcast, []string{"h1", "h2", "h3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBridgeFixture(t, 3)
			for i, h := range tt.hairpin {
				f.ports[i].Hairpin = h
			}
			frame := ethFrame(tt.dst, brMAC, 60)
			if tt.from == 0 {
				f.br.Dev.Transmit(f.env.Pool.From(frame))
			} else {
				frame = ethFrame(tt.dst, m(tt.from), 60)
				f.hosts[tt.from-1].Transmit(f.env.Pool.From(frame))
			}
			f.s.Run()
			for i, sink := range f.sinks {
				for _, fr := range sink.Frames {
					assert.Equal(t, frame, fr.Data, "h%d gets the frame unchanged", i+1)
				}
			}
			assert.Equal(t, tt.want, f.collect())
			assert.Empty(t, f.env.Trace.DropList())
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}

func TestBridgeFDBAgeing(t *testing.T) {
	f := newBridgeFixture(t, 3)
	assert.Equal(t, 300*time.Second, f.br.Ageing)
	assert.Equal(t, link.DefaultAgeing, f.br.Ageing)
	m1 := linktest.MAC(1)
	f.send(1, packet.Broadcast, m1) // learned at t=0

	f.s.RunFor(300*time.Second - time.Millisecond)
	assert.Equal(t, []string{"h1"}, f.send(2, m1, linktest.MAC(2)), "299.999 s after learning: still known")

	f.s.RunFor(time.Millisecond)
	assert.Equal(t, []string{"h1", "h3"}, f.send(2, m1, linktest.MAC(2)), "300 s after learning (br_fdb has_expired): flooded")

	// Hearing from m1 again refreshes the entry.
	f.send(1, packet.Broadcast, m1)
	f.s.RunFor(200 * time.Second)
	assert.Equal(t, []string{"h1"}, f.send(2, m1, linktest.MAC(2)))

	// Local (permanent) entries never age.
	f.s.RunFor(time.Hour)
	assert.Equal(t, []string{"up"}, f.send(2, brMAC, linktest.MAC(2)))
	assert.Equal(t, []string{"up"}, f.send(3, f.ports[0].MAC, linktest.MAC(3)))
}

func TestBridgeDeviceXmit(t *testing.T) {
	f := newBridgeFixture(t, 3)
	// The namespace sends through br0: broadcast reaches every port, not up.
	f.br.Dev.Transmit(f.env.Pool.From(ethFrame(packet.Broadcast, brMAC, 42+14)))
	f.s.Run()
	assert.Equal(t, []string{"h1", "h2", "h3"}, f.collect())
	// Unknown unicast floods too.
	f.br.Dev.Transmit(f.env.Pool.From(ethFrame(linktest.MAC(2), brMAC, 60)))
	f.s.Run()
	assert.Equal(t, []string{"h1", "h2", "h3"}, f.collect())
	// Once learned, only the port it lives on.
	f.send(2, brMAC, linktest.MAC(2))
	f.br.Dev.Transmit(f.env.Pool.From(ethFrame(linktest.MAC(2), brMAC, 60)))
	f.s.Run()
	assert.Equal(t, []string{"h2"}, f.collect())
	// A port that is down is skipped by floods.
	f.ports[2].SetUp(false)
	f.br.Dev.Transmit(f.env.Pool.From(ethFrame(packet.Broadcast, brMAC, 60)))
	f.s.Run()
	assert.Equal(t, []string{"h1", "h2"}, f.collect())
	assert.Zero(t, f.env.Pool.Out)
}

func TestBridgeDownDropsLocalDelivery(t *testing.T) {
	f := newBridgeFixture(t, 2)
	f.br.Dev.SetUp(false)
	assert.Equal(t, []string{"h2"}, f.send(1, packet.Broadcast, linktest.MAC(1)))
	assert.Equal(t, []trace.Reason{trace.ReasonLinkDown}, linktest.Drops(f.env))
	assert.Zero(t, f.env.Pool.Out)
}

func TestFDBEntryString(t *testing.T) {
	f := newBridgeFixture(t, 2)
	f.send(2, packet.Broadcast, packet.MAC{0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x05})
	var lines []string
	for _, e := range f.br.FDB() {
		lines = append(lines, e.String(f.br))
	}
	slices.Sort(lines)
	assert.Equal(t, []string{
		"02:00:00:00:00:11 dev veth1 master br0 permanent",
		"02:00:00:00:00:12 dev veth2 master br0 permanent",
		"0a:58:0a:f4:00:01 dev br0 master br0 permanent",
		"0a:58:0a:f4:00:05 dev veth2 master br0",
	}, lines)
	static := &link.FDBEntry{MAC: linktest.MAC(9), Port: f.ports[0], Static: true}
	assert.Equal(t, "02:00:00:00:00:09 dev veth1 master br0 static", static.String(f.br))
	assert.Len(t, f.br.Ports(), 2)
}

// TestBridgeMTUFollowsPorts is br_mtu_auto_adjust: a new bridge has the
// MTU it was created with (1500 by default), takes the minimum MTU of its
// ports when one is added or removed or a port's MTU changes, goes back to
// 1500 without ports, and stops following once the MTU is set by hand.
func TestBridgeMTUFollowsPorts(t *testing.T) {
	type step struct {
		do   string // "add N MTU", "del N", "port N MTU", "set MTU"
		want int
	}
	tests := []struct {
		name      string
		createMTU int
		steps     []step
	}{
		{name: "default 1500 without ports", steps: []step{{"", 1500}}},
		{name: "created with 1450, no ports yet", createMTU: 1450, steps: []step{{"", 1450}}},
		{name: "one 1500 port makes a 1450 bridge 1500", createMTU: 1450, steps: []step{{"add 1 1500", 1500}}},
		{name: "minimum of the ports", createMTU: 1450, steps: []step{
			{"add 1 1500", 1500}, {"add 2 1450", 1450}, {"add 3 9000", 1450}, {"del 2", 1500}, {"del 1", 9000}, {"del 3", 1500}}},
		{name: "a port's MTU change", steps: []step{
			{"add 1 1500", 1500}, {"add 2 1500", 1500}, {"port 2 1400", 1400}, {"port 2 1500", 1500}}},
		{name: "set by hand stops following", steps: []step{
			{"add 1 1500", 1500}, {"set 1400", 1400}, {"add 2 1300", 1400}, {"port 1 9000", 1400}, {"del 1", 1400}, {"del 2", 1400}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := linktest.NewEnv()
			br := link.NewBridge(env, "node", "cni0", tt.createMTU, linktest.MAC(0xbb))
			ports := map[string]*link.Device{}
			for _, st := range tt.steps {
				f := strings.Fields(st.do)
				switch {
				case len(f) == 0:
				case f[0] == "add":
					mtu, _ := strconv.Atoi(f[2])
					d := link.NewDevice(env, "node", "veth"+f[1], "veth", link.Ether, mtu, linktest.MAC(byte(len(ports)+1)), nil)
					ports[f[1]] = d
					br.AddPort(d)
				case f[0] == "del":
					br.RemovePort(ports[f[1]])
					assert.Nil(t, ports[f[1]].Master)
				case f[0] == "port":
					mtu, _ := strconv.Atoi(f[2])
					ports[f[1]].SetMTU(mtu)
				case f[0] == "set":
					mtu, _ := strconv.Atoi(f[1])
					br.SetMTU(mtu)
					assert.True(t, br.MTUSetByUser())
				}
				assert.Equal(t, st.want, br.Dev.MTU, "after %q", st.do)
			}
		})
	}
}

// recNF records which BridgeNF hook a bridge called, and accepts.
type recNF struct{ calls []string }

func (r *recNF) BridgeForward(_ *link.Bridge, in, out *link.Device, _ *packet.Buffer) bool {
	r.calls = append(r.calls, "forward "+in.Name+">"+out.Name)
	return true
}

func (r *recNF) BridgeForwardDNAT(_ *link.Bridge, in, out *link.Device, _ *packet.Buffer) bool {
	name := "flood"
	if out != nil {
		name = out.Name
	}
	r.calls = append(r.calls, "dnat "+in.Name+">"+name)
	return true
}

// TestBridgeForwardDNAT: a frame br_netfilter keeps bridged after a DNAT
// (br_nf_pre_routing_finish_bridge → br_handle_frame_finish) goes to the
// port its new destination MAC was learned on, through FORWARD and
// POSTROUTING only (PREROUTING already ran); back out the ingress port only
// with hairpin on; a frame to the bridge's own address is one br_netfilter
// marks with its ingress port before it goes up.
func TestBridgeForwardDNAT(t *testing.T) {
	tests := []struct {
		name    string
		to      int // 1-based host whose MAC is the new destination
		hairpin bool
		want    []string
		calls   []string
		drop    trace.Reason
	}{
		{name: "to another port", to: 2, want: []string{"h2"}, calls: []string{"dnat veth1>veth2"}},
		{name: "back to the sender, hairpin on", to: 1, hairpin: true, want: []string{"h1"}, calls: []string{"dnat veth1>veth1"}},
		{name: "back to the sender, hairpin off", to: 1, drop: trace.ReasonHairpin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBridgeFixture(t, 2)
			nf := &recNF{}
			f.br.NF = nf
			f.send(1, packet.Broadcast, linktest.MAC(1))
			f.send(2, packet.Broadcast, linktest.MAC(2))
			nf.calls = nil
			f.ports[0].Hairpin = tt.hairpin
			f.br.ForwardDNAT(f.ports[0], f.env.Pool.From(ethFrame(linktest.MAC(byte(tt.to)), linktest.MAC(1), 60)))
			f.s.Run()
			assert.Equal(t, tt.want, f.collect())
			assert.Equal(t, tt.calls, nf.calls)
			if tt.drop != trace.ReasonNone {
				drops := f.env.Trace.DropList()
				require.Len(t, drops, 1)
				assert.Equal(t, tt.drop, drops[0].Reason)
			}
			assert.Zero(t, f.env.Pool.Out)
		})
	}
}

// TestBridgeMarksPhysInForUp: with br_netfilter, a frame for the bridge's
// own MAC goes up carrying its ingress port (nf_bridge->physindev), so the
// stack can keep it bridged after a DNAT; without it, it carries none.
func TestBridgeMarksPhysInForUp(t *testing.T) {
	for _, withNF := range []bool{false, true} {
		t.Run(strconv.FormatBool(withNF), func(t *testing.T) {
			f := newBridgeFixture(t, 2)
			f.ports[0].Index, f.ports[1].Index = 5, 6 // ifindexes in "node"
			if withNF {
				f.br.NF = &recNF{}
			}
			var phys []int32
			f.br.Dev.SetReceiver(receiverFunc(func(_ *link.Device, pkt *packet.Buffer) {
				phys = append(phys, pkt.PhysIn)
				pkt.Free()
			}))
			f.send(2, brMAC, linktest.MAC(2))
			want := int32(0)
			if withNF {
				want = 6
			}
			assert.Equal(t, []int32{want}, phys)
		})
	}
}

type receiverFunc func(*link.Device, *packet.Buffer)

func (r receiverFunc) Receive(d *link.Device, pkt *packet.Buffer) { r(d, pkt) }

// TestBridgeSkipsAPortWithoutCarrier: when the pod end of a veth goes
// down, the bridge port has no carrier and is disabled: broadcasts are
// not flooded to it and a frame for a MAC learned behind it is dropped at
// the bridge as link-down (not at the pod).
func TestBridgeSkipsAPortWithoutCarrier(t *testing.T) {
	f := newBridgeFixture(t, 3)
	m := func(i int) packet.MAC { return linktest.MAC(byte(i)) }
	assert.Equal(t, []string{"h1", "h3", "up"}, f.send(2, packet.Broadcast, m(2)), "h2 learned")
	f.hosts[1].SetUp(false) // ip link set eth0 down in h2
	assert.Equal(t, []string{"h3", "up"}, f.send(1, packet.Broadcast, m(1)), "no flood to the disabled port")
	assert.Empty(t, f.env.Trace.DropList(), "no copy is made for the disabled port")
	assert.Empty(t, f.send(1, m(2), m(1)), "unicast to the disabled port")
	drops := f.env.Trace.DropList()
	require.Len(t, drops, 1)
	assert.Equal(t, trace.ReasonLinkDown, drops[0].Reason)
	assert.Equal(t, "node", drops[0].Node)
	assert.Equal(t, "veth2", drops[0].Device)
	assert.Contains(t, drops[0].Detail, "port veth2 of br0 is disabled: no carrier, its peer h2/eth0 is down")
	f.hosts[1].SetUp(true)
	assert.Equal(t, []string{"h2"}, f.send(1, m(2), m(1)), "carrier back: forwarded again")
	assert.Zero(t, f.env.Pool.Out)
}
