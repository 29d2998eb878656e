package topology

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/ack"
)

// instanceTypesBase is a flannel scenario with instance types; %s is the
// CNI mode block.
const instanceTypesBase = `name: capacity-test
instanceTypes:
  - name: ecs.custom.large
    eniQuantity: 3
    eniPrivateIpAddressQuantity: 10
  - name: ecs.g7.2xlarge
    eniTotalQuantity: 12
    eniTrunkSupported: true
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a, instanceType: ecs.custom.large}
  - {name: node-3, vswitch: vsw-a, instanceType: ecs.g7.2xlarge}
  - {name: node-4, vswitch: vsw-a, instanceType: ecs.g8i.xlarge}
instances:
  - {name: ecs-1, vswitch: vsw-a, instanceType: ecs.c7.large}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  nodeCIDRMask: 26
  cni:
%s
`

const flannelCNI = "    mode: flannel"

func TestInstanceTypeResolution(t *testing.T) {
	s := mustParse(t, fmt.Sprintf(instanceTypesBase, flannelCNI))
	tests := []struct {
		name                      string
		instanceType              string
		enis, ipv4, total, shared int
		trunk                     bool
		source                    string
		unverified                []string
	}{
		{"default", "", 4, 15, 20, 45, true, "csi-driver", nil},
		{"added by the scenario", "ecs.custom.large", 3, 10, 3, 20, false, "scenario build.yaml instanceTypes[0]", nil},
		{"built-in with two figures overridden", "ecs.g7.2xlarge", 4, 15, 12, 45, true,
			"scenario build.yaml instanceTypes[1] over the built-in figures (ECS docs, General purpose", nil},
		{"built-in, nothing sourced", "ecs.g8i.xlarge", 4, 15, 0, 45, false, "no public source found",
			[]string{ack.FieldENIs, ack.FieldIPv4PerENI, ack.FieldTotalENIs, ack.FieldTrunkSupported}},
		{"built-in, totals unknown", "ecs.c7.large", 3, 6, 0, 12, false, "Compute optimized",
			[]string{ack.FieldTotalENIs, ack.FieldTrunkSupported}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, ok := s.InstanceTypeOf(tt.instanceType)
			require.True(t, ok)
			assert.Equal(t, tt.enis, it.ENIs)
			assert.Equal(t, tt.ipv4, it.IPv4PerENI)
			assert.Equal(t, tt.total, it.TotalENIs)
			assert.Equal(t, tt.trunk, it.TrunkSupported)
			assert.Equal(t, tt.shared, it.SharedENIPods())
			assert.Contains(t, it.Source, tt.source)
			assert.Equal(t, tt.unverified, it.Unverified)
		})
	}
	_, ok := s.InstanceTypeOf("ecs.nope.large")
	assert.False(t, ok)

	// Build puts the resolved type on every host.
	w := mustBuild(t, fmt.Sprintf(instanceTypesBase, flannelCNI))
	var got []string
	for _, h := range append(slices.Clone(w.Nodes), w.Instances...) {
		got = append(got, h.Name+"="+h.InstanceType.Name)
	}
	assert.Equal(t, []string{"node-1=ecs.g7.xlarge", "node-2=ecs.custom.large", "node-3=ecs.g7.2xlarge", "node-4=ecs.g8i.xlarge", "ecs-1=ecs.c7.large"}, got)
}

// withTerway makes "terway" a loadable CNI mode for the test (it is
// registered by the Terway work, not by this package's tests).
func withTerway(t *testing.T) {
	t.Helper()
	if slices.Contains(CNIModes, "terway") {
		return
	}
	saved := CNIModes
	CNIModes = append(slices.Clone(CNIModes), "terway")
	t.Cleanup(func() { CNIModes = saved })
}

// joinProblems parses src and returns the "cannot join" problems, as
// "LINE:COL: PATH: MSG" (other problems of a Terway scenario are not this
// test's business).
func joinProblems(t *testing.T, src string) []string {
	t.Helper()
	_, err := Parse("terway.yaml", []byte(src))
	var probs Problems
	if err != nil {
		require.True(t, errors.As(err, &probs), "%v", err)
	}
	var out []string
	for _, p := range probs {
		if strings.Contains(p.Msg, "cannot join") {
			out = append(out, fmt.Sprintf("%d:%d: %s: %s", p.Line, p.Column, p.Path, p.Msg))
		}
	}
	return out
}

func TestTerwayJoinRule(t *testing.T) {
	withTerway(t)
	src := `name: terway-join
instanceTypes:
  - {name: ecs.tiny.large, eniQuantity: 13, eniPrivateIpAddressQuantity: 1}
  - {name: ecs.tinier.large, eniQuantity: 12, eniPrivateIpAddressQuantity: 1}
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a, instanceType: ecs.g6.large}
  - {name: node-3, vswitch: vsw-a, instanceType: ecs.g7.large}
  - {name: node-4, vswitch: vsw-a, instanceType: ecs.tiny.large}
  - {name: node-5, vswitch: vsw-a, instanceType: ecs.tinier.large}
  - {name: node-6, vswitch: vsw-a, instanceType: ecs.c6.large}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: terway
`
	l2, c2 := posOf(t, src, "node-2>>ecs.g6.large")
	l5, c5 := posOf(t, src, "node-5>>ecs.tinier.large")
	l6, c6 := posOf(t, src, "node-6>>ecs.c6.large")
	assert.Equal(t, []string{
		fmt.Sprintf(`%d:%d: nodes[1].instanceType: node "node-2" cannot join the cluster: ecs.g6.large allows (EniQuantity 2 − 1) × EniPrivateIpAddressQuantity 6 = 6 pods in shared ENI mode: ACK requires a maximum number of pods per node greater than 11; the smallest ecs.g6 type that joins is ecs.g6.xlarge ((EniQuantity 3 − 1) × EniPrivateIpAddressQuantity 10 = 20) [rule pods-per-node]`, l2, c2),
		// 12 − 1 = 11 is not above 11; 13 − 1 = 12 (node-4) is.
		fmt.Sprintf(`%d:%d: nodes[4].instanceType: node "node-5" cannot join the cluster: ecs.tinier.large allows (EniQuantity 12 − 1) × EniPrivateIpAddressQuantity 1 = 11 pods in shared ENI mode: ACK requires a maximum number of pods per node greater than 11 [rule pods-per-node]`, l5, c5),
		fmt.Sprintf(`%d:%d: nodes[5].instanceType: node "node-6" cannot join the cluster: ecs.c6.large allows (EniQuantity 2 − 1) × EniPrivateIpAddressQuantity 6 = 6 pods in shared ENI mode: ACK requires a maximum number of pods per node greater than 11; the smallest ecs.c6 type that joins is ecs.c6.xlarge ((EniQuantity 3 − 1) × EniPrivateIpAddressQuantity 10 = 20) [rule pods-per-node]`, l6, c6),
	}, joinProblems(t, src))

	// The same nodes with Flannel: capacity comes from the node CIDR, the
	// instance type does not matter.
	assert.Empty(t, joinProblems(t, strings.Replace(src, "mode: terway", "mode: flannel", 1)))

	// An instanceTypes entry can make a refused type join.
	over := strings.Replace(src, "instanceTypes:\n", "instanceTypes:\n  - {name: ecs.g6.large, eniPrivateIpAddressQuantity: 12}\n", 1)
	got := joinProblems(t, over)
	require.Len(t, got, 2)
	assert.NotContains(t, strings.Join(got, "\n"), "node-2")
}

func TestShowInstanceCapacity(t *testing.T) {
	w := mustBuild(t, fmt.Sprintf(instanceTypesBase, flannelCNI))
	var b bytes.Buffer
	require.NoError(t, WriteState(&b, w, "node-4"))
	out := b.String()
	for _, want := range []string{
		`$ aliyun ecs DescribeInstanceTypes --InstanceTypes '["ecs.g8i.xlarge"]'  # modelled: the figures netsim uses`,
		"EniQuantity 4?  EniPrivateIpAddressQuantity 15?  EniTotalQuantity unknown?  EniTrunkSupported false?\n",
		"source: no public source found: figures of the g7 type of the same size\n",
		"unverified: EniQuantity, EniPrivateIpAddressQuantity, EniTotalQuantity, EniTrunkSupported (marked ?",
		"  terway shared ENI     (EniQuantity 4 − 1) × EniPrivateIpAddressQuantity 15 = 45\n",
		"  terway exclusive ENI  EniQuantity 4 − 1 = 3 — cannot join: ACK requires more than 6 ENIs\n",
		"  terway trunk ENI      unknown: EniTotalQuantity not sourced\n",
		"  flannel               node CIDR /26: 2^(32−26) − 1 = 63 (terraform alicloud_cs_managed_kubernetes node_cidr_mask)  ← this cluster\n",
		"$ aliyun ecs DescribeNetworkInterfaces --InstanceId node-4  # modelled: 1 of 4 ENIs (EniQuantity)\n",
	} {
		assert.Contains(t, out, want)
	}
	assert.Regexp(t, `\neni-[0-9a-z]{20}  Primary   eth0       00:16:3e(:[0-9a-f]{2}){3}  vsw-a \(z1\)  192\.168\.0\.\d+ \(primary\)\n`, out)

	b.Reset()
	require.NoError(t, WriteState(&b, w, "node-3"))
	assert.Contains(t, b.String(), "EniTotalQuantity 12  EniTrunkSupported true\n")
	assert.Contains(t, b.String(), "  terway trunk ENI      EniTotalQuantity 12 − EniQuantity 4 = 8 (maximum EniTotalQuantity 12 − 2 = 10)\n")

	// An instance gets its type and ENIs, but no pod capacity.
	b.Reset()
	require.NoError(t, WriteState(&b, w, "ecs-1"))
	assert.Contains(t, b.String(), `'["ecs.c7.large"]'`)
	assert.NotContains(t, b.String(), "max pods")
	assert.Contains(t, b.String(), "--InstanceId ecs-1  # modelled: 1 of 3 ENIs")
}
