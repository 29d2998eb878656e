// Package k8s reads Kubernetes manifests for netsim: multi-document YAML
// files and single objects inline in a scenario, decoded strictly with the
// real Kubernetes types and apimachinery's strict decoder (an unknown
// field, a duplicate field or a value of the wrong type is an error naming
// the Kubernetes field path, e.g. spec.ports[0].prot), then defaulted and
// validated the way the API server would for what netsim models, and
// turned into plain Go types (Objects) that the rest of netsim uses.
//
// Only this package imports k8s.io/*: its output types are its own.
//
// Accepted kinds: Pod (v1), Deployment (apps/v1), Service (v1), Endpoints
// (v1), EndpointSlice (discovery.k8s.io/v1), NetworkPolicy
// (networking.k8s.io/v1), Ingress (networking.k8s.io/v1) and Namespace
// (v1). A NetworkPolicy is validated and converted into a netpol.Policy
// (netsim/dataplane/netpol) for the CNIs that enforce it; a Namespace
// carries its labels plus the kubernetes.io/metadata.name label the API
// server sets; Ingress objects are validated and kept, not enforced.
//
// Every problem is an Error with the file, the line and column of the
// field (or of the document when the field is not in it), the object
// ("Service default/web"), the field path and what was expected.
//
// Deployments are expanded into pods the way the ReplicaSet controller
// names them (<deployment>-<pod-template-hash>-<5 characters>), with the
// random part drawn from the scenario seed. Pods without spec.nodeName are
// placed round-robin over the scenario's nodes, in the order the pods are
// declared.
package k8s
