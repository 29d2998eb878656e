package sim

import (
	"fmt"
	"net/netip"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"netsim/dataplane/trace"
	"netsim/topology"
)

// MatrixOptions choose what RunMatrix probes.
type MatrixOptions struct {
	// Ports are the destination ports probed; default [80, 81].
	Ports []int
	// Protocols are "tcp", "udp" or "sctp"; default ["tcp"].
	Protocols []string
	// Namespaces limit the pods (rows and columns) to these namespaces;
	// default: every namespace with pods.
	Namespaces []string
	// Services are extra destination columns: Services as "svc/NAME" or
	// "svc/NS/NAME", probed at their ClusterIP on the same ports and
	// protocols as the pods. "all" means every Service with a ClusterIP.
	Services []string
	// External are extra destination columns outside the pod network:
	// "ecs/NAME", "node/NAME" or an IPv4 address.
	External []string
	// Sample, if positive and below the number of pods, probes only that
	// many pods (rows and pod columns): every k-th of the pods sorted by
	// NS/NAME, first and last included, so that a big cluster's matrix is
	// a deterministic sample spread over its namespaces and nodes. Zero:
	// every pod.
	Sample int
}

// MatrixCell is the outcome of one probe (or a self pair, not probed).
type MatrixCell struct {
	// From and To are "NS/NAME" for pods; extra columns keep their
	// endpoint text ("svc/x/web", "ecs/ecs-db", "192.168.1.50").
	From     string `json:"from"`
	To       string `json:"to"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	// Allowed: the probe was delivered and answered (TCP handshake
	// completed, UDP datagram echoed).
	Allowed bool `json:"allowed"`
	// Self: from == to, not probed (printed "#").
	Self bool `json:"self,omitempty"`
	// Reason is the drop reason code when not allowed ("policy-denied",
	// "conn-refused", "port-unreachable", "link-down", …).
	Reason string `json:"reason,omitempty"`
	// Direction is "ingress" or "egress" when a policy denied the probe.
	Direction string `json:"direction,omitempty"`
	// Policy is the denying policy ("NS/NAME") when the drop names it.
	Policy string `json:"policy,omitempty"`
	// Detail is the drop's detail text; Where is "node device" of the drop.
	Detail string `json:"detail,omitempty"`
	Where  string `json:"where,omitempty"`
}

// Matrix is the all-pairs reachability of a scenario's pods, computed by
// sending one probe per (source, destination, port, protocol) through the
// data plane.
type Matrix struct {
	Schema   int    `json:"schema"`
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	CNI      string `json:"cni"`
	// Pods are the rows and the first columns, in order ("NS/NAME").
	Pods []string `json:"pods"`
	// SampledFrom is the number of pods the rows were sampled from
	// (MatrixOptions.Sample); zero when every pod is a row.
	SampledFrom int `json:"sampled_from,omitempty"`
	// Extra are the extra destination columns (Services, external).
	Extra     []string `json:"extra,omitempty"`
	Ports     []int    `json:"ports"`
	Protocols []string `json:"protocols"`
	// Actions are the scenario's actions applied before probing, by name.
	Actions []string `json:"actions,omitempty"`
	// Warnings are the scenario's located warnings (policies not
	// enforced, …).
	Warnings []string     `json:"warnings,omitempty"`
	Cells    []MatrixCell `json:"cells"`
	// Elapsed is the wall time of the probes, with the building of the
	// shards' worlds (not in JSON: it varies).
	Elapsed time.Duration `json:"-"`

	index map[cellKey]int
	// grid, when the cells are in the order Matrix probes them (protocol,
	// port, source, destination), finds a cell by arithmetic instead.
	grid *cellGrid
}

type cellKey struct {
	from, to, proto string
	port            int
}

// cellGrid is the position of each row, column, port and protocol in the
// cells.
type cellGrid struct {
	rows, cols, protos map[string]int
	ports              map[int]int
}

// Cell returns the cell of from → to on port/proto.
func (m *Matrix) Cell(from, to string, port int, proto string) (MatrixCell, bool) {
	if m.grid == nil && m.index == nil {
		if m.grid = m.cellGrid(); m.grid == nil {
			m.index = make(map[cellKey]int, len(m.Cells))
			for i, c := range m.Cells {
				m.index[cellKey{c.From, c.To, c.Protocol, c.Port}] = i
			}
		}
	}
	proto = strings.ToLower(proto)
	if g := m.grid; g != nil {
		pr, ok1 := g.protos[proto]
		po, ok2 := g.ports[port]
		r, ok3 := g.rows[from]
		c, ok4 := g.cols[to]
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return MatrixCell{}, false
		}
		return m.Cells[((pr*len(g.ports)+po)*len(g.rows)+r)*len(g.cols)+c], true
	}
	i, ok := m.index[cellKey{from, to, proto, port}]
	if !ok {
		return MatrixCell{}, false
	}
	return m.Cells[i], true
}

// cellGrid returns the grid of the cells when they are in Matrix's order,
// every row, column, port and protocol once; nil otherwise.
func (m *Matrix) cellGrid() *cellGrid {
	g := &cellGrid{rows: map[string]int{}, cols: map[string]int{}, protos: map[string]int{}, ports: map[int]int{}}
	for i, p := range m.Pods {
		g.rows[p] = i
	}
	cols := m.Columns()
	for i, c := range cols {
		g.cols[c] = i
	}
	for i, p := range m.Protocols {
		g.protos[p] = i
	}
	for i, p := range m.Ports {
		g.ports[p] = i
	}
	if len(g.rows) != len(m.Pods) || len(g.cols) != len(cols) || len(g.protos) != len(m.Protocols) || len(g.ports) != len(m.Ports) ||
		len(m.Cells) != len(m.Protocols)*len(m.Ports)*len(m.Pods)*len(cols) {
		return nil
	}
	i := 0
	for _, proto := range m.Protocols {
		for _, port := range m.Ports {
			for _, from := range m.Pods {
				for _, to := range cols {
					if c := &m.Cells[i]; c.From != from || c.To != to || c.Port != port || c.Protocol != proto {
						return nil
					}
					i++
				}
			}
		}
	}
	return g
}

// Columns are the destination columns: the pods, then the extra columns.
func (m *Matrix) Columns() []string { return append(append([]string(nil), m.Pods...), m.Extra...) }

// MatrixCounts are the totals of a matrix (self pairs not counted as
// probes).
type MatrixCounts struct {
	Probes  int `json:"probes"`
	Allowed int `json:"allowed"`
	Denied  int `json:"denied"`
	Self    int `json:"self"`
	// ByReason counts the denied probes per drop reason.
	ByReason map[string]int `json:"by_reason,omitempty"`
}

// Counts totals the cells (all ports and protocols, or only port/proto
// when port != 0).
func (m *Matrix) Counts(port int, proto string) MatrixCounts {
	c := MatrixCounts{ByReason: map[string]int{}}
	for _, x := range m.Cells {
		if port != 0 && (x.Port != port || x.Protocol != proto) {
			continue
		}
		switch {
		case x.Self:
			c.Self++
			continue
		case x.Allowed:
			c.Allowed++
		default:
			c.Denied++
			c.ByReason[x.Reason]++
		}
		c.Probes++
	}
	return c
}

// matrixProtocols are the protocols a probe can use.
var matrixProtocols = []string{"tcp", "udp", "sctp"}

// Normalize fills the defaults and checks the options; errors name the
// option.
func (o MatrixOptions) Normalize() (MatrixOptions, error) {
	if len(o.Ports) == 0 {
		o.Ports = []int{80, 81}
	}
	if len(o.Protocols) == 0 {
		o.Protocols = []string{"tcp"}
	}
	var ports []int
	for _, p := range o.Ports {
		if p < 1 || p > 65535 {
			return o, fmt.Errorf("port %d: expected 1-65535", p)
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	o.Ports = ports
	var protos []string
	for _, p := range o.Protocols {
		p = strings.ToLower(strings.TrimSpace(p))
		if !slices.Contains(matrixProtocols, p) {
			return o, fmt.Errorf("protocol %q: expected tcp, udp or sctp", p)
		}
		if !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	o.Protocols = protos
	if o.Sample < 0 {
		return o, fmt.Errorf("sample %d: expected a number of pods, 0 for all", o.Sample)
	}
	return o, nil
}

// matrixPod is a row/column pod.
type matrixPod struct {
	ref      string // NS/NAME
	endpoint string // pod/NS/NAME
}

// RunMatrix builds the scenario, applies its actions in order (the
// matrix is the world at the end of the scenario), and probes every pair
// of pods — source pod, destination pod or extra column, port, protocol —
// with one connection: a TCP half-open probe (Stack.DialProbe: SYN,
// SYN-ACK, the prober's RST), a UDP datagram the destination's echo
// listener answers. A cell is allowed when the answer came back (the
// SYN-ACK, the echoed datagram); a TCP RST (nobody listens: conn-refused)
// or an ICMP port unreachable counts as not allowed, with its reason. A
// cell is the one a count-1 flow of the same endpoints, port and protocol
// would give (a TCP flow of size 0 connects and closes: its handshake
// decides as the probe's does). The scenario's own flows are not run.
// Above matrixShardAbove cells the rows are probed in shards, each in a
// world of its own (see matrixShards).
//
// Probes do not disturb each other: each is one connection from a fresh
// ephemeral source port of its source (the client stack never reuses
// one), so conntrack state of an earlier allowed probe (also of the
// reverse direction, whose 5-tuple has the other pod's ephemeral port)
// never matches a later probe; the loop runs to quiescence between
// probes.
func RunMatrix(s *topology.Scenario, o MatrixOptions) (*Matrix, error) {
	o, err := o.Normalize()
	if err != nil {
		return nil, fmt.Errorf("%s: matrix: %w", s.File, err)
	}
	r, err := NewRunner(s)
	if err != nil {
		return nil, err
	}
	m, pods, dsts, err := r.matrixSetup(o)
	if err != nil {
		return nil, err
	}
	if len(o.Protocols)*len(o.Ports)*len(pods)*len(dsts) <= matrixShardAbove || len(pods) < matrixShards {
		return r.probeMatrix(o, m, pods, dsts)
	}
	return runMatrixShards(s, o, r, m, pods, dsts)
}

// matrixShardAbove and matrixShards: RunMatrix splits a matrix of more
// than matrixShardAbove cells into matrixShards shards of consecutive
// rows, each probed in a world of its own built from the scenario (its
// actions applied), on as many goroutines as GOMAXPROCS allows. A cell's
// verdict does not depend on the probes before it (each is a new
// connection; see RunMatrix), so it is the same whatever the shard; the
// detail of a refused probe names the client's ephemeral port, which the
// stack's seeded source picks after the draws of the probes before, so
// those ports differ from a single world's (as in a sample's). The count of
// shards is fixed, not the number of cores: the matrix is the same on
// every machine, run after run. Matrices up to matrixShardAbove cells (all
// that netsim accepted before shards) are probed in one world, cell for
// cell as before. Variables for the tests.
var (
	matrixShardAbove = 100000
	matrixShards     = 2
)

// runMatrixShards probes the rows of m in matrixShards worlds: r (built
// and set up already) probes the first shard, a new runner each other.
func runMatrixShards(s *topology.Scenario, o MatrixOptions, r *Runner, m *Matrix, pods, dsts []matrixPod) (*Matrix, error) {
	start := time.Now()
	m.Cells = make([]MatrixCell, len(o.Protocols)*len(o.Ports)*len(pods)*len(dsts))
	runners := []*Runner{r}
	for k := 1; k < matrixShards; k++ {
		rk, err := NewRunner(s)
		if err != nil {
			return nil, err
		}
		if _, _, _, err := rk.matrixSetup(o); err != nil {
			return nil, err
		}
		runners = append(runners, rk)
	}
	errs := make([]error, matrixShards)
	work := make(chan int, matrixShards)
	for k := range matrixShards {
		work <- k
	}
	close(work)
	var wg sync.WaitGroup
	for range min(matrixShards, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				lo, hi := k*len(pods)/matrixShards, (k+1)*len(pods)/matrixShards
				errs[k] = runners[k].probeRows(o, pods, dsts, lo, hi, m.Cells)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	m.Elapsed = time.Since(start)
	return m, nil
}

// Matrix runs the probes of RunMatrix on the runner's world (see
// RunMatrix), in this one world whatever the size. o must be normalized
// (MatrixOptions.Normalize).
func (r *Runner) Matrix(o MatrixOptions) (*Matrix, error) {
	m, pods, dsts, err := r.matrixSetup(o)
	if err != nil {
		return nil, err
	}
	return r.probeMatrix(o, m, pods, dsts)
}

// probeMatrix probes every cell of m (from matrixSetup) in r's world.
func (r *Runner) probeMatrix(o MatrixOptions, m *Matrix, pods, dsts []matrixPod) (*Matrix, error) {
	start := time.Now()
	m.Cells = make([]MatrixCell, len(o.Protocols)*len(o.Ports)*len(pods)*len(dsts))
	if err := r.probeRows(o, pods, dsts, 0, len(pods), m.Cells); err != nil {
		return nil, err
	}
	m.Elapsed = time.Since(start)
	return m, nil
}

// probeRows probes the cells of the rows pods[lo:hi] into cells, laid out
// as the matrix's: protocol, port, source, destination. The probes' flow
// IDs count up from the scenario's flows.
func (r *Runner) probeRows(o MatrixOptions, pods, dsts []matrixPod, lo, hi int, cells []MatrixCell) error {
	s := r.World.Scenario
	// No action runs during the probes: pods, Services and addresses stay
	// as they are, and so does what an endpoint resolves to.
	r.resolved = map[string]topology.Target{}
	defer func() { r.resolved = nil }()
	p := newProber(r)
	id := int32(len(s.Flows))
	for pr, proto := range o.Protocols {
		for po, port := range o.Ports {
			for i := lo; i < hi; i++ {
				src := pods[i]
				row := cells[((pr*len(o.Ports)+po)*len(pods)+i)*len(dsts):][:len(dsts)]
				for j, dst := range dsts {
					c := &row[j]
					*c = MatrixCell{From: src.ref, To: dst.ref, Port: port, Protocol: proto}
					if src.ref == dst.ref {
						c.Self = true
						continue
					}
					id++
					v, err := p.probe(id, src, dst, proto, port)
					if err != nil {
						return fmt.Errorf("%s: matrix: %w", s.File, err)
					}
					p.fill(c, v, decidingDrop(r.Rec.DropList(), id, p.bystander(src, dst)))
				}
			}
		}
	}
	return nil
}

// matrixSetup applies the scenario's actions and returns the matrix
// without cells, its rows and its columns.
func (r *Runner) matrixSetup(o MatrixOptions) (m *Matrix, pods, dsts []matrixPod, err error) {
	w := r.World
	s := w.Scenario
	m = &Matrix{Schema: SchemaVersion, Scenario: s.Name, File: s.File, CNI: w.CNI.Name(), Ports: o.Ports, Protocols: o.Protocols}
	for _, p := range w.Warnings {
		m.Warnings = append(m.Warnings, p.String())
	}
	// The actions first: the matrix is the state at the end.
	res := &Result{}
	for i := range s.Flows {
		if f := &s.Flows[i]; f.Action != "" {
			if err := r.runAction(res, i, f, Options{}); err != nil {
				return nil, nil, nil, err
			}
			m.Actions = append(m.Actions, res.Actions[len(res.Actions)-1].title())
		}
	}
	pods, err = matrixPods(w, o.Namespaces)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: matrix: %w", s.File, err)
	}
	if o.Sample > 0 && o.Sample < len(pods) {
		m.SampledFrom = len(pods)
		pods = samplePods(pods, o.Sample)
	}
	extra, err := matrixExtra(w, o)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: matrix: %w", s.File, err)
	}
	for _, p := range pods {
		m.Pods = append(m.Pods, p.ref)
	}
	for _, e := range extra {
		m.Extra = append(m.Extra, e.ref)
	}
	return m, pods, append(append([]matrixPod(nil), pods...), extra...), nil
}

// prober sends a matrix's probes on a runner's world: each probe is the
// flow runFlow runs for a count-1 flow from the source to the destination
// on the port (a TCP probe of size 0, a UDP datagram of 16 bytes), without
// a FlowResult, and with TCP's half-open probe (Stack.DialProbe) where a
// flow connects and closes: the SYN-ACK or the RST decides, as it decides
// the flow's verdict.
type prober struct {
	r *Runner
	x exchange
	// pods holds the refs (NS/NAME) of every running pod of the world.
	pods map[string]bool
	// involved holds, per Service endpoint, the refs of its endpoints'
	// pods (see bystander).
	involved map[string]map[string]bool
	// interned keeps one copy of each Where text of the cells.
	interned map[string]string
}

func newProber(r *Runner) *prober {
	p := &prober{r: r, pods: make(map[string]bool, len(r.World.Pods)), involved: map[string]map[string]bool{}, interned: map[string]string{}}
	for _, pod := range r.World.Pods {
		p.pods[pod.Ref()] = true
	}
	return p
}

// probeName is the name of the flow a probe is (errors only).
func probeName(src, dst matrixPod, proto string, port int) string {
	return fmt.Sprintf("matrix %s -> %s %s/%d", src.ref, dst.ref, proto, port)
}

// probe sends one probe as flow id and returns its verdict; the drops it
// caused are in the runner's recorder until the next probe.
func (p *prober) probe(id int32, src, dst matrixPod, proto string, port int) (Verdict, error) {
	r := p.r
	w := r.World
	from, err := r.resolve(src.endpoint)
	if err != nil {
		return Verdict{}, fmt.Errorf("flow %s: from: %w", probeName(src, dst, proto, port), err)
	}
	to, err := r.resolve(dst.endpoint)
	if err != nil {
		return Verdict{}, fmt.Errorf("flow %s: to: %w", probeName(src, dst, proto, port), err)
	}
	if from.Stack == nil {
		return Verdict{}, fmt.Errorf("flow %s: from %s: traffic can only start in a pod, node or instance", probeName(src, dst, proto, port), src.endpoint)
	}
	size := 16
	if proto == "tcp" {
		size = 0
	}
	df, _ := dfMode(nil)
	r.Rec.Reset()
	r.Rec.Hops = false
	x := &p.x
	*x = exchange{flow: id, client: from.Stack, start: r.Loop.Now(), probe: true}
	r.cur = x
	dstIP := to.IP
	if to.DNS != "" {
		ans, err := w.ResolveDNS(to.DNS, 0)
		if err != nil {
			r.Rec.AddDrop(trace.Drop{Flow: id, Node: from.Stack.Name, Reason: trace.ReasonDNSNXDomain, Detail: err.Error()})
		} else {
			dstIP = ans.Records[0]
		}
	}
	if why := pendingEndpoint(from, to); why != "" {
		r.Rec.AddDrop(trace.Drop{Flow: id, Node: from.Stack.Name, Reason: trace.ReasonPodPending, Detail: why})
		dstIP = netip.Addr{}
	}
	to16 := netip.AddrPortFrom(dstIP, uint16(port))
	switch {
	case !dstIP.IsValid():
	case proto == "udp":
		x.sport = from.Stack.EphemeralPort()
		from.Stack.ListenUDP(x.sport, false)
		from.Stack.SendUDP(x.sport, to16, size, df, id)
	case proto == "tcp":
		local, _ := from.Stack.DialProbe(to16, id)
		x.sport = local.Port()
		// A probe whose SYN got no answer gives up (the stack has no
		// SYN retransmission): its socket is closed, not kept SYN-SENT
		// for the rest of the matrix.
		defer from.Stack.AbortConnect(local, to16)
	case proto == "sctp":
		local, _ := from.Stack.DialSCTP(to16, size, id)
		x.sport = local.Port()
	}
	r.Loop.Run()
	if x.sport != 0 && proto == "udp" {
		from.Stack.CloseUDP(x.sport)
	}
	r.cur = nil
	v := r.verdict(x)
	r.Loop.Advance(10 * time.Millisecond) // runFlow's gap after a TCP, UDP or SCTP exchange
	return v, nil
}

// fill fills in the cell from the probe's verdict and the drop that
// decided it (nil: the verdict stands).
func (p *prober) fill(c *MatrixCell, v Verdict, d *trace.Drop) {
	fillCell(c, v, d)
	c.Where = p.intern(c.Where)
}

// intern returns the kept copy of s.
func (p *prober) intern(s string) string {
	if s == "" {
		return s
	}
	if k, ok := p.interned[s]; ok {
		return k
	}
	p.interned[s] = s
	return s
}

func fillCell(c *MatrixCell, v Verdict, d *trace.Drop) {
	if v.Result == "delivered" {
		c.Allowed = true
		return
	}
	c.Reason, c.Detail, c.Where = v.Reason, v.Detail, v.Where
	if d != nil {
		c.Reason, c.Detail, c.Where = d.Reason.Code(), d.Detail, d.Node
		if d.Device != "" {
			c.Where += " " + d.Device
		}
	}
	if c.Reason == "policy-denied" {
		c.Direction, c.Policy = PolicyOfDetail(v.Detail)
	}
}

// bystander returns whether a namespace is a pod other than the probe's
// source, destination or (for a Service) one of its endpoints: a drop there
// is of a flooded copy (an ARP request a bridge floods to every port, a
// down pod's eth0 drops it), never the probe's fate.
func (p *prober) bystander(src, dst matrixPod) func(ns string) bool {
	return func(ns string) bool {
		if ns == src.ref || ns == dst.ref || !p.pods[ns] {
			return false
		}
		return !p.serviceEndpoints(dst)[ns]
	}
}

// serviceEndpoints are the refs of the pods behind dst when it is a
// Service (nil otherwise), computed once per destination.
func (p *prober) serviceEndpoints(dst matrixPod) map[string]bool {
	if eps, ok := p.involved[dst.endpoint]; ok {
		return eps
	}
	var eps map[string]bool
	if t, err := p.r.resolve(dst.endpoint); err == nil && t.Service != nil {
		eps = map[string]bool{}
		for _, list := range t.Service.Endpoints {
			for _, ep := range list {
				if pod := p.r.World.PodByIP(ep.IP); pod != nil {
					eps[pod.Ref()] = true
				}
			}
		}
	}
	p.involved[dst.endpoint] = eps
	return eps
}

// decidingDrop picks the drop that decided a probe among the drops of its
// flow: a refusal (conn-refused, port-unreachable: the probe reached a
// listener-less port, whatever else was dropped), else the first drop not
// in a bystander pod, else nil (the runner's verdict stands).
func decidingDrop(drops []trace.Drop, flow int32, bystander func(string) bool) *trace.Drop {
	var first *trace.Drop
	for i := range drops {
		d := &drops[i]
		if d.Flow != flow {
			continue
		}
		if d.Reason == trace.ReasonConnRefused || d.Reason == trace.ReasonPortUnreachable {
			return d
		}
		if first == nil && !bystander(d.Node) {
			first = d
		}
	}
	return first
}

var (
	// reIsolated is felix's explanation: "pod x/a is isolated for ingress
	// by x/p1, x/p2; no rule of …".
	reIsolated  = regexp.MustCompile(`isolated for (ingress|egress) by ([^;]+)`)
	reDirection = regexp.MustCompile(`\b(ingress|egress)\b`)
	// rePolicy: "policy NS/NAME", "policies NS/NAME" or "by NS/NAME".
	rePolicy = regexp.MustCompile(`(?:polic(?:y|ies)|by)\s+"?([a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9.-]*)`)
)

// PolicyOfDetail takes the direction and the policy out of a
// policy-denied drop's detail: felix's "isolated for DIRECTION by
// POLICIES;" (POLICIES: every policy selecting the pod, comma-separated),
// else the first "ingress"/"egress" word and the first NS/NAME after
// "policy" or "by".
func PolicyOfDetail(detail string) (direction, policy string) {
	if m := reIsolated.FindStringSubmatch(detail); m != nil {
		return m[1], strings.TrimSpace(m[2])
	}
	if m := reDirection.FindStringSubmatch(detail); m != nil {
		direction = m[1]
	}
	if m := rePolicy.FindStringSubmatch(detail); m != nil {
		policy = m[1]
	}
	return direction, policy
}

// samplePods picks n of pods (1 ≤ n < len(pods)), evenly spaced: index
// i·(len−1)/(n−1), so the first and the last are in.
func samplePods(pods []matrixPod, n int) []matrixPod {
	if n == 1 {
		return pods[:1]
	}
	out := make([]matrixPod, n)
	for i := range out {
		out[i] = pods[i*(len(pods)-1)/(n-1)]
	}
	return out
}

// matrixPods are the running and Pending pods of the namespaces (all when
// none are given), sorted by namespace and name.
func matrixPods(w *topology.World, namespaces []string) ([]matrixPod, error) {
	var refs []string
	have := map[string]bool{}
	add := func(ns, name string) {
		have[ns] = true
		if len(namespaces) == 0 || slices.Contains(namespaces, ns) {
			refs = append(refs, ns+"/"+name)
		}
	}
	for _, p := range w.Pods {
		add(p.Namespace, p.Name)
	}
	for _, p := range w.Pending {
		add(p.Namespace, p.Name)
	}
	for _, ns := range namespaces {
		if !have[ns] {
			known := make([]string, 0, len(have))
			for k := range have {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("namespace %q has no pods (namespaces with pods: %s)", ns, strings.Join(known, ", "))
		}
	}
	sort.Strings(refs)
	out := make([]matrixPod, len(refs))
	for i, ref := range refs {
		out[i] = matrixPod{ref: ref, endpoint: "pod/" + ref}
	}
	return out, nil
}

// matrixExtra resolves the Service and external columns.
func matrixExtra(w *topology.World, o MatrixOptions) ([]matrixPod, error) {
	var out []matrixPod
	var svcs []string
	for _, ref := range o.Services {
		if ref == "all" {
			for _, svc := range w.Services {
				if svc.ClusterIP.IsValid() && !svc.Headless() {
					svcs = append(svcs, "svc/"+svc.Namespace+"/"+svc.Name)
				}
			}
			continue
		}
		if !strings.HasPrefix(ref, "svc/") {
			ref = "svc/" + ref
		}
		svcs = append(svcs, ref)
	}
	for _, ref := range svcs {
		t, err := w.Resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", ref, err)
		}
		if t.Service == nil {
			return nil, fmt.Errorf("service %s: not a Service", ref)
		}
		out = append(out, matrixPod{ref: t.Name, endpoint: t.Name})
	}
	for _, ref := range o.External {
		t, err := w.Resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("external %s: %w", ref, err)
		}
		if !t.IP.IsValid() || t.Service != nil || w.PodByIP(t.IP) != nil {
			return nil, fmt.Errorf("external %s: expected ecs/NAME, node/NAME or an address outside the pod network", ref)
		}
		out = append(out, matrixPod{ref: t.Name, endpoint: ref})
	}
	return out, nil
}
