package topology

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"netsim/dataplane/ipvs"
	"netsim/dataplane/kubeproxy"
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

// RouteSpec is an `ip route` route as written in an action: the selector
// of `ip route del` or the route of `ip route add`.
type RouteSpec struct {
	Dst    netip.Prefix
	Gw     netip.Addr
	Dev    string
	Onlink bool
	Src    netip.Addr
	// Metric is set when HasMetric ("metric N", "preference N").
	Metric    int
	HasMetric bool
	Type      netstack.RouteType
	HasType   bool
	MTU       int
}

// ParseRouteSpec parses the arguments of `ip route add|del`:
// [TYPE] PREFIX|default [via GW] [dev DEV] [onlink] [src ADDR]
// [metric N] [mtu [lock] N], TYPE one of unicast, blackhole, unreachable,
// prohibit. A bare address is a /32 as for iproute2.
func ParseRouteSpec(text string) (RouteSpec, error) {
	var r RouteSpec
	words := strings.Fields(text)
	if len(words) == 0 {
		return r, fmt.Errorf("empty route: expected e.g. \"172.20.2.0/24 via 172.20.2.0 dev flannel.1 onlink\"")
	}
	types := map[string]netstack.RouteType{"unicast": netstack.RouteUnicast, "blackhole": netstack.RouteBlackhole,
		"unreachable": netstack.RouteUnreachable, "prohibit": netstack.RouteProhibit}
	if t, ok := types[words[0]]; ok {
		r.Type, r.HasType = t, true
		if words = words[1:]; len(words) == 0 {
			return r, fmt.Errorf("route %q: a destination must follow the route type", text)
		}
	}
	switch dst := words[0]; {
	case dst == "default":
		r.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	case strings.Contains(dst, "/"):
		p, err := netip.ParsePrefix(dst)
		if err != nil || !p.Addr().Is4() {
			return r, fmt.Errorf("route %q: %q is not an IPv4 prefix", text, dst)
		}
		if p != p.Masked() {
			// iproute2: "Error: Invalid prefix for given prefix length."
			return r, fmt.Errorf("route %q: %s has host bits set (Error: Invalid prefix for given prefix length; did you mean %s?)", text, p, p.Masked())
		}
		r.Dst = p
	default:
		a, err := netip.ParseAddr(dst)
		if err != nil || !a.Is4() {
			return r, fmt.Errorf("route %q: %q is not an IPv4 prefix, address or \"default\"", text, dst)
		}
		r.Dst = netip.PrefixFrom(a, 32)
	}
	words = words[1:]
	need := func(i int, what string) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("route %q: %s needs %s", text, words[i], what)
		}
		return words[i+1], nil
	}
	for i := 0; i < len(words); i++ {
		switch words[i] {
		case "via":
			v, err := need(i, "a gateway address")
			if err != nil {
				return r, err
			}
			a, perr := netip.ParseAddr(v)
			if perr != nil || !a.Is4() {
				return r, fmt.Errorf("route %q: via %q is not an IPv4 address", text, v)
			}
			r.Gw = a
			i++
		case "dev", "oif":
			v, err := need(i, "a device name")
			if err != nil {
				return r, err
			}
			r.Dev = v
			i++
		case "onlink":
			r.Onlink = true
		case "src":
			v, err := need(i, "an address")
			if err != nil {
				return r, err
			}
			a, perr := netip.ParseAddr(v)
			if perr != nil || !a.Is4() {
				return r, fmt.Errorf("route %q: src %q is not an IPv4 address", text, v)
			}
			r.Src = a
			i++
		case "metric", "preference", "priority":
			v, err := need(i, "a number")
			if err != nil {
				return r, err
			}
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 {
				return r, fmt.Errorf("route %q: metric %q is not a number", text, v)
			}
			r.Metric, r.HasMetric = n, true
			i++
		case "mtu":
			v, err := need(i, "a number")
			if err != nil {
				return r, err
			}
			if v == "lock" {
				i++
				if v, err = need(i, "a number"); err != nil {
					return r, err
				}
			}
			n, perr := strconv.Atoi(v)
			if perr != nil || n <= 0 {
				return r, fmt.Errorf("route %q: mtu %q is not a number", text, v)
			}
			r.MTU = n
			i++
		default:
			return r, fmt.Errorf("route %q: unknown word %q (netsim reads: [TYPE] PREFIX [via GW] [dev DEV] [onlink] [src ADDR] [metric N] [mtu [lock] N])", text, words[i])
		}
	}
	return r, nil
}

func (w *World) deleteNodeRoute(a ActionSpec) (*ActionOutcome, error) {
	st, who, err := w.actionStack(a)
	if err != nil {
		return nil, err
	}
	spec, err := ParseRouteSpec(a.Route)
	if err != nil {
		return nil, actionErrf("route", "%v", err)
	}
	// fib_table_delete: the first route of the prefix whose attributes
	// match every attribute given.
	var found *netstack.Route
	for _, r := range st.Routes.All() {
		switch {
		case r.Dst != spec.Dst,
			spec.Gw.IsValid() && r.Gw != spec.Gw,
			spec.Dev != "" && (r.Dev == nil || r.Dev.Dev.Name != spec.Dev),
			spec.HasMetric && r.Metric != spec.Metric,
			spec.HasType && r.Type != spec.Type:
			continue
		}
		found = r
		break
	}
	if found == nil {
		var have []string
		for _, r := range st.Routes.All() {
			have = append(have, r.String())
		}
		return nil, actionErrf("route", "ip route del %s on %s: RTNETLINK answers: No such process (no such route; routes: %s)", a.Route, who, strings.Join(have, "; "))
	}
	st.Routes.Delete(found)
	if w.deletedRoutes == nil {
		w.deletedRoutes = map[*netstack.Stack][]*netstack.Route{}
	}
	w.deletedRoutes[st] = append(w.deletedRoutes[st], found)
	return &ActionOutcome{Text: fmt.Sprintf("ip route del %s on %s", found, who), Command: "ip route del " + a.Route,
		Output: []string{"deleted: " + found.String()}}, nil
}

func (w *World) addNodeRoute(a ActionSpec) (*ActionOutcome, error) {
	st, who, err := w.actionStack(a)
	if err != nil {
		return nil, err
	}
	spec, err := ParseRouteSpec(a.Route)
	if err != nil {
		return nil, actionErrf("route", "%v", err)
	}
	r := &netstack.Route{Dst: spec.Dst, Gw: spec.Gw, Onlink: spec.Onlink, Src: spec.Src, Metric: spec.Metric, Type: spec.Type, MTU: spec.MTU}
	if spec.Dev != "" {
		r.Dev = st.Iface(spec.Dev)
		if r.Dev == nil {
			names := deviceNames(st)
			// iproute2: Cannot find device "X"
			return nil, actionErrf("route", "ip route add %s on %s: Cannot find device %q (devices: %s)%s", a.Route, who, spec.Dev, strings.Join(names, ", "), hint.DidYouMean(spec.Dev, names))
		}
	} else if spec.Gw.IsValid() {
		// Without dev, the kernel finds the device of the gateway's route.
		if gr := st.Routes.Lookup(spec.Gw); gr != nil && !gr.Gw.IsValid() && gr.Dev != nil {
			r.Dev = gr.Dev
		}
	}
	if r.Dev == nil && r.Type == netstack.RouteUnicast {
		return nil, actionErrf("route", "ip route add %s on %s: RTNETLINK answers: Network is unreachable (name dev DEVICE, or a gateway on a connected network)", a.Route, who)
	}
	if err := st.AddRoute(r); err != nil {
		return nil, actionErrf("route", "ip route add %s on %s: %v", a.Route, who, err)
	}
	if list := w.deletedRoutes[st]; list != nil {
		w.deletedRoutes[st] = slices.DeleteFunc(list, func(o *netstack.Route) bool { return o.Dst == r.Dst && o.Metric == r.Metric })
	}
	return &ActionOutcome{Text: fmt.Sprintf("ip route add %s on %s", r, who), Command: "ip route add " + a.Route}, nil
}

// DeletedRoutes returns the routes an action deleted from a namespace and
// no action added back.
func (w *World) DeletedRoutes(st *netstack.Stack) []*netstack.Route { return w.deletedRoutes[st] }

// deletePods removes pods as the API server and kubelet do when a pod is
// deleted: the pod's network goes (its veth is down, nothing answers for
// its address), its endpoints leave every Service, and kube-proxy on every
// node resyncs its rules.
func (w *World) deletePods(command string, refs []string) (*ActionOutcome, error) {
	var names []string
	for _, ref := range refs {
		p := w.Pod(ref)
		if p == nil {
			return nil, actionErrf("pod", "pod %q does not exist", ref)
		}
		if p.HostVeth != nil {
			p.HostVeth.SetUp(false)
		}
		for _, i := range p.Stack.Ifaces() {
			_ = p.Stack.SetLinkUp(i.Dev.Name, false)
		}
		w.Pods = slices.DeleteFunc(w.Pods, func(o *WiredPod) bool { return o == p })
		w.deletedPods = append(w.deletedPods, p)
		names = append(names, p.Ref())
	}
	out := &ActionOutcome{Text: fmt.Sprintf("%s: %s deleted", command, strings.Join(names, ", ")), Command: command}
	if !strings.HasPrefix(command, "kubectl scale") {
		out.Command = command + " " + strings.Join(refs, " ")
	}
	lines, err := w.resyncServices()
	if err != nil {
		return nil, err
	}
	out.Output = lines
	return out, nil
}

// DeletedPods returns the pods deleted by actions.
func (w *World) DeletedPods() []*WiredPod { return w.deletedPods }

// scale scales a Deployment down: the ReplicaSet controller deletes the
// pods ranked first by its deletion order — not ready before ready, pods
// on nodes with more replicas of the set before the others, newer before
// older (here: later in the Deployment's expansion).
func (w *World) scale(a ActionSpec) (*ActionOutcome, error) {
	ns, name := defaultNamespace, a.Deployment
	if before, after, ok := strings.Cut(a.Deployment, "/"); ok {
		ns, name = before, after
	}
	owner := "Deployment " + ns + "/" + name
	if w.Scenario.Objects == nil {
		return nil, actionErrf("deployment", "Deployment %s/%s does not exist", ns, name)
	}
	type cand struct {
		p     *WiredPod
		ready bool
		order int
	}
	var live []cand
	perNode := map[string]int{}
	for i, mp := range w.Scenario.Objects.Pods {
		if mp.Owner != owner {
			continue
		}
		if p := w.Pod(mp.Namespace + "/" + mp.Name); p != nil {
			live = append(live, cand{p, mp.Ready, i})
			perNode[p.Node.Name]++
		}
	}
	if a.Replicas == nil {
		return nil, actionErrf("replicas", "required: the new replica count")
	}
	n := *a.Replicas
	cmd := fmt.Sprintf("kubectl scale deployment %s -n %s --replicas=%d", name, ns, n)
	switch {
	case n > len(live):
		return nil, actionErrf("replicas", "%s has %d replicas: scaling up to %d is not modelled (only scaling down removes endpoints)", owner, len(live), n)
	case n == len(live):
		return &ActionOutcome{Text: fmt.Sprintf("%s: already %d replicas, nothing changes", cmd, n), Command: cmd}, nil
	}
	slices.SortStableFunc(live, func(x, y cand) int {
		if x.ready != y.ready {
			if !x.ready {
				return -1
			}
			return 1
		}
		if d := perNode[y.p.Node.Name] - perNode[x.p.Node.Name]; d != 0 {
			return d
		}
		return y.order - x.order
	})
	var refs []string
	for _, c := range live[:len(live)-n] {
		refs = append(refs, c.p.Ref())
	}
	return w.deletePods(cmd, refs)
}

// resyncServices recomputes every Service's endpoints from the pods that
// remain (the EndpointSlice controller) and resyncs kube-proxy on every
// node, as its sync loop does after an EndpointSlice change.
func (w *World) resyncServices() ([]string, error) {
	s := w.Scenario
	if s.Objects == nil || len(w.Services) == 0 {
		return nil, nil
	}
	fresh, probs := ResolveServices(s.Objects, w.PodAddrs(), netip.MustParsePrefix(s.Cluster.ServiceCIDR), s.Seed)
	if len(probs) > 0 {
		return nil, probs
	}
	var out []string
	for _, svc := range w.Services {
		var nu *kubeproxy.Service
		for _, f := range fresh {
			if f.Namespace == svc.Namespace && f.Name == svc.Name {
				nu = f
			}
		}
		if nu == nil {
			continue
		}
		for _, p := range svc.Ports {
			was, now := endpointText(svc.Endpoints[p.Name]), endpointText(nu.Endpoints[p.Name])
			if was != now {
				port := strconv.Itoa(p.Port) + "/" + string(p.Protocol)
				if p.Name != "" {
					port += " (" + p.Name + ")"
				}
				out = append(out, fmt.Sprintf("endpoints of Service %s/%s %s: %s → %s", svc.Namespace, svc.Name, port, was, now))
			}
		}
		svc.Endpoints = nu.Endpoints
	}
	var synced []string
	for _, h := range w.Nodes {
		if h.Filter == nil {
			continue
		}
		cfg := h.ProxyConfig
		if w.ProxyMode == "ipvs" {
			r, err := kubeproxy.IPVS(cfg, w.Services)
			if err == nil {
				err = kubeproxy.InstallIPVS(h.Filter, r)
			}
			if err != nil {
				return nil, fmt.Errorf("node %s: kube-proxy (ipvs) resync: %w", h.Name, err)
			}
			t := ipvs.NewTable()
			r.AddTo(t)
			if h.IPVS != nil {
				h.IPVS.Table = t
			}
		} else {
			r, err := kubeproxy.IPTables(cfg, w.Services)
			if err == nil {
				err = kubeproxy.Install(h.Filter, r)
			}
			if err != nil {
				return nil, fmt.Errorf("node %s: kube-proxy resync: %w", h.Name, err)
			}
		}
		synced = append(synced, h.Name)
	}
	if len(synced) > 0 {
		out = append(out, fmt.Sprintf("kube-proxy (%s mode) resynced on %s", w.ProxyMode, strings.Join(synced, ", ")))
	}
	return out, nil
}

func endpointText(eps []kubeproxy.Endpoint) string {
	var parts []string
	for _, e := range eps {
		if e.Ready {
			parts = append(parts, netip.AddrPortFrom(e.IP, uint16(e.Port)).String())
		}
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, ",")
}

// VPCRouteLines lists a VPC route table the way the console lists it, the
// entries deleted (and not created again) included and marked.
func VPCRouteLines(v *vpc.VPC) []string {
	type line struct {
		p    netip.Prefix
		text string
	}
	var lines []line
	for _, e := range v.Routes() {
		lines = append(lines, line{e.Destination, e.String()})
	}
	for _, e := range v.Deleted() {
		lines = append(lines, line{e.Destination, e.String() + " — DELETED"})
	}
	slices.SortStableFunc(lines, func(a, b line) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return a.p.Bits() - b.p.Bits()
	})
	var out []string
	for _, l := range lines {
		out = append(out, l.text)
	}
	return out
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
		}
	}
}

// writeRemovedRoutes lists, after a namespace's `ip route`, the routes it
// no longer has: deleted by an action, or flushed because their device is
// down. ip route does not print them; netsim marks them as comments.
func writeRemovedRoutes(w io.Writer, wd *World, st *netstack.Stack) {
	for _, r := range wd.DeletedRoutes(st) {
		fmt.Fprintf(w, "# deleted (ip route del): %s\n", r)
	}
	for _, r := range st.Flushed() {
		fmt.Fprintf(w, "# flushed (dev %s down): %s\n", r.Dev.Dev.Name, r)
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

// writeActionOverview lists the scenario's actions between flows, for
// validate: where each one is and what it does.
func writeActionOverview(w io.Writer, wd *World) {
	for i, f := range wd.Scenario.Flows {
		if f.Action == "" {
			continue
		}
		var args []string
		set := f.ActionSpec.set()
		for _, k := range actionFieldOrder {
			if !set[k] {
				continue
			}
			v := map[string]string{"destination": f.Destination, "nextHop": f.NextHop, "node": f.Node, "pod": f.Pod,
				"device": f.Device, "route": f.Route, "deployment": f.Deployment}[k]
			if k == "replicas" {
				v = strconv.Itoa(*f.Replicas)
			}
			args = append(args, k+" "+v)
		}
		name := f.Name
		if name == "" {
			name = f.Action
		}
		fmt.Fprintf(w, "  action %s (flows[%d]): %s\n", name, i, strings.TrimSpace(f.Action+" "+strings.Join(args, ", ")))
	}
}
