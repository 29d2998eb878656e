package topology

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"netsim/dataplane/cni/calico"
	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/cni/terway"
	"netsim/dataplane/netpol"
)

// policies sets World.Policies from the manifests' NetworkPolicy objects
// and World.Namespaces from the Namespace objects plus every namespace a
// pod (of the scenario or of the manifests) or a policy is in: an
// undeclared one has only the kubernetes.io/metadata.name label, as a
// namespace created with `kubectl create namespace` has.
func (b *builder) policies() {
	s, w := b.s, b.w
	declared := map[string]bool{}
	var nss []netpol.Namespace
	add := func(name string) {
		if name != "" && !declared[name] {
			declared[name] = true
			nss = append(nss, netpol.Namespace{Name: name, Labels: map[string]string{netpol.MetadataNameLabel: name}})
		}
	}
	if objs := s.Objects; objs != nil {
		for _, n := range objs.Namespaces {
			declared[n.Name] = true
			ns := n.Netpol()
			ns.Labels = maps.Clone(ns.Labels)
			nss = append(nss, ns)
		}
		for _, np := range objs.NetworkPolicies {
			if np.Policy != nil {
				w.Policies = append(w.Policies, np.Policy)
			}
			add(np.Namespace)
		}
		for _, p := range objs.Pods {
			add(p.Namespace)
		}
	}
	for _, p := range s.Pods {
		ns := p.Namespace
		if ns == "" {
			ns = "default"
		}
		add(ns)
	}
	slices.SortFunc(nss, func(a, b netpol.Namespace) int { return strings.Compare(a.Name, b.Name) })
	w.Namespaces = nss
}

// Namespace returns the namespace name, or nil.
func (w *World) Namespace(name string) *netpol.Namespace {
	for i := range w.Namespaces {
		if w.Namespaces[i].Name == name {
			return &w.Namespaces[i]
		}
	}
	return nil
}

// PolicyEnforcement says whether the cluster's CNI enforces NetworkPolicy
// and by what, or why not:
//   - Calico: felix;
//   - Terway, shared ENI, veth datapath: the calico-felix Terway's policy
//     container runs (it finds the pods by their cali* host veths);
//   - Terway, shared ENI, ipvlan datapath: Cilium on a real cluster
//     (felix cannot see ipvlan traffic), modelled as felix-equivalent
//     rules judged at every pod's ipvlan slave (package cilium);
//   - Terway exclusive ENI: no policy agent (ACK does not support
//     NetworkPolicy for exclusive-ENI pods);
//   - Flannel: no policy agent.
func (w *World) PolicyEnforcement() (enforced bool, how string) {
	switch m := w.CNI.(type) {
	case *calico.Mode:
		return true, "felix (Calico)"
	case *terway.Mode:
		o := m.Options()
		switch {
		case o.ENIMode == terway.Exclusive:
			return false, "Terway's exclusive ENI mode does not enforce NetworkPolicy: the pod's ENI is inside the pod, its policy container runs no policy agent (only masquerade), and ACK does not support NetworkPolicy for exclusive-ENI pods"
		case o.VirtualType == terway.IPVlan:
			return true, "Cilium (modelled as felix-equivalent rules on the ipvlan path)"
		}
		return true, "felix in Terway's policy container (calico-felix, veth datapath)"
	case *flannel.Mode:
		return false, "flannel does not implement NetworkPolicy (ACK: choose Terway)"
	case nil:
		return false, "the cluster has no CNI"
	}
	return false, fmt.Sprintf("%s does not enforce NetworkPolicy", w.CNI.Name())
}

// PolicySelects returns the pods (NS/NAME) the policy selects, in the
// order of World.Pods.
func (w *World) PolicySelects(p *netpol.Policy) []string {
	var out []string
	for _, pod := range w.Pods {
		if p.Selects(pod.Namespace, pod.Labels) {
			out = append(out, pod.Ref())
		}
	}
	return out
}

// writePolicyOverview prints, for validate, whether the cluster enforces
// NetworkPolicy, every policy (what it selects, its types, its rule
// counts) and the namespaces with their labels.
func writePolicyOverview(w io.Writer, wd *World) {
	if len(wd.Policies) == 0 && (wd.Scenario.Objects == nil || len(wd.Scenario.Objects.Namespaces) == 0) {
		return
	}
	for _, ns := range wd.Namespaces {
		var labels []string
		for _, k := range slices.Sorted(maps.Keys(ns.Labels)) {
			labels = append(labels, k+"="+ns.Labels[k])
		}
		fmt.Fprintf(w, "  namespace %-10s %s\n", ns.Name, strings.Join(labels, ","))
	}
	if len(wd.Policies) == 0 {
		return
	}
	enforced, how := wd.PolicyEnforcement()
	if enforced {
		fmt.Fprintf(w, "  NetworkPolicy enforced by %s: %d %s\n", how, len(wd.Policies), npPlural(len(wd.Policies), "policy", "policies"))
	} else {
		fmt.Fprintf(w, "  NetworkPolicy NOT enforced (%s): %d %s loaded, traffic they would deny is delivered\n", how, len(wd.Policies), npPlural(len(wd.Policies), "policy", "policies"))
	}
	for _, p := range wd.Policies {
		fmt.Fprintf(w, "  netpol %-26s %s\n", p.Ref(), policySummary(wd, p))
	}
}

// policySummary is one line about a policy: what it selects, the
// directions it isolates, its rule counts.
func policySummary(wd *World, p *netpol.Policy) string {
	sel := "every pod"
	if !p.PodSelector.Empty() {
		sel = p.PodSelector.String()
	}
	hit := wd.PolicySelects(p)
	pods := "no pod"
	if len(hit) > 0 {
		pods = strings.Join(hit, ",")
	}
	var types []string
	if p.Ingress {
		types = append(types, "Ingress")
	}
	if p.Egress {
		types = append(types, "Egress")
	}
	return fmt.Sprintf("selects %s in %s (%s); %s; %d ingress %s, %d egress %s",
		sel, p.Namespace, pods, strings.Join(types, "+"),
		len(p.IngressRules), npPlural(len(p.IngressRules), "rule", "rules"),
		len(p.EgressRules), npPlural(len(p.EgressRules), "rule", "rules"))
}

func npPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
