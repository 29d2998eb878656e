package kernel_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni/calico"
	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/link"
	"netsim/dataplane/pcap"
	"netsim/sim"
	"netsim/topology"
	"netsim/topology/kernel"
)

var dump = flag.Bool("dump", false, "log every decoded packet of both worlds")

var updateKnown = flag.Bool("update-known", false, "rewrite testdata/known-differences.txt with the differences found (reasons of lines still present are kept)")

// knownFile lists the known differences of every scenario; the case
// column is "<scenario file name>/<flow>".
const knownFile = "testdata/known-differences.txt"

// point is one capture point: a device named as in the report
// ("pod-a/eth0"), in netsim ("default/pod-a/eth0") and in the kernel.
type point struct {
	name, netsimNS, dev string
}

// casePlan is one flow of the scenario: what to send and where to look.
type casePlan struct {
	flow   *topology.Flow
	points []point
	// server is the netsim namespace that answers (the endpoint pod of a
	// Service or NodePort, else the flow's destination) and port the port
	// it listens on (the endpoint's targetPort behind a Service port).
	server string
	port   int
	// natPorts: a MASQUERADE rule of a node matched the flow in netsim
	// (its counters grew; every one netsim and kube-proxy write is
	// --random-fully): from point natFrom on (past a pod's or ECS
	// instance's eth0 unless it also receives, in a hairpin; a node's own
	// eth0 is after its POSTROUTING) a port
	// is checked by rule (1024–65535), not as ephemeral.
	natPorts bool
	natFrom  int
}

// planFlow derives the capture points of a flow: the sender's eth0, the
// eth0 of the node a sending pod is on (the outer VXLAN headers), the
// destination's eth0 and, when another namespace answers (a Service's or
// NodePort's endpoint, found from netsim's run), the answering pod's eth0.
// (On an l2 underlay what one node's eth0 sends the other's receives
// unchanged, so the receiving node's eth0 would only repeat the sending
// node's; on a vpc underlay it would only add what the router namespace
// does unlike the vRouter.)
func planFlow(t *testing.T, w *topology.World, f *topology.Flow, responder string) casePlan {
	require.LessOrEqual(t, f.Count, 1, "flow %s: the kernel test sends one exchange per flow", f.Name)
	p := casePlan{flow: f, server: responder, port: f.Port}
	var pts []point
	add := func(pt point) {
		for _, q := range pts {
			if q == pt {
				return
			}
		}
		pts = append(pts, pt)
	}
	addNS := func(ns string, withNode bool) {
		if pod := w.Pod(ns); pod != nil {
			add(point{pod.Name + "/eth0", pod.Ref(), "eth0"})
			if withNode {
				add(point{pod.Node.Name + "/eth0", pod.Node.Name, "eth0"})
			}
			return
		}
		h := w.Host(ns)
		require.NotNil(t, h, "flow %s: %s is neither a pod nor an ECS instance", f.Name, ns)
		add(point{h.Name + "/eth0", h.Name, "eth0"})
	}
	from, err := w.Resolve(f.From)
	require.NoError(t, err)
	require.NotNil(t, from.Stack, "flow %s: the sender %s has no namespace", f.Name, f.From)
	addNS(from.Stack.Name, true)
	to, err := w.Resolve(f.To)
	require.NoError(t, err)
	if to.Stack != nil {
		addNS(to.Stack.Name, false)
		if p.server == "" {
			p.server = to.Stack.Name
		}
	}
	if p.server != "" && (to.Stack == nil || p.server != to.Stack.Name) {
		addNS(p.server, false)
		p.port = endpointPort(t, w, f, to, p.server)
	}
	require.NotEmpty(t, p.server, "flow %s: nobody answered in netsim, so there is no server to start in the kernel", f.Name)
	p.points = pts
	return p
}

// endpointPort is the port the endpoint pod server listens on behind the
// Service port (to svc/…) or NodePort (to a node) f.Port.
func endpointPort(t *testing.T, w *topology.World, f *topology.Flow, to topology.Target, server string) int {
	pod := w.Pod(server)
	require.NotNil(t, pod, "flow %s: %s answers but is not a pod", f.Name, server)
	for _, svc := range w.Services {
		for _, sp := range svc.Ports {
			if !(to.Service == svc && sp.Port == f.Port) && !(to.Service == nil && sp.NodePort == f.Port) {
				continue
			}
			for _, ep := range svc.Endpoints[sp.Name] {
				if ep.IP == pod.IP {
					return ep.Port
				}
			}
		}
	}
	t.Fatalf("flow %s: no Service port %d with endpoint %s", f.Name, f.Port, server)
	return 0
}

// runNetsim runs each flow alone, plans its capture points from who
// answered and captures its frames per point.
func runNetsim(t *testing.T, r *sim.Runner) ([]casePlan, map[string]map[string][]kernel.Frame, map[string]string) {
	var plans []casePlan
	frames := map[string]map[string][]kernel.Frame{}
	outcome := map[string]string{}
	for i := range r.World.Scenario.Flows {
		f := &r.World.Scenario.Flows[i]
		sink := pcap.NewSink(r.Loop.Now, nil)
		r.World.Env.Capture = sink
		masq := masquerades(r.World)
		res, err := r.Run(sim.Options{Flow: f.Name})
		require.NoError(t, err)
		fr := res.Flows[0]
		v := fr.Verdict
		outcome[f.Name] = v.Result
		if v.Reason != "" {
			outcome[f.Name] += " (" + v.Reason + ")"
		}
		responder := ""
		for ns := range fr.Responders {
			require.Empty(t, responder, "flow %s: more than one namespace answered", f.Name)
			responder = ns
		}
		p := planFlow(t, r.World, f, responder)
		if masquerades(r.World) > masq {
			from, _ := r.World.Resolve(f.From)
			p.natPorts, p.natFrom = true, 1
			for _, n := range r.World.Nodes {
				if n.Stack == from.Stack {
					p.natFrom = 0
				}
			}
			if p.server == from.Stack.Name {
				p.natFrom = 0 // a hairpin: the sender's eth0 also receives
			}
		}
		plans = append(plans, p)
		frames[f.Name] = map[string][]kernel.Frame{}
		for _, pt := range p.points {
			fs, dirs := sink.Frames(pt.netsimNS + "/" + pt.dev)
			for i, fm := range fs {
				frames[f.Name][pt.name] = append(frames[f.Name][pt.name], kernel.Frame{Data: fm, Out: dirs[i] == link.Out})
			}
		}
	}
	r.World.Env.Capture = nil
	return plans, frames, outcome
}

// masquerades counts the packets that matched a MASQUERADE rule of any
// node in netsim (iptables-save -c's counters of the nat table).
func masquerades(w *topology.World) int {
	n := 0
	for _, h := range w.Nodes {
		if h.Filter == nil {
			continue
		}
		for _, l := range strings.Split(h.Filter.Save(true, "nat"), "\n") {
			if !strings.Contains(l, "-j MASQUERADE") {
				continue
			}
			var pk, by int
			if _, err := fmt.Sscanf(l, "[%d:%d]", &pk, &by); err == nil {
				n += pk
			}
		}
	}
	return n
}

func pmtu(df *bool) kernel.PMTUDisc {
	switch {
	case df == nil:
		return kernel.PMTUWant
	case *df:
		return kernel.PMTUDo
	}
	return kernel.PMTUDont
}

// runKernel sends each flow's traffic in the namespaces, capturing.
func runKernel(t *testing.T, w *topology.World, kn *kernel.Net, plans []casePlan) (map[string]map[string][]kernel.Frame, map[string]string) {
	frames := map[string]map[string][]kernel.Frame{}
	outcome := map[string]string{}
	for _, p := range plans {
		f := p.flow
		from, _ := w.Resolve(f.From)
		to, _ := w.Resolve(f.To)
		srcNS, dstNS := kn.NS[from.Stack.Name], kn.NS[p.server]
		caps := map[string]*kernel.Capture{}
		for _, pt := range p.points {
			c, err := kn.Capture(kn.NS[pt.netsimNS], pt.dev)
			require.NoError(t, err)
			caps[pt.name] = c
		}
		size := 56
		if f.Size != nil {
			size = *f.Size
		}
		var res string
		var err error
		switch f.Protocol {
		case "icmp", "":
			// iputils' ident on a raw socket is its process ID.
			res, err = kn.Ping(srcNS, to.IP, max(uint16(os.Getpid()), 1), 1, size, pmtu(f.DF), time.Second)
		case "udp":
			stop, serr := kn.ServeUDPEcho(dstNS, uint16(p.port))
			require.NoError(t, serr)
			res, err = kn.SendUDP(srcNS, netipPort(to, f.Port), size, time.Second)
			stop()
		case "tcp":
			stop, serr := kn.ServeTCPEcho(dstNS, uint16(p.port))
			require.NoError(t, serr)
			res, err = kn.DialTCP(srcNS, netipPort(to, f.Port), size, 2*time.Second)
			// Let the FIN exchange finish before the captures stop.
			time.Sleep(200 * time.Millisecond)
			stop()
		default:
			t.Fatalf("flow %s: protocol %q not supported by the kernel test", f.Name, f.Protocol)
		}
		require.NoError(t, err, "flow %s", f.Name)
		switch {
		case res == "reply":
			outcome[f.Name] = "delivered"
		case strings.HasPrefix(res, "frag-needed"):
			outcome[f.Name] = "dropped (frag-needed)"
		case res == "msg-too-long":
			outcome[f.Name] = "dropped (msg-too-long)"
		default:
			outcome[f.Name] = "dropped (" + res + ")"
		}
		time.Sleep(50 * time.Millisecond)
		frames[f.Name] = map[string][]kernel.Frame{}
		for name, c := range caps {
			fs, err := c.Stop()
			require.NoError(t, err)
			frames[f.Name][name] = fs
		}
	}
	return frames, outcome
}

// TestKernelDifferential builds every testdata/*.yaml scenario twice — in
// netsim and from real kernel devices in network namespaces — sends every
// flow's traffic in both, captures at the sender's eth0, its node's eth0
// and the receiver's eth0, and compares every header field packet by
// packet. Each node namespace holds the iptables rules netsim built for
// it (loaded with iptables-restore and compared, read back with
// iptables-save, with netsim's own iptables-save). Any difference not in
// testdata/known-differences.txt fails the test, and so does a listed
// difference that no longer occurs.
func TestKernelDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel differential test: skipped in -short mode")
	}
	start := time.Now()
	prefix := fmt.Sprintf("nsk%d-", os.Getpid())
	if os.Geteuid() == 0 {
		require.NoError(t, kernel.RemoveStale("nsk"), "removing namespaces of killed earlier runs")
	}
	if err := kernel.Supported(prefix + "probe-"); err != nil {
		t.Skipf("kernel differential test skipped: %v", err)
	}
	if err := kernel.SupportedNetfilter(prefix + "probe-"); err != nil {
		t.Skipf("kernel differential test skipped: %v", err)
	}
	// IP sets are needed only by scenarios whose rules match one (Calico's
	// natOutgoing); without them those scenarios are skipped, with this
	// reason, and the others run.
	if err := kernel.SupportedIPSets(prefix + "probe-"); err != nil {
		t.Logf("IP sets unavailable, scenarios whose rules match IP sets will be skipped: %v", err)
	}
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	known, err := kernel.LoadKnown(knownFile)
	require.NoError(t, err)

	// The kernel's side has timing in it (delayed ACKs against how fast
	// the echo server runs on a loaded machine), so a failing comparison
	// is tried once more in fresh namespaces; a difference netsim really
	// has fails both attempts.
	const attempts = 2
	var all []kernel.Difference
	skipped := map[string]bool{}
	for si, file := range files {
		scen := strings.TrimSuffix(filepath.Base(file), ".yaml")
		s, err := topology.Load(file)
		require.NoError(t, err)
		r, err := sim.NewRunner(s)
		require.NoError(t, err)
		w := r.World
		port := uint16(0)
		if m, ok := w.CNI.(*flannel.Mode); ok && m.Options().Backend == flannel.VXLAN {
			port = uint16(m.Options().Port)
		}
		if m, ok := w.CNI.(*calico.Mode); ok && m.Options().VXLANMode != calico.Never {
			port = calico.VXLANPort
		}
		names := kernel.NamesOf(w, port)
		plans, nsFrames, nsOutcome := runNetsim(t, r)
		for _, p := range plans {
			names.Ports[uint16(p.port)] = true // an endpoint's targetPort
		}
		var diffs []kernel.Difference
		for attempt := 1; attempt <= attempts; attempt++ {
			var skip error
			diffs, skip = compareOnce(t, w, plans, names, fmt.Sprintf("%s%d-%d-", prefix, si, attempt), nsFrames, nsOutcome)
			if t.Failed() {
				return
			}
			if skip != nil {
				t.Logf("%s skipped: %v", scen, skip)
				skipped[scen] = true
				break
			}
			for i := range diffs {
				diffs[i].Case = scen + "/" + diffs[i].Case
			}
			if unlisted, gone := known.Verdict(diffs, scen+"/"); len(unlisted) == 0 && len(gone) == 0 {
				break
			}
			if attempt < attempts {
				t.Logf("%s: attempt %d differs from the known list; trying once more in fresh namespaces", scen, attempt)
			}
		}
		all = append(all, diffs...)
	}
	if *updateKnown {
		require.NoError(t, writeKnown(knownFile, known, all, skipped))
		known, err = kernel.LoadKnown(knownFile)
		require.NoError(t, err)
	}
	unlisted, gone := known.Verdict(all, "")
	gone = slices.DeleteFunc(gone, func(key string) bool { return skipped[scenarioOf(key)] })
	var rep bytes.Buffer
	kernel.WriteReport(&rep, known, all, gone)
	t.Logf("kernel %s, %d scenarios, %d differences (%d new, %d listed ones gone), %s:\n%s",
		kernelRelease(), len(files), len(all), len(unlisted), len(gone), time.Since(start).Round(time.Millisecond), rep.String())
	if len(unlisted) > 0 || len(gone) > 0 {
		t.Errorf("%d new difference(s) and %d listed difference(s) that no longer occur: fix netsim, or update %s (go test ./topology/kernel -run KernelDifferential -args -update-known, then explain each new line)",
			len(unlisted), len(gone), knownFile)
	}
}

// scenarioOf is the scenario column of a known-differences key
// ("calico-vxlan-vpc" of "calico-vxlan-vpc/ping | …").
func scenarioOf(key string) string {
	c, _, _ := strings.Cut(key, " | ")
	s, _, _ := strings.Cut(c, "/")
	return s
}

// compareOnce realises the world in namespaces named prefix…, sends the
// traffic, removes the namespaces and returns the differences; or, when
// the world needs what this machine lacks (Realise's ErrUnsupported, such
// as rules that match IP sets without the ipset tool), the reason to skip
// it.
func compareOnce(t *testing.T, w *topology.World, plans []casePlan, names kernel.Names, prefix string,
	nsFrames map[string]map[string][]kernel.Frame, nsOutcome map[string]string) ([]kernel.Difference, error) {
	kn, err := kernel.Realise(w, prefix)
	if errors.Is(err, kernel.ErrUnsupported) {
		return nil, err
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := kn.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	devs, err := kn.Devices()
	require.NoError(t, err)
	rules := append(compareRules(t, w, kn), compareIPSets(t, w, kn)...)
	kFrames, kOutcome := runKernel(t, w, kn, plans)
	require.NoError(t, kn.Cleanup())

	diffs := append(compareDevices(w, devs), rules...)
	for _, p := range plans {
		name := p.flow.Name
		if kOutcome[name] != nsOutcome[name] {
			diffs = append(diffs, kernel.Difference{Case: name, Point: "-", Packet: "-", Field: "outcome", Kernel: kOutcome[name], Netsim: nsOutcome[name]})
		}
		seen := 0
		for i, pt := range p.points {
			nm := names
			nm.NATPorts = p.natPorts && i >= p.natFrom
			kd, nd := kernel.NewDescriber(nm), kernel.NewDescriber(nm)
			var kp, np []kernel.Packet
			for _, f := range kFrames[name][pt.name] {
				if p := kd.Describe(f); !p.Noise {
					kp = append(kp, p)
				}
			}
			for _, f := range nsFrames[name][pt.name] {
				np = append(np, nd.Describe(f))
			}
			seen += len(kp)
			if *dump {
				t.Logf("%s at %s:\n  kernel:\n%s  netsim:\n%s", name, pt.name, dumpPackets(kp), dumpPackets(np))
			}
			diffs = append(diffs, kernel.Compare(name, pt.name, kp, np)...)
		}
		if seen == 0 && kOutcome[name] != "dropped (msg-too-long)" {
			t.Errorf("case %s: the kernel captured nothing at any point, although the traffic left its socket (setup broken?)", name)
		}
	}
	return diffs, nil
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// writeKnown rewrites the known-differences file with the differences
// found, keeping the reasons (and comments at the top) already written and
// the lines of the scenarios skipped in this run.
func writeKnown(path string, known *kernel.Known, diffs []kernel.Difference, skipped map[string]bool) error {
	var head []string
	if b, err := os.ReadFile(path); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				break
			}
			head = append(head, l)
		}
	}
	seen := map[string]bool{}
	var lines []string
	for _, d := range diffs {
		k := d.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		reason, ok := known.Reasons[k]
		if !ok {
			reason = "UNEXPLAINED: say why netsim differs here"
		}
		lines = append(lines, k+" | "+reason)
	}
	for _, k := range known.Order {
		if skipped[scenarioOf(k)] {
			lines = append(lines, k+" | "+known.Reasons[k])
		}
	}
	out := strings.Join(head, "\n")
	if out != "" {
		out += "\n\n"
	}
	return os.WriteFile(path, []byte(out+strings.Join(lines, "\n")+"\n"), 0o644)
}

func netipPort(to topology.Target, port int) netip.AddrPort {
	return netip.AddrPortFrom(to.IP, uint16(port))
}

func dumpPackets(ps []kernel.Packet) string {
	var b strings.Builder
	for i, p := range ps {
		fmt.Fprintf(&b, "    %d. %s\n      ", i+1, p.Kind)
		for _, f := range p.Fields {
			fmt.Fprintf(&b, " %s=%s", f.Name, f.Value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// compareDevices compares every device of every netsim namespace with the
// kernel's after setup: present, MTU (the bridge's own rule included), MAC,
// administrative state. Case "setup", point the namespace, packet the device.
func compareDevices(w *topology.World, devs map[string]map[string]kernel.Device) []kernel.Difference {
	short := map[string]string{}
	for _, p := range w.Pods {
		short[p.Ref()] = p.Name
	}
	var out []kernel.Difference
	for _, st := range w.Stacks() {
		kd, ok := devs[st.Name]
		if !ok {
			continue
		}
		ns := st.Name
		if s, ok := short[ns]; ok {
			ns = s
		}
		seen := map[string]bool{}
		for _, ifc := range st.Ifaces() {
			d := ifc.Dev
			if d.Kind == "loopback" {
				continue
			}
			seen[d.Name] = true
			k, ok := kd[d.Name]
			if !ok {
				out = append(out, kernel.Difference{Case: "setup", Point: ns, Packet: d.Name, Field: "device", Kernel: "missing", Netsim: "present"})
				continue
			}
			for _, f := range []struct{ name, k, n string }{
				{"mtu", fmt.Sprint(k.MTU), fmt.Sprint(d.MTU)},
				{"mac", k.MAC, d.MAC.String()},
				{"up", fmt.Sprint(k.Up), fmt.Sprint(d.Up())},
			} {
				if f.k != f.n {
					out = append(out, kernel.Difference{Case: "setup", Point: ns, Packet: d.Name, Field: f.name, Kernel: f.k, Netsim: f.n})
				}
			}
		}
		var extra []string
		for name := range kd {
			if !seen[name] {
				extra = append(extra, name)
			}
		}
		sort.Strings(extra)
		for _, name := range extra {
			out = append(out, kernel.Difference{Case: "setup", Point: ns, Packet: name, Field: "device", Kernel: "present", Netsim: "missing"})
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Point < out[b].Point })
	return out
}

// compareRules compares, per node and table, the rules the kernel holds
// after iptables-restore (read back with iptables-save) with netsim's own
// iptables-save output: a rule netsim prints unlike iptables would, or
// one the kernel rewrote, is a difference. Case "setup", point the node,
// packet "iptables -t TABLE", field the line number in netsim's table.
func compareRules(t *testing.T, w *topology.World, kn *kernel.Net) []kernel.Difference {
	var out []kernel.Difference
	for _, h := range w.Nodes {
		if h.Filter == nil {
			continue
		}
		save, err := kn.IPTablesSave(h.Name)
		require.NoError(t, err)
		kt := kernel.SaveTables(save)
		nt := kernel.SaveTables(h.Filter.Save(false, "raw", "mangle", "nat", "filter"))
		for _, table := range []string{"raw", "mangle", "nat", "filter"} {
			kl, nl := kt[table], nt[table]
			for i := 0; i < max(len(kl), len(nl)); i++ {
				k, n := "missing", "missing"
				if i < len(kl) {
					k = kl[i]
				}
				if i < len(nl) {
					n = nl[i]
				}
				if k != n {
					out = append(out, kernel.Difference{Case: "setup", Point: h.Name, Packet: "iptables -t " + table,
						Field: fmt.Sprintf("line %d", i+1), Kernel: k, Netsim: n})
				}
			}
		}
	}
	return out
}

// compareIPSets compares, per node that has IP sets in netsim, the sets
// the kernel holds after `ipset restore` (read back with `ipset save`)
// with netsim's own `ipset save` output, each normalised by
// kernel.SaveSets. Case "setup", point the node, packet "ipset save",
// field the line number. Without the ipset tool (sets that no rule
// matches were then not made) there is nothing to compare.
func compareIPSets(t *testing.T, w *topology.World, kn *kernel.Net) []kernel.Difference {
	if kernel.IPSetCommand() == "" {
		return nil
	}
	var out []kernel.Difference
	for _, h := range w.Nodes {
		if h.Filter == nil || h.Filter.SaveIPSets() == "" {
			continue
		}
		save, err := kn.IPSetSave(h.Name)
		require.NoError(t, err)
		kl, nl := kernel.SaveSets(save), kernel.SaveSets(h.Filter.SaveIPSets())
		for i := 0; i < max(len(kl), len(nl)); i++ {
			k, n := "missing", "missing"
			if i < len(kl) {
				k = kl[i]
			}
			if i < len(nl) {
				n = nl[i]
			}
			if k != n {
				out = append(out, kernel.Difference{Case: "setup", Point: h.Name, Packet: "ipset save",
					Field: fmt.Sprintf("line %d", i+1), Kernel: k, Netsim: n})
			}
		}
	}
	return out
}
