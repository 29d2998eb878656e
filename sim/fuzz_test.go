package sim_test

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
	"netsim/internal/fuzzguard"
	"netsim/sim"
	"netsim/topology"
)

// runLimits bound one fuzzed build and run: a bundled scenario builds and
// runs its flows in well under a second.
var runLimits = fuzzguard.Limits{Time: 10 * time.Second, Alloc: 1 << 30}

// maxEvents bounds the events one injected frame may cause: a frame that
// makes the world forward packets forever (a storm) is a bug.
const maxEvents = 200000

// fuzzScenarios are the bundled traffic scenarios, sorted, read once. The
// plan files (scenarios/plan-*.yaml, see scenarioFiles) build no world and
// are left out; leaving them out also keeps each scenario's index, which
// the seeds in testdata/fuzz name, what it was before they existed.
var fuzzScenarios = func() []string {
	files, _ := filepath.Glob("../scenarios/*.yaml")
	files = slices.DeleteFunc(files, isPlanFile)
	sort.Strings(files)
	return files
}()

// devices lists every device of every stack of w, in a fixed order.
func devices(w *topology.World) []*link.Device {
	var out []*link.Device
	for _, st := range w.Stacks() {
		for _, ifc := range st.Ifaces() {
			out = append(out, ifc.Dev)
		}
	}
	return out
}

// frameRecorder keeps copies of the frames a run puts on each device
// (the seeds of FuzzFrame) and, while fuzzing, describes each one as the
// pcap comment and the trace do.
type frameRecorder struct {
	index  map[*link.Device]int
	frames []recorded
	max    int
}

type recorded struct {
	dev  int
	data []byte
}

func (c *frameRecorder) Capture(dev *link.Device, dir link.Dir, pkt *packet.Buffer) {
	_ = dev.Summary(pkt)
	// Seeds: the first frames received on distinct devices.
	if len(c.frames) < c.max && dir == link.In && !slices.ContainsFunc(c.frames, func(r recorded) bool { return r.dev == c.index[dev] }) {
		c.frames = append(c.frames, recorded{c.index[dev], slices.Clone(pkt.Bytes())})
	}
}

// buildScenario parses and builds the bundled scenario i.
func buildScenario(tb testing.TB, i int) *sim.Runner {
	tb.Helper()
	s, err := topology.Load(fuzzScenarios[i])
	require.NoError(tb, err)
	r, err := sim.NewRunner(s)
	require.NoError(tb, err)
	return r
}

// FuzzFrame builds a bundled scenario and delivers one arbitrary frame to
// one of its devices (received from the wire, or transmitted by the
// namespace), then runs the world until it is idle: the parsers of every
// layer (Ethernet, ARP, IPv4, ICMP, TCP, UDP, SCTP, VXLAN, IPIP,
// flannel's UDP encapsulation, netfilter, IPVS) and the trace's packet
// summaries see the bytes. No panic, at most maxEvents events, within
// 10 s and 1 GiB. The seeds are the frames the scenarios' own flows put
// on each device; with fix, the checksums of the mutated frame are
// rewritten first (see fixChecksums) so that it gets past them.
func FuzzFrame(f *testing.F) {
	require.NotEmpty(f, fuzzScenarios)
	for i := range fuzzScenarios {
		r := buildScenario(f, i)
		devs := devices(r.World)
		rec := &frameRecorder{index: map[*link.Device]int{}, max: 6}
		for j, d := range devs {
			rec.index[d] = j
		}
		r.World.Env.Capture = rec
		_, err := r.Run(sim.Options{})
		require.NoError(f, err)
		// A few frames per scenario, spread over the run.
		for _, fr := range rec.frames {
			f.Add(fr.data, uint8(i), uint16(fr.dev), false, true)
		}
	}
	f.Add([]byte{}, uint8(0), uint16(0), false, false)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 0x08, 0x06}, uint8(0), uint16(0), true, false)
	f.Fuzz(checkFrame)
}

func checkFrame(t *testing.T, data []byte, scen uint8, dev uint16, transmit, fix bool) {
	if len(data) > 9216 {
		return
	}
	if fix {
		data = slices.Clone(data)
		fixChecksums(data, len(data) >= packet.EthHeaderLen && packet.Ethernet(data).Type() == packet.EtherTypeIPv4, 0)
	}
	fuzzguard.Run(t, runLimits, "frame", func() {
		r := buildScenario(t, int(scen)%len(fuzzScenarios))
		devs := devices(r.World)
		d := devs[int(dev)%len(devs)]
		r.Rec.Hops = true
		r.World.Env.Capture = &frameRecorder{}
		env := r.World.Env
		pkt := env.Pool.From(data)
		pkt.ID = env.NewID()
		pkt.Flow = 1
		if transmit {
			d.Transmit(pkt)
		} else {
			d.Input(pkt)
		}
		n := 0
		for r.Loop.Step() {
			n++
			if n > maxEvents {
				t.Errorf("one %d-byte frame on %s caused more than %d events (a packet storm)", len(data), d, maxEvents)
				return
			}
		}
		for _, h := range r.Rec.HopList() {
			_ = trace.HopText(h)
		}
		trace.WriteHops(io.Discard, r.Rec.HopList(), 0, 100)
	})
}

// fixChecksums rewrites the checksums of the IPv4 packet in b (after an
// Ethernet header when ether) and of its ICMP, UDP, TCP or SCTP payload,
// and those of a VXLAN or IPIP inner packet, so that a mutated frame gets
// past the checksum checks to the parsers behind them (FuzzFrame's fix).
func fixChecksums(b []byte, ether bool, depth int) {
	if depth > 4 {
		return
	}
	if ether {
		if len(b) < packet.EthHeaderLen || packet.Ethernet(b).Type() != packet.EtherTypeIPv4 {
			return
		}
		b = b[packet.EthHeaderLen:]
	}
	ip := packet.IPv4(b)
	if !ip.Valid() {
		return
	}
	pl := ip.Payload()
	if !ip.IsFragment() {
		switch p := ip.Protocol(); {
		case p == packet.ProtoICMP && len(pl) >= packet.ICMPHeaderLen:
			packet.ICMP(pl).SetChecksum()
		case p == packet.ProtoUDP && len(pl) >= packet.UDPHeaderLen:
			if u := packet.UDP(pl); (u.DstPort() == 8472 || u.DstPort() == 4789) && len(pl) >= packet.UDPHeaderLen+packet.VXLANHeaderLen {
				fixChecksums(pl[packet.UDPHeaderLen+packet.VXLANHeaderLen:], true, depth+1)
			} else if u.DstPort() == 8285 {
				fixChecksums(pl[packet.UDPHeaderLen:], false, depth+1) // flannel udp: a bare IP packet
			}
			packet.SetTransportChecksum(pl, ip.Src(), ip.Dst(), packet.ProtoUDP)
		case p == packet.ProtoTCP && len(pl) >= packet.TCPHeaderLen:
			packet.SetTransportChecksum(pl, ip.Src(), ip.Dst(), packet.ProtoTCP)
		case p == packet.ProtoSCTP && len(pl) >= packet.SCTPHeaderLen:
			packet.SCTP(pl).SetChecksum()
		case p == packet.ProtoIPIP:
			fixChecksums(pl, false, depth+1)
		}
	}
	ip.SetChecksum()
}

// fuzzBytes hands out the fuzz input a byte or a number at a time; past
// its end every byte is 0.
type fuzzBytes []byte

func (b *fuzzBytes) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

func (b *fuzzBytes) pick(n int) int { return int(b.byte()) % n }

func (b *fuzzBytes) u16() int { return int(b.byte())<<8 | int(b.byte()) }

// mutateScenario rewrites one bundled scenario (decoded as YAML) from the
// fuzz bytes: a few of its flows, each with a protocol, endpoints among
// the scenario's nodes, pods and flow endpoints, a port, a size, a count
// of at most 3 and a DF flag; then maybe the CNI's mode and backend, the
// node CIDR mask, a pod's MTU, the VPC MTU, a node's address. The result is often invalid, which is fine: the
// loader must refuse it with a located error.
func mutateScenario(doc map[string]any, b *fuzzBytes) {
	var ends []string
	for key, kind := range map[string]string{"nodes": "node/", "instances": "ecs/", "pods": "pod/"} {
		items, _ := doc[key].([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if name, ok := m["name"].(string); ok {
				ends = append(ends, kind+name)
			}
		}
	}
	sort.Strings(ends) // map order must not change what a byte picks
	flows, _ := doc["flows"].([]any)
	for _, fl := range flows {
		m, _ := fl.(map[string]any)
		for _, k := range []string{"from", "to"} {
			if s, ok := m[k].(string); ok {
				ends = append(ends, s)
			}
		}
	}
	ends = append(ends, "internet", "pod/nope", "10.0.0.1", "255.255.255.255", "0.0.0.0")
	var out []any
	for range 1 + b.pick(3) {
		if len(flows) > 0 && b.pick(2) == 0 {
			out = append(out, flows[b.pick(len(flows))])
			continue
		}
		fl := map[string]any{
			"name":     "fuzz-" + string(rune('a'+len(out))),
			"from":     ends[b.pick(len(ends))],
			"to":       ends[b.pick(len(ends))],
			"protocol": []string{"icmp", "udp", "tcp", "sctp"}[b.pick(4)],
			"count":    1 + b.pick(3),
		}
		if fl["protocol"] != "icmp" {
			fl["port"] = []int{80, 8080, 53, 3306, 7, 0, 65535, 30080}[b.pick(8)]
		}
		switch b.pick(4) {
		case 0:
			fl["size"] = b.u16()
		case 1:
			fl["size"] = []int{0, 1, 1372, 1400, 1473, 1500, 4096, 8972, 65495, 65507}[b.pick(10)]
		}
		if b.pick(3) == 0 {
			fl["df"] = b.pick(2) == 0
		}
		out = append(out, fl)
	}
	doc["flows"] = out
	cluster, _ := doc["cluster"].(map[string]any)
	cni, _ := cluster["cni"].(map[string]any)
	if cni != nil && b.pick(4) == 0 {
		mode := []string{"flannel", "calico", "terway"}[b.pick(3)]
		cni = map[string]any{"mode": mode}
		switch mode {
		case "flannel":
			cni["flannel"] = map[string]any{"backend": []string{"vxlan", "udp", "host-gw", "alivpc", "ipip"}[b.pick(5)]}
		case "calico":
			cni["calico"] = map[string]any{"mode": []string{"ipip", "vxlan", "bgp"}[b.pick(3)]}
		case "terway":
			cni["terway"] = map[string]any{"mode": []string{"eni", "eniip", "ipvlan"}[b.pick(3)]}
		}
		cluster["cni"] = cni
	}
	if v, _ := doc["vpc"].(map[string]any); v != nil && b.pick(4) == 0 {
		v["mtu"] = []int{576, 1280, 1450, 1500, 9000, 575, 9001}[b.pick(7)]
	}
	if nodes, _ := doc["nodes"].([]any); len(nodes) > 0 && b.pick(4) == 0 {
		if n, _ := nodes[b.pick(len(nodes))].(map[string]any); n != nil {
			n["ip"] = []string{"192.168.0.10", "192.168.1.11", "10.0.0.5", "192.168.0.255", "192.168.0.0"}[b.pick(5)]
		}
	}
	if cluster != nil && b.pick(4) == 0 {
		cluster["nodeCIDRMask"] = 23 + b.pick(7)
	}
	if pods, _ := doc["pods"].([]any); len(pods) > 0 && b.pick(4) == 0 {
		if p, _ := pods[b.pick(len(pods))].(map[string]any); p != nil {
			p["mtu"] = []int{576, 1400, 1450, 1480, 1500, 8950, 9000}[b.pick(7)]
		}
	}
}

// FuzzRun loads, builds and runs small random scenarios: a bundled one
// with its flows and a few fields rewritten from the fuzz bytes (see
// mutateScenario; the scenario byte's top bit turns on TraceAll). The
// loader may refuse it; what it accepts must build (or fail with an
// error) and run, with traces, without a panic, within 10 s and 1 GiB.
func FuzzRun(f *testing.F) {
	require.NotEmpty(f, fuzzScenarios)
	for i := range fuzzScenarios {
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), []byte{1, 0, 1, 2, 1, 3, 0})
		f.Add(uint8(i), []byte{1, 1, 3, 4, 2, 1, 1, 5, 1, 0, 0, 0, 0, 0})
	}
	f.Fuzz(checkRun)
}

func checkRun(t *testing.T, scen uint8, data []byte) {
	if len(data) > 256 {
		return
	}
	file := fuzzScenarios[int(scen)%len(fuzzScenarios)]
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(src, &doc))
	b := fuzzBytes(data)
	mutateScenario(doc, &b)
	text, err := yaml.Marshal(doc)
	require.NoError(t, err)
	fuzzguard.Run(t, runLimits, "load, build and run", func() {
		s, err := topology.Parse(file, text)
		if err != nil {
			return
		}
		r, err := sim.NewRunner(s)
		if err != nil {
			return
		}
		res, err := r.Run(sim.Options{Trace: true, TraceAll: scen&0x80 != 0})
		if err != nil {
			return
		}
		sim.WriteSummary(io.Discard, res)
		sim.WriteText(io.Discard, res, 100)
		require.NoError(t, sim.WriteJSON(io.Discard, res))
	})
}
