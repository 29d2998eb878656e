// Package emulate runs a built world in real time behind TAP devices: each
// emulated pod (and ECS instance, and the internet client) is a real Linux
// network namespace whose eth0 is a TAP opened with songgao/water, so real
// programs (ping, curl, nc, iperf3, tcpdump) run in it, while everything
// between the pods — veths, cni0, node routing and netfilter, tunnels, the
// VPC, kube-proxy, the SLB, the NAT gateway, policies — stays the simulated
// one.
//
// Design notes:
//
//   - The TAP replaces the pod's simulated stack, not its eth0: the
//     simulated eth0 device stays where the CNI wired it (a veth end, an
//     ENI, an ipvlan slave), with its MAC, MTU, counters and captures. A
//     frame the simulated world delivers to that device is written to the
//     TAP (the pod's real kernel receives it); a frame the pod's kernel
//     sends, read from the TAP, is transmitted on the simulated device as
//     if the simulated stack had sent it. The real namespace gets the
//     simulated stack's address, prefix, routes and permanent neighbours,
//     so it ARPs against the simulated cni0 (or uses Terway's and Calico's
//     169.254.1.1) exactly as a real pod does.
//   - One event loop owns the world (sim.Loop). Its clock follows the wall
//     clock: before each event the loop runs everything due up to now. TAP
//     readers are goroutines that only read into slabs and post them on a
//     bounded channel; the loop copies each slab into a pooled packet
//     buffer, injects it and runs the events it caused. A full channel is
//     a counted drop (ReasonEmulatorQueue), so a flood cannot grow memory.
//   - The loop does not write to the TAPs itself: a frame delivered to an
//     emulated device is copied into a slab for that TAP's writer
//     goroutine (in order; bounded: when the writers are behind the loop
//     waits for them, as it waited for its own write(2) before), so
//     write(2) runs beside the loop, not in it.
//   - A TAP without IFF_VNET_HDR (water never sets it) carries one frame
//     of at most MTU bytes per read with full checksums: the kernel
//     segments and checksums in software before handing frames to it, so
//     no offload state reaches the simulator.
//   - Namespaces are made with topology/kernel's Net (ip netns add, IPv6
//     off, lo up) and named Prefix+NAME, Prefix being
//     "netsim-<scenario>." (no scenario name holds a dot, so one
//     scenario's prefix never matches another's names); a lock file under LockDir holds the PID of the
//     running emulator. Nothing is ever added to the root namespace: the
//     TAPs are created by a thread that has entered the pod namespace.
//     Only the namespaces carry state that outlives a crash (TAPs vanish
//     with the process's file descriptors); Cleanup removes them.
package emulate

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/songgao/water"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
	"netsim/sim"
	"netsim/topology"
	"netsim/topology/kernel"
)

// ReasonEmulatorQueue is the reason of frames a TAP reader could not post
// because the event loop was behind (its input queue full).
const ReasonEmulatorQueue = "emulator-queue-full"

// ReasonTAPOversize counts frames longer than any simulated device of the
// emulation takes (an MTU raised inside the pod), dropped at the read.
const ReasonTAPOversize = "tap-frame-oversize"

// queueLen bounds the frames waiting for the loop (all TAPs together).
const queueLen = 4096

// slabHeadroom is added to the largest endpoint MTU to size the read
// and write slabs: the Ethernet header (14) and a VLAN tag (4) a TAP
// frame can carry on top of the MTU, rounded up. With 1500-byte MTUs the
// read queue's slabs take 4,096 × 1,564 bytes ≈ 6.4 MB.
const slabHeadroom = 64

// writeSlabs bounds the frames waiting for the TAP writers (all TAPs
// together), writeQueueLen those of one TAP.
const (
	writeSlabs    = 1024
	writeQueueLen = 512
)

// Options configure an emulation.
type Options struct {
	// Pods limits the emulated pods to these references ("default/pod-a"
	// or "pod-a"); nil: every running pod. The others keep their simulated
	// stacks and answer as in `netsim run`.
	Pods []string
	// NoHosts leaves the ECS instances and the internet client simulated.
	NoHosts bool
	// Echo starts echo servers on the endpoints' declared ports, as the
	// simulated stacks had (see serve.go); `netsim emulate` turns it on
	// unless --no-echo.
	Echo bool
	// Prefix overrides the namespace prefix ("netsim-<scenario>-").
	Prefix string
	// LockDir is where the lock file goes (default DefaultLockDir).
	LockDir string
	// OnHops, if set, receives the hops of each live packet's processing
	// (hop recording is on only when it is set).
	OnHops func(hops []trace.Hop)
	// Capture, if set, is called once by Start with the built runner,
	// before any frame moves, and what it returns becomes the world's
	// capturer (Env.Capture), e.g. a pcap.NewStreamSink on r.Loop.Now and
	// r.Rec. The capturer is called from the event loop's goroutine only;
	// read or flush it after Close.
	Capture func(r *sim.Runner) (link.Capturer, error)
}

// DefaultLockDir holds one lock file per running emulation.
const DefaultLockDir = "/run/netsim"

// Endpoint is one emulated namespace.
type Endpoint struct {
	// Ref is the flow endpoint it stands for: "pod/default/pod-a",
	// "ecs/ecs-1", "internet".
	Ref string
	// NS is the kernel namespace name.
	NS string
	// IP is its address.
	IP netip.Addr
	// Dev is the simulated device the TAP stands behind.
	Dev *link.Device

	tap   *water.Interface
	out   chan []byte // frames for the TAP's writer
	stack *netstack.Stack
	iface *netstack.Iface
}

// Emulator is a running emulation.
type Emulator struct {
	Runner    *sim.Runner
	Endpoints []*Endpoint
	// Net holds the namespaces made.
	Net *kernel.Net
	// Prefix starts every namespace name.
	Prefix string
	// Served are the echo servers started; NotServed says which declared
	// ports got none and why.
	Served    []Served
	NotServed []string

	opts  Options
	lock  string
	start time.Time
	in    chan frame
	free  chan []byte
	wfree chan []byte // slabs for the TAP writers
	done  chan struct{}
	wg    sync.WaitGroup
	stop  sync.Once

	srv     servers
	slab    int // the length of every read and write slab
	mu      sync.Mutex
	drops   map[string]uint64
	queued  atomic.Uint64
	overrun atomic.Uint64
	injects uint64
	fatal   error
}

type frame struct {
	ep   *Endpoint
	data []byte
}

// PrefixFor is the namespace prefix of a scenario's emulation.
func PrefixFor(s *topology.Scenario) string {
	// Scenario names are validated: lowercase letters, digits and '-'.
	return "netsim-" + s.Name + "."
}

// CheckPrivileges says what is missing to create namespaces and TAPs.
func CheckPrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	st, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
				caps, perr := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				const capNetAdmin, capSysAdmin = 12, 21
				if perr == nil && caps&(1<<capNetAdmin) != 0 && caps&(1<<capSysAdmin) != 0 {
					return nil
				}
			}
		}
	}
	return errors.New("needs CAP_NET_ADMIN and CAP_SYS_ADMIN (creating network namespaces with `ip netns add` and TAP devices in them): run as root, e.g. `sudo netsim emulate FILE`")
}

// lockPath is the lock file of the emulation with prefix.
func lockPath(dir, prefix string) string {
	return dir + "/emulate-" + strings.TrimSuffix(prefix, ".") + ".pid"
}

// Leftovers lists the namespaces whose names start with prefix.
func Leftovers(prefix string) ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Running returns the PID of a live emulation with prefix (0: none).
func Running(lockDir, prefix string) int {
	if lockDir == "" {
		lockDir = DefaultLockDir
	}
	b, err := os.ReadFile(lockPath(lockDir, prefix))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		return 0
	}
	return pid
}

// Cleanup removes the leftovers of an emulation with prefix that is not
// running: its namespaces and its lock file. It refuses while the
// emulation's process is alive, and returns the namespaces removed.
func Cleanup(lockDir, prefix string) ([]string, error) {
	if lockDir == "" {
		lockDir = DefaultLockDir
	}
	if pid := Running(lockDir, prefix); pid != 0 && pid != os.Getpid() {
		return nil, fmt.Errorf("the emulation is running as PID %d: stop it with Ctrl-C or `kill %d` (it removes its namespaces itself)", pid, pid)
	}
	left, err := Leftovers(prefix)
	if err != nil {
		return nil, err
	}
	n := kernel.New("")
	var first error
	for _, ns := range left {
		if err := n.DeleteNS(ns); err != nil && first == nil {
			first = err
		}
	}
	if err := os.Remove(lockPath(lockDir, prefix)); err != nil && !os.IsNotExist(err) && first == nil {
		first = err
	}
	return left, first
}

// Start builds s, makes the namespaces and TAPs and starts the real-time
// loop. On error nothing it made is left behind.
func Start(s *topology.Scenario, opts Options) (_ *Emulator, err error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, fmt.Errorf("no TUN/TAP driver (/dev/net/tun: %v): load the tun module", err)
	}
	r, err := sim.NewRunner(s)
	if err != nil {
		return nil, err
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = PrefixFor(s)
	}
	if opts.LockDir == "" {
		opts.LockDir = DefaultLockDir
	}
	e := &Emulator{Runner: r, Prefix: prefix, opts: opts, in: make(chan frame, queueLen),
		free: make(chan []byte, queueLen+64), done: make(chan struct{}), drops: map[string]uint64{}}
	if err := e.takeLock(s); err != nil {
		return nil, err
	}
	e.Net = kernel.New(prefix)
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if err := e.plan(opts); err != nil {
		return nil, err
	}
	for _, ep := range e.Endpoints {
		if err := e.realise(ep); err != nil {
			return nil, fmt.Errorf("%s: %w", ep.Ref, err)
		}
	}
	for _, ep := range e.Endpoints {
		if !opts.Echo {
			break
		}
		started, sctp, err := e.serve(ep)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ep.Ref, err)
		}
		e.Served = append(e.Served, started...)
		for _, p := range sctp {
			e.NotServed = append(e.NotServed, fmt.Sprintf("%s sctp/%d: no SCTP echo (Go has no SCTP sockets); run your own, e.g. with socat or ncat --sctp", ep.Ref, p))
		}
	}
	if opts.Capture != nil {
		c, err := opts.Capture(r)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		r.World.Env.Capture = c
	}
	rec := r.Rec
	rec.Hops = opts.OnHops != nil
	rec.OnDrop = func(d trace.Drop) {
		e.mu.Lock()
		e.drops[d.Reason.Code()]++
		e.mu.Unlock()
	}
	e.start = time.Now()
	// The loop's clock continues from the build's virtual time.
	e.start = e.start.Add(-r.Loop.Now())
	for _, ep := range e.Endpoints {
		ep.Dev.SetReceiver(tapWriter{e, ep})
	}
	slab := 0
	for _, ep := range e.Endpoints {
		slab = max(slab, ep.Dev.MTU+slabHeadroom)
	}
	e.slab = slab
	for range queueLen {
		e.free <- make([]byte, slab)
	}
	e.wfree = make(chan []byte, writeSlabs)
	for range writeSlabs {
		e.wfree <- make([]byte, slab)
	}
	for _, ep := range e.Endpoints {
		ep.out = make(chan []byte, writeQueueLen)
		e.wg.Add(1)
		go e.write(ep)
	}
	e.wg.Add(1)
	go e.loop()
	for _, ep := range e.Endpoints {
		e.wg.Add(1)
		go e.read(ep)
	}
	return e, nil
}

func (e *Emulator) takeLock(s *topology.Scenario) error {
	if err := os.MkdirAll(e.opts.LockDir, 0o755); err != nil {
		return fmt.Errorf("lock directory: %w", err)
	}
	path := lockPath(e.opts.LockDir, e.Prefix)
	if pid := Running(e.opts.LockDir, e.Prefix); pid != 0 {
		return fmt.Errorf("scenario %q is already being emulated by PID %d (lock %s): one emulation per scenario; stop it with Ctrl-C or `kill %d`", s.Name, pid, path, pid)
	}
	if left, _ := Leftovers(e.Prefix); len(left) > 0 {
		return fmt.Errorf("scenario %q: %d namespaces of an earlier emulation are left (%s…), its process is gone: remove them with `netsim emulate --cleanup %s`", s.Name, len(left), left[0], s.File)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d\n", os.Getpid())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	e.lock = path
	return nil
}

// plan picks the endpoints to emulate.
func (e *Emulator) plan(opts Options) error {
	w := e.Runner.World
	want := map[string]bool{}
	for _, p := range opts.Pods {
		ref := p
		if !strings.Contains(ref, "/") {
			ref = "default/" + ref
		}
		if w.Pod(ref) == nil {
			var names []string
			for _, q := range w.Pods {
				names = append(names, q.Ref())
			}
			return fmt.Errorf("--pods: no running pod %q in scenario %q (pods: %s)", p, w.Scenario.Name, strings.Join(names, ", "))
		}
		want[ref] = true
	}
	for _, p := range w.Pods {
		if len(want) > 0 && !want[p.Ref()] {
			continue
		}
		ifc := p.Stack.Iface("eth0")
		if ifc == nil {
			return fmt.Errorf("pod %s has no eth0", p.Ref())
		}
		e.Endpoints = append(e.Endpoints, &Endpoint{Ref: "pod/" + p.Ref(), NS: e.Prefix + p.Namespace + "-" + p.Name,
			IP: p.IP, Dev: ifc.Dev, stack: p.Stack, iface: ifc})
	}
	if !opts.NoHosts {
		hosts := slices.Clone(w.Instances)
		if w.Internet != nil {
			hosts = append(hosts, w.Internet)
		}
		for _, h := range hosts {
			if h.NIC == nil {
				continue
			}
			ref, name := "ecs/"+h.Name, "ecs-"+h.Name
			if h == w.Internet {
				ref, name = "internet", "internet"
			}
			e.Endpoints = append(e.Endpoints, &Endpoint{Ref: ref, NS: e.Prefix + name, IP: h.IP, Dev: h.NIC.Dev, stack: h.Stack, iface: h.NIC})
		}
	}
	if len(e.Endpoints) == 0 {
		return fmt.Errorf("scenario %q has no running pod or host to emulate", w.Scenario.Name)
	}
	return nil
}

// realise makes ep's namespace and TAP and copies the simulated stack's
// addresses, routes and permanent neighbours into it.
func (e *Emulator) realise(ep *Endpoint) error {
	name := strings.TrimPrefix(ep.NS, e.Prefix)
	ns, err := e.Net.AddNS(name)
	if err != nil {
		return err
	}
	e.Net.NS[ep.Ref] = ns
	dev := ep.Dev
	err = e.Net.Do(ns, func() error {
		tap, err := water.New(water.Config{DeviceType: water.TAP, PlatformSpecificParams: water.PlatformSpecificParams{Name: "eth0"}})
		if err != nil {
			return fmt.Errorf("open TAP eth0: %w", err)
		}
		ep.tap = tap
		return nil
	})
	if err != nil {
		return err
	}
	cmds := [][]string{{"link", "set", "eth0", "address", dev.MAC.String(), "mtu", strconv.Itoa(dev.MTU)}}
	for _, a := range ep.iface.Addrs {
		cmds = append(cmds, []string{"addr", "add", a.Prefix.String(), "dev", "eth0"})
	}
	cmds = append(cmds, []string{"link", "set", "eth0", "up"})
	routes := ep.stack.Table(netstack.TableMain).All()
	// Routes without a gateway first: a gateway must be reachable when
	// its route is added (calico's 169.254.1.1 scope link).
	slices.SortStableFunc(routes, func(a, b *netstack.Route) int {
		return boolInt(a.Gw.IsValid()) - boolInt(b.Gw.IsValid())
	})
	for _, rt := range routes {
		if rt.Proto == "kernel" {
			continue // made by `ip addr add`
		}
		if rt.Dev != nil && rt.Dev != ep.iface {
			continue // lo routes and such
		}
		cmds = append(cmds, append([]string{"route", "add"}, strings.Fields(rt.String())...))
	}
	for _, n := range ep.stack.Neighbours() {
		if n.State == netstack.NudPermanent && n.Iface == ep.iface {
			cmds = append(cmds, []string{"neigh", "replace", n.IP.String(), "lladdr", n.MAC.String(), "dev", "eth0", "nud", "permanent"})
		}
	}
	for _, c := range cmds {
		if err := e.Net.IP(ns, c...); err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tapWriter takes the frames the simulated world delivers to an emulated
// device and writes them to its TAP.
type tapWriter struct {
	e  *Emulator
	ep *Endpoint
}

// Receive writes the frame to the TAP: the pod's real kernel receives it.
func (t tapWriter) Receive(dev *link.Device, pkt *packet.Buffer) {
	if env := dev.Env(); env.Tracing() {
		env.Hop(pkt, trace.Hop{Node: dev.NS, Device: dev.Name, Kind: trace.KindDeliver,
			Change: fmt.Sprintf("written to the TAP %s in namespace %s: the real kernel there receives it", dev.Name, t.ep.NS)})
	}
	defer pkt.Free()
	b := pkt.Bytes()
	if len(b) > t.e.slab {
		// Larger than any TAP frame: write it here.
		if _, err := t.ep.tap.Write(b); err != nil {
			t.e.countDrop("tap-write-failed")
		}
		return
	}
	// A writer behind holds the loop up (as a write(2) in the loop did):
	// the backlog stays in front of the simulator, where the readers'
	// queue bounds it, and nothing is dropped after it.
	var slab []byte
	select {
	case slab = <-t.e.wfree:
	case <-t.e.done:
		return
	}
	slab = append(slab[:0], b...)
	select {
	case t.ep.out <- slab:
	case <-t.e.done:
		t.e.wfree <- slab
	}
}

// write is one TAP's writer: it writes the frames the loop hands it, in
// order, so the loop does not spend its time in write(2).
func (e *Emulator) write(ep *Endpoint) {
	defer e.wg.Done()
	for {
		select {
		case slab := <-ep.out:
			if _, err := ep.tap.Write(slab); err != nil {
				e.countDrop("tap-write-failed")
			}
			e.wfree <- slab[:0]
		case <-e.done:
			return
		}
	}
}

// read is one TAP's reader: it posts frames to the loop.
func (e *Emulator) read(ep *Endpoint) {
	defer e.wg.Done()
	for {
		var slab []byte
		select {
		case slab = <-e.free:
		case <-e.done:
			return
		}
		n, err := ep.tap.Read(slab[:cap(slab)])
		if err != nil {
			e.free <- slab
			select {
			case <-e.done:
			default:
				e.setFatal(fmt.Errorf("%s: read TAP: %w", ep.Ref, err))
			}
			return
		}
		if n == cap(slab) {
			// A frame at least as long as the slab was cut short by the
			// read (the pod's MTU was raised past the simulated device's):
			// the simulated veth would drop it as oversize too.
			e.countDrop(ReasonTAPOversize)
			e.free <- slab
			continue
		}
		select {
		case e.in <- frame{ep, slab[:n]}:
			e.queued.Add(1)
		default:
			e.overrun.Add(1)
			e.free <- slab
		}
	}
}

func (e *Emulator) setFatal(err error) {
	e.mu.Lock()
	if e.fatal == nil {
		e.fatal = err
	}
	e.mu.Unlock()
}

func (e *Emulator) countDrop(reason string) {
	e.mu.Lock()
	e.drops[reason]++
	e.mu.Unlock()
}

// loop is the event loop on the wall clock.
func (e *Emulator) loop() {
	defer e.wg.Done()
	l := e.Runner.Loop
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.RunUntil(time.Since(e.start))
		wait := time.Hour
		if at, ok := l.Next(); ok {
			wait = max(at-time.Since(e.start), 0)
		}
		// Hops are handed out once the packets they belong to have gone
		// quiet (nothing due within traceQuiet), so an exchange whose
		// hops cross wire delays prints together; a storm is cut at
		// traceMax hops. Nothing accumulates between flushes.
		if n := len(e.Runner.Rec.HopList()); n > 0 && (wait > traceQuiet || n > traceMax) || !e.Runner.Rec.Hops {
			e.flushTrace()
		}
		if wait == 0 {
			select {
			case f := <-e.in:
				e.injectBatch(f)
			case <-e.done:
				return
			default:
			}
			continue
		}
		timer.Reset(wait)
		select {
		case f := <-e.in:
			e.injectBatch(f)
		case <-timer.C:
		case <-e.done:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// drainMax bounds the frames injected per wakeup of the loop.
const drainMax = 64

// injectBatch injects f and then, without blocking, up to drainMax-1
// more frames already waiting: under load the loop then pays for one
// select and one timer reset per batch, not per frame. Each inject still
// first runs everything due by its wall-clock time, so no frame or timer
// is handled later or in another order than one at a time.
func (e *Emulator) injectBatch(f frame) {
	e.inject(f)
	for range drainMax - 1 {
		select {
		case f := <-e.in:
			e.inject(f)
		default:
			return
		}
	}
}

// inject transmits a frame read from a TAP on the simulated device and
// runs what it causes.
func (e *Emulator) inject(f frame) {
	l := e.Runner.Loop
	l.RunUntil(time.Since(e.start))
	env := e.Runner.World.Env
	pkt := env.Pool.From(f.data)
	e.free <- f.data[:cap(f.data)]
	pkt.ID = env.NewID()
	e.injects++
	f.ep.Dev.Transmit(pkt)
	// Zero-delay consequences run now; delayed ones (wire delays, timers)
	// when their time comes.
	for {
		at, ok := l.Next()
		if !ok || at > l.Now() {
			break
		}
		l.Step()
	}
}

// traceQuiet and traceMax bound how long and how many hops wait before
// OnHops gets them.
const (
	traceQuiet = 2 * time.Millisecond
	traceMax   = 4096
)

func (e *Emulator) flushTrace() {
	rec := e.Runner.Rec
	if e.opts.OnHops != nil {
		if hops := rec.HopList(); len(hops) > 0 {
			e.opts.OnHops(hops)
		}
	}
	// Nothing accumulates: drops are counted in OnDrop as they happen.
	rec.Reset()
}

// Stats are what an emulation counted.
type Stats struct {
	// Frames is frames read from the TAPs and injected.
	Frames uint64
	// Overruns is frames dropped because the loop's queue was full.
	Overruns uint64
	// Drops counts the simulator's drops by reason.
	Drops map[string]uint64
}

// Stats returns the counters so far.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := make(map[string]uint64, len(e.drops)+1)
	for k, v := range e.drops {
		d[k] = v
	}
	if o := e.overrun.Load(); o > 0 {
		d[ReasonEmulatorQueue] = o
	}
	return Stats{Frames: e.queued.Load(), Overruns: e.overrun.Load(), Drops: d}
}

// Err reports a fatal error of a reader (a TAP that vanished).
func (e *Emulator) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fatal
}

// Endpoint returns the emulated endpoint for ref: "pod/NS/NAME",
// "pod/NAME", "NS/NAME", "NAME" (a pod in default), "ecs/NAME" or
// "internet"; nil when none.
func (e *Emulator) Endpoint(ref string) *Endpoint {
	return FindEndpoint(e.Endpoints, ref)
}

// FindEndpoint finds ref (see Emulator.Endpoint) among eps.
func FindEndpoint(eps []*Endpoint, ref string) *Endpoint {
	for _, c := range Candidates(ref) {
		for _, ep := range eps {
			if ep.Ref == c {
				return ep
			}
		}
	}
	return nil
}

// Candidates are the endpoint references a user's ref may mean.
func Candidates(ref string) []string {
	switch {
	case ref == "internet":
		return []string{"internet"}
	case strings.HasPrefix(ref, "ecs/"):
		return []string{ref}
	case strings.HasPrefix(ref, "pod/"):
		rest := strings.TrimPrefix(ref, "pod/")
		if !strings.Contains(rest, "/") {
			rest = "default/" + rest
		}
		return []string{"pod/" + rest}
	case strings.Contains(ref, "/"):
		return []string{"pod/" + ref}
	}
	return []string{"pod/default/" + ref, "ecs/" + ref}
}

// NSName is the kernel namespace for ref ("pod-a", "default/pod-a",
// "ecs/ecs-1", "internet") of the emulation with prefix; it need not
// exist.
func NSName(prefix, ref string) []string {
	var out []string
	for _, c := range Candidates(ref) {
		switch {
		case c == "internet":
			out = append(out, prefix+"internet")
		case strings.HasPrefix(c, "ecs/"):
			out = append(out, prefix+"ecs-"+strings.TrimPrefix(c, "ecs/"))
		default:
			ns, name, _ := strings.Cut(strings.TrimPrefix(c, "pod/"), "/")
			out = append(out, prefix+ns+"-"+name)
		}
	}
	return out
}

// Close stops the loop and the readers, closes the TAPs and removes every
// namespace made and the lock file. It may be called more than once.
func (e *Emulator) Close() error {
	var err error
	e.stop.Do(func() {
		close(e.done)
		e.srv.close()
		for _, ep := range e.Endpoints {
			if ep.tap != nil {
				ep.tap.Close()
			}
		}
		e.wg.Wait()
		// Drop the read slabs (queueLen of the largest MTU plus
		// slabHeadroom): a caller that keeps the Emulator after Close
		// does not keep them.
		for len(e.free) > 0 {
			<-e.free
		}
		for len(e.in) > 0 {
			<-e.in
		}
		if e.Net != nil {
			err = e.Net.Cleanup()
		}
		if e.lock != "" {
			if rerr := os.Remove(e.lock); rerr != nil && err == nil && !os.IsNotExist(rerr) {
				err = rerr
			}
		}
	})
	return err
}
