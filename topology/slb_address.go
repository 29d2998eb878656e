package topology

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"netsim/dataplane/kubeproxy"
	"netsim/dataplane/vpc"
	"netsim/topology/k8s"
)

// fieldError is an error about one field of a manifest object (a Kubernetes
// field path such as "spec.loadBalancerIP"), so that AssignLoadBalancerIPs
// locates it there rather than at the object.
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string { return e.msg }

func fieldErrorf(path, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// fieldPath returns the field an error is about ("" for the object).
func fieldPath(err error) (string, string) {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.path, fe.msg
	}
	return "", "no load balancer: " + err.Error()
}

// slbInstance returns the CLB for a LoadBalancer Service as ACK's CCM
// would: a new instance, or — with the loadbalancer-id annotation — the
// existing instance of that ID (reused; several Services may share one CLB
// on different ports). isNew reports an instance to add to the VPC.
//
// The address: the requested one (spec.loadBalancerIP or the ip
// annotation) when given, checked against the address type — an intranet
// address must be an assignable, free address of a node vSwitch, an
// internet one a public address outside the VPC; otherwise the next free
// address (internet: from the modelled public range 198.51.100.0/24;
// intranet: the lowest free one of the first node's vSwitch). A reused
// instance the scenario does not otherwise know gets its address derived
// from its ID (a stable hash into the range), as if it had been created
// before the cluster.
func (b *builder) slbInstance(svc *kubeproxy.Service, spec *k8s.Service) (lb *vpc.SLB, isNew bool, err error) {
	w := b.w
	a := spec.ACK
	ref := svc.Namespace + "/" + svc.Name
	if a.LoadBalancerID != "" {
		for _, o := range w.VPC.SLBs() {
			if o.ID != a.LoadBalancerID {
				continue
			}
			if err := b.shareSLB(o, svc, spec); err != nil {
				return nil, false, err
			}
			b.w.Notes = append(b.w.Notes, fmt.Sprintf("cloud controller manager: %s reuses CLB %s (loadbalancer-id) with %s", ref, o.ID, o.Service))
			o.Service += ", " + ref
			return o, false, nil
		}
	}
	addrType := a.AddressType
	if addrType == "" {
		addrType = k8s.AddressInternet
	}
	if a.Address.IsValid() && a.AddressTypePath == "" && a.LoadBalancerID != "" && a.Address.IsPrivate() {
		// A reused instance has the type it was created with: a private
		// address says intranet.
		addrType = k8s.AddressIntranet
	}
	var addr netip.Addr
	switch {
	case a.Address.IsValid():
		if err := b.checkSLBAddress(a.Address, addrType, a); err != nil {
			return nil, false, err
		}
		addr = a.Address
	case a.LoadBalancerID != "":
		if addr, err = b.derivedSLBAddress(a, addrType); err != nil {
			return nil, false, err
		}
	case addrType == k8s.AddressInternet:
		addr = b.nextPublic()
	default:
		sw, err := b.slbVSwitch(a)
		if err != nil {
			return nil, false, err
		}
		addr = b.allocate(sw.CIDR)
	}
	if !addr.IsValid() {
		return nil, false, fmt.Errorf("no free address left for an %s SLB", addrType)
	}
	if addrType == k8s.AddressIntranet {
		b.used.add(addr)
	}
	lb = vpc.NewSLB(svc.Namespace+"-"+svc.Name, addr, addrType)
	if a.LoadBalancerID != "" {
		lb.ID = a.LoadBalancerID
		mode := "listeners added; force-override-listeners false: listeners of other origin kept"
		if a.ForceOverrideListeners {
			mode = "force-override-listeners: the CCM rewrites its listeners"
		}
		w.Notes = append(w.Notes, fmt.Sprintf("cloud controller manager: reusing the existing CLB %s (loadbalancer-id) for %s at %s; %s", lb.ID, ref, addr, mode))
	}
	lb.Service = ref
	return lb, true, nil
}

// shareSLB checks that a second Service can reuse a CLB: another address
// requested, a listener port already taken or another whitelist are errors.
func (b *builder) shareSLB(lb *vpc.SLB, svc *kubeproxy.Service, spec *k8s.Service) error {
	a := spec.ACK
	if a.Address.IsValid() && a.Address != lb.Address {
		return fieldErrorf(a.AddressPath, "%s is not the address of CLB %s, which is %s (Service %s already uses it)", a.Address, lb.ID, lb.Address, lb.Service)
	}
	if a.AddressTypePath != "" && a.AddressType != lb.AddressType {
		return fieldErrorf(a.AddressTypePath, "the reused CLB %s is %s (Service %s uses it), not %s: an instance keeps the address type it was created with", lb.ID, lb.AddressType, lb.Service, a.AddressType)
	}
	for j, p := range svc.Ports {
		for _, l := range lb.Listeners() {
			if l.Proto == string(p.Protocol) && int(l.Port) == p.Port {
				return fieldErrorf(fmt.Sprintf("spec.ports[%d].port", j), "listener %s:%d of the reused CLB %s already serves Service %s: Services sharing one CLB need different ports (force-override-listeners does not take another Service's listener)", l.Proto, l.Port, lb.ID, lb.Service)
			}
		}
	}
	if !slices.Equal(lb.ACL, svc.SourceRanges) {
		return fieldErrorf("spec.loadBalancerSourceRanges", "the reused CLB %s already has the access control list %v of Service %s: netsim models one whitelist per CLB", lb.ID, lb.ACL, lb.Service)
	}
	return nil
}

// checkSLBAddress checks a requested load balancer address against its
// address type.
func (b *builder) checkSLBAddress(addr netip.Addr, addrType string, a k8s.ACKLoadBalancer) error {
	w, path := b.w, a.AddressPath
	typeHint := "the default address type internet"
	if a.AddressTypePath != "" {
		typeHint = "address type " + addrType + " (" + a.AddressTypePath + ")"
	}
	if addrType == k8s.AddressInternet {
		switch {
		case !addr.IsGlobalUnicast() || addr.IsPrivate():
			return fieldErrorf(path, "%s is not a public address, but the CLB is internet-facing (%s): for an address in a vSwitch annotate %s: intranet, or give a public address", addr, typeHint, k8s.AnnotationAddressType)
		case w.VPC.CIDR.Contains(addr):
			return fieldErrorf(path, "%s is inside the VPC %s: an internet-facing CLB has a public address", addr, w.VPC.CIDR)
		case w.Internet != nil && w.Internet.IP == addr:
			return fieldErrorf(path, "%s is the internet client's address", addr)
		}
		return nil
	}
	if a.VSwitchID != "" {
		sw, err := b.slbVSwitch(a)
		if err != nil {
			return err
		}
		if !sw.CIDR.Contains(addr) {
			return fieldErrorf(path, "%s is not in vSwitch %s (%s, %s), which %s names for the CLB", addr, sw.ID, sw.Name, sw.CIDR, a.VSwitchIDPath)
		}
		return b.checkVSwitchAddress(addr, sw, path)
	}
	var sw *vpc.VSwitch
	var names []string
	for _, n := range b.s.Nodes {
		v := b.vsw[n.VSwitch]
		if v == nil || slices.Contains(names, v.Name) {
			continue
		}
		names = append(names, fmt.Sprintf("%s %s", v.Name, v.CIDR))
		if v.CIDR.Contains(addr) {
			sw = v
		}
	}
	if sw == nil {
		return fieldErrorf(path, "%s is not in a node vSwitch (%s), but the CLB is internal-facing (%s): an intranet CLB takes an address of the nodes' vSwitch, or of the vSwitch %s names", addr, strings.Join(names, ", "), typeHint, k8s.AnnotationVSwitchID)
	}
	return b.checkVSwitchAddress(addr, sw, path)
}

// checkVSwitchAddress checks that addr is an assignable, free address of sw.
func (b *builder) checkVSwitchAddress(addr netip.Addr, sw *vpc.VSwitch, path string) error {
	size := 1 << (32 - sw.CIDR.Bits())
	i := int(addrUint32(addr) - addrUint32(sw.CIDR.Masked().Addr()))
	switch {
	case i == 0 || i >= size-3:
		return fieldErrorf(path, "%s is reserved in vSwitch %s %s (the network address and the last three addresses are Alibaba Cloud's)", addr, sw.Name, sw.CIDR)
	case b.used.has(addr):
		return fieldErrorf(path, "%s is already in use in vSwitch %s (%s)", addr, sw.Name, b.addrOwner(addr))
	}
	return nil
}

// addrOwner names what uses a VPC address, for messages.
func (b *builder) addrOwner(addr netip.Addr) string {
	for _, h := range b.w.hosts() {
		if h.IP == addr {
			return "ECS instance " + h.Name
		}
	}
	for _, lb := range b.w.VPC.SLBs() {
		if lb.Address == addr {
			return "SLB " + lb.ID + " of " + lb.Service
		}
	}
	return "allocated"
}

// slbVSwitch is the vSwitch of an intranet CLB: the one the vswitch-id
// annotation names (by its ID, or by its name in the scenario), else the
// first node's.
func (b *builder) slbVSwitch(a k8s.ACKLoadBalancer) (*vpc.VSwitch, error) {
	if a.VSwitchID == "" {
		return b.nodeVSwitch(), nil
	}
	var known []string
	for _, sw := range b.w.VPC.VSwitches() {
		if sw.ID == a.VSwitchID || sw.Name == a.VSwitchID {
			return sw, nil
		}
		known = append(known, sw.ID+" ("+sw.Name+")")
	}
	return nil, fieldErrorf(a.VSwitchIDPath, "no vSwitch %q in the VPC: its vSwitches are %s", a.VSwitchID, strings.Join(known, ", "))
}

// nodeVSwitch is the vSwitch intranet CLBs are placed in: the first node's.
func (b *builder) nodeVSwitch() *vpc.VSwitch {
	w := b.w
	for _, h := range w.Nodes {
		if s := w.VPC.VSwitchOf(h.IP); s != nil {
			return s
		}
	}
	return w.VPC.VSwitches()[0]
}

// nextPublic is the next free address of the modelled public range.
func (b *builder) nextPublic() netip.Addr {
	for i := 10; i < 255; i++ {
		a := cniNth(slbPublicRange, i)
		if !b.slbAddressTaken(a) {
			return a
		}
	}
	return netip.Addr{}
}

// derivedSLBAddress is a stable address for an existing CLB known only by
// its ID: a hash of the ID into the range of its address type, then the
// next free one.
func (b *builder) derivedSLBAddress(a k8s.ACKLoadBalancer, addrType string) (netip.Addr, error) {
	h := fnv.New32a()
	h.Write([]byte(a.LoadBalancerID))
	cidr, first, n := slbPublicRange, 10, 245
	if addrType == k8s.AddressIntranet {
		sw, err := b.slbVSwitch(a)
		if err != nil {
			return netip.Addr{}, err
		}
		cidr = sw.CIDR
		first, n = 1, 1<<(32-cidr.Bits())-4
	}
	if n <= 0 {
		return netip.Addr{}, nil
	}
	start := int(h.Sum32() % uint32(n))
	for k := range n {
		a := cniNth(cidr, first+(start+k)%n)
		if !b.used.has(a) && !b.slbAddressTaken(a) {
			return a, nil
		}
	}
	return netip.Addr{}, nil
}

func (b *builder) slbAddressTaken(a netip.Addr) bool {
	for _, lb := range b.w.VPC.SLBs() {
		if lb.Address == a {
			return true
		}
	}
	return b.w.Internet != nil && b.w.Internet.IP == a
}
