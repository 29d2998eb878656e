package terway

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/cni"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
)

// DefaultHostStackCIDRs is terway's default host_stack_cidrs: node-local
// DNS's 169.254.20.10 (cmd/terway-cli/policy.go).
var DefaultHostStackCIDRs = []netip.Prefix{netip.MustParsePrefix("169.254.20.10/32")}

// ipvlanENI is the ipvlan state of a shared ENI (IPvlanDriver): the port
// on the ENI, the host slave ipvl_<ENI ifindex> and the ENI's clsact
// egress redirects.
type ipvlanENI struct {
	port *link.IPVlanPort
	host *link.IPVlan
	tc   *link.Clsact
}

// setupIPVlanENI makes a new ENI an ipvlan L2 port with the host slave
// ipvl_N (NOARP, the node IP /32 scope host, setupInitNamespace) and the
// tc egress filters that send the Service CIDR and the host-stack CIDRs
// into the host stack (setupFilters). The ENI itself gets no address.
func (m *Mode) setupIPVlanENI(n *cni.Node, e *ENI, ifc *netstack.Iface) error {
	port, err := link.NewIPVlanPort(ifc.Dev, link.IPVlanL2)
	if err != nil {
		return fmt.Errorf("terway %s: %w", n.Name, err)
	}
	host, err := port.AddSlave(n.Name, link.IPVlanHostName(ifc.Dev.Index), m.c.UnderlayMTU)
	if err != nil {
		return fmt.Errorf("terway %s: %w", n.Name, err)
	}
	hi := n.Stack.AddIface(host.Dev)
	hi.NoARP = true
	hi.Conf.RPFilter = 0
	if err := n.Stack.AddAddrAlias(host.Dev.Name, netip.PrefixFrom(n.IP, 32)); err != nil {
		return fmt.Errorf("terway %s: %w", n.Name, err)
	}
	if err := host.AddAddr(n.IP); err != nil {
		return fmt.Errorf("terway %s: %w", n.Name, err)
	}
	tc := link.NewClsact(ifc.Dev)
	for _, c := range append(append([]netip.Prefix(nil), m.hostStackCIDRs()...), m.c.ServiceCIDR) {
		if _, err := tc.AddRedirect(link.TerwayRedirectPrio, c, host.Dev); err != nil {
			return fmt.Errorf("terway %s: tc filter on %s: %w", n.Name, e.Name, err)
		}
	}
	e.ipvlan = &ipvlanENI{port: port, host: host, tc: tc}
	return nil
}

func (m *Mode) hostStackCIDRs() []netip.Prefix {
	if m.o.HostStackCIDRs != nil {
		return m.o.HostStackCIDRs
	}
	return DefaultHostStackCIDRs
}

// wireIPVlan is the IPVlan datapath for a shared-ENI pod: eth0 an ipvlan
// slave of the ENI with the pod IP and the vSwitch prefix, "default via
// <gateway> dev eth0 onlink", "<node IP> dev eth0 scope link" with a
// permanent neighbour on eth0's own (the ENI's) MAC; on the host
// "<podIP> dev ipvl_N scope link" (generateContCfgForIPVlan,
// generateSlaveLinkCfgForIPVlan).
func (m *Mode) wireIPVlan(p *cni.Pod, e *ENI, who string) error {
	n := p.Node
	mtu := m.PodMTU()
	if p.MTU != 0 {
		mtu = p.MTU
	}
	sl, err := e.ipvlan.port.AddSlave(who, "eth0", mtu)
	if err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	ps := p.Stack
	eth0 := ps.AddIface(sl.Dev)
	if err := ps.AddAddr("eth0", netip.PrefixFrom(p.IP, e.VSwitch.CIDR.Bits())); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	if err := sl.AddAddr(p.IP); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	for _, r := range []*netstack.Route{
		{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: e.VSwitch.Gateway, Dev: eth0, Onlink: true},
		{Dst: netip.PrefixFrom(n.IP, 32), Dev: eth0, Scope: "link"},
	} {
		if err := ps.AddRoute(r); err != nil {
			return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
		}
	}
	if err := ps.AddNeigh("eth0", n.IP, sl.Dev.MAC, true); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	hi := n.Stack.IfaceOf(e.ipvlan.host.Dev)
	if err := n.Stack.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(p.IP, 32), Dev: hi, Scope: "link"}); err != nil {
		return fmt.Errorf("terway %s: pod %s: %w", n.Name, who, err)
	}
	// No veth: the pod's host-side device is its own slave (deleting the
	// pod takes it down, not the shared ipvl_N).
	p.HostVeth = sl.Dev
	return nil
}

// IPVlanState returns, for an ENI in ipvlan mode, its tc egress filters
// (`tc filter show dev ethN egress`) and its slaves (`ip -d link`); nil
// otherwise.
func (e *ENI) IPVlanState() (filters []*link.U32Redirect, slaves []*link.IPVlan) {
	if e.ipvlan == nil {
		return nil, nil
	}
	return e.ipvlan.tc.Filters(), e.ipvlan.port.Slaves()
}
