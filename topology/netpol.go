package topology

import (
	"fmt"
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
//     (felix cannot see ipvlan traffic), which netsim does not model;
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
			return false, "Terway's ipvlan datapath enforces NetworkPolicy with Cilium (eBPF on the ipvlan path; calico-felix cannot see ipvlan traffic), which netsim does not model"
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
