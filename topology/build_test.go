package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
	"netsim/dataplane/vpc"
)

// buildBase is a valid two-vSwitch vxlan scenario; tests append sections.
const buildBase = `name: build-test
vpc:
  name: vpc-test
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
    - {name: vsw-b, zone: z2, cidr: 192.168.1.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-b, ip: 192.168.1.11}
instances:
  - {name: ecs-db, vswitch: vsw-b, ip: 192.168.1.50}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: flannel
    flannel: {backend: %s}
pods:
  - {name: web-1, node: node-1}
  - {name: api-1, namespace: shop, node: node-2}
`

func mustParse(t *testing.T, src string) *Scenario {
	t.Helper()
	s, err := Parse("build.yaml", []byte(src))
	require.NoError(t, err, "scenario:\n%s", src)
	return s
}

func mustBuild(t *testing.T, src string) *World {
	t.Helper()
	w, err := Build(mustParse(t, src), linktest.New())
	require.NoError(t, err, "scenario:\n%s", src)
	return w
}

// buildProblems builds src, which must fail at build time, and returns the
// problems.
func buildProblems(t *testing.T, src string) Problems {
	t.Helper()
	w, err := Build(mustParse(t, src), linktest.New())
	require.Error(t, err)
	assert.Nil(t, w, "no half-built world")
	var probs Problems
	require.True(t, errors.As(err, &probs), "the error is a Problems: %v", err)
	return probs
}

// posOf returns the 1-based line and column of needle's first occurrence.
// "LINE>>COL" finds the first line holding LINE and the column of COL in
// it.
func posOf(t *testing.T, src, needle string) (int, int) {
	t.Helper()
	lineNeedle, colNeedle, ok := strings.Cut(needle, ">>")
	if !ok {
		colNeedle = lineNeedle
	}
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, lineNeedle) {
			if c := strings.Index(l, colNeedle); c >= 0 {
				return i + 1, c + 1
			}
		}
	}
	t.Fatalf("%q not in the scenario", needle)
	return 0, 0
}

func TestBuildProblemsAreLocated(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		at     string // text whose position the problem has
		path   string
		msg    string // the whole message; "" to check parts only
		parts  []string
		nprobs int
	}{
		{
			name: "link-down on a node device that does not exist",
			src:  fmt.Sprintf(buildBase, "vxlan") + "failures:\n  - type: link-down\n    node: node-2\n    device: flannel.9\n",
			at:   "flannel.9", path: "failures[0].device",
			msg: `node-2 has no device "flannel.9" (devices: [lo eth0 cni0 flannel.1 veth`,
		},
		{
			name: "link-down on a pod device that does not exist",
			src:  fmt.Sprintf(buildBase, "alivpc") + "failures:\n  - {type: link-down, pod: shop/api-1, device: eth1}\n",
			at:   "eth1}", path: "failures[0].device",
			msg: `shop/api-1 has no device "eth1" (devices: [lo eth0])`,
		},
		{
			name: "link-down on an instance device that does not exist",
			src:  fmt.Sprintf(buildBase, "vxlan") + "failures:\n  - {type: link-down, node: ecs-db, device: cni0}\n",
			at:   "cni0}", path: "failures[0].device",
			msg: `ecs-db has no device "cni0" (devices: [lo eth0])`,
		},
		{
			name: "delete-vpc-route for a destination with no entry",
			src:  fmt.Sprintf(buildBase, "alivpc") + "failures:\n  - {type: delete-vpc-route, destination: 172.20.9.0/24}\n",
			at:   "{type: delete-vpc-route", path: "failures[0]",
			parts: []string{`vpc "vpc-test": no route entry for 172.20.9.0/24 in ` + vpc.ID("vtb", "vpc-test"),
				"(route entries: 172.20.0.0/24, 172.20.1.0/24, 192.168.0.0/24, 192.168.1.0/24)"},
		},
		{
			name: "delete-vpc-route of a node's entry with the vxlan backend",
			src:  fmt.Sprintf(buildBase, "vxlan") + "failures:\n  - {type: delete-vpc-route, node: node-2}\n",
			at:   "{type: delete-vpc-route", path: "failures[0]",
			parts: []string{"no route entry for 172.20.1.0/24", "(route entries: 192.168.0.0/24, 192.168.1.0/24)"},
		},
		{
			name: "delete-vpc-route of a system entry",
			src:  fmt.Sprintf(buildBase, "vxlan") + "failures:\n  - {type: delete-vpc-route, destination: 192.168.1.0/24}\n",
			at:   "{type: delete-vpc-route", path: "failures[0]",
			parts: []string{"192.168.1.0/24 is a system route entry and cannot be deleted"},
		},
		{
			name: "the same failure twice",
			src: fmt.Sprintf(buildBase, "alivpc") + "failures:\n  - {type: delete-vpc-route, node: node-2}\n" +
				"  - {type: delete-vpc-route, destination: 172.20.1.0/24}\n",
			at: "{type: delete-vpc-route, destination", path: "failures[1]",
			parts: []string{"no route entry for 172.20.1.0/24", "(route entries: 172.20.0.0/24, 192.168.0.0/24, 192.168.1.0/24)"},
		},
		{
			name: "no free address in a tiny vSwitch",
			src: strings.NewReplacer(
				"cidr: 192.168.1.0/24", "cidr: 192.168.1.0/29",
				"  - {name: node-2, vswitch: vsw-b, ip: 192.168.1.11}\n",
				"  - {name: node-2, vswitch: vsw-b}\n  - {name: node-3, vswitch: vsw-b}\n  - {name: node-4, vswitch: vsw-b, ip: 192.168.1.2}\n  - {name: node-5, vswitch: vsw-b}\n",
				"{name: ecs-db, vswitch: vsw-b, ip: 192.168.1.50}", "{name: ecs-db, vswitch: vsw-b}",
			).Replace(fmt.Sprintf(buildBase, "vxlan")),
			// .1 to .4 are assignable (.0 and .5–.7 are reserved), .2 is pinned by node-4.
			at: "{name: ecs-db>>vsw-b}", path: "instances[0].vswitch", nprobs: 1,
			msg: "no free address left in vSwitch vsw-b (192.168.1.0/29) for ecs-db",
		},
		{
			name: "more instances than addresses",
			src: strings.NewReplacer(
				"cidr: 192.168.1.0/24", "cidr: 192.168.1.0/29",
				"ip: 192.168.1.11", "ip: 192.168.1.4",
				"  - {name: ecs-db, vswitch: vsw-b, ip: 192.168.1.50}\n",
				"  - {name: e1, vswitch: vsw-b}\n  - {name: e2, vswitch: vsw-b}\n  - {name: e3, vswitch: vsw-b}\n  - {name: e4, vswitch: vsw-b}\n  - {name: e5, vswitch: vsw-b}\n",
			).Replace(fmt.Sprintf(buildBase, "vxlan")),
			at: "{name: e4>>vsw-b}", path: "instances[3].vswitch", nprobs: 2,
			msg: "no free address left in vSwitch vsw-b (192.168.1.0/29) for e4",
		},
		{
			name: "route quota exceeded by a custom route",
			src:  strings.Replace(fmt.Sprintf(buildBase, "alivpc"), "  vswitches:", "  routeQuota: 2\n  routes:\n    - {destination: 10.0.0.0/8, nextHop: ecs-db}\n  vswitches:", 1),
			at:   "{destination: 10.0.0.0/8", path: "vpc.routes[0]",
			parts: []string{"QuotaExceeded.RouteEntry", "10.0.0.0/8 → ecs-db", "already has 2 custom route entries"},
		},
		{
			name: "route quota exceeded by the nodes",
			src:  strings.Replace(fmt.Sprintf(buildBase, "alivpc"), "  vswitches:", "  routeQuota: 1\n  vswitches:", 1),
			at:   "{name: node-2", path: "nodes[1]",
			parts: []string{"flannel node-2: ", "QuotaExceeded.RouteEntry", "already has 1 custom route entries"},
		},
		{
			name: "alivpc on an l2 underlay",
			src: `name: l2
vpc:
  cidr: 192.168.0.0/16
  underlay: l2
  vswitches: [{name: seg, zone: z, cidr: 192.168.0.0/24}]
nodes: [{name: n1, vswitch: seg}]
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: flannel
    flannel: {backend: alivpc}
`,
			at: "mode: flannel", path: "cluster.cni",
			msg: `flannel: backend alivpc needs an Alibaba Cloud VPC underlay (underlay: vpc), not "l2"`,
		},
		{
			name: "pinned pod IP outside the node's allocated pod CIDR",
			src:  strings.Replace(fmt.Sprintf(buildBase, "vxlan"), "{name: api-1, namespace: shop, node: node-2}", "{name: api-1, namespace: shop, node: node-2, ip: 172.20.0.5}", 1),
			at:   "{name: api-1", path: "pods[1]",
			msg: "flannel node-2: pod shop/api-1: requested IP 172.20.0.5 is not in the host-local range 172.20.1.2–172.20.1.254",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := buildProblems(t, tt.src)
			if tt.nprobs != 0 {
				require.Len(t, probs, tt.nprobs)
			}
			p := probs[0]
			line, col := posOf(t, tt.src, tt.at)
			assert.Equal(t, "build.yaml", p.File)
			assert.Equal(t, line, p.Line, "line of %q", tt.at)
			assert.Equal(t, col, p.Column, "column of %q", tt.at)
			assert.Equal(t, tt.path, p.Path)
			if tt.msg != "" {
				assert.True(t, strings.HasPrefix(p.Msg, tt.msg), "message %q\nwant prefix %q", p.Msg, tt.msg)
			}
			for _, part := range tt.parts {
				assert.Contains(t, p.Msg, part)
			}
			assert.True(t, strings.HasPrefix(p.String(), fmt.Sprintf("build.yaml:%d:%d: %s: ", line, col, tt.path)), p.String())
			assert.NotContains(t, p.Msg, "topology.", "no Go type names")
		})
	}
}

func TestBuildLinkDown(t *testing.T) {
	src := fmt.Sprintf(buildBase, "vxlan") + "failures:\n  - {type: link-down, node: node-1, device: flannel.1}\n  - {type: link-down, pod: web-1, device: eth0}\n"
	w := mustBuild(t, src)
	n1 := w.Node("node-1").Stack
	assert.False(t, n1.Iface("flannel.1").Dev.Up())
	for _, r := range n1.Routes.All() {
		assert.NotEqual(t, "flannel.1", r.Dev.Dev.Name, "routes through a down device are flushed")
	}
	require.Len(t, n1.Flushed(), 1)
	assert.Equal(t, "172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink linkdown", n1.Flushed()[0].String())
	assert.False(t, w.Pod("web-1").Stack.Iface("eth0").Dev.Up())
	require.Len(t, w.Notes, 3)
	assert.True(t, strings.HasPrefix(w.Notes[0], "ACK control plane: SLB kube-apiserver"), w.Notes[0])
	assert.Equal(t, []string{
		"failure: ip link set flannel.1 down on node-1",
		"failure: ip link set eth0 down on default/web-1",
	}, w.Notes[1:])
}

func TestBuildDeleteVPCRoute(t *testing.T) {
	tests := []struct {
		name, failure, deleted string
	}{
		{"by node", "{type: delete-vpc-route, node: node-2}", "172.20.1.0/24"},
		{"by destination", "{type: delete-vpc-route, destination: 172.20.0.0/24}", "172.20.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustBuild(t, fmt.Sprintf(buildBase, "alivpc")+"failures:\n  - "+tt.failure+"\n")
			assert.Equal(t, 1, w.VPC.CustomRoutes())
			for _, e := range w.VPC.Routes() {
				assert.NotEqual(t, tt.deleted, e.Destination.String())
			}
			require.Len(t, w.Notes, 2, "the API server's SLB, the failure")
			assert.True(t, strings.HasPrefix(w.Notes[1], "failure: deleted VPC route entry "+tt.deleted+" → node-"), w.Notes[1])
			assert.Contains(t, w.Notes[1], vpc.ID("rte", tt.deleted))
		})
	}
}

func TestBuildAddressAllocation(t *testing.T) {
	src := `name: alloc
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: tiny, zone: z, cidr: 192.168.0.0/29}
    - {name: big, zone: z, cidr: 192.168.16.0/20}
nodes:
  - {name: n1, vswitch: tiny}
  - {name: n2, vswitch: tiny, ip: 192.168.0.1}
  - {name: n3, vswitch: big}
  - {name: n4, vswitch: tiny}
  - {name: n5, vswitch: big, ip: 192.168.16.2}
instances:
  - {name: e1, vswitch: tiny}
  - {name: e2, vswitch: big}
  - {name: e3, vswitch: big, ip: 192.168.16.1}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
`
	w := mustBuild(t, src)
	want := map[string]string{
		"n1": "192.168.0.2", // .1 is pinned by n2
		"n2": "192.168.0.1",
		"n3": "192.168.16.3", // .1 and .2 are pinned
		"n4": "192.168.0.3",
		"n5": "192.168.16.2",
		"e1": "192.168.0.4", // the last assignable: .5–.7 are reserved
		"e2": "192.168.16.4",
		"e3": "192.168.16.1",
	}
	got := map[string]string{}
	for _, h := range append(append([]*Host(nil), w.Nodes...), w.Instances...) {
		got[h.Name] = h.IP.String()
		a, ok := h.NIC.Primary()
		require.True(t, ok)
		assert.Equal(t, h.IP, a)
		bits := 29
		if h.VSwitch == "big" {
			bits = 20
		}
		assert.Equal(t, []string{netip.PrefixFrom(h.IP, bits).String()}, []string{h.NIC.Addrs[0].Prefix.String()})
		require.NotNil(t, h.ENI)
		assert.Equal(t, h.IP, h.ENI.Primary)
		assert.Equal(t, ECSMAC(h.Name), h.NIC.Dev.MAC)
		r := h.Stack.Routes.Lookup(netip.MustParseAddr("8.8.8.8"))
		require.NotNil(t, r, "default route")
		assert.Equal(t, vpc.GatewayOf(netip.PrefixFrom(h.IP, bits).Masked()), r.Gw)
	}
	assert.Equal(t, want, got)
	// tiny is full: the API server and its SLB go to the next node vSwitch.
	require.NotNil(t, w.APIServer)
	assert.Equal(t, "192.168.16.5", w.APIServer.Host.IP.String())
	assert.Equal(t, "192.168.16.6:6443", w.APIServer.Endpoint.String())
}

func TestBuildPodCIDRAllocation(t *testing.T) {
	src := `name: podcidr
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - {name: n1, vswitch: a}
  - {name: n2, vswitch: a, podCIDR: 10.244.0.0/26}
  - {name: n3, vswitch: a}
  - {name: n4, vswitch: a, podCIDR: 10.244.0.128/26}
  - {name: n5, vswitch: a}
  - {name: n6, vswitch: a}
cluster:
  podCIDR: 10.244.0.0/24
  nodeCIDRMask: 26
  serviceCIDR: 10.96.0.0/16
  cni: {mode: flannel}
`
	// Only four /26 in a /24, and six nodes: the validator catches that.
	_, err := Parse("podcidr.yaml", []byte(src))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "holds 4 node subnets of /26, but there are 6 nodes")

	src = strings.Replace(src, "podCIDR: 10.244.0.0/24", "podCIDR: 10.244.0.0/23", 1)
	w := mustBuild(t, src)
	got := map[string]string{}
	for _, h := range w.Nodes {
		got[h.Name] = h.PodCIDR.String()
		assert.Same(t, h, w.Node(h.Name))
		assert.Equal(t, h.PodCIDR, h.CNI.PodCIDR)
	}
	assert.Equal(t, map[string]string{
		"n1": "10.244.0.64/26", // 10.244.0.0/26 is pinned by n2
		"n2": "10.244.0.0/26",
		"n3": "10.244.0.192/26", // .128 is pinned by n4
		"n4": "10.244.0.128/26",
		"n5": "10.244.1.0/26",
		"n6": "10.244.1.64/26",
	}, got)
}

func TestBuildPinnedPodIPs(t *testing.T) {
	src := fmt.Sprintf(buildBase, "vxlan") +
		"  - {name: web-2, node: node-1}\n  - {name: web-3, node: node-1, ip: 172.20.0.2}\n  - {name: web-4, node: node-1, ip: 172.20.0.4}\n"
	w := mustBuild(t, src)
	var got []string
	for _, p := range w.Pods {
		got = append(got, p.Ref()+" "+p.IP.String())
	}
	assert.Equal(t, []string{
		"default/web-1 172.20.0.3",
		"shop/api-1 172.20.1.2",
		"default/web-2 172.20.0.5",
		"default/web-3 172.20.0.2",
		"default/web-4 172.20.0.4",
	}, got, "pinned addresses are honoured, the others allocated around them, file order kept")
}

func TestWorldLookups(t *testing.T) {
	w := mustBuild(t, fmt.Sprintf(buildBase, "vxlan"))
	assert.Equal(t, "node-1", w.Node("node-1").Name)
	assert.Nil(t, w.Node("ecs-db"), "Node finds nodes only")
	assert.Equal(t, "ecs-db", w.Host("ecs-db").Name)
	assert.Equal(t, "node-2", w.Host("node-2").Name)
	assert.Nil(t, w.Host("nope"))
	assert.Equal(t, "default/web-1", w.Pod("web-1").Ref())
	assert.Equal(t, "default/web-1", w.Pod("default/web-1").Ref())
	assert.Equal(t, "shop/api-1", w.Pod("shop/api-1").Ref())
	assert.Nil(t, w.Pod("api-1"), "api-1 is in namespace shop")
	assert.Nil(t, w.Pod("shop/web-1"))
	assert.Len(t, w.Stacks(), 6, "two nodes, one instance, two pods, the API server")
}

func TestResolve(t *testing.T) {
	w := mustBuild(t, fmt.Sprintf(buildBase, "vxlan"))
	n1, n2, db := w.Node("node-1"), w.Node("node-2"), w.Host("ecs-db")
	web, api := w.Pod("web-1"), w.Pod("shop/api-1")
	tests := []struct {
		ref      string
		name     string
		ip       string
		stack    string // the namespace's name; "" for none
		wantErr  string
		errIsBad bool
	}{
		{ref: "pod/web-1", name: "pod/default/web-1", ip: "172.20.0.2", stack: web.Stack.Name},
		{ref: "pod/default/web-1", name: "pod/default/web-1", ip: "172.20.0.2", stack: web.Stack.Name},
		{ref: "pod/shop/api-1", name: "pod/shop/api-1", ip: "172.20.1.2", stack: api.Stack.Name},
		{ref: "node/node-1", name: "node/node-1", ip: "192.168.0.10", stack: n1.Stack.Name},
		{ref: "node/node-2", name: "node/node-2", ip: "192.168.1.11", stack: n2.Stack.Name},
		{ref: "ecs/ecs-db", name: "ecs/ecs-db", ip: "192.168.1.50", stack: db.Stack.Name},
		{ref: "172.20.1.2", name: "172.20.1.2", ip: "172.20.1.2", stack: api.Stack.Name},
		{ref: "192.168.0.10", name: "192.168.0.10", ip: "192.168.0.10", stack: n1.Stack.Name},
		{ref: "172.20.0.1", name: "172.20.0.1", ip: "172.20.0.1", stack: n1.Stack.Name}, // node-1's cni0
		{ref: "172.20.1.0", name: "172.20.1.0", ip: "172.20.1.0", stack: n2.Stack.Name}, // node-2's flannel.1
		{ref: "192.168.1.50", name: "192.168.1.50", ip: "192.168.1.50", stack: db.Stack.Name},
		{ref: "8.8.8.8", name: "8.8.8.8", ip: "8.8.8.8"},
		{ref: "172.20.0.99", name: "172.20.0.99", ip: "172.20.0.99"},
		{ref: "127.0.0.1", name: "127.0.0.1", ip: "127.0.0.1"}, // every namespace has it: nobody owns it
		{ref: "pod/api-1", wantErr: "pod/api-1 does not exist"},
		{ref: "pod/shop/nope", wantErr: "pod/shop/nope does not exist"},
		{ref: "node/ecs-db", wantErr: "node/ecs-db does not exist"},
		{ref: "ecs/node-1", wantErr: "ecs/node-1 does not exist"},
		{ref: "ecs/nope", wantErr: "ecs/nope does not exist"},
		{ref: "web-1", wantErr: `endpoint "web-1": expected pod/NAME`, errIsBad: true},
		{ref: "pod/a/b/c", wantErr: `endpoint "pod/a/b/c"`, errIsBad: true},
		{ref: "vm/x", wantErr: `endpoint "vm/x"`, errIsBad: true},
		{ref: "::1", wantErr: "not an IPv4 address", errIsBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := w.Resolve(tt.ref)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Equal(t, tt.errIsBad, errors.Is(err, errBadEndpoint))
				assert.Equal(t, Target{}, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.name, got.Name)
			assert.Equal(t, netip.MustParseAddr(tt.ip), got.IP)
			if tt.stack == "" {
				assert.Nil(t, got.Stack)
				return
			}
			require.NotNil(t, got.Stack)
			assert.Equal(t, tt.stack, got.Stack.Name)
		})
	}
}
