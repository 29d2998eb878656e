package vpc

import (
	"time"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
)

// L2 is an on-premises style underlay: one Ethernet segment (a learning
// switch) joining the hosts' NICs, so hosts ARP for each other directly and
// any host can be a next hop — what flannel host-gw needs.
type L2 struct {
	Name    string
	Switch  *link.Bridge
	Latency time.Duration
	env     *link.Env
	n       int
}

// NewL2 creates a segment; latency is the modelled one-way wire delay.
func NewL2(env *link.Env, name string, mtu int, latency time.Duration) *L2 {
	mac := packet.MAC{0x02, 0x4c, 0x32, 0, 0, 0}
	sw := link.NewBridge(env, name, "switch", mtu, mac)
	sw.SetMTU(mtu) // a switch, not a Linux bridge: its MTU does not follow the ports
	return &L2{Name: name, Switch: sw, Latency: latency, env: env}
}

// Attach cables dev (an instance's NIC) to a new switch port named after
// the instance.
func (l *L2) Attach(instance string, dev *link.Device) {
	l.n++
	mac := packet.MAC{0x02, 0x4c, 0x32, 0, byte(l.n >> 8), byte(l.n)}
	port := link.NewDevice(l.env, l.Name, instance, "veth", link.Ether, dev.MTU, mac, nil)
	link.Connect(dev, port, l.Latency/2)
	l.Switch.AddPort(port)
}
