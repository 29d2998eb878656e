package topology

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const nextHopScenario = `name: nh
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a}
  - {name: node-3, vswitch: vsw-a}
instances:
  - {name: ecs-gw, vswitch: vsw-a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel, flannel: {backend: BACKEND}}
flows:
  - {action: delete-vpc-route, node: node-3}
  - {action: add-vpc-route, destination: 172.20.2.0/24, nextHop: NEXTHOP}
`

// TestWrongNextHopWarning: a VPC entry added by hand (an add-vpc-route
// action after the CNI's entry was deleted) that sends a node's pod
// CIDR to a host that cannot deliver it is a located warning; one to the
// right node, or to a node that routes the pods itself (vxlan), is not.
func TestWrongNextHopWarning(t *testing.T) {
	tests := []struct {
		name, backend, nextHop string
		want                   string // substring of the warning; "" none
	}{
		{"ali-vpc, wrong node", "alivpc", "node-2", `whose route for it is "default via 192.168.0.253 dev eth0", straight back to the VPC`},
		{"ali-vpc, a plain instance", "alivpc", "ecs-gw", "which does not forward (net.ipv4.ip_forward=0)"},
		{"ali-vpc, restored right", "alivpc", "node-3", ""},
		{"vxlan, wrong node: it routes the pods through flannel.1", "vxlan", "node-2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.NewReplacer("NEXTHOP", tt.nextHop, "BACKEND", tt.backend).Replace(nextHopScenario)
			if tt.backend == "vxlan" { // vxlan makes no VPC entries to delete
				text = strings.Replace(text, "  - {action: delete-vpc-route, node: node-3}\n", "", 1)
			}
			s, err := Parse("nh.yaml", []byte(text))
			require.NoError(t, err)
			w, err := Build(s, nopSched{})
			require.NoError(t, err)
			if tt.want == "" {
				assert.Empty(t, w.Warnings)
				return
			}
			require.Len(t, w.Warnings, 1)
			msg := w.Warnings[0].String()
			assert.Contains(t, msg, "nh.yaml:17:")
			assert.Contains(t, msg, ".nextHop")
			assert.Contains(t, msg, "overlaps node-3's pod CIDR 172.20.2.0/24")
			assert.Contains(t, msg, tt.want)
		})
	}
}
