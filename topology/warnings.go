package topology

import (
	"fmt"
	"strings"
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
	cniName := ""
	if w.CNI != nil {
		cniName = w.CNI.Name()
	}
	for _, p := range objs.NetworkPolicies {
		w.Warnings = append(w.Warnings, k8sProblem(p.Errorf("", "%s", networkPolicyWarning(cniName))))
	}
	b.terwayPolicyWarnings()
	for _, in := range objs.Ingresses {
		routes := ""
		if len(in.Backends) > 0 {
			routes = fmt.Sprintf(" (%s)", strings.Join(in.Backends, "; "))
		}
		w.Warnings = append(w.Warnings, k8sProblem(in.Errorf("",
			"loaded, not enforced: an Ingress is served by an ingress controller (on ACK the NGINX Ingress controller or ALB Ingress), which netsim does not model yet, so its rules%s route nothing here; send flows to the backend Services directly (svc/NAME, or slb/NAME for a LoadBalancer)", routes)))
	}
}

// networkPolicyWarning says why a NetworkPolicy is not enforced with the
// cluster's CNI.
func networkPolicyWarning(cniName string) string {
	if strings.HasPrefix(cniName, "flannel") {
		return "loaded, not enforced: Flannel does not enforce NetworkPolicy (it has no policy agent), so traffic this policy would deny is delivered, as on a real Flannel cluster; on ACK choose Terway (with NetworkPolicy support enabled) or Calico for policy; netsim does not model policy enforcement yet"
	}
	return "loaded, not enforced: netsim does not model NetworkPolicy enforcement yet, so traffic this policy would deny is delivered"
}
