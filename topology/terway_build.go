package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"netsim/dataplane/cni"
	"netsim/dataplane/cni/terway"
	"netsim/dataplane/netstack"
	"netsim/dataplane/vpc"
	"netsim/topology/ack"
)

// PendingPod is a pod that was never started: the scheduler found no room
// on its node, or the CNI ADD failed. It has a namespace but no devices.
type PendingPod struct {
	Namespace, Name string
	Node            *Host
	// Reason and Message are the pod's event (kubectl describe pod).
	Reason, Message string
	Stack           *netstack.Stack
}

// Ref is "NS/NAME".
func (p *PendingPod) Ref() string { return p.Namespace + "/" + p.Name }

// Event is the event line kubectl describe pod prints.
func (p *PendingPod) Event() string {
	return fmt.Sprintf("Warning  %s  %s", p.Reason, p.Message)
}

// PendingPod returns the Pending pod "NAME" or "NS/NAME", or nil.
func (w *World) PendingPod(ref string) *PendingPod {
	ns, name := "default", ref
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			ns, name = ref[:i], ref[i+1:]
		}
	}
	for _, p := range w.Pending {
		if p.Namespace == ns && p.Name == name {
			return p
		}
	}
	return nil
}

// pending records a pod AddPod left Pending; it reports whether err was
// a PendingError.
func (b *builder) pending(path string, p Pod, node *Host, st *netstack.Stack, err error) bool {
	var pe *cni.PendingError
	if !errors.As(err, &pe) {
		return false
	}
	pp := &PendingPod{Namespace: p.Namespace, Name: p.Name, Node: node, Reason: pe.Reason, Message: pe.Message, Stack: st}
	b.w.Pending = append(b.w.Pending, pp)
	b.w.Warn(path, "pod %s on %s is Pending: %s", pp.Ref(), node.Name, pp.Event())
	return true
}

// clusterPodCIDR is cluster.podCIDR, invalid when not given (Terway).
func clusterPodCIDR(s *Scenario) netip.Prefix {
	p, _ := netip.ParsePrefix(s.Cluster.PodCIDR)
	return p
}

// terwayOptions resolves cluster.cni.terway into the mode's options.
func (b *builder) terwayOptions() *terway.Options {
	s := b.s
	t := s.Cluster.CNI.Terway
	zone := map[string]string{}
	own := map[string]*vpc.VSwitch{}
	for _, n := range s.Nodes {
		if sw := b.vsw[n.VSwitch]; sw != nil {
			zone[n.Name] = sw.Zone
			own[n.Name] = sw
		}
	}
	o := &terway.Options{
		VirtualType:            t.ENIIPVirtualType,
		ENIMode:                t.ENIMode,
		VSwitchSelectionPolicy: t.VSwitchSelectionPolicy,
		VSwitches:              map[string][]*vpc.VSwitch{},
		Zone:                   func(node string) string { return zone[node] },
		// A zone without pod vSwitches: terwayd's fallback to the node's
		// own vSwitch (terway daemon/builder.go, see terway.Options).
		NodeVSwitch: func(node string) *vpc.VSwitch { return own[node] },
		Limits: func(node string) terway.Limits {
			// The node's instance type (its instanceType, or ack.DefaultInstanceType).
			var t ack.InstanceType
			if h := b.w.Node(node); h != nil {
				t = h.InstanceType
			}
			return terway.Limits{InstanceType: t.Name, Adapters: t.ENIs, IPv4PerAdapter: t.IPv4PerENI}
		},
		Seed: seedFor(s.Seed, "terway"),
	}
	for z, names := range t.PodVSwitches {
		for _, n := range names {
			if sw := b.vsw[n]; sw != nil {
				o.VSwitches[z] = append(o.VSwitches[z], sw)
			}
		}
	}
	return o
}

// vswitchIPAM is the builder's vSwitch address allocation, shared with
// the CNI (cni.VSwitchIPAM).
type vswitchIPAM struct{ b *builder }

func (m vswitchIPAM) Allocate(sw *vpc.VSwitch) netip.Addr {
	a := m.b.allocate(sw.CIDR)
	if a.IsValid() {
		m.b.used.add(a)
	}
	return a
}

func (m vswitchIPAM) Take(sw *vpc.VSwitch, a netip.Addr) bool {
	if !sw.CIDR.Contains(a) || isVSwitchReserved(sw.CIDR, a) || m.b.used.has(a) {
		return false
	}
	m.b.used.add(a)
	return true
}

func (m vswitchIPAM) Available(sw *vpc.VSwitch) int {
	return m.b.used.free(sw.CIDR)
}

// eniBackendName names an SLB eni backend as the console lists it: the
// pod and the ENI that owns its address (the address alone when no ENI
// owns it).
func (w *World) eniBackendName(a netip.Addr) string {
	name := a.String()
	if p := w.PodByIP(a); p != nil {
		name = p.Ref()
	}
	if w.VPC != nil {
		for _, e := range w.VPC.ENIs() {
			if e.Primary == a || slices.Contains(e.Secondary, a) {
				return name + " on " + e.ID
			}
		}
	}
	return name
}
