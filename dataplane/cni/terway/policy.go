package terway

import (
	"net/netip"

	"netsim/dataplane/cni"
	"netsim/dataplane/netstack"
)

// eniTable programs the ENI's policy routing table (interim: the stack
// has no policy routing yet, pod traffic follows the main table).
func (m *Mode) eniTable(n *cni.Node, e *ENI, ifc *netstack.Iface) error { return nil }

// podRules adds the pod's two rules (interim: see eniTable).
func (m *Mode) podRules(n *cni.Node, e *ENI, ip netip.Addr) error { return nil }
