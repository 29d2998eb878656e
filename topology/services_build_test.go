package topology

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
)

type nopSched struct{}

func (nopSched) Now() time.Duration                                                 { return 0 }
func (nopSched) Deliver(time.Duration, link.Receiver, *link.Device, *packet.Buffer) {}
func (nopSched) AfterFunc(time.Duration, func())                                    {}

const eniScenario = `name: eni
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes: [{name: node-1, vswitch: vsw-a}]
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
resources:
  - apiVersion: v1
    kind: Service
    metadata:
      name: web
      annotations:
        service.beta.kubernetes.io/backend-type: eni
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80}]
`

// TestENIBackendWithFlannelIsAnError: an eni backend type attaches pod
// addresses to the SLB, which Flannel's pod addresses cannot be.
func TestENIBackendWithFlannelIsAnError(t *testing.T) {
	s, err := Parse("eni.yaml", []byte(eniScenario))
	require.NoError(t, err)
	_, err = Build(s, nopSched{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "eni.yaml:")
	assert.Contains(t, err.Error(), "backend-type: eni")
	assert.Contains(t, err.Error(), "Terway")
}

const nodePortScenario = `name: np
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes: [{name: node-1, vswitch: vsw-a, ip: 192.168.0.10}]
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel, flannel: {backend: vxlan}}
resources:
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      type: NodePort
      selector: {app: web}
      ports: [{port: 80, nodePort: 30080}]
`

// TestNodePortAddresses: kube-proxy puts NodePorts on every local address
// but loopback and kube-ipvs0 (IPVS: one virtual service each; iptables:
// one "-m addrtype --dst-type LOCAL" jump), or only on the addresses inside
// cluster.nodePortAddresses (iptables: one "-d ADDR" jump each, in the
// order of the node's devices; upstream's order comes from a map).
func TestNodePortAddresses(t *testing.T) {
	tests := []struct {
		name      string
		mode      string
		addresses []string
		wantIPVS  []string // NodePort virtual services
		wantJumps []string // the KUBE-SERVICES → KUBE-NODEPORTS matches
		localnet  bool     // conf.all.route_localnet set by kube-proxy
	}{
		{name: "ipvs default: every address but lo and kube-ipvs0", mode: "ipvs",
			wantIPVS: []string{"172.20.0.0:30080", "172.20.0.1:30080", "192.168.0.10:30080"}},
		{name: "ipvs nodePortAddresses", mode: "ipvs", addresses: []string{"192.168.0.0/24"},
			wantIPVS: []string{"192.168.0.10:30080"}},
		{name: "ipvs nodePortAddresses matching several", mode: "ipvs", addresses: []string{"172.20.0.0/16", "10.0.0.0/8"},
			wantIPVS: []string{"172.20.0.0:30080", "172.20.0.1:30080"}},
		{name: "iptables default: addrtype LOCAL, localhost too", mode: "iptables",
			wantJumps: []string{"-m addrtype --dst-type LOCAL"}, localnet: true},
		{name: "iptables nodePortAddresses", mode: "iptables", addresses: []string{"192.168.0.0/24"},
			wantJumps: []string{"-d 192.168.0.10/32"}},
		{name: "iptables nodePortAddresses with loopback", mode: "iptables", addresses: []string{"127.0.0.0/8", "172.20.0.0/16"},
			wantJumps: []string{"-d 172.20.0.1/32", "-d 172.20.0.0/32", "-d 127.0.0.1/32"}, localnet: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("np.yaml", []byte(nodePortScenario))
			require.NoError(t, err)
			s.Cluster.ProxyMode = tt.mode
			s.Cluster.NodePortAddresses = tt.addresses
			w, err := Build(s, nopSched{})
			require.NoError(t, err)
			h := w.Node("node-1")
			assert.Equal(t, tt.localnet, h.Stack.ConfAll.RouteLocalnet, "route_localnet")
			if tt.mode == "ipvs" {
				var got []string
				for _, l := range strings.Split(h.IPVS.Table.Format(), "\n") {
					if f := strings.Fields(l); len(f) > 1 && f[0] == "TCP" && strings.HasSuffix(f[1], ":30080") {
						got = append(got, f[1])
					}
				}
				assert.Equal(t, tt.wantIPVS, got)
				return
			}
			var got []string
			for _, l := range strings.Split(h.Filter.Save(false), "\n") {
				if strings.HasPrefix(l, "-A KUBE-SERVICES") && strings.HasSuffix(l, "-j KUBE-NODEPORTS") {
					m := strings.Replace(l, `-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" `, "", 1)
					got = append(got, strings.TrimSuffix(strings.TrimPrefix(m, "-A KUBE-SERVICES "), " -j KUBE-NODEPORTS"))
				}
			}
			assert.Equal(t, tt.wantJumps, got)
		})
	}
}

// TestHostSysctls: conf.all and conf.default apply at boot (devices the
// CNI creates start from conf.default, pods inherit both), conf.DEV once
// the devices exist; a device that does not exist is a located error.
func TestHostSysctls(t *testing.T) {
	s, err := Parse("np.yaml", []byte(nodePortScenario+`pods: [{name: p, node: node-1}]
`))
	require.NoError(t, err)
	s.Nodes[0].Sysctls = map[string]int{
		"net.ipv4.conf.all.rp_filter":       1,
		"net.ipv4.conf.default.rp_filter":   2,
		"net.ipv4.conf.flannel.1.rp_filter": 0,
		"net.ipv4.conf.eth0.accept_local":   1,
	}
	w, err := Build(s, nopSched{})
	require.NoError(t, err)
	st := w.Node("node-1").Stack
	assert.Equal(t, uint8(1), st.ConfAll.RPFilter)
	assert.Equal(t, uint8(2), st.Iface("cni0").Conf.RPFilter, "cni0 starts from conf.default")
	assert.Equal(t, uint8(0), st.Iface("flannel.1").Conf.RPFilter, "conf.flannel.1 set after the CNI made it")
	assert.True(t, st.Iface("eth0").Conf.AcceptLocal)
	assert.Equal(t, uint8(2), st.EffectiveConf(st.Iface("cni0")).RPFilter, "max(all=1, cni0=2)")
	pod := w.Pod("p").Stack
	assert.Equal(t, uint8(1), pod.ConfAll.RPFilter, "the pod's netns copies conf.all")
	assert.Equal(t, uint8(2), pod.Iface("eth0").Conf.RPFilter, "the pod's eth0 starts from the copied conf.default")

	s.Nodes[0].Sysctls = map[string]int{"net.ipv4.conf.eth9.rp_filter": 1}
	_, err = Build(s, nopSched{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nodes[0].sysctls.net.ipv4.conf.eth9.rp_filter")
	assert.Contains(t, err.Error(), "node-1 has no device for net.ipv4.conf.eth9.rp_filter (devices: lo, eth0, cni0")
}
