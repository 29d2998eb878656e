package topology

import (
	"fmt"
	"io"
	"slices"
	"sort"

	"netsim/dataplane/cni/calico"
	"netsim/topology/ackplan"
	"netsim/topology/hint"
)

// Calico is the Calico IP pool and calico-node settings of mode "calico".
// The pool's CIDR is cluster.podCIDR (Calico's default 192.168.0.0/16 when
// left out); each node gets one block of blockSize from it, in node order
// (cluster.nodeCIDRMask does not apply).
type Calico struct {
	// BlockSize is the IPAM block prefix length. Default 26 (64
	// addresses); Calico accepts 20 to 32.
	BlockSize int `yaml:"blockSize"`
	// IPIPMode is the pool's ipipMode: "Always", "CrossSubnet" or
	// "Never". Default "Always" when vxlanMode is unset or Never (the
	// calico.yaml manifest's CALICO_IPV4POOL_IPIP), else "Never".
	IPIPMode string `yaml:"ipipMode"`
	// VXLANMode is the pool's vxlanMode: "Always", "CrossSubnet" or
	// "Never" (the default).
	VXLANMode string `yaml:"vxlanMode"`
	// NATOutgoing masquerades pod traffic leaving the pool (felix's
	// cali-nat-outgoing). Default true, as on calico-node's default pool.
	NATOutgoing *bool `yaml:"natOutgoing"`
	// MTU overrides the pod and tunnel MTU (veth_mtu). Default: the
	// underlay MTU minus the encapsulation overhead (IPIP 20, VXLAN 50).
	MTU int `yaml:"mtu"`
}

var calicoEncapModes = []string{calico.Always, calico.CrossSubnet, calico.Never}

// Calico's IPv4 block size range (the planning rules', with its source).
const (
	minCalicoBlock = ackplan.MinCalicoBlock
	maxCalicoBlock = ackplan.MaxCalicoBlock
)

// calicoDefaults fills in Calico's defaults; it runs before the generic
// cluster defaults, so that nodeCIDRMask becomes the block size.
func (v *validator) calicoDefaults() {
	c := &v.s.Cluster
	if c.CNI.Mode != "calico" {
		return
	}
	if c.CNI.Calico == nil {
		c.CNI.Calico = &Calico{}
	}
	k := c.CNI.Calico
	if c.PodCIDR == "" {
		c.PodCIDR = calico.DefaultPool
	}
	if k.BlockSize == 0 {
		k.BlockSize = calico.DefaultBlockSize
	}
	if k.VXLANMode == "" {
		k.VXLANMode = calico.Never
	}
	if k.IPIPMode == "" {
		k.IPIPMode = calico.Always
		if k.VXLANMode != calico.Never {
			k.IPIPMode = calico.Never
		}
	}
	if k.NATOutgoing == nil {
		k.NATOutgoing = ptr(true)
	}
	if c.NodeCIDRMask != 0 && c.NodeCIDRMask != k.BlockSize {
		v.addf("cluster.nodeCIDRMask", "/%d: with Calico each node gets IPAM blocks of calico.blockSize (/%d), not a node CIDR; leave nodeCIDRMask out or set calico.blockSize", c.NodeCIDRMask, k.BlockSize)
	}
	c.NodeCIDRMask = k.BlockSize
}

// checkCalico checks the calico block.
func (v *validator) checkCalico() {
	cni := &v.s.Cluster.CNI
	if cni.Mode != "calico" && cni.Calico != nil {
		v.addf("cluster.cni.calico", "a calico block needs mode \"calico\", but the mode is %q", cni.Mode)
		return
	}
	k := cni.Calico
	if k == nil {
		return
	}
	const p = "cluster.cni.calico"
	// The block size's range and fit in the pool are a planning rule
	// (node-cidr-mask, package ackplan).
	modeOK := true
	for _, f := range []struct{ key, val string }{{"ipipMode", k.IPIPMode}, {"vxlanMode", k.VXLANMode}} {
		if !slices.Contains(calicoEncapModes, f.val) {
			v.addf(p+"."+f.key, "unknown %s %q: expected Always, CrossSubnet or Never%s", f.key, f.val, hint.DidYouMean(f.val, calicoEncapModes))
			modeOK = false
		}
	}
	if modeOK && k.IPIPMode != calico.Never && k.VXLANMode != calico.Never {
		v.addf(p+".vxlanMode", "vxlanMode %s with ipipMode %s: a Calico IP pool uses one encapsulation; set ipipMode: Never", k.VXLANMode, k.IPIPMode)
	}
	if k.MTU != 0 && (k.MTU < minMTU || k.MTU > maxMTU) {
		v.addf(p+".mtu", "%d is out of range: expected %d to %d, or leave it out to derive it from vpc.mtu", k.MTU, minMTU, maxMTU)
	}
}

// calicoTunnelled reports whether Calico allocates a tunnel address
// (ordinal 0 of each node's block) before the pods.
func (s *Scenario) calicoTunnelled() bool {
	k := s.Cluster.CNI.Calico
	return s.Cluster.CNI.Mode == "calico" && k != nil && (k.IPIPMode != calico.Never || k.VXLANMode != calico.Never)
}

// calicoOptions turns the scenario's calico block into the mode's options.
func calicoOptions(k *Calico) *calico.Options {
	o := &calico.Options{BlockSize: k.BlockSize, IPIPMode: k.IPIPMode, VXLANMode: k.VXLANMode, MTU: k.MTU, NATOutgoing: true}
	if k.NATOutgoing != nil {
		o.NATOutgoing = *k.NATOutgoing
	}
	return o
}

// writeCalicoState prints what a Calico node has besides ip's tables:
// vxlan.calico's FDB (`bridge fdb show dev vxlan.calico`), the IP sets
// (`ipset save`) and BIRD's mesh sessions (`birdcl show protocols`, BGP
// sessions only).
func writeCalicoState(w io.Writer, wd *World, h *Host) {
	m, ok := wd.CNI.(*calico.Mode)
	if !ok {
		return
	}
	if vx := calico.VXLAN(h.CNI); vx != nil {
		fmt.Fprintln(w, "$ bridge fdb show dev "+vx.Dev.Name)
		var lines []string
		for mac, dst := range vx.FDB() {
			lines = append(lines, vx.FDBString(mac, dst))
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	if h.Filter != nil && len(h.Filter.Sets()) > 0 {
		// felix's pool sets (and kube-proxy's in ipvs mode), as
		// cali-nat-outgoing matches them.
		fmt.Fprintln(w, "$ ipset save")
		fmt.Fprint(w, h.Filter.SaveIPSets())
	}
	if lines := m.BGPProtocols(h.CNI); len(lines) > 0 {
		fmt.Fprintln(w, "$ birdcl show protocols  # the node-to-node mesh sessions (AS 64512)")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

// calicoRefresh runs felix's iptables refresh on every node once
// kube-proxy's rules are in (felix keeps its jumps first in the kernel
// chains).
func (b *builder) calicoRefresh() {
	m, ok := b.w.CNI.(*calico.Mode)
	if !ok {
		return
	}
	for i, h := range b.w.Nodes {
		if err := m.Refresh(h.CNI); err != nil {
			b.fail(fmt.Sprintf("nodes[%d]", i), "%v", err)
		}
	}
}
