package sim

// An independent evaluator of Kubernetes NetworkPolicy (networking.k8s.io/v1)
// semantics, written from the specification text
// (https://kubernetes.io/docs/concepts/services-networking/network-policies/
// and the NetworkPolicySpec API reference), not from netsim's code: it
// works on the API objects themselves (k8s.io/api/networking/v1, decoded
// from YAML here), does its own defaulting of policyTypes, its own label
// selector matching and its own port resolution, and shares nothing with
// dataplane/netpol, topology/k8s or dataplane/felix. The truth-table tests
// compare the data plane's verdicts with it and with the expectations of
// the Kubernetes e2e suite, so that the data plane is compared with the
// spec, never the code with itself.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// tPort is one container port of a pod.
type tPort struct {
	Name     string
	Port     int
	Protocol string // TCP, UDP, SCTP
}

// tPod is one pod of the universe.
type tPod struct {
	Namespace, Name string
	Labels          map[string]string
	// Node is the node the pod runs on (for the harness's scenario).
	Node  string
	IP    netip.Addr
	Ports []tPort
}

// Ref is "namespace/name" for a pod, the name for an address outside
// the cluster.
func (p *tPod) Ref() string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

// tUniverse is what the evaluator sees of the cluster: namespaces with
// their labels (the API server's kubernetes.io/metadata.name included) and
// pods.
type tUniverse struct {
	Namespaces map[string]map[string]string
	Pods       []*tPod
	// External are destinations outside the cluster (no namespace, no
	// labels, no container ports): only ipBlock peers match them, and
	// no policy isolates them.
	External []*tPod
}

// pod finds "ns/name".
func (u *tUniverse) pod(ref string) *tPod {
	for _, p := range u.Pods {
		if p.Ref() == ref {
			return p
		}
	}
	return nil
}

// clone copies the universe deeply enough that labels can be changed.
func (u *tUniverse) clone() *tUniverse {
	c := &tUniverse{Namespaces: map[string]map[string]string{}}
	for n, l := range u.Namespaces {
		c.Namespaces[n] = copyLabels(l)
	}
	for _, p := range u.Pods {
		q := *p
		q.Labels = copyLabels(p.Labels)
		c.Pods = append(c.Pods, &q)
	}
	c.External = u.External
	return c
}

func copyLabels(l map[string]string) map[string]string {
	c := make(map[string]string, len(l))
	for k, v := range l {
		c[k] = v
	}
	return c
}

// tVerdict is the evaluator's answer for one probe.
type tVerdict struct {
	Ingress, Egress bool
}

// Allowed: a connection is allowed when the source's egress and the
// destination's ingress both allow it ("for a connection from a source
// pod to a destination pod to be allowed, both the egress policy on the
// source pod and the ingress policy on the destination pod need to allow
// the connection").
func (v tVerdict) Allowed() bool { return v.Ingress && v.Egress }

// decodePolicies decodes a multi-document YAML stream of NetworkPolicy
// objects through JSON into the API types.
func decodePolicies(text string) ([]*networkingv1.NetworkPolicy, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var out []*networkingv1.NetworkPolicy
	for i := 0; ; i++ {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return nil, fmt.Errorf("policy document %d: %w", i, err)
		}
		if doc == nil {
			continue
		}
		js, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("policy document %d: %w", i, err)
		}
		var np networkingv1.NetworkPolicy
		if err := json.Unmarshal(js, &np); err != nil {
			return nil, fmt.Errorf("policy document %d: %w", i, err)
		}
		if np.Kind != "NetworkPolicy" {
			return nil, fmt.Errorf("policy document %d: kind %q, want NetworkPolicy", i, np.Kind)
		}
		if np.Namespace == "" {
			np.Namespace = "default"
		}
		out = append(out, &np)
	}
}

// policyTypes applies the API server's defaulting: "If no policyTypes
// are specified on a NetworkPolicy then by default Ingress will always be
// set and Egress will be set if the NetworkPolicy has any egress rules."
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

// selectorMatches implements metav1.LabelSelector semantics: every
// matchLabels pair and every matchExpressions requirement must hold; an
// empty selector matches everything. In: the key is present with one of
// the values; NotIn: the key is absent or its value is none of the
// values; Exists: present; DoesNotExist: absent.
func selectorMatches(s *metav1.LabelSelector, labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		got, ok := labels[k]
		if !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		got, ok := labels[r.Key]
		var hold bool
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			hold = ok && slices.Contains(r.Values, got)
		case metav1.LabelSelectorOpNotIn:
			hold = !ok || !slices.Contains(r.Values, got)
		case metav1.LabelSelectorOpExists:
			hold = ok
		case metav1.LabelSelectorOpDoesNotExist:
			hold = !ok
		}
		if !hold {
			return false
		}
	}
	return true
}

// peerMatches: podSelector alone selects pods of the policy's namespace;
// namespaceSelector alone every pod of the selected namespaces; both in
// one peer the pods matching podSelector in the namespaces matching
// namespaceSelector; ipBlock the addresses of cidr not in any except
// (pod addresses included: the e2e suite expects an ipBlock naming a
// pod's /32 to match that pod, and Calico matches it by address).
func peerMatches(u *tUniverse, policyNS string, peer networkingv1.NetworkPolicyPeer, other *tPod) bool {
	if peer.IPBlock != nil {
		cidr, err := netip.ParsePrefix(peer.IPBlock.CIDR)
		if err != nil || !cidr.Contains(other.IP) {
			return false
		}
		for _, e := range peer.IPBlock.Except {
			ex, err := netip.ParsePrefix(e)
			if err == nil && ex.Contains(other.IP) {
				return false
			}
		}
		return true
	}
	if other.Namespace == "" {
		// Not a pod: pod and namespace selectors select pods only.
		return false
	}
	if peer.NamespaceSelector != nil {
		if !selectorMatches(peer.NamespaceSelector, u.Namespaces[other.Namespace]) {
			return false
		}
	} else if other.Namespace != policyNS {
		return false
	}
	if peer.PodSelector != nil && !selectorMatches(peer.PodSelector, other.Labels) {
		return false
	}
	return peer.PodSelector != nil || peer.NamespaceSelector != nil
}

// portMatches: a ports entry matches the destination port and protocol
// (protocol defaults to TCP; no port = every port of the protocol; a
// named port is resolved against the destination pod's container ports;
// endPort makes port..endPort a range).
func portMatches(pp networkingv1.NetworkPolicyPort, dst *tPod, port int, proto string) bool {
	want := "TCP"
	if pp.Protocol != nil {
		want = string(*pp.Protocol)
	}
	if want != proto {
		return false
	}
	if pp.Port == nil {
		return true
	}
	if pp.Port.Type == intstr.String {
		for _, cp := range dst.Ports {
			if cp.Name == pp.Port.StrVal && cp.Protocol == proto && cp.Port == port {
				return true
			}
		}
		return false
	}
	lo := int(pp.Port.IntVal)
	hi := lo
	if pp.EndPort != nil {
		hi = int(*pp.EndPort)
	}
	return lo <= port && port <= hi
}

// portsMatch: an empty or missing ports list matches every port.
func portsMatch(ports []networkingv1.NetworkPolicyPort, dst *tPod, port int, proto string) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		if portMatches(pp, dst, port, proto) {
			return true
		}
	}
	return false
}

// peersMatch: an empty or missing from/to list matches every peer.
func peersMatch(u *tUniverse, ns string, peers []networkingv1.NetworkPolicyPeer, other *tPod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if peerMatches(u, ns, p, other) {
			return true
		}
	}
	return false
}

// evaluate answers one probe from src to dst on port/proto. A pod is
// isolated in a direction when any policy of its namespace selects it
// with that policy type; an isolated pod admits exactly the union of what
// the rules of the policies selecting it allow; a pod selected by no
// policy of that type is not isolated in that direction.
func evaluate(u *tUniverse, pols []*networkingv1.NetworkPolicy, src, dst *tPod, port int, proto string) tVerdict {
	v := tVerdict{Ingress: true, Egress: true}
	egressIsolated, egressAllowed := false, false
	ingressIsolated, ingressAllowed := false, false
	for _, np := range pols {
		in, eg := policyTypes(np)
		if eg && np.Namespace == src.Namespace && selectorMatches(&np.Spec.PodSelector, src.Labels) {
			egressIsolated = true
			for _, r := range np.Spec.Egress {
				if portsMatch(r.Ports, dst, port, proto) && peersMatch(u, np.Namespace, r.To, dst) {
					egressAllowed = true
				}
			}
		}
		if in && np.Namespace == dst.Namespace && selectorMatches(&np.Spec.PodSelector, dst.Labels) {
			ingressIsolated = true
			for _, r := range np.Spec.Ingress {
				if portsMatch(r.Ports, dst, port, proto) && peersMatch(u, np.Namespace, r.From, src) {
					ingressAllowed = true
				}
			}
		}
	}
	if egressIsolated {
		v.Egress = egressAllowed
	}
	if ingressIsolated {
		v.Ingress = ingressAllowed
	}
	return v
}

// tGrid is a truth table: rows sources, columns destinations, true =
// allowed; self cells are not part of the comparison (the e2e suite's
// ignoreLoopback).
type tGrid struct {
	Pods  []string
	Cells map[[2]string]bool
}

// evalGrid is the evaluator's grid for one port/protocol.
func evalGrid(u *tUniverse, pols []*networkingv1.NetworkPolicy, port int, proto string, pick func(tVerdict) bool) tGrid {
	g := tGrid{Cells: map[[2]string]bool{}}
	for _, p := range u.Pods {
		g.Pods = append(g.Pods, p.Ref())
	}
	for _, s := range u.Pods {
		for _, d := range u.Pods {
			if s == d {
				continue
			}
			g.Cells[[2]string{s.Ref(), d.Ref()}] = pick(evaluate(u, pols, s, d, port, proto))
		}
	}
	return g
}

// String prints the grid as the e2e suite's TruthTable.PrettyPrint does
// (header "-" and the destinations, a row per source, "." allowed, "X"
// blocked), with "#" for the ignored self cells.
func (g tGrid) String() string {
	var b strings.Builder
	b.WriteString("-")
	for _, p := range g.Pods {
		b.WriteString("\t" + p)
	}
	b.WriteString("\n")
	for _, s := range g.Pods {
		b.WriteString(s)
		for _, d := range g.Pods {
			mark := "#"
			if s != d {
				mark = "X"
				if v, ok := g.Cells[[2]string{s, d}]; !ok {
					mark = "?"
				} else if v {
					mark = "."
				}
			}
			b.WriteString("\t" + mark)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// parseGrid reads the grid text format (fields separated by tabs or
// spaces; "#" cells are ignored).
func parseGrid(text string) (tGrid, error) {
	g := tGrid{Cells: map[[2]string]bool{}}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) == 0 {
		return g, fmt.Errorf("empty grid")
	}
	head := strings.Fields(lines[0])
	if len(head) < 2 || head[0] != "-" {
		return g, fmt.Errorf("grid line 1: want \"-\" and the destination pods, got %q", lines[0])
	}
	g.Pods = head[1:]
	if len(lines)-1 != len(g.Pods) {
		return g, fmt.Errorf("grid has %d rows for %d columns", len(lines)-1, len(g.Pods))
	}
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(g.Pods)+1 || f[0] != g.Pods[i] {
			return g, fmt.Errorf("grid line %d: want %s and %d marks, got %q", i+2, g.Pods[i], len(g.Pods), l)
		}
		for j, m := range f[1:] {
			key := [2]string{f[0], g.Pods[j]}
			switch m {
			case ".":
				g.Cells[key] = true
			case "X":
				g.Cells[key] = false
			case "#":
				if i != j {
					return g, fmt.Errorf("grid line %d column %d: '#' is only for self", i+2, j+2)
				}
			default:
				return g, fmt.Errorf("grid line %d column %d: mark %q, want . X or #", i+2, j+2, m)
			}
		}
	}
	return g, nil
}

// diffGrid lists the cells where got differs from want ("from → to:
// want allowed, got denied").
func diffGrid(want, got tGrid) []string {
	var out []string
	for _, s := range want.Pods {
		for _, d := range want.Pods {
			w, ok := want.Cells[[2]string{s, d}]
			if !ok {
				continue
			}
			g, ok := got.Cells[[2]string{s, d}]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s → %s: want %s, got no cell", s, d, word(w)))
			case g != w:
				out = append(out, fmt.Sprintf("%s → %s: want %s, got %s", s, d, word(w), word(g)))
			}
		}
	}
	return out
}

func word(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "denied"
}
