package netstack

import (
	"fmt"
	"net/netip"
)

// AddAddrAlias assigns an address that is already local on another device
// of the namespace to dev as well (`ip addr add A/32 dev D`), as Linux
// allows: Terway puts the node's primary address on every secondary ENI
// (so that traffic leaving the ENI has a source and ARP identity), and an
// exclusive-ENI pod has its address on eth0 and on veth1. The address
// keeps its first device for local delivery; on dev it is the device's
// source address (inet_select_addr). Only /32 aliases are accepted, so no
// connected route is added.
func (s *Stack) AddAddrAlias(dev string, p netip.Prefix) error {
	i := s.Iface(dev)
	if i == nil {
		return fmt.Errorf("namespace %s: no device %q", s.Name, dev)
	}
	if p.Bits() != 32 || !p.Addr().Is4() {
		return fmt.Errorf("namespace %s: alias %s on %s: only an IPv4 /32 may be an alias", s.Name, p, dev)
	}
	for _, a := range i.Addrs {
		if a.Prefix.Addr() == p.Addr() {
			return fmt.Errorf("namespace %s: RTNETLINK answers: File exists (%s already on %s)", s.Name, p.Addr(), dev)
		}
	}
	i.Addrs = append(i.Addrs, Addr{Prefix: p})
	if _, ok := s.local[v4key(p.Addr())]; !ok {
		s.local[v4key(p.Addr())] = i
	}
	return nil
}
