package topology

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// calicoScenario is baseScenario in Calico mode: no pod CIDR (the default
// pool), node-1's pinned pod CIDR a /26 block.
func calicoScenario() *Scenario {
	s := baseScenario()
	s.Cluster.PodCIDR = ""
	s.Cluster.CNI = CNI{Mode: "calico"}
	s.Nodes[0].PodCIDR = "192.168.64.0/26"
	s.Pods[0].IP = "192.168.64.5"
	s.VPC.CIDR = "10.0.0.0/16"
	s.VPC.VSwitches[0].CIDR = "10.0.0.0/24"
	s.VPC.VSwitches[1].CIDR = "10.0.1.0/24"
	s.Nodes[0].IP = "10.0.0.10"
	s.Instances[0].IP = "10.0.1.10"
	s.Flows[2].To = "10.0.0.10"
	return s
}

func TestValidateCalicoDefaults(t *testing.T) {
	s := calicoScenario()
	require.Empty(t, s.Validate())
	k := s.Cluster.CNI.Calico
	require.NotNil(t, k, "created for mode calico")
	assert.Equal(t, "192.168.0.0/16", s.Cluster.PodCIDR, "calico-node's default pool")
	assert.Equal(t, 26, k.BlockSize)
	assert.Equal(t, 26, s.Cluster.NodeCIDRMask, "node blocks are blockSize")
	assert.Equal(t, "Always", k.IPIPMode)
	assert.Equal(t, "Never", k.VXLANMode)
	assert.True(t, *k.NATOutgoing)

	s = calicoScenario()
	s.Cluster.CNI.Calico = &Calico{VXLANMode: "Always"}
	require.Empty(t, s.Validate())
	assert.Equal(t, "Never", s.Cluster.CNI.Calico.IPIPMode, "a VXLAN pool does not default to IPIP")
}

func TestValidateCalicoRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Scenario)
		path   string
		msg    string
	}{
		{"ipipMode unknown", func(s *Scenario) { s.Cluster.CNI.Calico = &Calico{IPIPMode: "always"} }, "cluster.cni.calico.ipipMode", `did you mean "Always"?`},
		{"vxlanMode unknown", func(s *Scenario) { s.Cluster.CNI.Calico = &Calico{VXLANMode: "Sometimes"} }, "cluster.cni.calico.vxlanMode", "Always, CrossSubnet or Never"},
		{"two encapsulations", func(s *Scenario) { s.Cluster.CNI.Calico = &Calico{IPIPMode: "Always", VXLANMode: "CrossSubnet"} }, "cluster.cni.calico.vxlanMode", "one encapsulation"},
		{"block too large", func(s *Scenario) { s.Cluster.CNI.Calico = &Calico{BlockSize: 19} }, "cluster.cni.calico.blockSize", "/20 to /32"},
		{"block larger than the pool", func(s *Scenario) {
			s.Cluster.PodCIDR = "192.168.64.0/24"
			s.Cluster.CNI.Calico = &Calico{BlockSize: 22}
		}, "cluster.cni.calico.blockSize", "larger than the pool"},
		{"mtu", func(s *Scenario) { s.Cluster.CNI.Calico = &Calico{MTU: 100} }, "cluster.cni.calico.mtu", "576 to 9000"},
		{"nodeCIDRMask with calico", func(s *Scenario) { s.Cluster.NodeCIDRMask = 24 }, "cluster.nodeCIDRMask", "calico.blockSize"},
		{"calico block with flannel", func(s *Scenario) {
			s.Cluster.CNI.Mode = "flannel"
			s.Cluster.CNI.Calico = &Calico{}
		}, "cluster.cni.calico", `needs mode "calico"`},
		{"node block not a block", func(s *Scenario) { s.Nodes[0].PodCIDR = "192.168.64.0/24" }, "nodes[0].podCIDR", "/26"},
		{"pod on the tunnel address", func(s *Scenario) { s.Pods[0].IP = "192.168.64.0" }, "pods[0].ip", "tunnel device"},
		{"pool overlaps the VPC", func(s *Scenario) { s.Cluster.PodCIDR = "10.0.0.0/16" }, "cluster.podCIDR", "with Calico"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := calicoScenario()
			tt.mutate(s)
			probs := s.Validate()
			require.NotEmpty(t, probs, "no problem reported")
			for _, p := range probs {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no problem at %s containing %q; got:\n%s", tt.path, tt.msg, probs.Error())
		})
	}
}

func TestValidateCalicoAccepts(t *testing.T) {
	// Without a tunnel the block's first address is a pod address; the
	// last one too (no broadcast address in a block).
	for _, ip := range []string{"192.168.64.0", "192.168.64.63"} {
		s := calicoScenario()
		s.Cluster.CNI.Calico = &Calico{IPIPMode: "Never"}
		s.Pods[0].IP = ip
		assert.Empty(t, s.Validate(), ip)
	}
}
