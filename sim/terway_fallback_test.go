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
  - {name: pinned-j, node: node-j, ip: 192.168.2.50}
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
	for _, mode := range []string{"eniMode: shared", "eniMode: shared\n      eniipVirtualType: ipvlan", "eniMode: exclusive"} {
		t.Run(mode, func(t *testing.T) { testTerwayFallback(t, mode) })
	}
}

func testTerwayFallback(t *testing.T, mode string) {
	yml := strings.Replace(terwayFallbackYAML, "      eniMode: shared\n", "      "+mode+"\n", 1)
	require.Contains(t, yml, mode)
	if strings.Contains(mode, "exclusive") {
		// ACK's exclusive ENI join rule: more than six ENIs.
		yml = strings.ReplaceAll(yml, "ip: 192.168.0.10}", "ip: 192.168.0.10, instanceType: ecs.g7.3xlarge}")
		yml = strings.ReplaceAll(yml, "ip: 192.168.2.10}", "ip: 192.168.2.10, instanceType: ecs.g7.3xlarge}")
	}
	s, err := topology.Parse("fallback.yaml", []byte(yml))
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
	pinned := w.Pod("pinned-j")
	require.NotNil(t, pinned)
	assert.Equal(t, "192.168.2.50", pinned.IP.String(), "a pinned address in the node vSwitch is accepted")
	enis := terway.ENIs(nodeJ.CNI)
	require.NotEmpty(t, enis)
	var owner *terway.ENI
	for _, e := range enis {
		assert.Equal(t, "vsw-node-j", e.VSwitch.Name, "every secondary ENI of node-j is created in the node's vSwitch")
		if _, ok := e.Pods[api.IP]; ok || e.Primary == api.IP {
			owner = e
		}
	}
	require.NotNil(t, owner, "an ENI of node-j owns %s", api.IP)
	if strings.Contains(mode, "exclusive") {
		assert.Equal(t, "default/api-j", owner.Pod, "the ENI was moved into the pod")
	}
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
	assert.Contains(t, nodes, "vpc", "the VPC delivered it: %v", nodes)
	assert.Contains(t, nodes, "default/web-h", "the packet reached the zone-h pod: %v", nodes)
}
