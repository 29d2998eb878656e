package sim_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni/terway"
	"netsim/sim"
	"netsim/topology"
)

// terwayFallbackYAML is a Terway cluster whose zone cn-hangzhou-j lists no
// pod vSwitch: terwayd there uses the node's own vSwitch (terway
// daemon/builder.go: "if len(eniConfig.VSwitchOptions) == 0 {
// eniConfig.VSwitchOptions = []string{vswitchID} }").
const terwayFallbackYAML = `
name: terway-zone-fallback
seed: 1
vpc:
  name: vpc-ack
  cidr: 192.168.0.0/16
  underlay: vpc
  vswitches:
    - {name: vsw-node-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
    - {name: vsw-pod-h, zone: cn-hangzhou-h, cidr: 192.168.16.0/24}
    - {name: vsw-node-j, zone: cn-hangzhou-j, cidr: 192.168.2.0/24}
nodes:
  - {name: node-h, vswitch: vsw-node-h, ip: 192.168.0.10}
  - {name: node-j, vswitch: vsw-node-j, ip: 192.168.2.10}
cluster:
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: terway
    terway:
      eniMode: shared
      podVSwitches:
        cn-hangzhou-h: [vsw-pod-h]
pods:
  - {name: web-h, node: node-h, ports: [{port: 8080, name: http}]}
  - {name: api-j, node: node-j}
flows:
  - name: zone-j-pod-to-zone-h-pod
    from: pod/api-j
    to: pod/web-h
    protocol: tcp
    port: 8080
    expect: delivered
`

// TestTerwayZoneWithoutPodVSwitch: the scenario loads with a warning,
// builds, and the zone-j pod takes a secondary address of an ENI in the
// node's own vSwitch, and reaches the zone-h pod through the VPC.
func TestTerwayZoneWithoutPodVSwitch(t *testing.T) {
	s, err := topology.Parse("fallback.yaml", []byte(terwayFallbackYAML))
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	w := r.World
	assert.Contains(t, w.Warnings.Error(), "terwayd falls back to the node's own vSwitch vsw-node-j")

	var nodeJ *topology.Host
	for _, h := range w.Nodes {
		if h.Name == "node-j" {
			nodeJ = h
		}
	}
	require.NotNil(t, nodeJ)
	vsws, fallback := terway.PodVSwitches(nodeJ.CNI)
	assert.True(t, fallback)
	require.Len(t, vsws, 1)
	assert.Equal(t, "vsw-node-j", vsws[0].Name)

	api := w.Pod("api-j")
	require.NotNil(t, api)
	assert.True(t, vsws[0].CIDR.Contains(api.IP), "pod address %s is in the node vSwitch %s", api.IP, vsws[0].CIDR)
	assert.NotEqual(t, nodeJ.IP, api.IP)
	enis := terway.ENIs(nodeJ.CNI)
	require.Len(t, enis, 1)
	assert.Equal(t, "vsw-node-j", enis[0].VSwitch.Name, "the secondary ENI is created in the node's vSwitch")
	assert.Contains(t, enis[0].Pods, api.IP)
	web := w.Pod("web-h")
	require.NotNil(t, web)
	assert.Equal(t, "vsw-pod-h", terway.ENIs(w.Pods[0].Node.CNI)[0].VSwitch.Name, "zone h keeps its pod vSwitch")

	var out bytes.Buffer
	topology.WriteOverview(&out, w)
	assert.Contains(t, out.String(), "from ENIs in vsw-node-j (the node's own vSwitch: its zone lists no pod vSwitch)")
	assert.Contains(t, strings.Join(w.Notes, "\n"), "eni_conf lists no pod vSwitch for zone cn-hangzhou-j, so its pods take addresses of the node's own vSwitch vsw-node-j")

	res, err := r.Run(sim.Options{Trace: true})
	require.NoError(t, err)
	require.Len(t, res.Flows, 1)
	assert.True(t, res.Flows[0].Met, "%s", res.Flows[0].Mismatch)
	var nodes []string
	for _, h := range res.Flows[0].Hops {
		if len(nodes) == 0 || nodes[len(nodes)-1] != h.Node {
			nodes = append(nodes, h.Node)
		}
	}
	assert.Contains(t, nodes, "node-h", "the packet reached node-h: %v", nodes)
}
