package trace

import "fmt"

// Reason is why a packet was dropped. It is the one drop taxonomy of the
// whole project: every component that drops a packet names one of these,
// with a detail string that says which entry was missing or which limit hit.
type Reason uint8

// The drop reasons. The string codes (see Code) are stable: scenario files
// name them in `expect.reason` and JSON output carries them.
const (
	ReasonNone                 Reason = iota
	ReasonNoRoute                     // the namespace's routing table has no entry
	ReasonVPCNoRoute                  // the VPC route table has no entry
	ReasonVPCNoENI                    // no ENI owns the destination inside its vSwitch
	ReasonNeighUnresolved             // ARP got no answer
	ReasonNeighQueueFull              // too many packets queued on an unresolved neighbour
	ReasonTTLExceeded                 // TTL reached zero while forwarding
	ReasonFragNeeded                  // over the egress MTU with DF set; ICMP "fragmentation needed" sent
	ReasonMsgTooLong                  // local sender: over the route MTU with DF forced (EMSGSIZE)
	ReasonRxOversize                  // frame larger than the receiving device's MTU
	ReasonLinkDown                    // the device is down
	ReasonForwardingDisabled          // ip_forward is 0
	ReasonNotForHost                  // destination MAC is not this host's
	ReasonVXLANFDBMiss                // no VXLAN FDB entry for the inner destination MAC
	ReasonVXLANBadVNI                 // VXLAN packet for a VNI no device has
	ReasonPortUnreachable             // UDP to a port nobody listens on
	ReasonConnRefused                 // TCP to a port nobody listens on (RST)
	ReasonFiltered                    // a netfilter rule dropped or rejected it
	ReasonPolicyDenied                // a NetworkPolicy denied it
	ReasonNoEndpoints                 // a Service with no endpoints
	ReasonNoLocalEndpoint             // externalTrafficPolicy Local on a node without endpoints
	ReasonCTInvalid                   // conntrack state INVALID
	ReasonENIExhausted                // no free address on the ENI
	ReasonSourceRangeDenied           // SLB loadBalancerSourceRanges
	ReasonNoListener                  // SLB has no listener on the port
	ReasonUnreachable                 // an ICMP destination-unreachable came back
	ReasonNoReply                     // no drop recorded, but no reply arrived either
	ReasonHairpin                     // a bridge would send a frame back out its ingress port
	ReasonMalformed                   // a bad header or checksum
	ReasonReasmTimeout                // IP fragments never completed
	ReasonProtoUnreachable            // no handler for the IP protocol
	ReasonDNSNXDomain                 // the cluster DNS has no such name
	ReasonVPCNoInternet               // Internet egress without a NAT gateway SNAT entry or an EIP
	ReasonNATNoSession                // Internet packet to a NAT gateway EIP that no SNAT session expects
	ReasonInternetNoHost              // an Internet address outside the model
	ReasonMartianSource               // fib_validate_source: a local, multicast, broadcast, zero or loopback source
	ReasonRPFilter                    // rp_filter: the reverse path check failed
	ReasonMartianDest                 // ip_route_input_slow: a zero-net or loopback destination
	ReasonFlanneldNoRoute             // flannel udp: flanneld has no lease for the destination subnet
	ReasonFlanneldTTL                 // flannel udp: flanneld decremented the TTL to zero
	ReasonPodPending                  // the pod was never started (Pending): it has no address and no sandbox
	ReasonEchoBroadcastIgnored        // an echo request to a broadcast or multicast address (icmp_echo_ignore_broadcasts)
	reasonCount
)

var reasonCodes = [reasonCount]struct{ code, text string }{
	ReasonNone:                 {"", ""},
	ReasonNoRoute:              {"no-route", "no route to the destination in the routing table"},
	ReasonVPCNoRoute:           {"vpc-no-route", "the VPC route table has no entry for the destination"},
	ReasonVPCNoENI:             {"vpc-no-eni", "no ENI in the vSwitch owns the destination address"},
	ReasonNeighUnresolved:      {"neigh-unresolved", "ARP got no reply: neighbour unresolved"},
	ReasonNeighQueueFull:       {"neigh-queue-full", "too many packets queued waiting for ARP"},
	ReasonTTLExceeded:          {"ttl-exceeded", "TTL reached zero while forwarding; ICMP time exceeded sent"},
	ReasonFragNeeded:           {"frag-needed", "larger than the egress MTU with DF set; ICMP fragmentation needed sent"},
	ReasonMsgTooLong:           {"msg-too-long", "larger than the route MTU with DF forced: the sender gets EMSGSIZE"},
	ReasonRxOversize:           {"rx-oversize", "frame larger than the receiving device's MTU"},
	ReasonLinkDown:             {"link-down", "the device is down"},
	ReasonForwardingDisabled:   {"forwarding-disabled", "net.ipv4.ip_forward is 0"},
	ReasonNotForHost:           {"not-for-host", "destination MAC is not this host's"},
	ReasonVXLANFDBMiss:         {"vxlan-fdb-miss", "no VXLAN FDB entry for the inner destination MAC"},
	ReasonVXLANBadVNI:          {"vxlan-bad-vni", "VXLAN packet for a VNI no device has"},
	ReasonPortUnreachable:      {"port-unreachable", "UDP port not listened on; ICMP port unreachable sent"},
	ReasonConnRefused:          {"conn-refused", "TCP port not listened on; RST sent"},
	ReasonFiltered:             {"filtered", "a netfilter rule dropped or rejected the packet"},
	ReasonPolicyDenied:         {"policy-denied", "a NetworkPolicy denied the packet"},
	ReasonNoEndpoints:          {"no-endpoints", "the Service has no endpoints"},
	ReasonNoLocalEndpoint:      {"no-local-endpoint", "externalTrafficPolicy Local and no endpoint on this node"},
	ReasonCTInvalid:            {"ct-invalid", "conntrack state INVALID"},
	ReasonENIExhausted:         {"eni-exhausted", "no free address on the ENI"},
	ReasonSourceRangeDenied:    {"source-range-denied", "source not in the load balancer's allowed ranges"},
	ReasonNoListener:           {"no-listener", "the load balancer has no listener on the port"},
	ReasonUnreachable:          {"unreachable", "an ICMP destination unreachable came back"},
	ReasonNoReply:              {"no-reply", "no drop was recorded, but no reply arrived"},
	ReasonHairpin:              {"hairpin-off", "the bridge would send the frame back out its ingress port and hairpin mode is off"},
	ReasonMalformed:            {"malformed", "bad header, length or checksum"},
	ReasonReasmTimeout:         {"reasm-timeout", "IP fragments did not all arrive within ipfrag_time (30 s)"},
	ReasonProtoUnreachable:     {"proto-unreachable", "no handler for the IP protocol; ICMP protocol unreachable sent"},
	ReasonDNSNXDomain:          {"dns-nxdomain", "the cluster DNS has no record for the name"},
	ReasonVPCNoInternet:        {"vpc-no-internet", "the VPC has no route to the Internet: egress needs a NAT gateway SNAT entry or an EIP"},
	ReasonNATNoSession:         {"nat-no-session", "from the Internet to a NAT gateway EIP with no SNAT session for it: SNAT serves outbound connections only"},
	ReasonInternetNoHost:       {"internet-no-host", "no host is modelled at this Internet address"},
	ReasonMartianSource:        {"martian-source", "martian source: the source is a local address of the receiving namespace (accept_local=0) or a multicast, broadcast, zero or loopback address"},
	ReasonRPFilter:             {"rp-filter", "martian source: reverse path filter (rp_filter) found no route back to the source through the incoming device (strict) or at all (loose)"},
	ReasonMartianDest:          {"martian-destination", "martian destination: a zero-net or loopback destination arrived on a non-loopback device"},
	ReasonFlanneldNoRoute:      {"flanneld-no-route", "flanneld (udp backend) has no lease for the destination subnet; ICMP net unreachable written back into flannel0 unless the packet is ICMP or a non-first fragment"},
	ReasonFlanneldTTL:          {"flanneld-ttl-zero", "flanneld (udp backend) decremented the TTL to zero and discarded the packet without an ICMP time exceeded"},
	ReasonPodPending:           {"pod-pending", "the pod is Pending: it was never started, has no address and sends or receives nothing"},
	ReasonEchoBroadcastIgnored: {"echo-broadcast-ignored", "an ICMP echo request to a broadcast or multicast address, ignored (net.ipv4.icmp_echo_ignore_broadcasts = 1)"},
}

// Code is the stable kebab-case name of the reason, e.g. "vpc-no-route".
func (r Reason) Code() string {
	if r >= reasonCount {
		return fmt.Sprintf("reason-%d", uint8(r))
	}
	return reasonCodes[r].code
}

// Text is a one-line human explanation of the reason.
func (r Reason) Text() string {
	if r >= reasonCount {
		return "unknown reason"
	}
	return reasonCodes[r].text
}

// String returns the code.
func (r Reason) String() string { return r.Code() }

// ParseReason returns the reason with the given code.
func ParseReason(code string) (Reason, bool) {
	for r := Reason(1); r < reasonCount; r++ {
		if reasonCodes[r].code == code {
			return r, true
		}
	}
	return ReasonNone, false
}

// Reasons lists every reason, in taxonomy order (for docs and validation).
func Reasons() []Reason {
	out := make([]Reason, 0, reasonCount-1)
	for r := Reason(1); r < reasonCount; r++ {
		out = append(out, r)
	}
	return out
}
