package topology

import (
	"fmt"
	"strings"

	"netsim/dataplane/cni/terway"
)

// objectWarnings records, located at each object in its manifest, the
// warnings about Kubernetes objects that load but that netsim does not act
// on: the decoder's (annotations accepted and not modelled), and every
// NetworkPolicy and Ingress, which are loaded and not enforced.
func (b *builder) objectWarnings() {
	objs, w := b.s.Objects, b.w
	if objs == nil {
		return
	}
	for _, e := range objs.Warnings {
		w.Warnings = append(w.Warnings, k8sProblem(e))
	}
	b.policyWarnings()
	for _, in := range objs.Ingresses {
		routes := ""
		if len(in.Backends) > 0 {
			routes = fmt.Sprintf(" (%s)", strings.Join(in.Backends, "; "))
		}
		w.Warnings = append(w.Warnings, k8sProblem(in.Errorf("",
			"loaded, not enforced: an Ingress is served by an ingress controller (on ACK the NGINX Ingress controller or ALB Ingress), which netsim does not model yet, so its rules%s route nothing here; send flows to the backend Services directly (svc/NAME, or slb/NAME for a LoadBalancer)", routes)))
	}
}

// policyWarnings records, on a CNI that does not enforce NetworkPolicy,
// one warning per policy located at the object, naming the CNI and why;
// on Terway's exclusive ENI mode, at spec.podSelector when the policy
// selects pods (all of them use exclusive ENIs). An enforcing CNI gets no
// warning: its policies act on packets.
func (b *builder) policyWarnings() {
	objs, w := b.s.Objects, b.w
	enforced, why := w.PolicyEnforcement()
	if enforced || objs == nil {
		return
	}
	cniName := "no CNI"
	if w.CNI != nil {
		cniName = w.CNI.Name()
	}
	m, _ := w.CNI.(*terway.Mode)
	exclusive := m != nil && m.Options().ENIMode == terway.Exclusive
	for _, np := range objs.NetworkPolicies {
		if np.Policy == nil {
			continue
		}
		if hit := w.PolicySelects(np.Policy); exclusive && len(hit) > 0 {
			w.Warnings = append(w.Warnings, k8sProblem(np.Errorf("spec.podSelector",
				"loaded, not enforced by %s: selects %s, which use exclusive ENIs: ACK's Terway does not support NetworkPolicy for exclusive-ENI pods (their ENI is inside the pod, the policy agent never sees their traffic), so traffic this policy would deny is delivered, as on a real cluster",
				cniName, strings.Join(hit, ", "))))
			continue
		}
		w.Warnings = append(w.Warnings, k8sProblem(np.Errorf("",
			"loaded, not enforced by %s: %s, so traffic this policy would deny is delivered, as on a real cluster", cniName, why)))
	}
}
