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
	// floored is the mask the need alone gives when a size floor raised
	// the vSwitch (0: not raised).
	floored int
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
	case s.req.CNI == CNIFlannelAliVPC:
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
	case s.req.CNI == CNIFlannelVXLAN:
		// ACK installs Flannel in its VPC-route mode only; its 1,000 nodes
		// are the route table's 1,000 entries, which VXLAN does not use.
		s.choose("", "node limit", "none modelled", "Flannel VXLAN is self-managed on ECS, not an ACK CNI option (ACK installs Flannel in its VPC-route mode, whose %s-node limit is the route table's): no ACK node limit is modelled; the pod CIDR bounds the nodes, growth stops at %s nodes (netsim's --nodes bound, ACK's largest cluster)",
			sgNum(FlannelMaxNodes), sgNum(TerwayMaxNodes))
	default: // calico: not an ACK CNI, no ACK node limit
		s.choose("", "node limit", "none modelled", "Calico is self-managed on ECS, not an ACK CNI option: no ACK node limit is modelled; the pool size bounds the nodes, growth stops at %s nodes (netsim's --nodes bound, ACK's largest cluster)",
			sgNum(TerwayMaxNodes))
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
