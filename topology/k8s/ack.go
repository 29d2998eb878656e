package k8s

import (
	"net/netip"
	"strings"
)

// Service annotations read by ACK's cloud controller manager (CCM), the
// controller that creates a Classic Load Balancer (CLB, formerly SLB) or a
// Network Load Balancer (NLB) for a LoadBalancer Service.
//
// Sources (checked 2025):
//   - kubernetes/cloud-provider-alibaba-cloud,
//     pkg/controller/service/reconcile/annotation/annotations.go: the
//     prefix "service.beta.kubernetes.io/alibaba-cloud" joined with "-" to
//     "loadbalancer-address-type", "loadbalancer-id", "loadbalancer-spec",
//     "loadbalancer-vswitch-id", "loadbalancer-scheduler",
//     "loadbalancer-ip-version", ...; AnnotationRequest.Get falls back to
//     the legacy prefix "service.beta.kubernetes.io/alicloud"; defaults:
//     address type "internet", spec "slb.s1.small", ip version "ipv4".
//   - the same repository, pkg/controller/helper (BackendType =
//     "service.beta.kubernetes.io/backend-type", LoadBalancerType =
//     "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-type",
//     NLBClass = "alibabacloud.com/nlb"), pkg/model (ECSBackendType "ecs",
//     ENIBackendType "eni"; InternetAddressType "internet",
//     IntranetAddressType "intranet"). IsENIBackendType: the annotation
//     wins, else the CCM's cloud config Global.ServiceBackendType (ecs
//     unless configured: a Flannel cluster's CLB backends are the nodes'
//     ECS instances and their node ports; Terway clusters may configure
//     eni, pods as backends).
//   - ACK documentation "Configure a Classic Load Balancer by using
//     annotations",
//     https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/add-annotations-to-the-yaml-file-of-a-service-to-configure-clb-instances
//     ("service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type
//     ... internet: Internet-facing CLB, intranet: internal-facing CLB;
//     default internet"; annotation values are case-sensitive; the
//     alicloud keyword is still accepted).
const (
	// AnnotationPrefix starts every CLB/NLB annotation.
	AnnotationPrefix = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
	// AnnotationLegacyPrefix is the pre-September-2019 prefix, still honoured.
	AnnotationLegacyPrefix = "service.beta.kubernetes.io/alicloud-loadbalancer-"

	// AnnotationAddressType is "internet" (the default: a public address)
	// or "intranet" (an address in a vSwitch of the VPC).
	AnnotationAddressType = AnnotationPrefix + "address-type"
	// AnnotationLoadBalancerID reuses an existing CLB instance.
	AnnotationLoadBalancerID = AnnotationPrefix + "id"
	// AnnotationSpec is the CLB specification (default slb.s1.small).
	AnnotationSpec = AnnotationPrefix + "spec"
	// AnnotationVSwitchID places an intranet CLB in a vSwitch.
	AnnotationVSwitchID = AnnotationPrefix + "vswitch-id"
	// AnnotationScheduler is the listener scheduler (wrr by default; rr, wlc).
	AnnotationScheduler = AnnotationPrefix + "scheduler"
	// AnnotationIPVersion is ipv4 (default) or ipv6.
	AnnotationIPVersion = AnnotationPrefix + "ip-version"
	// AnnotationProtocolPort maps ports to listener protocols ("https:443,http:80").
	AnnotationProtocolPort = AnnotationPrefix + "protocol-port"
	// AnnotationIP is the address the CLB is created with.
	AnnotationIP = AnnotationPrefix + "ip"
	// AnnotationForceOverride lets the CCM overwrite an existing CLB's listeners.
	AnnotationForceOverride = AnnotationPrefix + "force-override-listeners"
	// AnnotationBackendLabel selects the nodes used as backends by label.
	AnnotationBackendLabel = AnnotationPrefix + "backend-label"
	// AnnotationRemoveUnscheduled drops unschedulable nodes from the backends.
	AnnotationRemoveUnscheduled = AnnotationPrefix + "remove-unscheduled-backend"
	// AnnotationLoadBalancerType selects the load balancer product ("nlb").
	AnnotationLoadBalancerType = AnnotationPrefix + "type"

	// AnnotationBackendType is "ecs" (nodes and their node ports are the
	// backends) or "eni" (pods are the backends, directly).
	AnnotationBackendType = "service.beta.kubernetes.io/backend-type"
	// AnnotationClass hands the Service to another controller than the CCM.
	AnnotationClass = "service.beta.kubernetes.io/class"

	// LoadBalancerClassNLB is the spec.loadBalancerClass of an NLB Service.
	LoadBalancerClassNLB = "alibabacloud.com/nlb"

	// AnnotationSourceRanges is upstream Kubernetes' annotation
	// (v1.AnnotationLoadBalancerSourceRangesKey), read when
	// spec.loadBalancerSourceRanges is empty.
	AnnotationSourceRanges = "service.beta.kubernetes.io/load-balancer-source-ranges"
)

// The values of the address-type and backend-type annotations.
const (
	AddressInternet = "internet"
	AddressIntranet = "intranet"
	BackendECS      = "ecs"
	BackendENI      = "eni"
)

// Load balancer products the CCM creates.
const (
	LBKindCLB = "clb"
	LBKindNLB = "nlb"
)

// ACKLoadBalancer is what ACK's CCM reads from a LoadBalancer Service's
// annotations, defaults applied. The SLB model decides the addresses.
type ACKLoadBalancer struct {
	// Kind is "clb", "nlb" or "" when no ACK controller handles the
	// Service (another spec.loadBalancerClass, or the class annotation).
	Kind string
	// AddressType is "internet" (default) or "intranet".
	AddressType string
	// BackendType is "ecs" or "eni" as annotated; "" means the CCM's
	// configured default (ecs in a Flannel cluster).
	BackendType string
	// LoadBalancerID is an existing instance to reuse ("" creates one).
	LoadBalancerID string
	// ForceOverrideListeners is the force-override-listeners annotation:
	// the CCM may rewrite the listeners of a reused instance.
	ForceOverrideListeners bool
	// Address is the requested load balancer address: spec.loadBalancerIP
	// or the CCM's ip annotation (invalid: the cloud picks one).
	Address netip.Addr
	// AddressPath is the field Address comes from, for messages.
	AddressPath string
	// AddressTypePath is the annotation that set AddressType ("" for the
	// default), for messages.
	AddressTypePath string
	// Spec is the CLB specification (default slb.s1.small).
	Spec string
	// VSwitchID is the vSwitch of an intranet load balancer ("" lets the
	// CCM choose: the nodes' vSwitch).
	VSwitchID string
	// VSwitchIDPath is the annotation that set VSwitchID, for messages.
	VSwitchIDPath string
	// Scheduler is the listeners' scheduler ("" is the CLB default, wrr).
	Scheduler string
	// IPVersion is "ipv4" (default) or "ipv6".
	IPVersion string
}

// ackAnnotation returns the annotation with the current prefix, else the
// legacy one (as the CCM's AnnotationRequest.Get does), and the key found.
func ackAnnotation(ann map[string]string, key string) (value, foundKey string, ok bool) {
	if v, ok := ann[key]; ok {
		return v, key, true
	}
	if strings.HasPrefix(key, AnnotationPrefix) {
		legacy := AnnotationLegacyPrefix + strings.TrimPrefix(key, AnnotationPrefix)
		if v, ok := ann[legacy]; ok {
			return v, legacy, true
		}
	}
	return "", "", false
}
