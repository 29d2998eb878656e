// Package felix is Calico's policy agent, felix, in its iptables data
// plane: it turns Kubernetes NetworkPolicies (package netpol), the
// cluster's pods and namespaces into the filter-table chains, marks and
// ipsets felix programs on a node, so that policy verdicts come from
// packets meeting rules in the node's netfilter. Calico uses it on every
// node; Terway uses it in veth (shared ENI) mode, where its policy
// container runs calico-felix against the same cali… veth devices.
//
// Design notes (projectcalico/calico felix/rules/static.go, endpoints.go,
// policy.go, dispatch.go; libcalico-go k8s conversion):
//
//   - Kernel chains: "-A FORWARD -j cali-FORWARD" inserted first, and
//     appended "Policy explicitly accepted packet." (-m mark --mark
//     0x10000/0x10000 -j ACCEPT) and "-j MARK --set-mark 0x10000/0x10000";
//     "-A INPUT -j cali-INPUT", "-A OUTPUT -j cali-OUTPUT".
//   - Marks: accept 0x10000, pass 0x20000, (drop 0x40000), scratch0
//     0x80000, scratch1 0x100000 — the bits felix allocates from its
//     default IptablesMarkMask 0xffff0000.
//   - cali-FORWARD clears the marks, sends "-i cali+" to
//     cali-from-wl-dispatch and "-o cali+" to cali-to-wl-dispatch; the
//     dispatch chains go (-g) to cali-fw-<iface> (the pod's egress) and
//     cali-tw-<iface> (its ingress), split by the next character of the
//     interface name when several interfaces share it
//     (cali-from-wl-dispatch-<c>), and end in "Unknown interface" DROP.
//   - A workload chain: conntrack RELATED,ESTABLISHED ACCEPT, INVALID
//     DROP, clear accept|pass; from-workload chains drop VXLAN (UDP 4789)
//     and IPIP the pod sends; then, when some policy of that direction
//     selects the pod, the tier "default": "Start of tier default" clears
//     pass, one "-m mark --mark 0/0x20000 -j cali-pi-<policy>" and
//     "Return if policy accepted" per policy (ordered by namespace/name,
//     all Kubernetes policies having order 1000), and "End of tier
//     default. Drop if no policies passed packet"; then the profiles
//     kns.<namespace> (allow all) and ksa.<namespace>.default (no rules),
//     "Return if profile accepted", and "Drop if no profiles matched".
//   - Policy chains are cali-pi-<id> / cali-po-<id> with id
//     "knp/<namespace>/<name>" (types.PolicyID.ID), shortened to
//     "cali-pi-_<hash>" beyond 28 characters. Each Kubernetes rule becomes
//     one Calico rule per protocol (sorted) and peer, in felix's order:
//     an allow is "... -j MARK --set-mark 0x10000/0x10000" followed by
//     "-m mark --mark 0x10000/0x10000 -j RETURN" (the chain's last RETURN
//     left out, as felix does).
//   - Selectors become hash:net ipsets of pod IPs named
//     "cali40s:<hash of the selector>"; named ports hash:ip,port sets
//     "cali40n:<hash>" of (pod IP, protocol:port) of every pod with that
//     container port name (felix's named-port set with selector all();
//     the peer's selector set narrows it). ipBlock is a CIDR match; its
//     excepts (and a mix of numeric and named ports) use felix's match
//     blocks on the scratch marks.
//   - Host to a local pod: cali-OUTPUT returns "-o cali+" unpoliced
//     (felix: "We don't currently police host -> endpoint"); pod to its
//     host: cali-INPUT "-i cali+ -g cali-wl-to-host", which applies the
//     pod's egress policy and then DefaultEndpointToHostAction (ACCEPT in
//     the calico.yaml manifests and in Terway's felix).
//
// Every rule carries felix's "cali:<hash>" comment, computed as felix
// computes it (a hash chain over the chain name and the rules), so
// static chains carry the very hashes of a real node; selector set
// hashes are computed the same way over a selector text that follows
// Calico's syntax but is not guaranteed to be byte-identical to the one
// felix's calculation graph builds.
package felix

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"netsim/dataplane/netfilter"
	"netsim/dataplane/netpol"
	"netsim/dataplane/trace"
)

// Felix's mark bits (allocated in this order from IptablesMarkMask
// 0xffff0000).
const (
	MarkAccept   uint32 = 0x10000
	MarkPass     uint32 = 0x20000
	MarkDrop     uint32 = 0x40000
	MarkScratch0 uint32 = 0x80000
	MarkScratch1 uint32 = 0x100000
	allMarks            = MarkAccept | MarkPass | MarkScratch0 | MarkScratch1
)

// Chain names.
const (
	ChainForward      = "cali-FORWARD"
	ChainInput        = "cali-INPUT"
	ChainOutput       = "cali-OUTPUT"
	ChainFromWLDisp   = "cali-from-wl-dispatch"
	ChainToWLDisp     = "cali-to-wl-dispatch"
	ChainWLToHost     = "cali-wl-to-host"
	chainFromHEPFwd   = "cali-from-hep-forward"
	chainToHEPFwd     = "cali-to-hep-forward"
	chainFromHostEP   = "cali-from-host-endpoint"
	chainToHostEP     = "cali-to-host-endpoint"
	chainCIDRBlock    = "cali-cidr-block"
	WorkloadIfacePfx  = "cali"
	toWorkloadPfx     = "cali-tw-"
	fromWorkloadPfx   = "cali-fw-"
	policyInboundPfx  = "cali-pi-"
	policyOutboundPfx = "cali-po-"
	profileInPfx      = "cali-pri-"
	profileOutPfx     = "cali-pro-"
)

// NamedPort is a container port.
type NamedPort struct {
	Name     string
	Protocol string // "TCP", "UDP", "SCTP"
	Port     int
}

// Workload is a pod as felix sees its workload endpoint.
type Workload struct {
	Namespace, Name string
	Labels          map[string]string
	IP              netip.Addr
	// Node is the node the pod runs on; Iface its host-side veth there
	// ("cali…"). Pods of other nodes only feed the ipsets.
	Node, Iface string
	Ports       []NamedPort
}

// Ref is "namespace/name".
func (w *Workload) Ref() string { return w.Namespace + "/" + w.Name }

// Input is what felix's calculation graph knows: the policies, every pod
// of the cluster and the namespaces' labels.
type Input struct {
	// Node is the node being programmed.
	Node       string
	Policies   []*netpol.Policy
	Namespaces []netpol.Namespace
	Workloads  []Workload
	// EndpointToHostAction is DefaultEndpointToHostAction: "ACCEPT" (the
	// default here, as calico.yaml and Terway set it), "DROP" or "RETURN".
	EndpointToHostAction string
	// KubeIPVS is felix's KubeIPVSSupportEnabled (kube-proxy in IPVS
	// mode): HostIPs fill the cali40this-host set, NodePortRange is
	// kube-proxy's (default 30000-32767).
	KubeIPVS      bool
	HostIPs       []netip.Addr
	NodePortRange [2]int
}

// Sync programs the node's filter table and ipsets as felix does for the
// input, replacing what an earlier Sync programmed.
func Sync(nf *netfilter.Netfilter, in Input) error {
	b := newBuilder(in)
	b.build()
	if err := b.apply(nf); err != nil {
		return fmt.Errorf("felix %s: %w", in.Node, err)
	}
	return nil
}

type builder struct {
	in     Input
	nsLbl  map[string]map[string]string
	local  []*Workload
	chains []*chain
	byName map[string]*chain
	// sets are the ipsets needed, by name, with their type and members.
	sets     map[string]*ipset
	setOrder []string
}

type ipset struct {
	name, typ string
	members   []string
}

func newBuilder(in Input) *builder {
	b := &builder{in: in, nsLbl: map[string]map[string]string{}, byName: map[string]*chain{}, sets: map[string]*ipset{}}
	for _, n := range in.Namespaces {
		b.nsLbl[n.Name] = n.Labels
	}
	for i := range in.Workloads {
		w := &in.Workloads[i]
		if w.Node == in.Node && w.Iface != "" && w.IP.IsValid() {
			b.local = append(b.local, w)
		}
	}
	sort.Slice(b.local, func(i, j int) bool { return b.local[i].Iface < b.local[j].Iface })
	return b
}

// nsLabels returns a namespace's labels (with the metadata name label the
// API server sets, also for a namespace the input does not list).
func (b *builder) nsLabels(ns string) map[string]string {
	if l, ok := b.nsLbl[ns]; ok {
		return l
	}
	return map[string]string{netpol.MetadataNameLabel: ns}
}

func (b *builder) newChain(name string) *chain {
	if c, ok := b.byName[name]; ok {
		return c
	}
	c := &chain{name: name}
	b.chains = append(b.chains, c)
	b.byName[name] = c
	return c
}

func (b *builder) build() {
	b.static()
	b.dispatch()
	if b.in.KubeIPVS {
		b.ipvs()
	}
	for _, w := range b.local {
		b.endpoint(w, true)
		b.endpoint(w, false)
	}
}

// static renders the chains every felix node has.
func (b *builder) static() {
	f := b.newChain(ChainForward)
	f.add(rule{action: clearMark(allMarks &^ MarkAccept)})
	f.add(rule{match: []string{markClear(MarkAccept)}, action: jump(chainFromHEPFwd)})
	f.add(rule{match: []string{inIface(WorkloadIfacePfx + "+")}, action: jump(ChainFromWLDisp)})
	f.add(rule{match: []string{outIface(WorkloadIfacePfx + "+")}, action: jump(ChainToWLDisp)})
	f.add(rule{action: jump(chainToHEPFwd)})
	f.add(rule{action: jump(chainCIDRBlock)})

	in := b.newChain(ChainInput)
	if b.in.KubeIPVS {
		in.add(rule{action: clearMark(MarkEndpoint)})
		in.add(rule{action: jump(chainForwardCheck)})
		in.add(rule{match: []string{markNotClear(MarkEndpoint)}, action: actReturn})
	}
	in.add(rule{match: []string{inIface(WorkloadIfacePfx + "+")}, action: gotoChain(ChainWLToHost)})
	in.add(rule{match: []string{markSet(MarkAccept)}, action: actAccept})
	in.add(rule{action: clearMark(allMarks)})
	in.add(rule{action: jump(chainFromHostEP)})
	in.add(rule{match: []string{markSet(MarkAccept)}, action: actAccept, comments: []string{"Host endpoint policy accepted packet."}})

	out := b.newChain(ChainOutput)
	out.add(rule{match: []string{markSet(MarkAccept)}, action: actAccept})
	if b.in.KubeIPVS {
		out.add(rule{match: []string{markNotClear(MarkEndpoint)}, action: gotoChain(chainForwardEPMark)})
	}
	out.add(rule{match: []string{outIface(WorkloadIfacePfx + "+")}, action: actReturn})
	out.add(rule{action: clearMark(allMarks)})
	out.add(rule{match: []string{"-m conntrack ! --ctstate DNAT"}, action: jump(chainToHostEP)})
	out.add(rule{match: []string{markSet(MarkAccept)}, action: actAccept, comments: []string{"Host endpoint policy accepted packet."}})

	wl := b.newChain(ChainWLToHost)
	wl.add(rule{action: jump(ChainFromWLDisp)})
	act := b.in.EndpointToHostAction
	if act == "" {
		act = "ACCEPT"
	}
	wl.add(rule{action: "--jump " + act, comments: []string{"Configured DefaultEndpointToHostAction"}})

	for _, n := range []string{chainFromHEPFwd, chainToHEPFwd, chainFromHostEP, chainToHostEP, chainCIDRBlock} {
		b.newChain(n)
	}
}

// dispatch renders the two workload dispatch chains as felix's prefix
// tree: one rule per interface, or one goto per next character shared by
// several interfaces into a child chain.
func (b *builder) dispatch() {
	names := make([]string, 0, len(b.local))
	for _, w := range b.local {
		names = append(names, w.Iface)
	}
	for _, d := range []struct {
		root, pfx string
		match     func(string) string
	}{{ChainFromWLDisp, fromWorkloadPfx, inIface}, {ChainToWLDisp, toWorkloadPfx, outIface}} {
		root := b.newChain(d.root)
		end := rule{action: actDrop, comments: []string{"Unknown interface"}}
		common, prefixes, byPrefix := divide(names)
		for _, p := range prefixes {
			ns := byPrefix[p]
			if len(ns) == 1 {
				root.add(rule{match: []string{d.match(ns[0])}, action: gotoChain(endpointChain(d.pfx, ns[0]))})
				continue
			}
			child := b.newChain(d.root + "-" + p[len(common):])
			root.add(rule{match: []string{d.match(p + "+")}, action: gotoChain(child.name)})
			for _, n := range ns {
				child.add(rule{match: []string{d.match(n)}, action: gotoChain(endpointChain(d.pfx, n))})
			}
			child.add(end)
		}
		root.add(end)
	}
}

// divide is felix's sortAndDivideEndpointNamesToPrefixTree.
func divide(names []string) (string, []string, map[string][]string) {
	sort.Strings(names)
	common := ""
	if len(names) > 0 {
		common = names[0]
		for _, n := range names[1:] {
			for !strings.HasPrefix(n, common) {
				common = common[:len(common)-1]
			}
		}
	}
	var prefixes []string
	by := map[string][]string{}
	for _, n := range names {
		p := common
		if len(n) > len(common) {
			p = n[:len(common)+1]
		}
		if _, ok := by[p]; !ok {
			prefixes = append(prefixes, p)
		}
		by[p] = append(by[p], n)
	}
	return common, prefixes, by
}

func endpointChain(pfx, iface string) string { return lengthLimited(pfx, iface, maxChainName) }

// PolicyChain names a Kubernetes NetworkPolicy's chain: "cali-pi-" (ingress)
// or "cali-po-" (egress) + "knp/<namespace>/<name>", shortened as felix
// shortens names longer than iptables' 28 characters.
func PolicyChain(p *netpol.Policy, ingress bool) string {
	pfx := policyOutboundPfx
	if ingress {
		pfx = policyInboundPfx
	}
	return lengthLimited(pfx, "knp/"+p.Namespace+"/"+p.Name, maxChainName)
}

// endpoint renders a workload's to-workload (ingress) or from-workload
// (egress) chain, and the policy and profile chains it jumps to.
func (b *builder) endpoint(w *Workload, ingress bool) {
	pfx, dir := fromWorkloadPfx, "egress"
	if ingress {
		pfx, dir = toWorkloadPfx, "ingress"
	}
	c := b.newChain(endpointChain(pfx, w.Iface))
	c.add(rule{match: []string{ctState("RELATED,ESTABLISHED")}, action: actAccept})
	c.add(rule{match: []string{ctState("INVALID")}, action: actDrop, reason: trace.ReasonCTInvalid})
	c.add(rule{action: clearMark(MarkAccept | MarkPass)})
	if !ingress {
		c.add(rule{match: []string{"-p 17", "-m multiport --destination-ports 4789"}, action: actDrop,
			comments: []string{"Drop VXLAN encapped packets originating in workloads"}})
		c.add(rule{match: []string{"-p 4"}, action: actDrop, comments: []string{"Drop IPinIP encapped packets originating in workloads"}})
	}
	pols := b.selecting(w, ingress)
	if len(pols) > 0 {
		c.add(rule{action: clearMark(MarkPass), comments: []string{"Start of tier default"}})
		for _, g := range groups(pols) {
			target := PolicyChain(g[0], ingress)
			for _, p := range g {
				b.policyChain(p, PolicyChain(p, ingress), ingress)
			}
			if len(g) > 1 {
				target = b.groupChain(g, ingress)
			}
			c.add(rule{match: []string{markClear(MarkPass)}, action: jump(target)})
			c.add(rule{match: []string{markSet(MarkAccept)}, action: actReturn, comments: []string{"Return if policy accepted"}})
		}
		c.add(rule{match: []string{markClear(MarkPass)}, action: actDrop,
			comments: []string{"End of tier default. Drop if no policies passed packet"},
			reason:   trace.ReasonPolicyDenied, explain: b.explainer(w, pols, ingress)})
	}
	ppfx := profileOutPfx
	if ingress {
		ppfx = profileInPfx
	}
	for _, prof := range []string{"kns." + w.Namespace, "ksa." + w.Namespace + ".default"} {
		name := lengthLimited(ppfx, prof, maxChainName)
		pc, seen := b.byName[name]
		if !seen {
			pc = b.newChain(name)
			r := rule{comments: []string{fmt.Sprintf("Profile %s %s", prof, dir)}}
			if strings.HasPrefix(prof, "kns.") {
				// The namespace profile allows everything (its one
				// rule's trailing RETURN is left out).
				r.action = setMark(MarkAccept)
			}
			pc.add(r)
		}
		c.add(rule{action: jump(name)})
		c.add(rule{match: []string{markSet(MarkAccept)}, action: actReturn, comments: []string{"Return if profile accepted"}})
	}
	c.add(rule{action: actDrop, comments: []string{"Drop if no profiles matched"}})
}

// selecting returns the policies of one direction that select w, in
// felix's tier order (order 1000 for every Kubernetes policy, then name).
func (b *builder) selecting(w *Workload, ingress bool) []*netpol.Policy {
	var out []*netpol.Policy
	for _, p := range b.in.Policies {
		if (ingress && p.Ingress || !ingress && p.Egress) && p.Selects(w.Namespace, w.Labels) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Ref() < out[j].Ref() })
	return out
}
