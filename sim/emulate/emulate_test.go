package emulate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/pcap"
	"netsim/sim"
	"netsim/sim/emulate"
	"netsim/topology"
	"netsim/topology/kernel"
)

// needRoot skips a test that makes namespaces and TAPs when it cannot.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and TAP devices (CI runs as root)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no TUN/TAP driver: /dev/net/tun: %v", err)
	}
}

// prefixFor is a namespace prefix unique to this test and process.
func prefixFor(t *testing.T, name string) string {
	return fmt.Sprintf("nstest-%d-%s-", os.Getpid(), name)
}

func load(t *testing.T, file string) *topology.Scenario {
	t.Helper()
	s, err := topology.Load(filepath.Join("../../scenarios", file))
	require.NoError(t, err)
	return s
}

// start runs s in the emulator with a unique prefix; the emulation is
// closed, and checked to have left no namespace, when the test ends.
func start(t *testing.T, s *topology.Scenario, name string, opts emulate.Options) *emulate.Emulator {
	t.Helper()
	opts.Prefix = prefixFor(t, name)
	opts.LockDir = t.TempDir()
	e, err := emulate.Start(s, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, e.Close())
		assert.Empty(t, netnsWithPrefix(t, opts.Prefix), "namespaces left after Close")
	})
	return e
}

// netnsWithPrefix lists `ip netns list` entries starting with prefix.
func netnsWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var left []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			left = append(left, f[0])
		}
	}
	return left
}

func ep(t *testing.T, e *emulate.Emulator, ref string) *emulate.Endpoint {
	t.Helper()
	x := e.Endpoint(ref)
	require.NotNil(t, x, "no emulated endpoint %s", ref)
	return x
}

// inNS runs cmd in ns and returns its combined output.
func inNS(ns string, cmd ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, cmd...)...).CombinedOutput()
	return string(out), err
}

// simFlow runs one flow of s in the simulator (a fresh world) and returns
// its result: what the emulator must reproduce.
func simFlow(t *testing.T, file, flow string) *sim.FlowResult {
	t.Helper()
	r, err := sim.NewRunner(load(t, file))
	require.NoError(t, err)
	res, err := r.Run(sim.Options{Flow: flow})
	require.NoError(t, err)
	require.Len(t, res.Flows, 1)
	return res.Flows[0]
}

// do runs fn on an OS thread inside namespace ns: sockets made there
// stay in ns whoever uses them afterwards.
func do(ns string, fn func() error) error { return kernel.New("").Do(ns, fn) }

// server is an HTTP server listening in one namespace.
type server struct {
	mu   sync.Mutex
	seen []netip.Addr
	srv  *http.Server
}

func (s *server) remotes() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.Addr(nil), s.seen...)
}

// serveHTTP listens on port in ns and answers "hello from NAME".
func serveHTTP(t *testing.T, ns, name string, port int, sv *server) {
	t.Helper()
	var ln net.Listener
	require.NoError(t, do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}))
	if sv.srv == nil {
		sv.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ap, err := netip.ParseAddrPort(r.RemoteAddr)
			if err == nil {
				sv.mu.Lock()
				sv.seen = append(sv.seen, ap.Addr())
				sv.mu.Unlock()
			}
			fmt.Fprintf(w, "hello from %s", r.Context().Value(http.LocalAddrContextKey))
		}), ReadHeaderTimeout: 5 * time.Second}
		t.Cleanup(func() { sv.srv.Close() })
	}
	go sv.srv.Serve(ln)
}

// get fetches url with connections dialled from ns, one per request.
func get(ns, url string, timeout time.Duration) (string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var conn net.Conn
			err := do(ns, func() error {
				var err error
				conn, err = (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		}}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestPingAcrossNodes pings between pods on two nodes through the
// emulator and checks the underlay in the capture: VXLAN-encapsulated
// echoes for flannel vxlan, plain routed ones for alivpc and Terway.
func TestPingAcrossNodes(t *testing.T) {
	needRoot(t)
	tests := []struct {
		file, name, from, to string
		flow                 string
		vxlan                bool
		// underlay is the sending node's device onto the VPC: its
		// primary NIC for Flannel, the pod's secondary ENI for Terway
		// (policy routing table 1003 → eth1).
		underlay string
	}{
		{"flannel-vxlan.yaml", "vxlan", "web-1", "api-1", "pod-to-pod-cross-node", true, "eth0"},
		{"flannel-alivpc.yaml", "alivpc", "web-1", "api-1", "pod-to-pod-cross-node", false, "eth0"},
		{"terway-eniip.yaml", "eniip", "web-1", "api-1", "pod-to-pod-cross-node", false, "eth1"},
		// Exclusive ENI: the pod's eth0 is the ENI, on the VPC itself.
		{"terway-eni.yaml", "eni", "web-1", "api-1", "pod-to-pod-cross-node", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The simulator's own verdict for the pair: both pods on
			// different nodes, delivered.
			fr := simFlow(t, tc.file, tc.flow)
			require.Equal(t, "delivered", fr.Verdict.Result)
			s := load(t, tc.file)
			nodes := map[string]string{}
			for _, p := range s.Pods {
				nodes[p.Name] = p.Node
			}
			pcapFile := filepath.Join(t.TempDir(), "emulate.pcapng")
			f, err := os.Create(pcapFile)
			require.NoError(t, err)
			defer f.Close()
			var sink *pcap.Sink
			e := start(t, s, tc.name, emulate.Options{Capture: func(r *sim.Runner) (link.Capturer, error) {
				var err error
				sink, err = pcap.NewStreamSink(f, r.Loop.Now, r.Rec)
				return sink, err
			}})
			a, b := ep(t, e, tc.from), ep(t, e, tc.to)
			if nodes[tc.from] != "" && nodes[tc.to] != "" {
				require.NotEqual(t, nodes[tc.from], nodes[tc.to], "the pods must be on two nodes")
			}
			out, err := inNS(a.NS, "ping", "-c", "3", "-i", "0.2", "-W", "2", b.IP.String())
			require.NoError(t, err, "%s\nstats %+v", out, e.Stats())
			assert.Contains(t, out, "3 received")
			require.NoError(t, e.Close())
			require.NoError(t, sink.Flush())
			encap, plain := echoes(t, pcapFile, a.IP, b.IP)
			t.Logf("%s: echo requests in VXLAN %v, plain %v", tc.name, encap, plain)
			src := a.Dev.NS + "/" + a.Dev.Name
			uname := src
			if tc.underlay != "" {
				uname = e.Runner.World.Pod("default/"+tc.from).Node.Name + "/" + tc.underlay
			}
			if tc.vxlan {
				assert.GreaterOrEqual(t, encap[uname], 3, "VXLAN (UDP 8472) echo requests on the underlay %s", uname)
				assert.Zero(t, plain[uname], "no bare pod echo on the underlay %s", uname)
			} else {
				assert.Empty(t, encap, "no VXLAN on a routed underlay")
				assert.GreaterOrEqual(t, plain[uname], 3, "the pod's echo requests routed bare on the underlay %s", uname)
			}
			assert.GreaterOrEqual(t, plain[src], 3, "the pod's echo requests on its eth0 %s", src)
		})
	}
}

// echoes counts the ICMP echo requests src → dst in a pcapng file per
// capture interface ("NS/DEV"): inside a VXLAN (UDP 8472) packet, and
// plain.
func echoes(t *testing.T, file string, src, dst netip.Addr) (encap, plain map[string]int) {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(bufio.NewReader(f), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	isEcho := func(p gopacket.Packet) bool {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		return ip != nil && ic != nil && ic.TypeCode.Type() == layers.ICMPv4TypeEchoRequest &&
			ip.SrcIP.Equal(src.AsSlice()) && ip.DstIP.Equal(dst.AsSlice())
	}
	encap, plain = map[string]int{}, map[string]int{}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		ifc, err := r.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		first := layers.LayerTypeEthernet
		if ifc.LinkType == layers.LinkTypeRaw {
			first = layers.LayerTypeIPv4
		}
		p := gopacket.NewPacket(data, first, gopacket.Default)
		if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil && udp.DstPort == 8472 {
			// VXLAN header (8 bytes), then the inner Ethernet frame.
			if pl := udp.Payload; len(pl) > 8 && isEcho(gopacket.NewPacket(pl[8:], layers.LayerTypeEthernet, gopacket.Default)) {
				encap[ifc.Name]++
			}
			continue
		}
		if isEcho(p) {
			plain[ifc.Name]++
		}
	}
	return encap, plain
}

// TestTCP runs real TCP exchanges (a Go HTTP server in the destination
// pods' namespaces, a Go client in the source's) and compares the body
// and the source address the server saw with the simulator's own run of
// the same flow.
func TestTCP(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name, file, flow string
		servers          []string // pods the flow may reach
		port             int      // where they listen (the target port)
		tries            int
	}{
		{"pod-ip", "flannel-vxlan.yaml", "pod-to-pod-cross-node-tcp", []string{"api-1"}, 8080, 1},
		{"clusterip", "service-clusterip.yaml", "pod-to-clusterip", nil, 8080, 3},
		// SLB wrr over node-1 (no pod: DNAT, masquerade, VXLAN to node-2)
		// and node-2: two connections, the first like the simulator's.
		{"slb-nodeport", "service-loadbalancer.yaml", "internet-to-slb-cluster-policy", []string{"shop-1"}, 8080, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := simFlow(t, tc.file, tc.flow)
			require.Equal(t, "delivered", fr.Verdict.Result, "the simulator delivers %s", tc.flow)
			require.NotEmpty(t, fr.SeenSource)
			servers := tc.servers
			if servers == nil {
			}
			e := start(t, load(t, tc.file), tc.name, emulate.Options{})
			if servers == nil { // the Service's endpoints: the pods of Deployment web
				for _, p := range e.Runner.World.Pods {
					if p.Labels["app"] == "web" {
						servers = append(servers, p.Name)
					}
				}
				require.NotEmpty(t, servers, "web pods")
			}
			sv := &server{}
			for _, p := range servers {
				serveHTTP(t, ep(t, e, p).NS, p, tc.port, sv)
			}
			podIPs := map[netip.Addr]bool{}
			for _, p := range servers {
				podIPs[ep(t, e, p).IP] = true
			}
			client := ep(t, e, strings.TrimPrefix(fr.From, "pod/"))
			url := fmt.Sprintf("http://%s:%d/", fr.DstIP, fr.Port)
			for i := range tc.tries {
				body, err := get(client.NS, url, 3*time.Second)
				require.NoError(t, err, "request %d to %s from %s; stats %+v", i, url, client.NS, e.Stats())
				// The server answered on its pod address (DNAT to the
				// target port); the client, which connected to the
				// Service address, got the answer (conntrack un-DNAT).
				local, ok := strings.CutPrefix(body, "hello from ")
				require.True(t, ok, body)
				ap, err := netip.ParseAddrPort(local)
				require.NoError(t, err, body)
				assert.True(t, podIPs[ap.Addr()], "answered by a backend pod: %s", ap)
				assert.Equal(t, tc.port, int(ap.Port()))
			}
			seen := sv.remotes()
			require.Len(t, seen, tc.tries)
			t.Logf("%s: simulator saw %s, servers saw %v", tc.flow, fr.SeenSource, seen)
			assert.Equal(t, fr.SeenSource, seen[0].String(), "source the server saw, as the simulator's flow reports it")
			if tc.name == "slb-nodeport" {
				// wrr: the first connection through the node without the
				// pod (masqueraded to its flannel.1 address, in its pod
				// CIDR), the second through the pod's node (its cni0).
				w := e.Runner.World
				podNode := w.Pod("default/shop-1").Node
				var other *topology.Host
				for _, h := range w.Nodes {
					if h != podNode {
						other = h
					}
				}
				require.NotNil(t, other)
				assert.True(t, other.PodCIDR.Contains(seen[0]), "first connection masqueraded by %s (%s): saw %s", other.Name, other.PodCIDR, seen[0])
				assert.True(t, podNode.PodCIDR.Contains(seen[1]), "second connection masqueraded by %s (%s): saw %s", podNode.Name, podNode.PodCIDR, seen[1])
			}
		})
	}
}

// TestPathMTU sends a 1472-byte DF ping from the pod whose MTU was
// hand-edited to 1500 over flannel.1's 1450: the simulated node answers
// "Frag needed" and the pod's kernel learns the path MTU.
func TestPathMTU(t *testing.T) {
	needRoot(t)
	fr := simFlow(t, "flannel-vxlan.yaml", "oversize-df-from-misconfigured-pod")
	require.Equal(t, "frag-needed", fr.Verdict.Reason)
	e := start(t, load(t, "flannel-vxlan.yaml"), "mtu", emulate.Options{})
	a, b := ep(t, e, "legacy-1"), ep(t, e, "api-1")
	require.Equal(t, 1500, a.Dev.MTU)
	out, err := inNS(a.NS, "ping", "-M", "do", "-s", "1472", "-c", "1", "-W", "2", b.IP.String())
	t.Logf("%s", out)
	require.Error(t, err, "the 1500-byte DF ping cannot cross flannel.1")
	assert.Regexp(t, `Frag needed and DF set \(mtu = 1450\)|message too long, mtu=1450`, out)
	rt, err := inNS(a.NS, "ip", "route", "get", b.IP.String())
	require.NoError(t, err, rt)
	assert.Contains(t, rt, "mtu 1450", "the learned path MTU in the route cache")
	// The same ping fitting 1450 goes through.
	out, err = inNS(a.NS, "ping", "-M", "do", "-s", "1422", "-c", "1", "-W", "2", b.IP.String())
	assert.NoError(t, err, out)
}

// TestNetworkPolicy connects where Calico's policy allows and where it
// denies, between the same two pods.
func TestNetworkPolicy(t *testing.T) {
	needRoot(t)
	const file = "networkpolicy.yaml"
	allowed, denied := simFlow(t, file, "x-b-to-x-a-tcp-80"), simFlow(t, file, "x-b-to-x-a-tcp-81")
	require.Equal(t, "delivered", allowed.Verdict.Result)
	require.Equal(t, "policy-denied", denied.Verdict.Reason)
	e := start(t, load(t, file), "netpol", emulate.Options{})
	a, b := ep(t, e, "x/a"), ep(t, e, "x/b")
	sv := &server{}
	serveHTTP(t, a.NS, "x/a", allowed.Port, sv)
	serveHTTP(t, a.NS, "x/a", denied.Port, sv)
	body, err := get(b.NS, fmt.Sprintf("http://%s:%d/", a.IP, allowed.Port), 3*time.Second)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(body, "hello from"))
	require.Len(t, sv.remotes(), 1)
	assert.Equal(t, allowed.SeenSource, sv.remotes()[0].String())
	before := e.Stats().Drops["policy-denied"]
	t0 := time.Now()
	_, err = get(b.NS, fmt.Sprintf("http://%s:%d/", a.IP, denied.Port), 1500*time.Millisecond)
	require.Error(t, err)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a denied connection times out (not refused): %v", err)
	assert.GreaterOrEqual(t, time.Since(t0), time.Second)
	assert.Len(t, sv.remotes(), 1, "nothing reached the denied port")
	assert.Greater(t, e.Stats().Drops["policy-denied"], before, "the SYNs were dropped as policy-denied")
}

// TestFlood sends 64-byte UDP datagrams as fast as it can for 3 s from an
// emulated pod to a closed port of a simulated one, then checks the
// emulator still forwards, counted what it dropped, and left no
// goroutine, file descriptor or heap behind.
func TestFlood(t *testing.T) {
	needRoot(t)
	s := load(t, "flannel-vxlan.yaml")
	g0, fd0, h0 := resources(t)
	opts := emulate.Options{Pods: []string{"web-1"}, NoHosts: true, Prefix: prefixFor(t, "flood"), LockDir: t.TempDir()}
	e, err := emulate.Start(s, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() }) // e stays set: Close is idempotent
	a := ep(t, e, "web-1")
	var dst netip.Addr
	for _, p := range e.Runner.World.Pods {
		if p.Name == "api-1" {
			dst = p.IP
		}
	}
	require.True(t, dst.IsValid())
	var sent int
	require.NoError(t, do(a.NS, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9999)))
		if err != nil {
			return err
		}
		defer c.Close()
		msg := make([]byte, 64)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			if _, err := c.Write(msg); err == nil {
				sent++
			} // ECONNREFUSED from an ICMP error and ENOBUFS are expected
		}
		return nil
	}))
	// The TAP's qdisc (1000 frames) and the loop's queue drain first.
	time.Sleep(500 * time.Millisecond)
	st0 := e.Stats()
	out, err := inNS(a.NS, "ping", "-c", "3", "-i", "0.2", "-W", "2", dst.String())
	t.Logf("%s\nstats before ping %+v, after %+v", out, st0, e.Stats())
	link, _ := inNS(a.NS, "ip", "-s", "link", "show", "eth0")
	t.Logf("pod eth0 counters (TX dropped: the pod's own qdisc):\n%s", link)
	require.NoError(t, err, "the emulator still forwards after the flood: %s", out)
	st := e.Stats()
	t.Logf("sent %d datagrams; stats %+v", sent, st)
	assert.Greater(t, st.Frames, uint64(1000))
	var dropped uint64
	for _, n := range st.Drops {
		dropped += n
	}
	assert.Greater(t, dropped, uint64(0), "drops counted by reason")
	assert.True(t, st.Drops["port-unreachable"] > 0 || st.Drops[emulate.ReasonEmulatorQueue] > 0, "drops %v", st.Drops)
	require.NoError(t, e.Close())
	assert.Empty(t, netnsWithPrefix(t, opts.Prefix))
	g1, fd1, h1 := resources(t)
	t.Logf("goroutines %d→%d, fds %d→%d, heap in use %d→%d KiB", g0, g1, fd0, fd1, h0>>10, h1>>10)
	assert.LessOrEqual(t, g1, g0+3, "goroutines")
	assert.LessOrEqual(t, fd1, fd0+3, "file descriptors")
	assert.Less(t, h1, h0+64<<20, "heap in use")
}

func resources(t *testing.T) (goroutines, fds int, heap uint64) {
	t.Helper()
	// Let exiting goroutines finish.
	for range 20 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), len(ents), m.HeapInuse
}

// TestNoLeftovers: a failed Start (a --pods name that is no pod) returns
// a clear error and leaves no namespace nor lock; a normal Close leaves
// none either.
func TestNoLeftovers(t *testing.T) {
	needRoot(t)
	s := load(t, "flannel-vxlan.yaml")
	prefix, dir := prefixFor(t, "fail"), t.TempDir()
	e, err := emulate.Start(s, emulate.Options{Pods: []string{"nope"}, Prefix: prefix, LockDir: dir})
	if e != nil {
		t.Cleanup(func() { e.Close() })
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no running pod "nope"`)
	assert.Empty(t, netnsWithPrefix(t, prefix))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "lock file left")

	prefix = prefixFor(t, "ok")
	e, err = emulate.Start(s, emulate.Options{Prefix: prefix, LockDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	assert.Len(t, netnsWithPrefix(t, prefix), len(e.Endpoints))
	_, err = emulate.Start(s, emulate.Options{Prefix: prefix, LockDir: dir})
	require.Error(t, err, "a second emulation of the same scenario is refused")
	assert.Contains(t, err.Error(), "already being emulated")
	assert.Len(t, netnsWithPrefix(t, prefix), len(e.Endpoints), "the refused start removed nothing of the running one")
	require.NoError(t, e.Close())
	assert.Empty(t, netnsWithPrefix(t, prefix))
	left, err := emulate.Leftovers(prefix)
	require.NoError(t, err)
	assert.Empty(t, left)
}
