package ackplan

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"netsim/topology/ack"
)

// This file is `netsim plan --suggest`: from a VPC, a node count, the
// pods each node runs and a CNI, it proposes a plan — vSwitches per zone,
// the pod CIDR and node CIDR mask (Flannel, Calico) or pod vSwitches
// (Terway), the Service CIDR — with room to grow, checks it against the
// rule table and writes it as a scenario netsim validates, builds and
// runs (a small sample of the cluster, the planned size in its plan:
// block), each choice explained as a YAML comment.

// Request is what `netsim plan --suggest` is asked for.
type Request struct {
	VPC         netip.Prefix
	Nodes       int
	PodsPerNode int
	// CNI is "flannel-alivpc", "flannel-vxlan", "terway" (shared ENI),
	// "terway-exclusive" or "calico" (SuggestCNIs).
	CNI string
	// Zones are the zones to spread nodes over; empty means one default
	// zone (cn-hangzhou-h).
	Zones []string
	// InstanceType is the nodes' type (ack.DefaultInstanceType when empty).
	InstanceType ack.InstanceType
	// Services is the Services to hold (0: ACK's example Service CIDR size).
	Services int
	// Ranges are on-premises / peered ranges the plan must avoid.
	Ranges []Range
}

// Suggestion is a proposed plan: the Plan (Check finds no error in it),
// each choice with why, and the scenario YAML `netsim validate` accepts.
type Suggestion struct {
	Plan    *Plan
	Choices []Choice
	YAML    []byte
}

// Choice is one decision of the suggester and the reason for it.
type Choice struct {
	What  string `json:"what"`
	Value string `json:"value"`
	Why   string `json:"why"`
}

// NoPlanError says no valid plan exists for a Request, and which
// requirement to relax.
type NoPlanError struct {
	// Requirement is the request field that cannot be met, e.g. "--nodes".
	Requirement string
	// Why explains the arithmetic; Relax says what would work.
	Why, Relax string
}

func (e *NoPlanError) Error() string {
	return "no valid plan: " + e.Why + "; " + e.Relax
}

// The suggester's own choices. ACK's and Alibaba Cloud's limits (route
// quota, node limits, vSwitch, VPC, node and Service masks, the reserved
// vSwitch addresses, the default surge) are the rule table's constants in
// rules.go, each with its source: one set of figures for both.
const (
	// sgServiceMask is ACK's example Service CIDR size, 172.21.0.0/20,
	// 4,096 addresses (facts file §5).
	sgServiceMask = 20
	// sgPodMask is ACK's example pod CIDR size, 172.20.0.0/16 (facts
	// file §5): the suggester gives at least this much when it is free,
	// since a Flannel pod CIDR cannot be changed or extended later
	// (facts file §1.11).
	sgPodMask = 16
	// sgGrowth is the growth the suggester sizes for where the space
	// allows: twice the requested nodes.
	sgGrowth = 2
	// sgCalicoMinBlock, sgCalicoMaxBlock: the Calico IPAM block sizes the
	// suggester chooses from (Calico accepts /20 to /32; netsim gives each
	// node one block, so a block is a node's pod limit; /28 is the
	// smallest it proposes).
	sgCalicoMinBlock = MinCalicoBlock
	sgCalicoMaxBlock = 28
	// sgDefaultZone is the zone of a request without --zones.
	sgDefaultZone = "cn-hangzhou-h"
)

// The CNI modes Suggest plans for.
const (
	CNIFlannelAliVPC   = "flannel-alivpc"
	CNIFlannelVXLAN    = "flannel-vxlan"
	CNITerway          = "terway"
	CNITerwayExclusive = "terway-exclusive"
	CNICalico          = "calico"
)

// SuggestCNIs are the values Request.CNI takes.
var SuggestCNIs = []string{CNIFlannelAliVPC, CNIFlannelVXLAN, CNITerway, CNITerwayExclusive, CNICalico}

var sgZoneRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// sgChoice is a Choice and where its comment goes in the YAML: "" for the
// file's head, else the anchor the writer looks up (e.g. "vpc.cidr",
// "vswitch:vsw-node-h").
type sgChoice struct {
	at string
	Choice
}

// sgZone is one zone of the suggestion.
type sgZone struct {
	name, short string
	nodes       int
	nodeVSW     []sgVSwitch
	podVSW      []sgVSwitch
}

// sgVSwitch is one planned vSwitch.
type sgVSwitch struct {
	name, zone string
	bits       int
	cidr       netip.Prefix
	// holds is what it is sized for (nodes or pod addresses), what says
	// which; total is the zone's need it is part of (part of parts).
	holds, total, part, parts int
	what                      string
}

// suggester carries one Suggest.
type suggester struct {
	req     Request
	zones   []sgZone
	choices []sgChoice
	// nodeLimit is the CNI's node limit that applies (ACK's default),
	// nodeLimitMax what a request raises it to (0: no ACK limit).
	nodeLimit, nodeLimitMax int
	// growth is the factor the plan was sized for (2 or 1), target the
	// nodes that makes; tight says vSwitches were split to fit the VPC.
	growth, target int
	tight          bool
	// mask is the Flannel node CIDR mask or the Calico block size;
	// perNode the pods a node holds under it or its instance type.
	mask, perNode int
	podCIDR       netip.Prefix
	serviceCIDR   netip.Prefix
	routeQuota    int
	plan          *Plan
}

func (s *suggester) choose(at, what, value, format string, args ...any) {
	s.choices = append(s.choices, sgChoice{at, Choice{What: what, Value: value, Why: fmt.Sprintf(format, args...)}})
}

func (s *suggester) flannel() bool {
	return s.req.CNI == CNIFlannelAliVPC || s.req.CNI == CNIFlannelVXLAN
}

func (s *suggester) terway() bool {
	return s.req.CNI == CNITerway || s.req.CNI == CNITerwayExclusive
}

func (s *suggester) eniMode() ack.ENIMode {
	if s.req.CNI == CNITerwayExclusive {
		return ack.ExclusiveENI
	}
	return ack.SharedENI
}

// Suggest proposes a plan for req: the smallest one that meets it, sized
// for twice the nodes where the VPC allows (else for the nodes asked,
// said so), with a Deployment's default 25% surge of pod addresses. It
// returns a *NoPlanError when no valid plan exists, and another error for
// a request that does not make sense (naming the flag).
func Suggest(req Request) (*Suggestion, error) {
	if err := checkRequest(&req); err != nil {
		return nil, err
	}
	s := &suggester{req: req}
	steps := []func() error{s.limits, s.podsPerNode, s.layout, s.podRange, s.routes, s.serviceRange, s.build}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	sug := &Suggestion{Plan: s.plan}
	for _, c := range s.choices {
		sug.Choices = append(sug.Choices, c.Choice)
	}
	sug.YAML = s.yaml()
	return sug, nil
}

// checkRequest checks req and fills its defaults.
func checkRequest(req *Request) error {
	v := req.VPC
	switch {
	case !v.IsValid():
		return errors.New("--vpc: required: the VPC's IPv4 CIDR block, e.g. 192.168.0.0/16")
	case !v.Addr().Is4():
		return fmt.Errorf("--vpc %s: not an IPv4 CIDR block: an ACK VPC's primary CIDR is IPv4", v)
	case v.Bits() < MinVPCMask || v.Bits() > MaxVPCMask:
		return fmt.Errorf("--vpc %s: mask /%d is out of range: an Alibaba Cloud VPC CIDR mask must be /%d to /%d", v, v.Bits(), MinVPCMask, MaxVPCMask)
	case v != v.Masked():
		return fmt.Errorf("--vpc %s: host bits are set: the network is %s", v, v.Masked())
	case !InPrivateRange(v):
		return fmt.Errorf("--vpc %s: not a private range: a VPC for ACK uses 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or a block inside one of them", v)
	}
	if req.Nodes < 1 {
		return fmt.Errorf("--nodes %d: a cluster has at least 1 node", req.Nodes)
	}
	if req.PodsPerNode < 1 {
		return fmt.Errorf("--pods-per-node %d: expected at least 1 pod per node", req.PodsPerNode)
	}
	if req.Services < 0 {
		return fmt.Errorf("--services %d: expected 0 (ACK's example Service CIDR) or more", req.Services)
	}
	if !slices.Contains(SuggestCNIs, req.CNI) {
		return fmt.Errorf("--cni %q: expected one of %s", req.CNI, strings.Join(SuggestCNIs, ", "))
	}
	if len(req.Zones) == 0 {
		req.Zones = []string{sgDefaultZone}
	}
	for i, z := range req.Zones {
		if !sgZoneRE.MatchString(z) {
			return fmt.Errorf("--zones %q: a zone ID is lowercase letters, digits and '-', e.g. cn-hangzhou-h", z)
		}
		if slices.Contains(req.Zones[:i], z) {
			return fmt.Errorf("--zones: zone %s is listed twice", z)
		}
	}
	if len(req.Zones) > req.Nodes {
		return fmt.Errorf("--zones: %d zones for %d nodes: every zone of the plan needs a node; list at most %d zones", len(req.Zones), req.Nodes, req.Nodes)
	}
	if req.InstanceType.Name == "" {
		t, _ := ack.Builtin(ack.DefaultInstanceType)
		req.InstanceType = t
	}
	for _, r := range req.Ranges {
		if r.CIDR.Overlaps(v) {
			return &NoPlanError{Requirement: "--vpc",
				Why:   fmt.Sprintf("the VPC %s overlaps the %s range %s (%s)", v, r.Kind, r.Name, r.CIDR),
				Relax: "choose a VPC CIDR outside every on-premises and peered range"}
		}
	}
	return nil
}

// limits applies ACK's node limit of the CNI.
func (s *suggester) limits() error {
	n := s.req.Nodes
	switch {
	case s.flannel():
		s.nodeLimit, s.nodeLimitMax = FlannelMaxNodes, FlannelMaxNodes
		if n > FlannelMaxNodes {
			return &NoPlanError{Requirement: "--nodes",
				Why: fmt.Sprintf("%s nodes are more than ACK allows with Flannel: %s nodes (one VPC route entry per node; the route table holds %d entries by default, %s at most on request)",
					sgNum(n), sgNum(FlannelMaxNodes), DefaultRouteQuota, sgNum(MaxRouteQuota)),
				Relax: fmt.Sprintf("use --cni terway (%s nodes by default, %s on request), or plan at most %s nodes",
					sgNum(TerwayDefaultMaxNodes), sgNum(TerwayMaxNodes), sgNum(FlannelMaxNodes))}
		}
		s.choose("", "node limit", sgNum(FlannelMaxNodes), "ACK Pro allows %s nodes with Flannel (comparison-between-terway-and-flannel); the plan has %s",
			sgNum(FlannelMaxNodes), sgNum(n))
	case s.terway():
		s.nodeLimit, s.nodeLimitMax = TerwayDefaultMaxNodes, TerwayMaxNodes
		if n > TerwayMaxNodes {
			return &NoPlanError{Requirement: "--nodes",
				Why:   fmt.Sprintf("%s nodes are more than ACK allows with Terway: %s by default, %s at most on request", sgNum(n), sgNum(TerwayDefaultMaxNodes), sgNum(TerwayMaxNodes)),
				Relax: fmt.Sprintf("split the workload over several clusters of at most %s nodes each", sgNum(TerwayMaxNodes))}
		}
		if n > TerwayDefaultMaxNodes {
			s.choose("", "node limit", sgNum(TerwayMaxNodes), "%s nodes are more than ACK's default Terway limit of %s: request the increase to %s before the cluster grows past %s",
				sgNum(n), sgNum(TerwayDefaultMaxNodes), sgNum(TerwayMaxNodes), sgNum(TerwayDefaultMaxNodes))
		} else {
			s.choose("", "node limit", sgNum(TerwayDefaultMaxNodes), "ACK Pro allows %s nodes with Terway by default, %s on request (comparison-between-terway-and-flannel); the plan has %s",
				sgNum(TerwayDefaultMaxNodes), sgNum(TerwayMaxNodes), sgNum(n))
		}
	default: // calico: not an ACK CNI, no ACK node limit
		s.choose("", "node limit", "none modelled", "ACK does not offer Calico as its CNI: no ACK node limit is modelled, the pool size bounds the nodes")
	}
	return nil
}

// podsPerNode picks the node CIDR mask (Flannel), block size (Calico) or
// checks the instance type (Terway).
func (s *suggester) podsPerNode() error {
	p := s.req.PodsPerNode
	surged := sgCeil(p*(100+DefaultPodSurgePercent), 100)
	switch {
	case s.flannel(), s.req.CNI == CNICalico:
		lo, hi, pods, what := MinNodeMask, MaxNodeMask, ack.FlannelPodsPerNode, "node CIDR mask"
		if s.req.CNI == CNICalico {
			lo, hi, what = sgCalicoMinBlock, sgCalicoMaxBlock, "Calico block size"
		}
		fit := func(want int) int {
			for m := hi; m >= lo; m-- {
				if pods(m) >= want {
					return m
				}
			}
			return 0
		}
		m := fit(surged)
		why := fmt.Sprintf("/%d is the longest of /%d–/%d that holds the %d pods per node plus a %d%% rolling-update surge (a Deployment's default maxSurge), %d: %s pods a node",
			m, lo, hi, p, DefaultPodSurgePercent, surged, sgFormula(s.req.CNI, m))
		if m == 0 {
			m = fit(p)
			if m == 0 {
				relax := fmt.Sprintf("plan at most %d pods per node, or use --cni terway (pods per node from the instance type's ENIs)", pods(lo))
				if s.req.CNI == CNICalico {
					relax = fmt.Sprintf("plan at most %d pods per node", pods(lo))
				}
				return &NoPlanError{Requirement: "--pods-per-node",
					Why:   fmt.Sprintf("%d pods per node are more than the largest %s gives: /%d holds %s pods", p, what, lo, sgFormula(s.req.CNI, lo)),
					Relax: relax}
			}
			why = fmt.Sprintf("/%d is the longest of /%d–/%d that holds the %d pods per node: %s pods a node; none leaves room for the %d%% rolling-update surge (%d pods) on a full node, so an update needs spare nodes",
				m, lo, hi, p, sgFormula(s.req.CNI, m), DefaultPodSurgePercent, surged)
		}
		s.mask, s.perNode = m, pods(m)
		if s.req.CNI == CNICalico {
			s.choose("cluster.cni", "calico.blockSize", fmt.Sprintf("/%d", m), "%s; netsim gives each node one block (real Calico borrows more)", why)
		} else {
			s.choose("cluster.nodeCIDRMask", "nodeCIDRMask", fmt.Sprintf("/%d", m), "%s", why)
		}
	default: // terway
		t, mode := s.req.InstanceType, s.eniMode()
		if ok, why := t.CanJoin(mode); !ok {
			return &NoPlanError{Requirement: "--instance-type", Why: why, Relax: "use an instance type that can join: " + s.typesFor(p)}
		}
		s.perNode = t.MaxPods(mode)
		if p > s.perNode {
			return &NoPlanError{Requirement: "--pods-per-node",
				Why: fmt.Sprintf("%d pods per node are more than %s gives in Terway %s ENI mode: %s",
					p, t.Name, mode, t.Formula(mode)),
				Relax: fmt.Sprintf("use a larger instance type (%s), or plan at most %d pods per node", s.typesFor(p), s.perNode)}
		}
		why := fmt.Sprintf("%s in %s ENI mode holds %s pods (terway pkg/aliyun/client/limit.go)", t.Name, mode, t.Formula(mode))
		if u := t.UnverifiedText(); u != "" {
			why += " — instance figures " + u
		}
		if surged > s.perNode {
			why += fmt.Sprintf("; a full node has no room for the %d%% surge (%d pods), so a rolling update needs spare nodes", DefaultPodSurgePercent, surged)
		}
		s.choose("plan", "pods per node", fmt.Sprintf("%d of %d", p, s.perNode), "%s", why)
	}
	return nil
}

// sgFormula writes out the pods per node of mask m under the CNI.
func sgFormula(cni string, m int) string {
	if cni == CNICalico {
		return fmt.Sprintf("2^(32−%d) − 1 (the IPIP tunnel address) = %d", m, ack.FlannelPodsPerNode(m))
	}
	return ack.FlannelFormula(m)
}

// typesFor lists built-in instance types that can join and whose pod
// limit in the mode reaches pods: the requested type's family first, then
// the smallest.
func (s *suggester) typesFor(pods int) string {
	mode := s.eniMode()
	type cand struct {
		name string
		pods int
	}
	var cs []cand
	for _, n := range ack.BuiltinNames() {
		t, _ := ack.Builtin(n)
		if ok, _ := t.CanJoin(mode); ok && t.MaxPods(mode) >= pods {
			cs = append(cs, cand{n, t.MaxPods(mode)})
		}
	}
	if len(cs) == 0 {
		return fmt.Sprintf("none of the built-in instance types gives %d pods in %s ENI mode", pods, mode)
	}
	// The requested type's family first (a larger size of it), then by
	// pods.
	family := func(n string) string { return n[:max(strings.LastIndexByte(n, '.'), 0)] }
	own := family(s.req.InstanceType.Name)
	slices.SortStableFunc(cs, func(a, b cand) int {
		if fa, fb := family(a.name) == own, family(b.name) == own; fa != fb {
			return sgB2I(fb) - sgB2I(fa)
		}
		return a.pods - b.pods
	})
	var out []string
	for _, c := range cs[:min(len(cs), 4)] {
		out = append(out, fmt.Sprintf("%s: %d pods", c.name, c.pods))
	}
	return strings.Join(out, ", ")
}

// layout spreads the nodes over the zones and carves the vSwitches from
// the VPC: sized for sgGrowth× the nodes when they fit, else for the
// nodes asked.
func (s *suggester) layout() error {
	n, zs := s.req.Nodes, s.req.Zones
	for i, z := range zs {
		s.zones = append(s.zones, sgZone{name: z, short: sgShortZone(z, zs), nodes: n/len(zs) + sgB2I(i < n%len(zs))})
	}
	var need []sgVSwitch
	for _, try := range []struct {
		growth int
		tight  bool
	}{{sgGrowth, false}, {1, false}, {1, true}} {
		g := try.growth
		s.growth, s.tight = g, try.tight
		s.target = n * g
		if s.nodeLimitMax > 0 {
			s.target = max(n, min(s.target, s.nodeLimitMax))
		}
		need = s.sizeVSwitches(try.tight)
		if len(need) > MaxVSwitches {
			return &NoPlanError{Requirement: "--nodes",
				Why:   fmt.Sprintf("the plan needs %d vSwitches; a VPC has at most %d by default", len(need), MaxVSwitches),
				Relax: "plan fewer nodes or pods per node, or fewer zones"}
		}
		want := make([]int, len(need))
		for i, v := range need {
			want[i] = v.bits
		}
		if got, ok := carve(s.req.VPC, nil, want); ok {
			for i := range need {
				need[i].cidr = got[i]
			}
			s.placeVSwitches(need)
			return nil
		}
	}
	// Not even the nodes asked fit: the smallest VPC that would.
	var total uint64
	var parts []string
	for _, v := range need {
		total += blkSizeOf(v.bits)
		parts = append(parts, fmt.Sprintf("%s /%d", v.name, v.bits))
	}
	m := blkBits(total)
	relax := "plan fewer nodes or pods per node"
	if m >= MinVPCMask {
		bigger := netip.PrefixFrom(s.req.VPC.Addr(), m).Masked()
		if !InPrivateRange(bigger) {
			bigger = netip.PrefixFrom(privateRanges[0].Addr(), m)
		}
		relax = fmt.Sprintf("use a VPC of /%d or larger (e.g. --vpc %s), or %s", m, bigger, relax)
	}
	return &NoPlanError{Requirement: "--vpc",
		Why: fmt.Sprintf("the VPC %s holds %s addresses, but the vSwitches for %s nodes need %s (%s)",
			s.req.VPC, sgNum64(blkLen(s.req.VPC)), sgNum(n), sgNum64(total), strings.Join(parts, ", ")),
		Relax: relax}
}

// sizeVSwitches lists the vSwitches for s.target nodes. Each need is one
// vSwitch, or several when it is above a /16; tight splits a need whose
// block would be mostly empty into two (a block and the rest), to fit a
// small VPC.
func (s *suggester) sizeVSwitches(tight bool) []sgVSwitch {
	var out []sgVSwitch
	add := func(z sgZone, kind, what string, need int) {
		parts := sgPieces(need, tight)
		for i, p := range parts {
			name := "vsw-" + kind + "-" + z.short
			if len(parts) > 1 {
				name += fmt.Sprintf("-%d", i+1)
			}
			out = append(out, sgVSwitch{name: name, zone: z.name, holds: p, what: what, bits: blkBits(uint64(p + VSwitchReserved)),
				part: i + 1, parts: len(parts), total: need})
		}
	}
	for _, z := range s.zones {
		nodes := sgCeil(z.nodes*s.target, s.req.Nodes)
		add(z, "node", "nodes", nodes)
		if s.terway() {
			add(z, "pod", "pod addresses", sgCeil(nodes*s.req.PodsPerNode*(100+DefaultPodSurgePercent), 100))
		}
	}
	return out
}

// sgPieces splits a need of n usable addresses over vSwitches: /16s (at
// most 65,532 usable each) and the rest in one block of /16–/29; tight
// splits that rest into the largest block it fills and a block for what
// remains, when that takes fewer addresses.
func sgPieces(n int, tight bool) []int {
	maxUsable := int(blkSizeOf(MinVSwitchMask)) - VSwitchReserved
	var out []int
	for n > maxUsable {
		out = append(out, maxUsable)
		n -= maxUsable
	}
	one := func(n int) uint64 { return blkSizeOf(min(MaxVSwitchMask, blkBits(uint64(n+VSwitchReserved)))) }
	if tight {
		// The largest block n fills, and one for the rest.
		floor := one(n) / 2
		if usable := int(floor) - VSwitchReserved; floor >= blkSizeOf(MaxVSwitchMask) && usable < n && floor+one(n-usable) < one(n) {
			return append(out, usable, n-usable)
		}
	}
	return append(out, n)
}

// placeVSwitches files the carved vSwitches under their zones and
// explains them.
func (s *suggester) placeVSwitches(vs []sgVSwitch) {
	if s.target > s.req.Nodes {
		s.choose("", "growth", fmt.Sprintf("%d×", s.growth), "sized for %s nodes, %d× the %s asked%s, where the VPC allows",
			sgNum(s.target), s.growth, sgNum(s.req.Nodes), sgCapNote(s))
	} else if s.growth > 1 {
		s.choose("", "growth", "none", "sized for the %s nodes asked: that is ACK's node limit with this CNI", sgNum(s.req.Nodes))
	} else {
		s.choose("", "growth", "none", "sized for the %s nodes asked: the VPC %s has no room for %d× (%s nodes)",
			sgNum(s.req.Nodes), s.req.VPC, sgGrowth, sgNum(s.req.Nodes*sgGrowth))
	}
	for _, v := range vs {
		for i := range s.zones {
			z := &s.zones[i]
			if z.name != v.zone {
				continue
			}
			if v.what == "nodes" {
				z.nodeVSW = append(z.nodeVSW, v)
			} else {
				z.podVSW = append(z.podVSW, v)
			}
		}
		usable := blkLen(v.cidr) - VSwitchReserved
		grown := ""
		if s.growth > 1 {
			grown = fmt.Sprintf(" (%d× growth)", s.growth)
		}
		zoneNeed := fmt.Sprintf("zone %s's node vSwitch: %s nodes%s", v.zone, sgNum(v.total), grown)
		if v.what != "nodes" {
			zoneNeed = fmt.Sprintf("zone %s's Terway pod vSwitch: %s pod addresses (%s nodes%s × %d pods × %d%% for the surge)",
				v.zone, sgNum(v.total), sgNum(sgCeil(s.zoneNodes(v.zone)*s.target, s.req.Nodes)), grown, s.req.PodsPerNode, 100+DefaultPodSurgePercent)
		}
		var why string
		switch {
		case v.parts == 1:
			why = fmt.Sprintf("%s + Alibaba's %d reserved addresses → /%d (%s usable)", zoneNeed, VSwitchReserved, v.bits, sgNum64(usable))
		case v.part == 1:
			split := fmt.Sprintf("a vSwitch is at most /%d (%s usable)", MinVSwitchMask, sgNum64(blkSizeOf(MinVSwitchMask)-VSwitchReserved))
			if s.tight {
				split = "split to fit the VPC"
			}
			why = fmt.Sprintf("%s, over %d vSwitches (%s); this one %s → /%d (%s usable, %d reserved)",
				zoneNeed, v.parts, split, sgNum(v.holds), v.bits, sgNum64(usable), VSwitchReserved)
		default:
			why = fmt.Sprintf("zone %s, %d of %d: %s %s → /%d (%s usable)", v.zone, v.part, v.parts, sgNum(v.holds), v.what, v.bits, sgNum64(usable))
		}
		if v.what != "nodes" && v.part == v.parts {
			why += "; more pod vSwitches can be added later"
		}
		s.choose("vswitch:"+v.name, "vSwitch "+v.name, v.cidr.String(), "%s", why)
	}
	s.choose("vpc.cidr", "vpc", s.req.VPC.String(), "given; the vSwitches take %s of its %s addresses, largest first, so the rest stays in aligned blocks for later vSwitches",
		sgNum64(sgTotal(vs)), sgNum64(blkLen(s.req.VPC)))
}

func sgCapNote(s *suggester) string {
	if s.target < s.req.Nodes*s.growth {
		return fmt.Sprintf(" capped at ACK's %s-node limit", sgNum(s.nodeLimitMax))
	}
	return ""
}

func sgTotal(vs []sgVSwitch) uint64 {
	var t uint64
	for _, v := range vs {
		t += blkLen(v.cidr)
	}
	return t
}

// podRange picks the pod CIDR (Flannel, Calico).
func (s *suggester) podRange() error {
	if s.terway() {
		s.choose("cluster.cni", "pod addresses", "pod vSwitches", "Terway gives pods VPC addresses from the pod vSwitches of their node's zone: there is no pod CIDR to plan")
		return nil
	}
	avoid := append([]netip.Prefix{s.req.VPC}, sgRangeCIDRs(s.req.Ranges)...)
	prefer := []netip.Prefix{ackPodCIDR}
	if s.req.CNI == CNICalico {
		prefer = []netip.Prefix{calicoPool, ackPodCIDR}
	}
	perNode := blkSizeOf(s.mask)
	for _, nodes := range []int{s.target, s.req.Nodes} {
		bits := min(sgPodMask, blkBits(uint64(nodes)*perNode))
		p, ok := findFree(bits, avoid, prefer...)
		if !ok {
			continue
		}
		s.podCIDR = p
		holds := blkLen(p) / perNode
		why := fmt.Sprintf("%s nodes × /%d = /%d", sgNum(nodes), s.mask, blkBits(uint64(nodes)*perNode))
		if bits < blkBits(uint64(nodes)*perNode) || bits == sgPodMask {
			why = fmt.Sprintf("ACK's example size /%d, which holds %s node subnets of /%d (the plan needs %s)", sgPodMask, sgNum64(holds), s.mask, sgNum(nodes))
			if bits < sgPodMask {
				why = fmt.Sprintf("%s node subnets of /%d (the plan needs %s)", sgNum64(holds), s.mask, sgNum(nodes))
			}
		} else {
			why += fmt.Sprintf(", %s node subnets", sgNum64(holds))
		}
		where := "outside the VPC"
		if len(s.req.Ranges) > 0 {
			where += " and every declared range"
		}
		if s.req.CNI == CNICalico {
			s.choose("cluster.podCIDR", "podCIDR", p.String(), "Calico's IP pool: %s; %s (calico-node's default pool is 192.168.0.0/16)", why, where)
		} else {
			s.choose("cluster.podCIDR", "podCIDR", p.String(), "%s; %s, not 7.x (ACK reserves it); a Flannel pod CIDR cannot be changed or extended after the cluster is created", why, where)
		}
		break
	}
	if !s.podCIDR.IsValid() {
		return &NoPlanError{Requirement: "--nodes",
			Why: fmt.Sprintf("no free private block holds %s node subnets of /%d (a /%d) outside the VPC %s and the declared ranges",
				sgNum(s.req.Nodes), s.mask, blkBits(uint64(s.req.Nodes)*perNode), s.req.VPC),
			Relax: "plan fewer nodes or pods per node, or leave private space beside the VPC (a smaller VPC CIDR, fewer declared ranges)"}
	}
	return nil
}

// routes sizes the VPC route table: one custom entry per node with
// Flannel ali-vpc, and one per declared range (to its VPN gateway,
// Express Connect or peering connection).
func (s *suggester) routes() error {
	nodes := 0
	if s.req.CNI == CNIFlannelAliVPC {
		nodes = s.req.Nodes
	}
	n := nodes + len(s.req.Ranges)
	var parts []string
	if nodes > 0 {
		parts = append(parts, sgPlural(nodes, "node")+" (Flannel ali-vpc: one entry each)")
	}
	if len(s.req.Ranges) > 0 {
		parts = append(parts, sgPlural(len(s.req.Ranges), "declared range")+" (one entry each, to its gateway or peering connection)")
	}
	what := strings.Join(parts, " and ")
	switch {
	case n > MaxRouteQuota:
		return &NoPlanError{Requirement: "--nodes",
			Why:   fmt.Sprintf("%s need %s VPC route entries; a route table holds %s at most, on request", what, sgNum(n), sgNum(MaxRouteQuota)),
			Relax: "use --cni terway (no route entry per node), or plan fewer nodes or declared ranges"}
	case n > DefaultRouteQuota:
		s.routeQuota = MaxRouteQuota
		s.choose("vpc.routeQuota", "routeQuota", sgNum(MaxRouteQuota), "%s need %s VPC route entries, more than the default quota of %d — request a route table quota increase (up to %s, Quota Center) before creating the cluster",
			what, sgNum(n), DefaultRouteQuota, sgNum(MaxRouteQuota))
	case nodes > 0:
		s.choose("vpc.cidr", "route entries", fmt.Sprintf("%d of %d", n, DefaultRouteQuota), "%s need %s VPC route entries: the default quota of %d holds them; growing past it needs a quota request (up to %s)",
			what, sgNum(n), DefaultRouteQuota, sgNum(MaxRouteQuota))
	}
	return nil
}

// serviceRange picks the Service CIDR.
func (s *suggester) serviceRange() error {
	want := s.req.Services
	avoid := append([]netip.Prefix{s.req.VPC, s.podCIDR}, sgRangeCIDRs(s.req.Ranges)...)
	// The Services a /bits holds: its allocatable ClusterIPs (2^(32−bits)
	// − 2, see AllocatableClusterIPs) less the kubernetes Service's.
	capOf := func(bits int) int { return AllocatableClusterIPs(netip.PrefixFrom(netip.IPv4Unspecified(), bits)) - 1 }
	if want > capOf(MinServiceMask) {
		return &NoPlanError{Requirement: "--services",
			Why:   fmt.Sprintf("%s Services are more than ACK's largest Service CIDR, /%d, holds: %s ClusterIPs besides the kubernetes Service's", sgNum(want), MinServiceMask, sgNum(capOf(MinServiceMask))),
			Relax: fmt.Sprintf("plan at most %s Services (headless Services take no ClusterIP)", sgNum(capOf(MinServiceMask)))}
	}
	fit := func(n int) int {
		for b := MaxServiceMask; b >= MinServiceMask; b-- {
			if capOf(b) >= n {
				return b
			}
		}
		return 0
	}
	grown := fit(want * sgGrowth)
	bits, why := min(sgServiceMask, grown), ""
	switch {
	case want == 0:
		why = fmt.Sprintf("ACK's example size /%d: %s Services (2^(32−%d) − 2 ClusterIPs — the allocator skips the network and broadcast addresses, kubernetes pkg/registry/core/service/ipallocator — less the kubernetes Service's)", sgServiceMask, sgNum(capOf(sgServiceMask)), sgServiceMask)
	case grown == 0:
		bits = fit(want)
		why = fmt.Sprintf("the smallest of /%d–/%d holding the %s Services (no room for %d×): %s Services", MinServiceMask, MaxServiceMask, sgNum(want), sgGrowth, sgNum(capOf(bits)))
	case bits < grown:
		why = fmt.Sprintf("ACK's example size /%d: %s Services, more than %d× the %s asked", sgServiceMask, sgNum(capOf(bits)), sgGrowth, sgNum(want))
	default:
		why = fmt.Sprintf("%d× the %s Services: %s (2^(32−%d) − 2 ClusterIPs less the kubernetes Service's)", sgGrowth, sgNum(want), sgNum(capOf(bits)), bits)
	}
	p, ok := findFree(bits, avoid, ackServiceCIDR)
	if !ok {
		return &NoPlanError{Requirement: "--services",
			Why:   fmt.Sprintf("no free private /%d outside the VPC, the pod CIDR and the declared ranges", bits),
			Relax: "declare fewer ranges or plan fewer Services"}
	}
	s.serviceCIDR = p
	s.choose("cluster.serviceCIDR", "serviceCIDR", p.String(), "%s; it overlaps neither the VPC, its vSwitches, the pod CIDR nor a declared range, and cannot be changed after the cluster is created", why)
	return nil
}

// build assembles the Plan, with the paths the YAML gives its fields.
func (s *suggester) build() error {
	r := s.req
	p := &Plan{
		VPC:             Block{Prefix: r.VPC, Path: "vpc.cidr"},
		RouteQuota:      DefaultRouteQuota,
		PodsPerNode:     r.PodsPerNode,
		Services:        r.Services,
		PodSurgePercent: DefaultPodSurgePercent,
		Edition:         "pro",
		ServiceCIDR:     Block{Prefix: s.serviceCIDR, Path: "cluster.serviceCIDR"},
	}
	if s.routeQuota > 0 {
		p.RouteQuota, p.RouteQuotaSet = s.routeQuota, true
	}
	// An absent pod CIDR (Terway) is still located where it would be
	// written, as the loader does.
	p.PodCIDR = Block{Prefix: s.podCIDR, Path: "cluster.podCIDR"}
	for i, rg := range r.Ranges {
		rg.Path = fmt.Sprintf("plan.ranges[%d]", i)
		p.Ranges = append(p.Ranges, rg)
	}
	for _, v := range s.vswitches() {
		p.VSwitches = append(p.VSwitches, VSwitch{Name: v.name, Zone: v.zone, CIDR: v.cidr, Path: fmt.Sprintf("vpc.vswitches[%d]", len(p.VSwitches))})
	}
	// Terway has no node CIDR: the scenario leaves nodeCIDRMask at its
	// default, which no rule reads.
	p.NodeMask, p.NodeMaskPath = MinNodeMask, "cluster.nodeCIDRMask"
	if _, builtin := ack.Builtin(r.InstanceType.Name); !builtin || sgCustomType(r.InstanceType) {
		p.Catalog = ack.NewCatalog(r.InstanceType)
	}
	switch {
	case s.flannel():
		p.CNI = CNI{Mode: "flannel", Backend: strings.TrimPrefix(r.CNI, "flannel-")}
		p.NodeMask, p.NodeMaskPath = s.mask, "cluster.nodeCIDRMask"
	case s.terway():
		p.CNI = CNI{Mode: "terway", ENIMode: string(s.eniMode()), PodVSwitches: map[string][]string{}, PodVSwitchesPath: "cluster.cni.terway.podVSwitches"}
		for _, z := range s.zones {
			for _, v := range z.podVSW {
				p.CNI.PodVSwitches[z.name] = append(p.CNI.PodVSwitches[z.name], v.name)
			}
		}
	default:
		p.CNI = CNI{Mode: "calico", CalicoBlock: s.mask}
		p.NodeMask, p.NodeMaskPath = s.mask, "cluster.cni.calico.blockSize"
	}
	// A node pool per node vSwitch: a zone whose node vSwitch was split
	// to fit the VPC has its nodes over the parts.
	for _, z := range s.zones {
		left := z.nodes
		for i, v := range z.nodeVSW {
			n := min(left, v.holds)
			if i == len(z.nodeVSW)-1 {
				n = left
			}
			left -= n
			if n == 0 {
				continue
			}
			name := "pool-" + z.short
			if len(z.nodeVSW) > 1 {
				name += fmt.Sprintf("-%d", i+1)
			}
			path := fmt.Sprintf("plan.nodePools[%d]", len(p.Pools))
			p.Pools = append(p.Pools, Pool{Name: name, VSwitch: v.name, Nodes: n, Type: r.InstanceType, Path: path, TypePath: path + ".instanceType"})
		}
	}
	// The sample's nodes, as the loader sees them: one pool per vSwitch
	// (ACK's join and zone rules judge them too).
	for i, z := range s.sampleNodes() {
		vsw := z.nodeVSW[0].name
		if i > 0 && p.NodePools[0].VSwitch == vsw {
			p.NodePools[0].Nodes++
			continue
		}
		path := fmt.Sprintf("nodes[%d]", i)
		p.NodePools = append(p.NodePools, Pool{Name: fmt.Sprintf("node-%d", i+1), VSwitch: vsw, Nodes: 1, Type: r.InstanceType,
			Path: path, TypePath: path + ".instanceType", FirstNode: fmt.Sprintf("node-%d", i+1)})
	}
	s.plan = p
	return nil
}

// vswitches lists the planned vSwitches in file order: per zone, the node
// vSwitch then the pod vSwitches.
func (s *suggester) vswitches() []sgVSwitch {
	var out []sgVSwitch
	for _, z := range s.zones {
		out = append(out, z.nodeVSW...)
		out = append(out, z.podVSW...)
	}
	return out
}

// check runs the rule table on a copy of the plan: an error there is a
// bug of the suggester, reported as such; warnings become choices.
func (s *suggester) check() error {
	cp := *s.plan
	cp.Invalid = nil
	res := Check(&cp)
	var errs []string
	for _, f := range res.Findings() {
		id := ""
		if f.Rule != nil {
			id = f.Rule.ID
		}
		if f.Severity == Error {
			errs = append(errs, fmt.Sprintf("%s: %s (rule %s)", f.Path, f.Msg, id))
			continue
		}
		s.choose("", "warning "+id, f.Path, "%s", f.Msg)
	}
	if len(errs) > 0 {
		return fmt.Errorf("netsim plan --suggest: the suggested plan breaks its own rules (a bug): %s", strings.Join(errs, "; "))
	}
	return nil
}

// sgCustomType reports whether t's figures differ from the built-in type
// of its name (the YAML then declares it under instanceTypes:).
func sgCustomType(t ack.InstanceType) bool {
	b, ok := ack.Builtin(t.Name)
	return !ok || b.ENIs != t.ENIs || b.IPv4PerENI != t.IPv4PerENI
}

// zoneNodes is the nodes planned in zone z.
func (s *suggester) zoneNodes(z string) int {
	for _, zz := range s.zones {
		if zz.name == z {
			return zz.nodes
		}
	}
	return 0
}

// sgShortZone is the zone's suffix ("h" of cn-hangzhou-h) when that is
// unique among zones, else the whole zone ID.
func sgShortZone(z string, all []string) string {
	suffix := func(z string) string { return z[strings.LastIndexByte(z, '-')+1:] }
	for _, o := range all {
		if o != z && suffix(o) == suffix(z) {
			return z
		}
	}
	return suffix(z)
}

func sgRangeCIDRs(rs []Range) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range rs {
		out = append(out, r.CIDR)
	}
	return out
}

func sgCeil(a, b int) int { return (a + b - 1) / b }

func sgB2I(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sgNum writes n with thousands separators: 15,000.
func sgNum(n int) string { return sgNum64(uint64(max(n, 0))) }

func sgNum64(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
