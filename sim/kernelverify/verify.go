// Package kernelverify runs a scenario's flows twice — in the simulator and
// with real sockets in the same topology realised from kernel devices
// (topology/kernel) — and compares the verdicts and the source address
// each destination saw. Any disagreement is a bug in the model or in the
// kernel build (`netsim kernel verify`).
//
// The kernel side sends what the flow describes with real sockets inside
// the source's namespace: an ICMP echo of the flow's size and DF mode on a
// raw socket (as ping does), a UDP datagram or a TCP connection carrying
// the payload to a Go echo server started, for the flow, in every
// namespace whose simulated stack listens on the port (the same programs
// `netsim run` assumes). The destination's source address is read from
// the echo server (UDP, TCP) or from a raw ICMP socket in the destination
// namespace (ICMP). What the kernel build cannot carry is skipped with the
// reason, never guessed.
package kernelverify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"netsim/sim"
	"netsim/topology"
	"netsim/topology/kernel"
)

// Row is one flow's comparison.
type Row struct {
	Flow string `json:"flow"`
	// Sim and Kernel are "delivered", "dropped" or "partial".
	Sim    string `json:"sim,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	// SimWhy is the simulator's drop reason; KernelWhy what the socket got
	// (timeout, refused, frag-needed mtu N, …).
	SimWhy    string `json:"sim_why,omitempty"`
	KernelWhy string `json:"kernel_why,omitempty"`
	// SimSource and KernelSource are the source addresses the destination
	// saw ("" when it saw nothing).
	SimSource    string `json:"sim_source,omitempty"`
	KernelSource string `json:"kernel_source,omitempty"`
	// Skipped says why the kernel side did not run this flow.
	Skipped string `json:"skipped,omitempty"`
	// Note says what was not compared and why (a Service's endpoint
	// chosen differently in each world).
	Note string `json:"note,omitempty"`
	// otherEndpoint is set when the sources are not comparable.
	otherEndpoint bool
	// Agree is set when both sides ran and give the same verdict (and,
	// when both delivered, the same source).
	Agree bool `json:"agree"`
}

// Report is the comparison of one scenario.
type Report struct {
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	// Skipped says why the scenario could not be realised at all.
	Skipped string `json:"skipped,omitempty"`
	Rows    []Row  `json:"flows"`
}

// Disagreements counts rows that ran on both sides and differ.
func (r *Report) Disagreements() int {
	n := 0
	for _, row := range r.Rows {
		if row.Skipped == "" && !row.Agree {
			n++
		}
	}
	return n
}

// Timeout is how long the kernel side waits for each answer.
var Timeout = 500 * time.Millisecond

// Verify runs the flows of the scenario s in the simulator and in a kernel
// build in namespaces named prefix+…, which it removes before returning.
// An error is returned when the host lacks what is needed (root, tools)
// or the kernel build fails; a topology Realise cannot build is a report
// with Skipped set.
func Verify(s *topology.Scenario, prefix string) (*Report, error) {
	rep := &Report{Scenario: s.Name, File: s.File}
	r, err := sim.NewRunner(s)
	if err != nil {
		return nil, err
	}
	res, err := r.Run(sim.Options{})
	if err != nil {
		return nil, err
	}
	// A fresh world for the kernel build: the one just run holds state.
	w, err := topology.Build(s, sim.NewLoop())
	if err != nil {
		return nil, err
	}
	n, err := kernel.Realise(w, prefix)
	if errors.Is(err, kernel.ErrUnsupported) {
		rep.Skipped = err.Error()
		for _, f := range res.Flows {
			rep.Rows = append(rep.Rows, Row{Flow: f.Name, Sim: f.Verdict.Result, SimWhy: f.Verdict.Reason, SimSource: f.SeenSource, Skipped: "scenario not realised"})
		}
		return rep, nil
	}
	if err != nil {
		// Realise made a command fail that the modelled agents survive
		// (flanneld logs a route the kernel refuses and goes on; the
		// realiser stops): a limit of the kernel build, reported.
		rep.Skipped = "the kernel build stopped: " + err.Error()
		for _, f := range res.Flows {
			rep.Rows = append(rep.Rows, Row{Flow: f.Name, Sim: f.Verdict.Result, SimWhy: f.Verdict.Reason, SimSource: f.SeenSource, Skipped: "scenario not realised"})
		}
		return rep, nil
	}
	defer n.Cleanup()
	results := map[string]*sim.FlowResult{}
	for _, f := range res.Flows {
		results[f.Name] = f
	}
	owners := map[netip.Addr]string{}
	for _, st := range w.Stacks() {
		for _, ifc := range st.Ifaces() {
			for _, a := range ifc.Addrs {
				owners[a.Prefix.Addr()] = st.Name
			}
		}
	}
	action := ""
	for i := range s.Flows {
		f := &s.Flows[i]
		if f.Action != "" {
			if action == "" {
				action = f.Name
			}
			continue
		}
		fr := results[f.Name]
		if fr == nil {
			continue
		}
		row := Row{Flow: f.Name, Sim: fr.Verdict.Result, SimWhy: fr.Verdict.Reason, SimSource: fr.SeenSource}
		switch {
		case action != "":
			row.Skipped = fmt.Sprintf("after the action %q, which the kernel build does not replay", action)
		default:
			row.Skipped = probe(w, n, owners, f, fr, &row)
		}
		if row.Skipped == "" {
			row.Agree = row.Sim == row.Kernel && (row.Sim != "delivered" || row.KernelSource == "" || row.otherEndpoint || row.SimSource == row.KernelSource)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// probe runs one flow in the kernel build; it returns why it could not.
// owners maps every address of the world to the namespace holding it.
func probe(w *topology.World, n *kernel.Net, owners map[netip.Addr]string, f *topology.Flow, fr *sim.FlowResult, row *Row) string {
	from, err := w.Resolve(f.From)
	if err != nil || from.Stack == nil {
		return "source not resolvable in the kernel build"
	}
	srcNS, ok := n.NS[from.Stack.Name]
	if !ok {
		return fmt.Sprintf("%s is not realised from kernel devices (internet client, ECS instance or API server)", f.From)
	}
	to, err := w.Resolve(f.To)
	if err != nil {
		return "destination not resolvable: " + err.Error()
	}
	switch {
	case strings.HasPrefix(f.To, "slb/") && !internetSLB(w, to.IP):
		return "an intranet SLB is not realised from kernel devices (its address would need a device on the vSwitch answering ARP)"
	case strings.HasPrefix(f.To, "dns:"):
		return "cluster DNS is a model, not packets"
	case !to.IP.IsValid():
		return "destination has no address"
	}
	if to.Stack != nil {
		if _, ok := n.NS[to.Stack.Name]; !ok {
			return fmt.Sprintf("%s is not realised from kernel devices", f.To)
		}
	}
	if to.Service != nil {
		// Every endpoint must be a realised namespace (the kubernetes
		// Service's is the API server host, which is not).
		for _, eps := range to.Service.Endpoints {
			for _, ep := range eps {
				if _, ok := n.NS[owners[ep.IP]]; !ok {
					return fmt.Sprintf("endpoint %s of %s is not realised from kernel devices", ep.IP, f.To)
				}
			}
		}
	}
	size := 56
	if f.Size != nil {
		size = *f.Size
	}
	count := max(1, min(f.Count, 3))
	proto := strings.ToLower(f.Protocol)
	if proto == "" {
		proto = "icmp"
	}
	var got []string
	var src, responder string
	switch proto {
	case "icmp":
		df := kernel.PMTUWant
		if f.DF != nil {
			df = kernel.PMTUDont
			if *f.DF {
				df = kernel.PMTUDo
			}
		}
		var dstNS string
		if to.Stack != nil {
			dstNS = n.NS[to.Stack.Name]
		}
		for i := range count {
			id := uint16(0x4e00 + i)
			var seen func() string
			if dstNS != "" {
				seen, err = icmpWatch(n, dstNS, uint16(i+1), size)
				if err != nil {
					return err.Error()
				}
			}
			res, err := n.Ping(srcNS, to.IP, id, uint16(i+1), size, df, Timeout)
			if err != nil {
				return "ping: " + err.Error()
			}
			if seen != nil {
				if s := seen(); s != "" && src == "" {
					src = s
				}
			}
			got = append(got, res)
		}
	case "udp", "tcp":
		stop, seen, who, err := servers(w, n, proto)
		if err != nil {
			return err.Error()
		}
		for range count {
			dst := netip.AddrPortFrom(to.IP, uint16(f.Port))
			var res string
			if proto == "udp" {
				res, err = n.SendUDP(srcNS, dst, size, Timeout)
			} else {
				res, err = n.DialTCP(srcNS, dst, size, Timeout)
			}
			if err != nil {
				stop()
				return proto + ": " + err.Error()
			}
			got = append(got, res)
		}
		stop()
		if s := seen(); len(s) > 0 {
			src = s[0]
			responder = who()[0]
		}
	default:
		return fmt.Sprintf("protocol %s has no kernel probe here", proto)
	}
	replies := 0
	var why []string
	for _, g := range got {
		if g == "reply" {
			replies++
		} else if !slices.Contains(why, g) {
			why = append(why, g)
		}
	}
	switch replies {
	case len(got):
		row.Kernel = "delivered"
	case 0:
		row.Kernel = "dropped"
	default:
		row.Kernel = "partial"
	}
	row.KernelWhy = strings.Join(why, ", ")
	row.KernelSource = src
	if to.Service != nil && responder != "" {
		// kube-proxy picks a Service endpoint at random in the kernel and
		// from the scenario's seed in netsim: the source a node's SNAT
		// gives depends on the endpoint (same node or not), so sources are
		// compared only when the same endpoint answered in both worlds.
		_, same := fr.Responders[responder]
		if len(fr.Responders) != 1 || !same {
			var simSide []string
			for k := range fr.Responders {
				simSide = append(simSide, k)
			}
			sort.Strings(simSide)
			row.otherEndpoint = true
			row.Note = fmt.Sprintf("sources not compared: the kernel's kube-proxy chose %s, the simulator's %s", responder, strings.Join(simSide, ", "))
		}
	}
	return ""
}

// servers starts an echo server on every port of proto that a realised
// namespace's simulated stack listens on (a Service's DNAT lands on the
// target port); seen returns the client addresses they
// saw, in order.
func servers(w *topology.World, n *kernel.Net, proto string) (stop func(), seen func() []string, who func() []string, err error) {
	var mu sync.Mutex
	var sources, answered []string
	var closers []io.Closer
	var wg sync.WaitGroup
	record := func(name string, a net.Addr) {
		mu.Lock()
		defer mu.Unlock()
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			sources = append(sources, ap.Addr().String())
			answered = append(answered, name)
		}
	}
	stop = func() {
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
	}
	for _, st := range w.Stacks() {
		ns, ok := n.NS[st.Name]
		if !ok {
			continue
		}
		tcp, udp, _ := st.BoundPorts()
		ports := tcp
		if proto == "udp" {
			ports = udp
		}
		for _, port := range ports {
			var c io.Closer
			err := n.Do(ns, func() error {
				if proto == "udp" {
					pc, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
					c = pc
					if err == nil {
						wg.Add(1)
						go func() {
							defer wg.Done()
							buf := make([]byte, 65536)
							for {
								nr, from, err := pc.ReadFrom(buf)
								if err != nil {
									return
								}
								record(st.Name, from)
								pc.WriteTo(buf[:nr], from)
							}
						}()
					}
					return err
				}
				l, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
				c = l
				if err == nil {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							conn, err := l.Accept()
							if err != nil {
								return
							}
							record(st.Name, conn.RemoteAddr())
							wg.Add(1)
							go func() {
								defer wg.Done()
								defer conn.Close()
								conn.SetDeadline(time.Now().Add(5 * Timeout))
								io.Copy(conn, conn)
							}()
						}
					}()
				}
				return err
			})
			if err != nil {
				stop()
				return nil, nil, nil, fmt.Errorf("%s echo on %s:%d: %w", proto, st.Name, port, err)
			}
			closers = append(closers, c)
		}
	}
	seen = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), sources...)
	}
	who = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), answered...)
	}
	return stop, seen, who, nil
}

// icmpWatch opens a raw ICMP socket in ns that records the source of the
// first echo request with sequence number seq and a payload of size bytes
// (not the identifier: a MASQUERADE on the way may rewrite it); the returned func waits briefly
// for it, closes the socket and returns the source ("" when none came).
func icmpWatch(n *kernel.Net, ns string, seq uint16, size int) (func() string, error) {
	var fd int
	err := n.Do(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return fmt.Errorf("raw ICMP socket in %s: %w", ns, err)
		}
		tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		return nil, err
	}
	return func() string {
		defer unix.Close(fd)
		buf := make([]byte, 65536)
		for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
			nr, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					time.Sleep(2 * time.Millisecond)
					continue
				}
				return ""
			}
			p := buf[:nr]
			if len(p) < 28 {
				continue
			}
			hl := int(p[0]&0x0f) * 4
			if len(p) < hl+8 {
				continue
			}
			ic := p[hl:]
			if ic[0] == 8 && binary.BigEndian.Uint16(ic[6:8]) == seq && len(ic) == 8+size {
				return netip.AddrFrom4([4]byte(p[12:16])).String()
			}
		}
		return ""
	}, nil
}

// internetSLB reports whether addr is an internet-facing SLB, which the
// kernel build's router namespace realises.
func internetSLB(w *topology.World, addr netip.Addr) bool {
	if w.VPC == nil {
		return false
	}
	for _, lb := range w.VPC.SLBs() {
		if lb.Address == addr {
			return lb.AddressType == "internet"
		}
	}
	return false
}
