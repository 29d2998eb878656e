package topology

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology/k8s"
)

// TestValidateLimits checks that exceeding a limit, or naming a
// destination netsim refuses, is exactly one problem at the field that
// caused it.
func TestValidateLimits(t *testing.T) {
	manyNodes := func(s *Scenario, n int) {
		s.VPC.VSwitches = append(s.VPC.VSwitches, VSwitch{Name: "vsw-c", Zone: "z-c", CIDR: "192.168.32.0/19"})
		s.Cluster.PodCIDR = "172.16.0.0/12"
		s.Cluster.ServiceCIDR = "10.96.0.0/16"
		for i := len(s.Nodes); i < n; i++ {
			s.Nodes = append(s.Nodes, Node{Name: fmt.Sprintf("n-%d", i), VSwitch: "vsw-c"})
		}
	}
	tests := []struct {
		name   string
		mutate func(s *Scenario)
		path   string
		msg    string
	}{
		{"nodes over the limit", func(s *Scenario) {
			manyNodes(s, maxNodes+1)
			s.Cluster.CNI = CNI{Mode: "calico"} // ACK allows 15,000 nodes with it
			s.Cluster.PodCIDR, s.Cluster.NodeCIDRMask = "172.16.0.0/12", 0
			s.Nodes[0].PodCIDR = ""
		}, "nodes[5000]", "5,001 nodes are more than netsim's limit of 5,000 (a memory bound"},
		{"vxlan nodes over the limit", func(s *Scenario) { manyNodes(s, maxPeerNodes+1) }, "nodes[1000]", "1,001 nodes are more than netsim's limit of 1,000 with flannel's vxlan backend"},
		{"instances over the limit", func(s *Scenario) {
			s.VPC.VSwitches = append(s.VPC.VSwitches, VSwitch{Name: "vsw-c", Zone: "z-c", CIDR: "192.168.16.0/20"})
			for i := range maxInstances {
				s.Instances = append(s.Instances, Instance{Name: fmt.Sprintf("ecs-x%d", i), VSwitch: "vsw-c"})
			}
		}, "instances[5000]", "5,001 instances are more than netsim's limit of 5,000"},
		{"pods over the limit", func(s *Scenario) {
			s.Cluster.NodeCIDRMask = 24
			for i := range maxPods {
				s.Pods = append(s.Pods, Pod{Name: fmt.Sprintf("p-%d", i), Node: "node-2"})
			}
		}, "pods[150000]", "150,002 pods are more than netsim's limit of 150,000"},
		{"pods over the node's capacity", func(s *Scenario) {
			for i := range 300 {
				s.Pods = append(s.Pods, Pod{Name: fmt.Sprintf("p-%d", i), Node: "node-2"})
			}
		}, "pods[254].node", `node "node-2" already has 253 pods: flannel's node pod CIDR /24 holds 2^(32−24) − 3 = 253 pod addresses (network, cni0 gateway and broadcast excluded) (and 47 more pods after it`},
		{"pods over a small node CIDR", func(s *Scenario) {
			s.Cluster.NodeCIDRMask = 28
			s.Nodes[0].PodCIDR = "172.20.1.0/28"
			for i := range 14 {
				s.Pods = append(s.Pods, Pod{Name: fmt.Sprintf("p-%d", i), Node: "node-2"})
			}
		}, "pods[14].node", "2^(32−28) − 3 = 13 pod addresses (network, cni0 gateway and broadcast excluded) (and 1 more pods after it"},
		{"flows over the limit", func(s *Scenario) {
			for i := range maxFlows {
				s.Flows = append(s.Flows, Flow{Name: fmt.Sprintf("g-%d", i), From: "pod/web-1", To: "pod/shop/web-2"})
			}
		}, "flows[1000]", "1,003 flows and actions are more than netsim's limit of 1,000"},
		{"count over the limit", func(s *Scenario) { s.Flows[0].Count = 1 << 40 }, "flows[0].count", "expected 1 to 100000"},
		{"packets over the limit", func(s *Scenario) {
			s.Flows[1].Count, s.Flows[1].Size = 100000, ptr(65000)
		}, "flows[1].count", "100,000 exchanges of about 90 packets each bring the flows to about 9,000,002 packets, more than netsim's limit of 1,000,000"},
		{"packets over the limit across flows", func(s *Scenario) {
			for i := range s.Flows {
				s.Flows[i].Count, s.Flows[i].Size = 90000, ptr(3000)
			}
		}, "flows[1].count", "90,000 exchanges of about 6 packets each bring the flows to about 1,080,000 packets"},

		{"limited broadcast", func(s *Scenario) { s.Flows[0].To = "255.255.255.255" }, "flows[0].to", "limited broadcast address: Linux sends it to every host of the link"},
		{"multicast", func(s *Scenario) { s.Flows[0].To = "224.0.0.251" }, "flows[0].to", "multicast address (224.0.0.0/4)"},
		{"multicast top", func(s *Scenario) { s.Flows[0].To = "239.255.255.250" }, "flows[0].to", "multicast"},
		{"zero", func(s *Scenario) { s.Flows[0].To = "0.0.0.0" }, "flows[0].to", `0.0.0.0/8 ("this network"`},
		{"this network", func(s *Scenario) { s.Flows[0].To = "0.1.2.3" }, "flows[0].to", `0.0.0.0/8`},
		{"class E", func(s *Scenario) { s.Flows[0].To = "240.1.2.3" }, "flows[0].to", "240.0.0.0/4, reserved"},
		{"loopback", func(s *Scenario) { s.Flows[0].To = "127.0.0.1" }, "flows[0].to", "loopback address (127.0.0.0/8)"},
		{"loopback far", func(s *Scenario) { s.Flows[0].To = "127.200.0.1" }, "flows[0].to", "loopback"},
		{"vswitch broadcast", func(s *Scenario) { s.Flows[0].To = "192.168.1.255" }, "flows[0].to", "broadcast address of vSwitch vsw-b (192.168.1.0/24)"},
		{"explicit pod CIDR broadcast", func(s *Scenario) { s.Flows[0].To = "172.20.1.255" }, "flows[0].to", "broadcast address of node node-1's pod CIDR 172.20.1.0/24 (cni0)"},
		{"allocated pod CIDR broadcast", func(s *Scenario) { s.Flows[0].To = "172.20.7.255" }, "flows[0].to", "broadcast address of the node pod CIDR 172.20.7.0/24"},

		{"flannel vxlan mtu above the NIC", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{MTU: 1451} }, "cluster.cni.flannel.mtu", "1451 is more than the NIC carries: flannel's vxlan backend adds 50 bytes (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14), so the MTU is at most vpc.mtu 1500 − 50 = 1450"},
		{"flannel udp mtu above the NIC", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{Backend: "udp", MTU: 1480} }, "cluster.cni.flannel.mtu", "at most vpc.mtu 1500 − 28 = 1472"},
		{"flannel host-gw mtu above the NIC", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{Backend: "host-gw", MTU: 1501} }, "cluster.cni.flannel.mtu", "at most vpc.mtu 1500 − 0 = 1500"},
		{"flannel jumbo mtu on a 1500 NIC", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{MTU: 9000} }, "cluster.cni.flannel.mtu", "1500 − 50 = 1450"},
		{"flannel mtu above a jumbo NIC", func(s *Scenario) {
			s.VPC.MTU = 8500
			s.Cluster.CNI.Flannel = &Flannel{MTU: 8460}
		}, "cluster.cni.flannel.mtu", "8500 − 50 = 8450"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseScenario()
			tt.mutate(s)
			probs := s.Validate()
			require.Len(t, probs, 1, "one problem, got:\n%s", probs.Error())
			assert.Equal(t, tt.path, probs[0].Path)
			assert.Contains(t, probs[0].Msg, tt.msg)
		})
	}
}

// TestValidateLimitsAccepted checks the edges of the limits and ordinary
// addresses next to the refused ones.
func TestValidateLimitsAccepted(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Scenario)
	}{
		{"vswitch's last host", func(s *Scenario) { s.Flows[2].To = "192.168.1.254" }},
		{"cni0 gateway", func(s *Scenario) { s.Flows[0].To = "172.20.1.1" }},
		{"an address off every subnet", func(s *Scenario) { s.Flows[0].To = "10.9.9.9" }},
		{"a public address", func(s *Scenario) { s.Flows[0].To = "8.8.8.8" }},
		{"just below multicast", func(s *Scenario) { s.Flows[0].To = "223.255.255.254" }},
		{"flannel vxlan mtu at the NIC's limit", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{MTU: 1450} }},
		{"flannel host-gw mtu at the NIC", func(s *Scenario) { s.Cluster.CNI.Flannel = &Flannel{Backend: "host-gw", MTU: 1500} }},
		{"packets at the limit", func(s *Scenario) {
			s.Flows = s.Flows[:1]
			s.Flows[0].Count = maxPackets / 2 // ICMP: request and reply
		}},
		{"a node full to its capacity", func(s *Scenario) {
			for i := range 252 {
				s.Pods = append(s.Pods, Pod{Name: fmt.Sprintf("p-%d", i), Node: "node-2"})
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseScenario()
			tt.mutate(s)
			if tt.name == "packets at the limit" {
				require.LessOrEqual(t, s.Flows[0].Count, maxCount*10)
				s.Flows[0].Count = maxCount // the count limit is lower
			}
			assert.Empty(t, s.Validate().Error())
		})
	}
}

// deploymentScenario is a flannel scenario with two nodes, two pods of its
// own and a Deployment of the given replicas written inline.
func deploymentScenario(replicas string) []byte {
	return []byte(`name: lim
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z-a, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
pods:
  - {name: a, node: node-1}
  - {name: b, node: node-2}
resources:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: ` + replicas + `
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: c, image: nginx}]}
flows:
  - {name: f, from: pod/a, to: pod/b, expect: delivered}
`)
}

// TestDeploymentLimits checks that replicas over a limit are one problem
// at the Deployment's spec.replicas, found before the pods are made.
func TestDeploymentLimits(t *testing.T) {
	tests := []struct {
		replicas string
		want     string
	}{
		{"2147483647", "lim.yaml:21:17: resources[0].spec.replicas: Deployment default/web: 2,147,483,647 is out of range: netsim makes at most 20,000 pods from the manifests of a scenario"},
		{"100000", "lim.yaml:21:17: resources[0].spec.replicas: Deployment default/web: 100,000 is out of range"},
		{"20001", "lim.yaml:21:17: resources[0].spec.replicas: Deployment default/web: 20,001 is out of range: netsim makes at most 20,000 pods"},
		{"20000", "lim.yaml:21:17: resources[0].spec.replicas: Deployment default/web: 19,496 of its 20,000 pods do not fit on nodes node-1, node-2"},
		{"10000", "lim.yaml:21:17: resources[0].spec.replicas: Deployment default/web: 9,496 of its 10,000 pods do not fit on nodes node-1, node-2: flannel's node pod CIDR /24 holds 2^(32−24) − 3 = 253 pod addresses"},
		{"505", "lim.yaml:21:17: resources[0].spec.replicas: Deployment default/web: 1 of its 505 pods do not fit on node node-1"},
	}
	for _, tt := range tests {
		t.Run(tt.replicas, func(t *testing.T) {
			_, err := Parse("lim.yaml", deploymentScenario(tt.replicas))
			require.Error(t, err)
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, 1, "one line, got:\n%s", err)
			assert.True(t, strings.HasPrefix(lines[0], tt.want), "got %s", lines[0])
		})
	}
	s, err := Parse("lim.yaml", deploymentScenario("504"))
	require.NoError(t, err, "504 replicas and 2 pods fill two /24 nodes")
	assert.Len(t, s.Objects.Pods, 504)
	assert.Equal(t, 20000, k8s.MaxPods, "the README's Limits table says 20,000")
}

func TestProblemsCollapse(t *testing.T) {
	var ps Problems
	for i := range 1000 {
		ps = append(ps, Problem{File: "s.yaml", Line: 10 + i, Column: 5, Path: fmt.Sprintf("pods[%d].node", i+3), Msg: `node "nope" does not exist (nodes are: node-1, node-2)`})
	}
	ps = append(ps, Problem{File: "s.yaml", Line: 2000, Path: "flows[0].to", Msg: "something else"})
	for i := range 5 {
		ps = append(ps, Problem{File: "s.yaml", Line: 30, Column: 12, Path: "manifests", Msg: fmt.Sprintf("flannel node-1: pod default/web-7f%d: host-local: no IP addresses available in range set 172.20.0.2–172.20.0.254", i)})
	}
	for i := range 3 {
		ps = append(ps, Problem{File: "s.yaml", Line: 40 + i, Path: fmt.Sprintf("flows[%d].port", i), Msg: "required"})
	}
	got := ps.Collapse()
	require.Len(t, got, 6)
	assert.Equal(t, `s.yaml:10:5: pods[3].node: node "nope" does not exist (nodes are: node-1, node-2) (and 999 more like it: pods[4..1002].node)`, got[0].String())
	assert.Equal(t, "something else", got[1].Msg)
	assert.Equal(t, "s.yaml:30:12: manifests: flannel node-1: pod default/web-7f0: host-local: no IP addresses available in range set 172.20.0.2–172.20.0.254 (and 4 more like it)", got[2].String())
	assert.Equal(t, "required", got[3].Msg, "three of a kind are kept")
	assert.Len(t, strings.Split(ps.Error(), "\n"), 6, "Error collapses")

	distinct := Problems{{Path: "a", Msg: `node "x" does not exist`}, {Path: "a", Msg: `node "y" does not exist`}, {Path: "a", Msg: `node "z" does not exist`}, {Path: "a", Msg: `node "w" does not exist`}}
	assert.Equal(t, distinct, distinct.Collapse(), "names without digits are different problems")
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 99497: "99,497", 2147483647: "2,147,483,647", -1234: "-1,234"} {
		assert.Equal(t, want, thousands(n))
	}
}

// TestProxyRulesLimit checks that Services whose endpoints on every node
// add up past maxProxyEntries are one problem at the Service that
// crosses the limit.
func TestProxyRulesLimit(t *testing.T) {
	services := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "  - {apiVersion: v1, kind: Service, metadata: {name: s-%d}, spec: {selector: {app: web}, ports: [{port: 80}]}}\n", i)
		}
		return b.String()
	}
	// 500 replicas and 2 nodes: 1,002 entries a Service (its port and
	// 500 endpoints on each node).
	text := strings.Replace(string(deploymentScenario("500")), "flows:", services(51)+"flows:", 1)
	_, err := Parse("lim.yaml", []byte(text))
	require.Error(t, err)
	require.Len(t, strings.Split(err.Error(), "\n"), 1, err.Error())
	assert.Equal(t, "lim.yaml:75:78: resources[50].spec.selector: Service default/s-49: its 500 endpoints (pods × ports) and 1 port on 2 nodes bring kube-proxy's rules to 50,100 entries (every node programs every Service port and endpoint), more than netsim's limit of 50,000: select fewer pods, or use fewer nodes or Services", err.Error())

	text = strings.Replace(string(deploymentScenario("500")), "flows:", services(49)+"flows:", 1)
	_, err = Parse("lim.yaml", []byte(text))
	assert.NoError(t, err, "49,098 entries are under the limit")
}

// TestPolicyRulesLimit checks that NetworkPolicies whose selected and
// peer pods add up past maxPolicyEntries are one problem at the policy
// that crosses the limit, and that Flannel (which enforces none) is not
// bounded by them.
func TestPolicyRulesLimit(t *testing.T) {
	scenario := func(mode string, policies int) []byte {
		var b strings.Builder
		b.WriteString(`name: lim
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z-a, cidr: 192.168.0.0/20}
nodes:
`)
		for i := range 10 {
			fmt.Fprintf(&b, "  - {name: node-%d, vswitch: vsw-a, instanceType: ecs.g7.4xlarge}\n", i)
		}
		b.WriteString("cluster:\n  serviceCIDR: 172.21.0.0/20\n")
		if mode == "terway" {
			b.WriteString("  cni: {mode: terway, terway: {eniMode: shared, podVSwitches: {z-a: [vsw-a]}}}\n")
		} else {
			b.WriteString("  podCIDR: 172.20.0.0/16\n  cni: {mode: flannel}\n")
		}
		b.WriteString(`resources:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 1000
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: c, image: nginx}]}
`)
		for i := range policies {
			fmt.Fprintf(&b, "  - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: np-%d}, spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}}\n", i)
		}
		b.WriteString("flows: []\n")
		return []byte(b.String())
	}
	// 1,000 selected and 1,000 peers: 2,000 entries a policy.
	_, err := Parse("lim.yaml", scenario("terway", 501))
	require.Error(t, err)
	require.Len(t, strings.Split(err.Error(), "\n"), 1, err.Error())
	assert.Regexp(t, `^lim\.yaml:\d+:\d+: resources\[501\]\.spec\.podSelector: NetworkPolicy default/np-500: the pods it selects and its rules' peers \(2,000\) bring the NetworkPolicies to 1,002,000 policy entries`, err.Error())

	_, err = Parse("lim.yaml", scenario("terway", 500))
	assert.NoError(t, err, "1,000,000 entries are at the limit")
	_, err = Parse("lim.yaml", scenario("flannel", 501))
	assert.NoError(t, err, "flannel does not enforce NetworkPolicy")
}

// TestBarePodsOverCapacity checks that Pod objects over their node's
// capacity are reported once, with a count, at the first one over.
func TestBarePodsOverCapacity(t *testing.T) {
	text := string(deploymentScenario("1"))
	var b strings.Builder
	for i := range 260 {
		fmt.Fprintf(&b, "  - {apiVersion: v1, kind: Pod, metadata: {name: bare-%d}, spec: {nodeName: node-1, containers: [{name: c, image: nginx}]}}\n", i)
	}
	text = strings.Replace(text, "flows:", b.String()+"flows:", 1)
	_, err := Parse("lim.yaml", []byte(text))
	require.Error(t, err)
	require.Len(t, strings.Split(err.Error(), "\n"), 1, err.Error())
	// node-1 holds pod a, the Deployment's first replica and 251 bare pods.
	assert.Regexp(t, `^lim\.yaml:\d+:\d+: resources\[252\]\.spec\.nodeName: Pod default/bare-251: the pod does not fit: node "node-1" already has 253 pods: flannel's node pod CIDR /24 holds .* \(and 8 more like it: resources\[253\.\.260\]\.spec\.nodeName\)$`, err.Error())
}
