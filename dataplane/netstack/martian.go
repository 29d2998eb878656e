package netstack

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// Conf is the part of net.ipv4.conf.{all,default,DEV} that the input path
// consults. The kernel's defaults are all zero.
type Conf struct {
	// RPFilter is rp_filter: 0 no source validation, 1 strict (the route
	// back to the source must leave through the incoming device), 2 loose
	// (a route back to the source must exist at all). The kernel uses
	// max(conf.all.rp_filter, conf.DEV.rp_filter).
	RPFilter uint8
	// AcceptLocal is accept_local: accept packets whose source is a local
	// address (conf.all OR conf.DEV).
	AcceptLocal bool
	// RouteLocalnet is route_localnet: do not treat 127/8 as martian on
	// non-loopback devices (conf.all OR conf.DEV). kube-proxy sets
	// conf.all.route_localnet=1 in iptables mode for localhost NodePorts.
	RouteLocalnet bool
}

// EffectiveConf is the configuration the kernel applies on ifc:
// rp_filter is the maximum of conf.all and conf.DEV (IN_DEV_MAXCONF),
// accept_local and route_localnet are true if either is (IN_DEV_ORCONF).
func (s *Stack) EffectiveConf(ifc *Iface) Conf {
	return Conf{
		RPFilter:      max(s.ConfAll.RPFilter, ifc.Conf.RPFilter),
		AcceptLocal:   s.ConfAll.AcceptLocal || ifc.Conf.AcceptLocal,
		RouteLocalnet: s.ConfAll.RouteLocalnet || ifc.Conf.RouteLocalnet,
	}
}

// Sysctl is one net.ipv4 sysctl and its value, as `sysctl` prints it.
type Sysctl struct {
	Key   string
	Value int
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Sysctls lists the namespace's IPv4 sysctls that netsim models, in the
// order `sysctl -a` prints them: ip_forward, then conf.all, conf.default
// and each device's accept_local, route_localnet and rp_filter.
func (s *Stack) Sysctls() []Sysctl {
	out := []Sysctl{{"net.ipv4.ip_forward", b2i(s.Forwarding)}}
	conf := func(name string, c Conf, proxyARP bool) {
		p := "net.ipv4.conf." + name + "."
		out = append(out,
			Sysctl{p + "accept_local", b2i(c.AcceptLocal)},
			Sysctl{p + "proxy_arp", b2i(proxyARP)},
			Sysctl{p + "route_localnet", b2i(c.RouteLocalnet)},
			Sysctl{p + "rp_filter", int(c.RPFilter)})
	}
	conf("all", s.ConfAll, false)
	conf("default", s.ConfDefault, false)
	for _, i := range s.ifaces[1:] {
		conf(i.Dev.Name, i.Conf, i.ProxyARP)
	}
	return out
}

func isMulticast(a netip.Addr) bool { return a.As4()[0]&0xf0 == 0xe0 }
func isZeronet(a netip.Addr) bool   { return a.As4()[0] == 0 }
func isLoopback(a netip.Addr) bool  { return a.As4()[0] == 127 }

// martianInput runs ip_route_input_slow's address checks that come before
// the route lookup. It reports whether the packet goes on.
func (s *Stack) martianInput(ifc *Iface, pkt *packet.Buffer, src, dst netip.Addr) bool {
	switch {
	case isMulticast(src) || src == limitedBroadcast:
		s.martianSource(ifc, pkt, src, dst, trace.ReasonMartianSource, "the source is a multicast or limited-broadcast address")
		return false
	case dst == limitedBroadcast || (src.IsUnspecified() && dst.IsUnspecified()):
		return true // brd_input
	case isZeronet(src):
		s.martianSource(ifc, pkt, src, dst, trace.ReasonMartianSource, "the source is in 0.0.0.0/8")
		return false
	case isZeronet(dst):
		s.martianDest(ifc, pkt, src, dst, "the destination is in 0.0.0.0/8")
		return false
	case isLoopback(dst):
		if !s.EffectiveConf(ifc).RouteLocalnet {
			s.martianDest(ifc, pkt, src, dst, "the destination is in 127.0.0.0/8 on a non-loopback device and route_localnet=0")
			return false
		}
	case isLoopback(src):
		if !s.EffectiveConf(ifc).RouteLocalnet {
			s.martianSource(ifc, pkt, src, dst, trace.ReasonMartianSource, "the source is in 127.0.0.0/8 on a non-loopback device and route_localnet=0")
			return false
		}
	}
	return true
}

// validateSource is fib_validate_source for a packet from src arriving on
// ifc and leaving through out (nil: local delivery). It reports whether
// the packet goes on; if not, it has dropped it.
func (s *Stack) validateSource(ifc, out *Iface, pkt *packet.Buffer, src, dst netip.Addr) bool {
	c := s.EffectiveConf(ifc)
	// The fast path (rp_filter=0, unless the packet leaves through the
	// device it came in on with send_redirects=1, the default, which
	// takes the full check): no reverse lookup, only "is the source one
	// of ours" (inet_lookup_ifaddr_rcu) unless accept_local.
	if c.RPFilter == 0 && out != ifc {
		if c.AcceptLocal {
			return true
		}
		if o, ok := s.local[v4key(src)]; ok {
			s.martianSource(ifc, pkt, src, dst, trace.ReasonMartianSource,
				fmt.Sprintf("the source is %s's own address (on %s) and accept_local=0", s.Name, o.Dev.Name))
			return false
		}
		return true
	}
	mode := "strict"
	if c.RPFilter != 1 {
		mode = "loose"
	}
	// rpf describes the setting for a drop detail; built only on a drop
	// (the path of every packet that leaves by the device it came in on
	// allocates nothing).
	rpf := func() string {
		return fmt.Sprintf("rp_filter=%d (%s; max of conf.all=%d and conf.%s=%d)", c.RPFilter, mode, s.ConfAll.RPFilter, ifc.Dev.Name, ifc.Conf.RPFilter)
	}
	// The reverse lookup: the route a reply to src would take (local table
	// first: own addresses, then the subnets' broadcast addresses).
	if o, ok := s.local[v4key(src)]; ok {
		if !c.AcceptLocal {
			s.martianSource(ifc, pkt, src, dst, trace.ReasonMartianSource,
				fmt.Sprintf("the source is %s's own address (on %s) and accept_local=0", s.Name, o.Dev.Name))
			return false
		}
		if o == ifc || (c.RPFilter != 1 && len(ifc.Addrs) > 0) {
			return true
		}
		s.martianSource(ifc, pkt, src, dst, trace.ReasonRPFilter,
			fmt.Sprintf("%s: the source is the local address of %s, not of %s", rpf(), o.Dev.Name, ifc.Dev.Name))
		return false
	}
	if s.isBroadcast(src) {
		s.martianSource(ifc, pkt, src, dst, trace.ReasonMartianSource,
			fmt.Sprintf("the source is the broadcast address of one of %s's subnets (a broadcast route in the local table)", s.Name))
		return false
	}
	if c.RPFilter == 0 {
		return true // last_resort, or a reverse route: accepted without rp_filter
	}
	// The reverse lookup is a flow from dst to src entering through the
	// forward route's device (loopback for local delivery), without the
	// mark (src_valid_mark=0).
	rin := s.ifaces[1]
	if out != nil {
		rin = out
	}
	r, ru := s.fibLookup(src, dst, rin, nil, 0)
	if r == nil || r.Type != RouteUnicast {
		what := "no route back to " + src.String()
		if r != nil {
			what = "the route back to " + src.String() + " is \"" + routeText(r, ru) + "\""
		}
		s.martianSource(ifc, pkt, src, dst, trace.ReasonRPFilter, rpf()+": "+what)
		return false
	}
	if r.Dev == ifc {
		return true
	}
	if len(ifc.Addrs) == 0 || c.RPFilter == 1 {
		s.martianSource(ifc, pkt, src, dst, trace.ReasonRPFilter,
			fmt.Sprintf("%s: the route back to %s is \"%s\", not via %s", rpf(), src, routeText(r, ru), ifc.Dev.Name))
		return false
	}
	return true
}

// martianSource drops a packet as ip_handle_martian_source does; the
// detail starts with what the kernel logs when log_martians=1.
func (s *Stack) martianSource(ifc *Iface, pkt *packet.Buffer, src, dst netip.Addr, r trace.Reason, why string) {
	check := "fib_validate_source"
	if r == trace.ReasonMartianSource && (isMulticast(src) || src == limitedBroadcast || isZeronet(src) || isLoopback(src) && !s.EffectiveConf(ifc).RouteLocalnet) {
		check = "ip_route_input_slow"
	}
	s.drop(pkt, ifc.Dev.Name, r, fmt.Sprintf("martian source %s from %s, on dev %s: %s (%s)", dst, src, ifc.Dev.Name, why, check))
}

func (s *Stack) martianDest(ifc *Iface, pkt *packet.Buffer, src, dst netip.Addr, why string) {
	s.drop(pkt, ifc.Dev.Name, trace.ReasonMartianDest, fmt.Sprintf("martian destination %s from %s, dev %s: %s (ip_route_input_slow)", dst, src, ifc.Dev.Name, why))
}
