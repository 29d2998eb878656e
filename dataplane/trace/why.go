package trace

// reasonWhy explains each reason's concept for a person, in one line: not
// which entry was missing (the drop's detail says that) but why the system
// behaves this way and where to look. A reason added to the taxonomy without
// an explanation here fails TestEveryReasonHasAWhy.
var reasonWhy = [reasonCount]string{
	ReasonNoRoute:              "a namespace forwards only along its routing table: no entry covers this destination and there is no default route, so the kernel has nowhere to send it",
	ReasonVPCNoRoute:           "the VPC vRouter routes by destination address: it knows only the vSwitch CIDRs and the custom route entries, so any other address (pod, Service, internet) needs an entry or a gateway",
	ReasonVPCNoENI:             "a vSwitch delivers only to addresses an ENI (an ECS NIC or a secondary IP) owns; an address that is merely inside its CIDR is nobody's",
	ReasonNeighUnresolved:      "to send on Ethernet the kernel needs the next hop's MAC: it asked by ARP three times and nobody answered, so the next hop is absent or not on this segment",
	ReasonNeighQueueFull:       "packets wait in a small per-neighbour queue while ARP resolves; more arrived than the queue holds (unres_qlen) and the extra ones were dropped",
	ReasonTTLExceeded:          "every router decrements TTL so that a loop cannot circulate forever; reaching zero means a loop or a path longer than the sender allowed",
	ReasonFragNeeded:           "a packet with Don't Fragment cannot be split, so a router whose next link is smaller drops it and tells the sender the MTU (path MTU discovery)",
	ReasonMsgTooLong:           "the local sender asked for Don't Fragment on a packet larger than the route's MTU; the kernel refuses the send itself (EMSGSIZE) and nothing leaves",
	ReasonRxOversize:           "a device accepts frames only up to its MTU; both ends of a link must agree on it, and here the sender's is larger",
	ReasonLinkDown:             "a device that is down neither sends nor receives; everything routed through it is lost until it is brought up",
	ReasonForwardingDisabled:   "a Linux host passes packets between interfaces only with net.ipv4.ip_forward=1; every node of a cluster needs it",
	ReasonNotForHost:           "an Ethernet NIC keeps only frames addressed to its own MAC (or broadcast); this frame was for another host",
	ReasonVXLANFDBMiss:         "a VXLAN device finds the remote node (VTEP) of an inner MAC in its FDB, which flanneld fills one entry per peer; without the entry it cannot encapsulate",
	ReasonVXLANBadVNI:          "a VXLAN packet is accepted only by a device with the same VNI on the receiving node; the two ends are configured differently",
	ReasonPortUnreachable:      "UDP is delivered only to a socket bound to the port; with none, the kernel answers ICMP port unreachable",
	ReasonConnRefused:          "TCP and SCTP connect only to a socket listening on the port; with none, the kernel answers a TCP SYN with RST and an SCTP INIT with ABORT (connection refused)",
	ReasonFiltered:             "an iptables rule (or a chain's policy) decided to drop or reject the packet; the rule quoted in the detail is the one to read",
	ReasonPolicyDenied:         "a NetworkPolicy selecting the pod allows only the traffic its rules list; everything else to or from that pod is denied",
	ReasonNoEndpoints:          "a Service is only an address and a port until pods back it: with no ready endpoint kube-proxy rejects connections to it",
	ReasonNoLocalEndpoint:      "externalTrafficPolicy: Local keeps the client's address by never forwarding to another node, so a node without a local endpoint drops the traffic (the SLB health check avoids such nodes)",
	ReasonCTInvalid:            "conntrack could not match the packet to a known connection state (for example a reply with no request), and the rules drop INVALID packets",
	ReasonENIExhausted:         "each ENI holds a limited number of secondary addresses for pods (by instance type); when they are used up no more pods get an address",
	ReasonVPCNoInternet:        "a VPC has no way out by itself: traffic to the Internet leaves only through a NAT gateway (an SNAT entry for the source's vSwitch or address, reached by the 0.0.0.0/0 route entry) or an EIP bound to the instance; pods go out masqueraded to their node's address",
	ReasonNATNoSession:         "SNAT translates connections that start inside the VPC; a packet from the Internet to the NAT gateway's EIP that answers no such connection has nowhere to go (publishing a server needs a DNAT entry or an EIP)",
	ReasonInternetNoHost:       "netsim models only the Internet hosts the scenario names (the internet client, SLB and EIP addresses); nothing is modelled at this address",
	ReasonMartianSource:        "the kernel accepts a packet only if its source could be a remote host: one carrying the receiving host's own address (a loop, often through a NAT that rewrote it), or a multicast, broadcast, zero or loopback source, is a martian and dropped (fib_validate_source)",
	ReasonRPFilter:             "with rp_filter on, the kernel accepts a packet only if its route back to the source leaves through the interface it came in on (strict, 1) or through any interface (loose, 2): asymmetric paths fail the check",
	ReasonMartianDest:          "a zero-net or loopback destination can never arrive from a real network, so the kernel drops such a packet as a martian destination",
	ReasonFlanneldNoRoute:      "with the udp backend the kernel hands every packet for the cluster network to flanneld through flannel0, and flanneld forwards only to subnets it has a lease for (one per node); an address in the cluster network that no node owns has no peer to send to",
	ReasonFlanneldTTL:          "flanneld's userspace forwarder decrements the TTL itself, once when it reads the packet from flannel0 and once when it writes it into the peer's flannel0, and discards a packet whose TTL reaches zero (it does not send ICMP time exceeded)",
	ReasonPodPending:           "a pod the scheduler could not place (the node's pod capacity, with Terway the ENIs and private IPs of its instance type) or whose CNI ADD failed (with Terway: no pod vSwitch of its zone has a free address) stays Pending: kubectl describe pod shows the event, and nothing can reach it",
	ReasonEchoBroadcastIgnored: "Linux answers no ping sent to a broadcast or multicast address unless net.ipv4.icmp_echo_ignore_broadcasts is 0 (smurf-attack protection, the default since 2.6.12): icmp_rcv drops the request without a reply",
	ReasonSourceRangeDenied:    "the load balancer's access control list (loadBalancerSourceRanges) admits only the listed client ranges",
	ReasonNoListener:           "an SLB forwards only ports it has a listener for, one per Service port; other ports are not served",
	ReasonUnreachable:          "a router or host on the path sent back an ICMP destination unreachable, so the sender gives up",
	ReasonNoReply:              "nothing recorded a drop, yet no answer came back: this is a gap in the model, please report it",
	ReasonHairpin:              "a Linux bridge never sends a frame back out the port it came in on unless hairpin mode is on for that port (a pod reaching itself through its Service needs it)",
	ReasonMalformed:            "a receiver discards a packet whose header, length or checksum is wrong, without telling the sender",
	ReasonReasmTimeout:         "a fragmented packet is delivered only when every fragment arrives; the kernel waits ipfrag_time (30 s) and then discards the pieces",
	ReasonProtoUnreachable:     "the receiving host has no handler for this IP protocol number and answers ICMP protocol unreachable",
	ReasonDNSNXDomain:          "the cluster DNS answers only for Services (name.namespace.svc.cluster.local) and pods that exist; a wrong name or namespace gets NXDOMAIN",
}

// Why is a one-line explanation of the concept behind the reason, for a
// person: why the system behaves this way, where Text says what happened.
func (r Reason) Why() string {
	if r >= reasonCount {
		return ""
	}
	return reasonWhy[r]
}

// WhyCode is the explanation of the reason with the given code ("" for an
// unknown code).
func WhyCode(code string) string {
	r, ok := ParseReason(code)
	if !ok {
		return ""
	}
	return r.Why()
}
