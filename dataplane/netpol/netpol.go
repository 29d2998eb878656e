// Package netpol is Kubernetes NetworkPolicy (networking.k8s.io/v1) as
// netsim's data plane sees it: the policies, already decoded and
// defaulted (topology/k8s converts the API objects), with label
// selectors, peers and ports as plain values, and the selector matching
// every enforcing CNI needs. It holds no enforcement: a CNI's policy
// engine (felix-style chains for Calico and Terway, see dataplane/felix)
// turns these into rules in the node's netfilter, so that verdicts come
// from packets meeting rules.
package netpol

import (
	"net/netip"
	"sort"
	"strings"
)

// Operator is a label selector requirement's operator.
type Operator string

// Selector operators (metav1.LabelSelectorOperator).
const (
	In           Operator = "In"
	NotIn        Operator = "NotIn"
	Exists       Operator = "Exists"
	DoesNotExist Operator = "DoesNotExist"
)

// Requirement is one matchExpressions entry.
type Requirement struct {
	Key      string
	Operator Operator
	Values   []string
}

// Selector is a metav1.LabelSelector. The zero Selector (no labels, no
// expressions) selects everything, as an empty selector `{}` does; a nil
// *Selector in a Peer means the field was absent.
type Selector struct {
	MatchLabels      map[string]string
	MatchExpressions []Requirement
}

// Empty reports whether the selector selects everything.
func (s Selector) Empty() bool { return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 }

// Matches reports whether labels satisfy every term of the selector
// (metav1.LabelSelectorAsSelector semantics: NotIn and DoesNotExist match
// objects without the key).
func (s Selector) Matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		switch r.Operator {
		case In:
			if !ok || !contains(r.Values, v) {
				return false
			}
		case NotIn:
			if ok && contains(r.Values, v) {
				return false
			}
		case Exists:
			if !ok {
				return false
			}
		case DoesNotExist:
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// String prints the selector as kubectl does ("app=web,tier in (a,b)"),
// "" for an empty selector.
func (s Selector) String() string {
	var parts []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, r := range s.MatchExpressions {
		switch r.Operator {
		case In:
			parts = append(parts, r.Key+" in ("+strings.Join(r.Values, ",")+")")
		case NotIn:
			parts = append(parts, r.Key+" notin ("+strings.Join(r.Values, ",")+")")
		case Exists:
			parts = append(parts, r.Key)
		case DoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	return strings.Join(parts, ",")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// IPBlock is a peer's ipBlock: CIDR minus the Except prefixes.
type IPBlock struct {
	CIDR   netip.Prefix
	Except []netip.Prefix
}

// Contains reports whether a is in the block and in none of its excepts.
func (b IPBlock) Contains(a netip.Addr) bool {
	if !b.CIDR.Contains(a) {
		return false
	}
	for _, e := range b.Except {
		if e.Contains(a) {
			return false
		}
	}
	return true
}

// Peer is one from/to entry. PodSelector and NamespaceSelector nil mean
// absent: only PodSelector selects pods of the policy's namespace, only
// NamespaceSelector every pod of the matching namespaces, both the pods
// matching PodSelector in the matching namespaces (AND). IPBlock is set
// alone.
type Peer struct {
	PodSelector       *Selector
	NamespaceSelector *Selector
	IPBlock           *IPBlock
}

// Port is one ports entry: Protocol "TCP" (the default), "UDP" or "SCTP";
// Port 0 with Name "" is every port of the protocol; Name is a named port
// resolved against the destination pod's container ports; EndPort, if
// non-zero, makes Port..EndPort a range.
type Port struct {
	Protocol string
	Port     int
	Name     string
	EndPort  int
}

// Rule is one ingress or egress rule. Nil Ports: every port and protocol;
// nil Peers: every source (ingress) or destination (egress). A rule with
// both empty (`- {}`) allows everything.
type Rule struct {
	Ports []Port
	Peers []Peer
}

// Policy is one NetworkPolicy. Ingress/Egress say which directions it
// isolates (spec.policyTypes, with the API server's defaults: Ingress
// always, Egress when there are egress rules).
type Policy struct {
	Namespace, Name string
	PodSelector     Selector
	Ingress, Egress bool
	IngressRules    []Rule
	EgressRules     []Rule
	// Source locates the object in its file ("manifests/np.yaml:12"), for messages.
	Source string
}

// Ref is "namespace/name".
func (p *Policy) Ref() string { return p.Namespace + "/" + p.Name }

// Selects reports whether the policy applies to a pod of namespace ns
// with labels.
func (p *Policy) Selects(ns string, labels map[string]string) bool {
	return p.Namespace == ns && p.PodSelector.Matches(labels)
}

// Namespace is a namespace with its labels (the API server adds
// kubernetes.io/metadata.name=<name> to every namespace).
type Namespace struct {
	Name   string
	Labels map[string]string
}

// MetadataNameLabel is the label the API server sets on every namespace.
const MetadataNameLabel = "kubernetes.io/metadata.name"
