package sim_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/trace"
	"netsim/sim"
	"netsim/topology"
)

// bridgedDNATScenario: a client and a web pod on node-1, a Service in front
// of web and one in front of the client itself (hairpin).
const bridgedDNATScenario = `
name: bridged-dnat
seed: 3
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-a, ip: 192.168.0.10}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  proxyMode: iptables
  cni: {mode: flannel, flannel: {backend: vxlan}}
pods:
  - {name: client, node: node-1, labels: {app: client}, ports: [{port: 9000}]}
  - {name: web, node: node-1, labels: {app: web}, ports: [{port: 8080}]}
resources:
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
  - apiVersion: v1
    kind: Service
    metadata: {name: self}
    spec:
      selector: {app: client}
      ports: [{port: 9000, targetPort: 9000}]
flows:
  - {name: same-node, from: pod/client, to: svc/web, protocol: tcp, port: 80}
  - {name: hairpin, from: pod/client, to: svc/self, protocol: tcp, port: 9000}
`

// podMAC is the MAC the CNI bridge plugin gives a pod: 0a:58 and its IPv4
// address.
func podMAC(t *testing.T, ip string) string {
	a, err := netip.ParseAddr(ip)
	require.NoError(t, err)
	b := a.As4()
	return fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// TestBridgedDNAT: br_netfilter keeps a frame DNATed to a pod behind the
// same bridge bridged (br_nf_pre_routing_finish → bridged_dnat →
// br_nf_pre_routing_finish_bridge): on the host side of the endpoint's veth
// the SYN still has the client's source MAC and TTL 64, and node-1 sends
// no ICMP redirect. Through its own Service the client's SYN goes back out
// its ingress port (hairpin on) masqueraded to cni0's address, and the
// SYN-ACK, de-masqueraded at PREROUTING, is bridged back the same way.
func TestBridgedDNAT(t *testing.T) {
	s, err := topology.Parse("bridged-dnat.yaml", []byte(bridgedDNATScenario))
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	res, err := r.Run(sim.Options{Trace: true})
	require.NoError(t, err)
	require.Len(t, res.Flows, 2)
	tests := []struct {
		flow, seen string
		// segments: the flags of the segments to find on node-1's veths,
		// and whose MAC they carry as source: "client", or "pod" for
		// another pod's (anything but cni0's).
		segments map[string]string
	}{
		{flow: "same-node", segments: map[string]string{"[S]": "client", "[S.]": "pod"}},
		{flow: "hairpin", seen: "172.20.0.1", segments: map[string]string{"[S]": "client", "[S.]": "client"}},
	}
	cni0 := podMAC(t, "172.20.0.1") // node-1's cni0: the first address of 172.20.0.0/24
	for i, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			f := res.Flows[i]
			require.Equal(t, tt.flow, f.Name)
			require.Equal(t, "delivered", f.Verdict.Result, "%s at %s: %s", f.Verdict.Reason, f.Verdict.Where, f.Verdict.Detail)
			if tt.seen != "" {
				assert.Equal(t, tt.seen, f.SeenSource)
			}
			found := map[string]bool{}
			for _, h := range f.Hops {
				assert.False(t, h.Kind == trace.KindICMP && strings.Contains(h.Match+h.Change+h.Lookup, "redirect"),
					"node-1 sends no ICMP redirect for a bridged DNAT: %+v", h)
				if h.Kind != trace.KindTx || h.Node != "node-1" || !strings.HasPrefix(h.Device, "veth") {
					continue
				}
				for flags, from := range tt.segments {
					if !strings.Contains(h.After, "TCP "+flags+" ") {
						continue
					}
					found[flags] = true
					if from == "client" {
						mac := podMAC(t, f.SrcIP)
						assert.True(t, strings.HasPrefix(h.After, mac+" > "), "%s leaves %s with the client's source MAC %s: %s", flags, h.Device, mac, h.After)
					} else {
						assert.False(t, strings.HasPrefix(h.After, cni0+" > "), "%s leaves %s with the pod's source MAC, not cni0's: %s", flags, h.Device, h.After)
					}
					assert.Contains(t, h.After, "ttl 64,", "%s is bridged, not routed: TTL kept", flags)
				}
			}
			for flags := range tt.segments {
				assert.True(t, found[flags], "no %s segment sent out a veth of node-1", flags)
			}
		})
	}
}
