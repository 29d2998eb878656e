package terway

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/cni"
	"netsim/dataplane/netstack"
)

// eniTable programs a shared ENI's policy routing table, 1000 + its
// ifindex: "default via <vSwitch gateway> dev ethN onlink table 100N"
// (daemon/rule_linux.go).
func (m *Mode) eniTable(n *cni.Node, e *ENI, ifc *netstack.Iface) error {
	r := &netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: e.VSwitch.Gateway, Dev: ifc, Onlink: true}
	if err := n.Stack.AddTableRoute(e.Table, r); err != nil {
		return fmt.Errorf("terway %s: %w", n.Name, err)
	}
	return nil
}

// podRules adds the pod's two rules (plugin/datapath/policy_router_linux.go):
// "512: from all to <podIP> lookup main" for traffic to the pod, and
// "2048: from <podIP> lookup <ENI table>" for the pod's own traffic.
func (m *Mode) podRules(n *cni.Node, e *ENI, ip netip.Addr) error {
	host := netip.PrefixFrom(ip, 32)
	for _, r := range []netstack.Rule{
		{Priority: ToContainerPriority, To: host, Table: netstack.TableMain},
		{Priority: FromContainerPriority, From: host, Table: e.Table},
	} {
		if err := n.Stack.AddRule(r); err != nil {
			return fmt.Errorf("terway %s: ip rule add %s: %w", n.Name, r, err)
		}
	}
	return nil
}
