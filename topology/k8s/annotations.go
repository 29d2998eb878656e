package k8s

import (
	"maps"
	"slices"
	"strings"

	"netsim/topology/hint"
)

// ccmAnnotations is every annotation key ACK's cloud controller manager
// reads under the prefix service.beta.kubernetes.io/alibaba-cloud-loadbalancer-
// (and the legacy alicloud-loadbalancer-), without the prefix, and whether
// netsim models it.
//
// Source: kubernetes/cloud-provider-alibaba-cloud at commit
// eeb0ddc687ee5ee9d3726559d6a8ec056f694947 (2026-04-10),
// pkg/controller/service/reconcile/annotation/annotations.go (the
// AnnotationLoadBalancerPrefix constants: CLB, listener, backend and NLB
// attributes) and pkg/controller/helper/service_utils.go (LoadBalancerType
// "…-loadbalancer-type", TunnelType "…-loadbalancer-tunnel-type"). The
// same keys are documented in ACK's "Configure a Classic Load Balancer by
// using annotations".
//
// A key under the prefix that is not in this table is an error (the CCM
// would ignore it, so a typo such as "adress-type" silently gives the
// default, an internet-facing CLB); a known key that netsim does not model
// is accepted with a warning.
var ccmAnnotations = map[string]bool{
	// Modelled: they decide the load balancer and its address.
	"address-type":             true, // internet (default) or intranet
	"id":                       true, // reuse an existing CLB
	"ip":                       true, // the CLB's address (intranet: in the vSwitch)
	"force-override-listeners": true, // a reused CLB's listeners are (re)written
	"ip-version":               true, // ipv4 (ipv6 is refused)
	"type":                     true, // clb (default) or nlb (refused: not modelled)
	"vswitch-id":               true, // the vSwitch of an intranet CLB

	// Known, not modelled: accepted with a warning.
	"name": false, "resource-group-id": false, "additional-resource-tags": false,
	"delete-protection": false, "modification-protection": false, "cert-id": false,
	"protocol-port": false, "idle-timeout": false, "tls-cipher-policy": false,
	"scheduler": false, "connection-drain": false, "connection-drain-timeout": false,
	"ignore-weight-update": false, "preserve-lb-on-delete": false,
	"network-type": false, "charge-type": false, "master-zoneid": false,
	"slave-zoneid": false, "bandwidth": false, "spec": false,
	"instance-charge-type": false, "external-ip-type": false, "hostname": false,
	"acl-status": false, "acl-id": false, "acl-type": false, "forward-port": false,
	"http2-enabled": false, "health-check-switch": false, "health-check-flag": false,
	"health-check-type": false, "health-check-uri": false,
	"health-check-connect-port": false, "healthy-threshold": false,
	"unhealthy-threshold": false, "health-check-interval": false,
	"health-check-connect-timeout": false, "health-check-timeout": false,
	"health-check-domain": false, "health-check-httpcode": false,
	"health-check-method": false, "sticky-session": false,
	"sticky-session-type": false, "cookie-timeout": false, "cookie": false,
	"persistence-timeout": false, "vgroup-port": false, "xforwardedfor-proto": false,
	"xforwardedfor-slbport": false, "xforwardedfor-clientsrcport": false,
	"request-timeout": false, "established-timeout": false, "proxy-protocol": false,
	"domain-extensions": false, "backend-label": false, "backend-ip-version": false,
	"remove-unscheduled-backend": false, "weight": false, "default-weight": false,
	"zone-maps": false, "security-group-ids": false, "bandwidth-package-id": false,
	"ipv6-address-type": false, "cross-zone-enabled": false, "cacert-id": false,
	"cacert": false, "cps": false, "preserve-client-ip": false,
	"server-group-type": false, "ppv2-pvl-ep-id-enabled": false,
	"ppv2-pvl-eps-id-enabled": false, "ppv2-pvl-vpc-id-enabled": false,
	"alpn": false, "alpn-policy": false, "listener-port-range": false,
	"additional-cert-ids": false, "tunnel-type": false,
}

// ccmDefaults says what the CCM does without the annotation, for the keys
// whose typo changes the load balancer (the CCM's DefaultValue).
var ccmDefaults = map[string]string{
	"address-type": "an internet-facing CLB with a public address",
	"spec":         "slb.s1.small",
	"ip-version":   "ipv4",
	"id":           "a new CLB",
	"ip":           "an address the cloud picks",
}

// CCMAnnotationKeys returns the known keys (full, current prefix), sorted.
func CCMAnnotationKeys() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(ccmAnnotations)) {
		out = append(out, AnnotationPrefix+k)
	}
	return out
}

// checkCCMAnnotations reports the Service's annotations under the CCM's
// prefixes: an unknown key is an error with a did-you-mean; a known key
// netsim does not model is a warning, for a LoadBalancer Service that ACK's
// CCM handles (lb).
func (c *conv) checkCCMAnnotations(ann map[string]string, lb bool) {
	for _, key := range slices.Sorted(maps.Keys(ann)) {
		prefix := ""
		switch {
		case strings.HasPrefix(key, AnnotationPrefix):
			prefix = AnnotationPrefix
		case strings.HasPrefix(key, AnnotationLegacyPrefix):
			prefix = AnnotationLegacyPrefix
		default:
			continue
		}
		name := strings.TrimPrefix(key, prefix)
		modelled, known := ccmAnnotations[name]
		path := "metadata.annotations." + key
		switch {
		case !known:
			var full []string
			for _, k := range slices.Sorted(maps.Keys(ccmAnnotations)) {
				full = append(full, prefix+k)
			}
			def := "its default"
			if sug := hint.Suggest(key, full); len(sug) > 0 {
				if d, ok := ccmDefaults[strings.TrimPrefix(sug[0], prefix)]; ok {
					def = "its default, " + d
				}
			}
			c.errf(path, "unknown annotation: ACK's cloud controller manager reads no %q under %s, so it would ignore this key and apply %s%s", name, prefix, def, hint.DidYouMean(key, full))
		case !modelled && lb:
			c.warnf(path, "accepted but not modelled: netsim's SLB does not model what %q configures (see the list of modelled annotations in the README)", name)
		}
	}
}
