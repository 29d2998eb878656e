package k8s

import (
	"maps"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"netsim/dataplane/netpol"
)

var dns1123Label = nameRule{validation.IsDNS1123Label}

// namespace converts a v1 Namespace: a DNS-1123 label name, valid labels,
// and the kubernetes.io/metadata.name label set to the name as the API
// server's defaulting sets it (overwriting a different value, with a
// warning). metadata.namespace is ignored, as the API server clears it for
// a cluster-scoped object.
func (c *conv) namespace(o *corev1.Namespace) *Namespace {
	n := &Namespace{Meta: c.meta("Namespace", &o.ObjectMeta, dns1123Label)}
	n.Namespace = ""
	n.Labels = maps.Clone(o.Labels)
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	if v, ok := n.Labels[netpol.MetadataNameLabel]; ok && v != o.Name {
		c.warnf("metadata.labels."+netpol.MetadataNameLabel,
			"the API server sets %s to the namespace's name: %q replaces %q", netpol.MetadataNameLabel, o.Name, v)
	}
	if o.Name != "" {
		n.Labels[netpol.MetadataNameLabel] = o.Name
	}
	return n
}

// netpolSelector converts a label selector already checked by selector.
func netpolSelector(ls *metav1.LabelSelector) netpol.Selector {
	var s netpol.Selector
	if len(ls.MatchLabels) > 0 {
		s.MatchLabels = maps.Clone(ls.MatchLabels)
	}
	for _, r := range ls.MatchExpressions {
		req := netpol.Requirement{Key: r.Key, Operator: netpol.Operator(r.Operator)}
		if len(r.Values) > 0 {
			req.Values = append([]string(nil), r.Values...)
		}
		s.MatchExpressions = append(s.MatchExpressions, req)
	}
	return s
}

func netpolSelectorPtr(ls *metav1.LabelSelector) *netpol.Selector {
	if ls == nil {
		return nil
	}
	s := netpolSelector(ls)
	return &s
}

// netpolPolicy converts a validated NetworkPolicy: policyTypes as
// defaulted (types), rules, peers and ports exactly as written, an empty
// ports or from/to list becoming nil (every port, every peer), protocol
// TCP when unset, named ports kept by name.
func netpolPolicy(o *networkingv1.NetworkPolicy, m *Meta, types []string) *netpol.Policy {
	p := &netpol.Policy{Namespace: m.Namespace, Name: m.Name, PodSelector: netpolSelector(&o.Spec.PodSelector), Source: m.Source.String()}
	for _, t := range types {
		switch t {
		case "Ingress":
			p.Ingress = true
		case "Egress":
			p.Egress = true
		}
	}
	for _, r := range o.Spec.Ingress {
		p.IngressRules = append(p.IngressRules, netpol.Rule{Ports: netpolPorts(r.Ports), Peers: netpolPeers(r.From)})
	}
	for _, r := range o.Spec.Egress {
		p.EgressRules = append(p.EgressRules, netpol.Rule{Ports: netpolPorts(r.Ports), Peers: netpolPeers(r.To)})
	}
	return p
}

func netpolPorts(ports []networkingv1.NetworkPolicyPort) []netpol.Port {
	var out []netpol.Port
	for _, p := range ports {
		np := netpol.Port{Protocol: "TCP"}
		if p.Protocol != nil && *p.Protocol != "" {
			np.Protocol = string(*p.Protocol)
		}
		if p.Port != nil {
			if p.Port.Type == intstr.String {
				np.Name = p.Port.StrVal
			} else {
				np.Port = int(p.Port.IntVal)
			}
		}
		if p.EndPort != nil {
			np.EndPort = int(*p.EndPort)
		}
		out = append(out, np)
	}
	return out
}

func netpolPeers(peers []networkingv1.NetworkPolicyPeer) []netpol.Peer {
	var out []netpol.Peer
	for _, p := range peers {
		np := netpol.Peer{PodSelector: netpolSelectorPtr(p.PodSelector), NamespaceSelector: netpolSelectorPtr(p.NamespaceSelector)}
		if b := p.IPBlock; b != nil {
			blk := &netpol.IPBlock{CIDR: netip.MustParsePrefix(b.CIDR).Masked()}
			for _, e := range b.Except {
				blk.Except = append(blk.Except, netip.MustParsePrefix(e).Masked())
			}
			np.IPBlock = blk
		}
		out = append(out, np)
	}
	return out
}
