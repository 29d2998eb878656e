package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/dataplane/vpc"
	"netsim/topology/hint"
)

// Actions between flows. An item of flows: with an action: key is not
// traffic but a change to the world, applied when the run reaches it:
//
//	- name: restore-route
//	  action: add-vpc-route
//	  destination: 172.20.2.0/24
//	  nextHop: node-3
//
// The failures: of a scenario are the same actions applied before the
// first flow. Validate checks what each action names (nodes, pods,
// Deployments, the syntax of a route); Build then plays the actions once on
// a scratch copy of the world, so that deleting an entry that does not
// exist or adding one that does is a located load error, not a surprise
// half-way through a run.

// ActionSpec holds the fields an action takes; which ones depends on the
// action (see actionKinds).
type ActionSpec struct {
	// Destination is the CIDR of a VPC route entry (delete-vpc-route,
	// add-vpc-route).
	Destination string `yaml:"destination"`
	// NextHop is the ECS instance (node or instance) of a VPC route entry
	// to add (add-vpc-route).
	NextHop string `yaml:"nextHop"`
	// Node is the node (or instance, for link and node-route actions)
	// acted on; for the VPC route actions, the node whose pod CIDR entry
	// is meant.
	Node string `yaml:"node"`
	// Pod is a pod ("NAME" or "NS/NAME") acted on instead of a node
	// (link-down/up, delete/add-node-route) or the pod to delete.
	Pod string `yaml:"pod"`
	// Device is the interface to set down or up, e.g. "eth0", "flannel.1".
	Device string `yaml:"device"`
	// Route is an `ip route` route (delete-node-route, add-node-route),
	// e.g. "172.20.2.0/24 via 172.20.2.0 dev flannel.1 onlink".
	Route string `yaml:"route"`
	// Rule is an `ip rule` rule (add-node-rule, delete-node-rule), e.g.
	// "from 10.0.1.5 lookup 1003 priority 2048".
	Rule string `yaml:"rule"`
	// Deployment is the Deployment to scale ("NAME" or "NS/NAME").
	Deployment string `yaml:"deployment"`
	// Replicas is the Deployment's new replica count (scale).
	Replicas *int `yaml:"replicas"`
}

// actionKind describes one action: the fields it takes and what it is.
type actionKind struct {
	name   string
	fields []string
	what   string
}

var actionKinds = []actionKind{
	{"delete-vpc-route", []string{"destination", "node"}, "delete a custom entry of the VPC route table (DeleteRouteEntry)"},
	{"add-vpc-route", []string{"destination", "nextHop", "node"}, "add a custom entry to the VPC route table (CreateRouteEntry)"},
	{"link-down", []string{"node", "pod", "device"}, "ip link set DEVICE down"},
	{"link-up", []string{"node", "pod", "device"}, "ip link set DEVICE up"},
	{"delete-node-route", []string{"node", "pod", "route"}, "ip route del ROUTE in a node's or pod's namespace"},
	{"add-node-route", []string{"node", "pod", "route"}, "ip route add ROUTE in a node's or pod's namespace"},
	{"delete-node-rule", []string{"node", "pod", "rule"}, "ip rule del RULE in a node's or pod's namespace"},
	{"add-node-rule", []string{"node", "pod", "rule"}, "ip rule add RULE in a node's or pod's namespace"},
	{"delete-pod", []string{"pod"}, "kubectl delete pod: the pod's endpoints go away, kube-proxy resyncs"},
	{"scale", []string{"deployment", "replicas"}, "kubectl scale deployment --replicas=N (down): the removed pods' endpoints go away"},
	{"show-pod-cidr", []string{"node"}, "kubectl get node NODE -o jsonpath='{.spec.podCIDR}'"},
	{"show-vpc-routes", nil, "list the VPC route table (DescribeRouteEntryList)"},
}

// ActionKinds lists the action names, for messages and documentation.
func ActionKinds() []string {
	var out []string
	for _, k := range actionKinds {
		out = append(out, k.name)
	}
	return out
}

func findActionKind(name string) *actionKind {
	for i := range actionKinds {
		if actionKinds[i].name == name {
			return &actionKinds[i]
		}
	}
	return nil
}

// ActionOutcome is what applying one action did.
type ActionOutcome struct {
	// Text is one line for the trace, e.g. "vpc route add 172.20.2.0/24
	// next hop node-3 (i-…)".
	Text string
	// Command is what a person would type to do the same.
	Command string
	// Output is what that command printed, or what changed in consequence
	// (endpoints recomputed, kube-proxy resynced).
	Output []string
}

// actionError is an action that cannot be applied, with the field at fault.
type actionError struct {
	field string
	msg   string
}

func (e *actionError) Error() string { return e.msg }

func actionErrf(field, format string, args ...any) error {
	return &actionError{field: field, msg: fmt.Sprintf(format, args...)}
}

// ActionError locates an Apply error at the item's field path
// ("flows[3].destination").
func (s *Scenario) ActionError(path string, err error) Problem {
	if ae, ok := err.(*actionError); ok && ae.field != "" {
		return s.At(path+"."+ae.field, "%s", ae.msg)
	}
	return s.At(path, "%v", err)
}

// Apply applies an action item (f.Action set) to the world.
func (w *World) Apply(f *Flow) (*ActionOutcome, error) {
	a := f.ActionSpec
	switch f.Action {
	case "delete-vpc-route":
		return w.deleteVPCRoute(a)
	case "add-vpc-route":
		return w.addVPCRoute(a)
	case "link-down", "link-up":
		return w.setLink(a, f.Action == "link-up")
	case "delete-node-route":
		return w.deleteNodeRoute(a)
	case "add-node-route":
		return w.addNodeRoute(a)
	case "delete-node-rule":
		return w.deleteNodeRule(a)
	case "add-node-rule":
		return w.addNodeRule(a)
	case "delete-pod":
		return w.deletePods("kubectl delete pod", []string{a.Pod})
	case "scale":
		return w.scale(a)
	case "show-pod-cidr":
		h := w.Node(a.Node)
		if h == nil {
			return nil, actionErrf("node", "node %q does not exist", a.Node)
		}
		return &ActionOutcome{Text: fmt.Sprintf("the pod CIDR of node %s is %s", h.Name, h.PodCIDR),
			Command: fmt.Sprintf("kubectl get node %s -o jsonpath='{.spec.podCIDR}'", h.Name),
			Output:  []string{h.PodCIDR.String()}}, nil
	case "show-vpc-routes":
		if w.VPC == nil {
			return nil, actionErrf("action", "show-vpc-routes needs underlay \"vpc\"")
		}
		return &ActionOutcome{Text: fmt.Sprintf("list route table %s of %s", w.VPC.RouteTableID, w.VPC.Name),
			Command: "aliyun vpc DescribeRouteEntryList --RouteTableId " + w.VPC.RouteTableID,
			Output:  VPCRouteLines(w.VPC)}, nil
	}
	return nil, actionErrf("action", "unknown action %q", f.Action)
}

// vpcRouteDestination is the entry a VPC route action means: destination,
// or the pod CIDR of node.
func (w *World) vpcRouteDestination(a ActionSpec) (netip.Prefix, error) {
	if a.Destination != "" {
		p, err := netip.ParsePrefix(a.Destination)
		if err != nil {
			return netip.Prefix{}, actionErrf("destination", "%q is not a CIDR", a.Destination)
		}
		return p, nil
	}
	h := w.Node(a.Node)
	if h == nil {
		return netip.Prefix{}, actionErrf("node", "node %q does not exist", a.Node)
	}
	return h.PodCIDR, nil
}

func (w *World) deleteVPCRoute(a ActionSpec) (*ActionOutcome, error) {
	if w.VPC == nil {
		return nil, actionErrf("action", "delete-vpc-route needs a vpc underlay")
	}
	dst, err := w.vpcRouteDestination(a)
	if err != nil {
		return nil, err
	}
	field := "destination"
	if a.Destination == "" {
		field = "node"
	}
	e, err := w.VPC.DeleteRoute(dst)
	if err != nil {
		return nil, actionErrf(field, "%v (route entries: %s)", err, routeList(w.VPC))
	}
	return &ActionOutcome{
		Text: fmt.Sprintf("vpc route delete %s next hop %s (%s), entry %s", e.Destination, e.NextHop, vpc.InstanceID(e.NextHop), e.ID),
		Command: fmt.Sprintf("aliyun vpc DeleteRouteEntry --RouteTableId %s --DestinationCidrBlock %s --NextHopId %s",
			w.VPC.RouteTableID, e.Destination, vpc.InstanceID(e.NextHop)),
	}, nil
}

func (w *World) addVPCRoute(a ActionSpec) (*ActionOutcome, error) {
	if w.VPC == nil {
		return nil, actionErrf("action", "add-vpc-route needs a vpc underlay")
	}
	dst, err := w.vpcRouteDestination(a)
	if err != nil {
		return nil, err
	}
	hop, field := a.NextHop, "destination"
	if a.Destination == "" {
		hop, field = a.Node, "node"
	}
	if w.Host(hop) == nil {
		f := "nextHop"
		if a.NextHop == "" {
			f = "node"
		}
		return nil, actionErrf(f, "%q is not a node or instance", hop)
	}
	e, err := w.VPC.AddRoute(dst, hop, "added by hand (action)")
	if err != nil {
		return nil, actionErrf(field, "%v", err)
	}
	return &ActionOutcome{
		Text: fmt.Sprintf("vpc route add %s next hop %s (%s), entry %s", e.Destination, e.NextHop, vpc.InstanceID(e.NextHop), e.ID),
		Command: fmt.Sprintf("aliyun vpc CreateRouteEntry --RouteTableId %s --DestinationCidrBlock %s --NextHopType Instance --NextHopId %s",
			w.VPC.RouteTableID, e.Destination, vpc.InstanceID(e.NextHop)),
	}, nil
}

// actionStack is the namespace a link or node-route action works in: the
// pod's, or the node's (or instance's), with its name for messages.
func (w *World) actionStack(a ActionSpec) (*netstack.Stack, string, error) {
	if a.Pod != "" {
		p := w.Pod(a.Pod)
		if p == nil {
			return nil, "", actionErrf("pod", "pod %q does not exist", a.Pod)
		}
		return p.Stack, p.Ref(), nil
	}
	h := w.Host(a.Node)
	if h == nil {
		return nil, "", actionErrf("node", "%q is not a node or instance", a.Node)
	}
	return h.Stack, h.Name, nil
}

func deviceNames(st *netstack.Stack) []string {
	var names []string
	for _, i := range st.Ifaces() {
		names = append(names, i.Dev.Name)
	}
	return names
}

func (w *World) setLink(a ActionSpec, up bool) (*ActionOutcome, error) {
	st, who, err := w.actionStack(a)
	if err != nil {
		return nil, err
	}
	state := "down"
	if up {
		state = "up"
	}
	var before []*netstack.Route
	if up {
		before = slices.Clone(st.Flushed())
	}
	var flushed []string // as ip route printed them before
	for _, r := range st.Routes.All() {
		if r.Dev != nil && r.Dev.Dev.Name == a.Device {
			flushed = append(flushed, "route flushed: "+r.String())
		}
	}
	if err := st.SetLinkUp(a.Device, up); err != nil {
		names := deviceNames(st)
		return nil, actionErrf("device", "%s has no device %q (devices: %v)%s", who, a.Device, names, hint.DidYouMean(a.Device, names))
	}
	out := &ActionOutcome{Text: fmt.Sprintf("ip link set %s %s on %s", a.Device, state, who), Command: fmt.Sprintf("ip link set %s %s", a.Device, state)}
	if !up {
		out.Output = flushed
	} else {
		for _, r := range before {
			if !slices.Contains(st.Flushed(), r) {
				out.Output = append(out.Output, "route back: "+r.String())
			}
		}
	}
	return out, nil
}

// failureAction is a failure as the action it is.
func failureAction(f Failure) *Flow {
	return &Flow{Action: f.Type, ActionSpec: ActionSpec{Destination: f.Destination, Node: f.Node, Pod: f.Pod, Device: f.Device}}
}

// nopScheduler drives the scratch world Build plays the actions on: no
// packet is ever sent there.
type nopScheduler struct{}

func (nopScheduler) Now() time.Duration                                                 { return 0 }
func (nopScheduler) Deliver(time.Duration, link.Receiver, *link.Device, *packet.Buffer) {}
func (nopScheduler) AfterFunc(time.Duration, func())                                    {}

// checkActions plays the scenario's actions, in order, on a scratch world
// built from the same scenario, and reports each one that cannot be
// applied (an entry to delete that does not exist, a duplicate entry to
// add, a device that is not there) at its field.
func (b *builder) checkActions() {
	s := b.s
	has := false
	for i := range s.Flows {
		has = has || s.Flows[i].Action != ""
	}
	if !has {
		return
	}
	scratch := &builder{s: s, w: &World{Scenario: s, Env: link.NewEnv(nopScheduler{})}, scratch: true}
	scratch.build()
	if len(scratch.probs) > 0 {
		return // the real build reports them
	}
	for i := range s.Flows {
		f := &s.Flows[i]
		if f.Action == "" {
			continue
		}
		if _, err := scratch.w.Apply(f); err != nil {
			b.probs = append(b.probs, s.ActionError(indexPath("flows", i), err))
			continue
		}
		if f.Action == "add-vpc-route" && f.Destination != "" {
			// The state the entry meets when the run reaches it.
			if dst, err := netip.ParsePrefix(f.Destination); err == nil {
				scratch.w.wrongNextHop(indexPath("flows", i)+".nextHop", dst.Masked(), f.NextHop, b.w.Warn)
			}
		}
	}
}

// ApplyThrough applies, in order, every action item of the scenario up to
// and including the item (flow or action) named name — the state a run has
// when it reaches that item, without sending the flows before it. It
// returns what each action did.
func (w *World) ApplyThrough(name string) ([]*ActionOutcome, error) {
	s := w.Scenario
	last := -1
	var names []string
	for i := range s.Flows {
		if s.Flows[i].Name != "" {
			names = append(names, s.Flows[i].Name)
		}
		if s.Flows[i].Name == name {
			last = i
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("no flow or action named %q (%s)%s", name, listOf("items", names), hint.DidYouMean(name, names))
	}
	var out []*ActionOutcome
	for i := 0; i <= last; i++ {
		f := &s.Flows[i]
		if f.Action == "" {
			continue
		}
		o, err := w.Apply(f)
		if err != nil {
			return nil, Problems{s.ActionError(indexPath("flows", i), err)}
		}
		out = append(out, o)
	}
	return out, nil
}
