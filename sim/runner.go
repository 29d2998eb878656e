package sim

import (
	"fmt"
	"net/netip"
	"netsim/dataplane/link"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
	"netsim/topology"
)

// SchemaVersion is the version of the JSON output; it changes only when a
// field is removed or changes meaning.
const SchemaVersion = 1

// Options control a run.
type Options struct {
	// Trace records hops for the first exchange of every flow.
	Trace bool
	// TraceAll records hops for every exchange.
	TraceAll bool
	// Flow, if set, runs only the flow with this name.
	Flow string
	// OnFlow, if set, is called with the result so far as each flow
	// finishes (fr is the last of res.Flows): a report can be written flow
	// by flow (TextStream, JSONStream) and the flow's hops dropped
	// (fr.DropTrace). An error stops the run and Run returns it.
	OnFlow func(res *Result, fr *FlowResult) error
	// OnExchange, if set, is called with the hops of each traced exchange
	// as it finishes (fr is the flow so far, not yet in res.Flows), and the
	// hops are not kept in fr.Hops: a report can stream a flow traced with
	// --trace-all exchange by exchange. fr.Packets still names every
	// packet. An error stops the run and Run returns it.
	OnExchange func(res *Result, fr *FlowResult, x ExchangeTrace) error
}

// ExchangeTrace is the trace of one exchange (Options.OnExchange).
type ExchangeTrace struct {
	// Index counts the traced exchanges of the flow before this one.
	Index int
	// Traced is how many exchanges of the flow are traced: 1 (the first)
	// or the flow's count (TraceAll).
	Traced int
	// Hops are the exchange's hops, valid during the call only.
	Hops []trace.Hop
}

// Verdict is the outcome of a flow or one exchange.
type Verdict struct {
	// Result is "delivered", "dropped" or "partial" (some of each).
	Result string `json:"result"`
	// Reason is the drop reason code (dropped, partial).
	Reason string `json:"reason,omitempty"`
	// Detail says where and why, from the drop record.
	Detail string `json:"detail,omitempty"`
	// Where is "node device" of the drop.
	Where string `json:"where,omitempty"`
	// Why explains the reason's concept for a person (dropped, partial).
	Why string `json:"why,omitempty"`
	// Hint names the likely mistake and its fix, when netsim recognises it.
	Hint string `json:"hint,omitempty"`
}

// FlowResult is what happened to one flow.
type FlowResult struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	From        string `json:"from"`
	To          string `json:"to"`
	SrcIP       string `json:"src_ip"`
	DstIP       string `json:"dst_ip"`
	Protocol    string `json:"protocol"`
	Port        int    `json:"port,omitempty"`
	Size        int    `json:"size"`
	Count       int    `json:"count"`
	DF          string `json:"df"`

	Verdict   Verdict        `json:"verdict"`
	Delivered int            `json:"delivered"`
	Dropped   map[string]int `json:"dropped,omitempty"`
	// SeenSource is the source address the destination saw (first exchange
	// that reached it).
	SeenSource string `json:"seen_source,omitempty"`
	// Responders counts which namespace answered, per namespace.
	Responders map[string]int `json:"responders,omitempty"`
	// RTT of the first delivered exchange (virtual time: modelled).
	RTT time.Duration `json:"rtt_ns,omitempty"`
	// Start is the virtual time the flow started.
	Start time.Duration `json:"start_ns"`

	Expect   *topology.Expect `json:"expect,omitempty"`
	Met      bool             `json:"met"`
	Mismatch string           `json:"mismatch,omitempty"`

	Hops []trace.Hop `json:"hops,omitempty"`
	// Packets names the packets the hops refer to.
	Packets map[uint64]string `json:"packets,omitempty"`
}

// Result is a whole run.
type Result struct {
	// Schema is the version of this JSON layout (see the README).
	Schema   int      `json:"schema"`
	Scenario string   `json:"scenario"`
	File     string   `json:"file"`
	CNI      string   `json:"cni"`
	Underlay string   `json:"underlay"`
	Notes    []string `json:"notes,omitempty"`
	// Warnings are located warnings about the input (see topology.World.Warnings).
	Warnings []string      `json:"warnings,omitempty"`
	Flows    []*FlowResult `json:"flows"`
	// Actions are the actions applied between the flows (see ActionResult).
	Actions []*ActionResult `json:"actions,omitempty"`
}

// DropTrace forgets the flow's hops and packet names (once written): what
// is left is a few hundred bytes whatever the flow's count.
func (f *FlowResult) DropTrace() {
	f.Hops, f.Packets = nil, nil
}

// AllMet reports whether every flow met its expectation.
func (r *Result) AllMet() bool {
	for _, f := range r.Flows {
		if !f.Met {
			return false
		}
	}
	return true
}

// Runner executes a scenario's flows on a built world, one exchange at a
// time, running the loop to quiescence after each.
type Runner struct {
	World *topology.World
	Loop  *Loop
	Rec   *trace.Recorder

	cur *exchange
	// resolved caches endpoint resolution while the world's pods and
	// Services cannot change (during a matrix's probes); nil otherwise.
	resolved map[string]topology.Target
}

// resolve is World.Resolve through the runner's cache, when it has one.
func (r *Runner) resolve(ref string) (topology.Target, error) {
	if r.resolved == nil {
		return r.World.Resolve(ref)
	}
	if t, ok := r.resolved[ref]; ok {
		return t, nil
	}
	t, err := r.World.Resolve(ref)
	if err == nil {
		r.resolved[ref] = t
	}
	return t, err
}

type exchange struct {
	flow      int32
	client    *netstack.Stack
	clientIP  netip.Addr
	sport     uint16
	seen      bool
	seenSrc   netip.Addr
	responder string
	replied   bool
	failed    *netstack.Event
	start     time.Duration
	rtt       time.Duration
	// probe: a matrix probe, whose TCP connection is a half-open probe
	// (Stack.DialProbe): the SYN-ACK is the answer.
	probe bool
}

// NewRunner builds the scenario into a fresh world with a new loop.
func NewRunner(s *topology.Scenario) (*Runner, error) {
	loop := NewLoop()
	w, err := topology.Build(s, loop)
	if err != nil {
		return nil, err
	}
	r := &Runner{World: w, Loop: loop}
	w.Env.Flows = link.NewFlowCache(w.Env)
	loop.Flows = w.Env.Flows
	r.Rec = &trace.Recorder{Clock: loop.Now}
	w.Env.Trace = r.Rec
	for _, st := range w.Stacks() {
		st.OnEvent = r.onEvent
	}
	return r, nil
}

func (r *Runner) onEvent(s *netstack.Stack, ev netstack.Event) {
	x := r.cur
	if x == nil || ev.Flow != x.flow {
		return
	}
	client := s == x.client && (x.sport == 0 || ev.Dst.Port() == x.sport || ev.Proto == packet.ProtoICMP) && ev.Kind != netstack.EvEchoRequest
	if ev.Kind == netstack.EvError {
		if s == x.client && x.failed == nil {
			e := ev
			x.failed = &e
		}
		return
	}
	if client {
		switch ev.Kind {
		// EvTCPClosed: the handshake and the FIN exchange completed — all a
		// size-0 flow (connect and close, nc -z) waits for.
		case netstack.EvEchoReply, netstack.EvUDPRecv, netstack.EvTCPData, netstack.EvTCPClosed, netstack.EvSCTPData, netstack.EvSCTPClosed:
			if !x.replied {
				x.replied = true
				x.rtt = r.Loop.Now() - x.start
			}
		case netstack.EvTCPEstablished:
			if x.probe && !x.replied {
				x.replied = true
				x.rtt = r.Loop.Now() - x.start
			}
		}
		return
	}
	switch ev.Kind {
	case netstack.EvEchoRequest, netstack.EvUDPRecv, netstack.EvTCPAccept, netstack.EvTCPData, netstack.EvSCTPAccept, netstack.EvSCTPData:
		if !x.seen {
			x.seen, x.seenSrc, x.responder = true, ev.Src.Addr(), s.Name
		}
	}
}

// Run runs the flows (all, or opts.Flow) and returns the results.
func (r *Runner) Run(opts Options) (*Result, error) {
	w := r.World
	s := w.Scenario
	res := &Result{Schema: SchemaVersion, Scenario: s.Name, File: s.File, CNI: w.CNI.Name(), Underlay: s.VPC.Underlay, Notes: w.Notes}
	for _, p := range w.Warnings {
		res.Warnings = append(res.Warnings, p.String())
	}
	found := opts.Flow == ""
	for i := range s.Flows {
		f := &s.Flows[i]
		if f.Action != "" {
			if err := r.runAction(res, i, f, opts); err != nil {
				return nil, err
			}
			continue
		}
		if opts.Flow != "" && f.Name != opts.Flow {
			continue
		}
		found = true
		fr, err := r.runFlow(res, int32(i+1), f, opts)
		if err != nil {
			return nil, err
		}
		res.Flows = append(res.Flows, fr)
		if opts.OnFlow != nil {
			if err := opts.OnFlow(res, fr); err != nil {
				return nil, err
			}
		}
	}
	if !found {
		var names []string
		for _, f := range s.Flows {
			if f.Action == "" {
				names = append(names, f.Name)
			}
		}
		return nil, fmt.Errorf("%s: no flow named %q (flows: %s)", s.File, opts.Flow, strings.Join(names, ", "))
	}
	return res, nil
}

func dfMode(df *bool) (netstack.DFMode, string) {
	switch {
	case df == nil:
		return netstack.DFWant, "want"
	case *df:
		return netstack.DFDo, "do"
	default:
		return netstack.DFDont, "dont"
	}
}

// pendingEndpoint says why a flow cannot start when either end is a
// Pending pod ("" otherwise).
func pendingEndpoint(from, to topology.Target) string {
	if from.Pending != "" {
		return "from " + from.Pending
	}
	if to.Pending != "" {
		return "to " + to.Pending
	}
	return ""
}

func (r *Runner) runFlow(res *Result, id int32, f *topology.Flow, opts Options) (*FlowResult, error) {
	w := r.World
	from, err := r.resolve(f.From)
	if err != nil {
		return nil, fmt.Errorf("flow %s: from: %w", f.Name, err)
	}
	to, err := r.resolve(f.To)
	if err != nil {
		return nil, fmt.Errorf("flow %s: to: %w", f.Name, err)
	}
	if from.Stack == nil {
		return nil, fmt.Errorf("flow %s: from %s: traffic can only start in a pod, node or instance", f.Name, f.From)
	}
	size := 56
	if f.Size != nil {
		size = *f.Size
	}
	count := max(f.Count, 1)
	df, dfText := dfMode(f.DF)
	fr := &FlowResult{Name: f.Name, Description: f.Description, From: from.Name, To: to.Name,
		DstIP: to.IP.String(), Protocol: f.Protocol, Port: f.Port, Size: size, Count: count, DF: dfText,
		Expect: f.Expect, Dropped: map[string]int{}, Responders: map[string]int{}, Packets: map[uint64]string{}}
	if !to.IP.IsValid() {
		fr.DstIP = "" // a Pending pod, or a name resolved at run time
	}
	if to.IP.IsValid() {
		if rt, src, ok := from.Stack.RouteOutput(to.IP); ok && rt != nil {
			fr.SrcIP = src.String()
		}
	}
	port := uint16(f.Port)
	gap := time.Second
	if f.Protocol != "icmp" {
		gap = 10 * time.Millisecond
	}
	fr.Start = r.Loop.Now()
	firstDrop := map[string]Verdict{}
	var order []string
	streamed := 0 // exchanges given to opts.OnExchange
	for i := 0; i < count; i++ {
		r.Rec.Reset()
		r.Rec.Hops = opts.TraceAll || (opts.Trace && i == 0)
		x := &exchange{flow: id, client: from.Stack, start: r.Loop.Now()}
		r.cur = x
		dst := to.IP
		if to.DNS != "" {
			ans, err := w.ResolveDNS(to.DNS, i)
			if err != nil {
				r.Rec.AddDrop(trace.Drop{Flow: id, Node: from.Stack.Name, Reason: trace.ReasonDNSNXDomain, Detail: err.Error()})
			} else {
				dst = ans.Records[0]
				if fr.DstIP == "" {
					fr.DstIP = dst.String()
				}
				r.Rec.Add(trace.Hop{Flow: id, Node: from.Stack.Name, Kind: trace.KindDNS,
					Lookup: "dns A " + ans.Name, Match: ans.Text + " (modelled: answered by the cluster DNS model, no packets sent)"})
			}
		}
		if why := pendingEndpoint(from, to); why != "" {
			r.Rec.AddDrop(trace.Drop{Flow: id, Node: from.Stack.Name, Reason: trace.ReasonPodPending, Detail: why})
			dst = netip.Addr{}
		}
		switch {
		case !dst.IsValid():
		case f.Protocol == "icmp" || f.Protocol == "":
			from.Stack.Ping(dst, 0, uint16(i+1), size, df, id) // echo ID: the ping socket's port
		case f.Protocol == "udp":
			x.sport = from.Stack.EphemeralPort()
			from.Stack.ListenUDP(x.sport, false)
			from.Stack.SendUDP(x.sport, netip.AddrPortFrom(dst, port), size, df, id)
		case f.Protocol == "tcp":
			local, _ := from.Stack.Dial(netip.AddrPortFrom(dst, port), size, id)
			x.sport = local.Port()
		case f.Protocol == "sctp":
			local, _ := from.Stack.DialSCTP(netip.AddrPortFrom(dst, port), size, id)
			x.sport = local.Port()
		}
		r.Loop.Run()
		if x.sport != 0 && f.Protocol == "udp" {
			from.Stack.CloseUDP(x.sport)
		}
		r.cur = nil
		v := r.verdict(x)
		if v.Result == "delivered" {
			fr.Delivered++
			if fr.RTT == 0 {
				fr.RTT = x.rtt
			}
		} else {
			if _, ok := firstDrop[v.Reason]; !ok {
				firstDrop[v.Reason] = v
				order = append(order, v.Reason)
			}
			fr.Dropped[v.Reason]++
		}
		if x.seen {
			fr.Responders[x.responder]++
			if fr.SeenSource == "" {
				fr.SeenSource = x.seenSrc.String()
			}
		}
		if r.Rec.Hops {
			hops := r.Rec.HopList()
			switch {
			case opts.OnExchange == nil:
				fr.Hops = append(fr.Hops, hops...)
			case len(hops) > 0:
				labelHops(fr, hops)
				traced := 1
				if opts.TraceAll {
					traced = count
				}
				if err := opts.OnExchange(res, fr, ExchangeTrace{Index: streamed, Traced: traced, Hops: hops}); err != nil {
					return nil, err
				}
				streamed++
			}
		}
		r.Loop.Advance(gap)
	}
	fr.Verdict = aggregate(fr, firstDrop, order)
	r.explain(f, from, to, fr)
	labelPackets(fr)
	check(fr)
	return fr, nil
}

// verdict decides one exchange from what the sockets saw and the drops
// recorded for the flow.
func (r *Runner) verdict(x *exchange) Verdict {
	if x.replied {
		return Verdict{Result: "delivered"}
	}
	for _, d := range r.Rec.DropList() {
		if d.Flow == x.flow {
			where := d.Node
			if d.Device != "" {
				where += " " + d.Device
			}
			return Verdict{Result: "dropped", Reason: d.Reason.Code(), Detail: d.Detail, Where: where}
		}
	}
	if x.failed != nil {
		return Verdict{Result: "dropped", Reason: trace.ReasonUnreachable.Code(), Detail: x.failed.Err}
	}
	return Verdict{Result: "dropped", Reason: trace.ReasonNoReply.Code(), Detail: "no reply and no drop recorded"}
}

func aggregate(fr *FlowResult, first map[string]Verdict, order []string) Verdict {
	if fr.Delivered == fr.Count {
		return Verdict{Result: "delivered"}
	}
	sort.SliceStable(order, func(a, b int) bool { return fr.Dropped[order[a]] > fr.Dropped[order[b]] })
	v := first[order[0]]
	if fr.Delivered > 0 {
		v.Result = "partial"
	}
	return v
}

func check(fr *FlowResult) {
	e := fr.Expect
	if e == nil {
		fr.Met = true
		return
	}
	switch e.Verdict {
	case "delivered":
		if fr.Delivered != fr.Count {
			fr.Mismatch = fmt.Sprintf("expected delivered, got %s", verdictText(fr))
			return
		}
		if e.SeenSource != "" && fr.SeenSource != e.SeenSource {
			fr.Mismatch = fmt.Sprintf("expected the destination to see source %s, it saw %s", e.SeenSource, fr.SeenSource)
			return
		}
	case "dropped":
		if fr.Delivered > 0 || fr.Dropped[e.Reason] != fr.Count {
			fr.Mismatch = fmt.Sprintf("expected dropped (%s), got %s", e.Reason, verdictText(fr))
			return
		}
	}
	fr.Met = true
}

func verdictText(fr *FlowResult) string {
	v := fr.Verdict
	switch v.Result {
	case "delivered":
		return "delivered"
	case "partial":
		return fmt.Sprintf("partial: %d of %d delivered, %s", fr.Delivered, fr.Count, dropCounts(fr))
	}
	return fmt.Sprintf("dropped (%s)", v.Reason)
}

func dropCounts(fr *FlowResult) string {
	var parts []string
	for k, n := range fr.Dropped {
		parts = append(parts, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// labelPackets names each packet seen in the hops by its first summary.
func labelPackets(fr *FlowResult) { labelHops(fr, fr.Hops) }

// labelHops names the packets of hops not named yet.
func labelHops(fr *FlowResult, hops []trace.Hop) {
	for _, h := range hops {
		if _, ok := fr.Packets[h.Packet]; !ok && h.After != "" {
			fr.Packets[h.Packet] = h.After
		}
	}
}
