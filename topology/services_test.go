package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"

	"netsim/dataplane/kubeproxy"
	"netsim/topology/k8s"
)

var (
	testServiceCIDR = netip.MustParsePrefix("172.21.0.0/20")
	testNodes       = []string{"node-1", "node-2"}
)

// decodeManifest decodes manifest text as a scenario with two nodes would.
func decodeManifest(t *testing.T, name, text string) (*k8s.Objects, k8s.Errors) {
	t.Helper()
	d := k8s.NewDecoder(k8s.Options{Nodes: testNodes, Seed: 1})
	d.Decode(name, []byte(text))
	return d.Objects()
}

// addrs gives the pods addresses as host-local IPAM would on nodes with
// pod CIDRs 172.20.0.0/24, 172.20.1.0/24, ... (from .2, in order).
func addrs(pods []*k8s.Pod) []PodAddr {
	next := map[string]int{}
	var out []PodAddr
	for _, p := range pods {
		n := 0
		fmt.Sscanf(p.Node, "node-%d", &n)
		next[p.Node]++
		out = append(out, PodAddr{
			Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Node: p.Node, Ports: p.Ports(), Ready: p.Ready,
			IP: netip.AddrFrom4([4]byte{172, 20, byte(n - 1), byte(1 + next[p.Node])}),
		})
	}
	return out
}

func resolve(t *testing.T, text string) ([]*kubeproxy.Service, Problems) {
	t.Helper()
	objs, errs := decodeManifest(t, "m.yaml", text)
	require.Empty(t, errs)
	return ResolveServices(objs, addrs(objs.Pods), testServiceCIDR, 1)
}

func svcByName(svcs []*kubeproxy.Service, name string) *kubeproxy.Service {
	for _, s := range svcs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx
          ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}, {name: dns, containerPort: 5353, protocol: UDP}]
`

func TestResolveServicesGood(t *testing.T) {
	objs, errs := decodeManifest(t, "app.yaml", mustRead(t, filepath.Join("testdata", "k8s", "good", "app.yaml")))
	require.Empty(t, errs)
	pods := addrs(objs.Pods)
	svcs, probs := ResolveServices(objs, pods, testServiceCIDR, 1)
	require.Empty(t, probs)
	require.Len(t, svcs, 5)

	// Every ClusterIP in the range, distinct, never the network address,
	// the API server's first address or the broadcast address.
	seen := map[netip.Addr]bool{}
	for _, s := range svcs {
		if s.Name == "web-headless" {
			assert.True(t, s.Headless())
			continue
		}
		assert.True(t, testServiceCIDR.Contains(s.ClusterIP), s.ClusterIP)
		assert.False(t, seen[s.ClusterIP])
		seen[s.ClusterIP] = true
		assert.NotEqual(t, netip.MustParseAddr("172.21.0.1"), s.ClusterIP)
	}

	ep := func(ip string, port int, node string) kubeproxy.Endpoint {
		return kubeproxy.Endpoint{IP: netip.MustParseAddr(ip), Port: port, NodeName: node, Ready: true, Serving: true}
	}
	// The Deployment's 3 replicas on node-1, node-2, node-1; named
	// targetPorts resolved through the container ports.
	web := svcByName(svcs, "web")
	assert.Equal(t, map[string][]kubeproxy.Endpoint{
		"http":    {ep("172.20.0.2", 8080, "node-1"), ep("172.20.1.2", 8080, "node-2"), ep("172.20.0.3", 8080, "node-1")},
		"metrics": {ep("172.20.0.2", 9090, "node-1"), ep("172.20.1.2", 9090, "node-2"), ep("172.20.0.3", 9090, "node-1")},
	}, web.Endpoints)
	assert.Equal(t, "default/web:http", web.PortName(web.Ports[0]))

	headless := svcByName(svcs, "web-headless")
	assert.Len(t, headless.Endpoints["http"], 3, "a headless Service has endpoints, for DNS")

	np := svcByName(svcs, "web-nodeport")
	assert.Equal(t, 30080, np.Ports[0].NodePort, "the requested node port")
	assert.Equal(t, "Cluster", np.ExternalTrafficPolicy)

	lb := svcByName(svcs, "web-lb")
	assert.Equal(t, kubeproxy.TypeLoadBalancer, lb.Type)
	assert.Equal(t, "Local", lb.ExternalTrafficPolicy)
	assert.GreaterOrEqual(t, lb.Ports[0].NodePort, NodePortMin+86, "random node ports come from the upper band")
	assert.LessOrEqual(t, lb.Ports[0].NodePort, NodePortMax)
	assert.NotZero(t, lb.HealthCheckNodePort, "LoadBalancer + Local gets a health check node port")
	assert.NotEqual(t, lb.Ports[0].NodePort, lb.HealthCheckNodePort)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.7/32")}, lb.SourceRanges)
	assert.Equal(t, "ClientIP", lb.SessionAffinity)
	assert.Equal(t, 10800, lb.AffinitySeconds)
	assert.Empty(t, lb.LoadBalancerIPs, "left to the SLB model")

	// The selector-less Service takes its Endpoints object.
	db := svcByName(svcs, "db")
	assert.Equal(t, "shop", db.Namespace)
	assert.Equal(t, []kubeproxy.Endpoint{
		{IP: netip.MustParseAddr("192.168.1.20"), Port: 5432, Ready: true, Serving: true},
		{IP: netip.MustParseAddr("192.168.1.21"), Port: 5432},
	}, db.Endpoints["pg"])

	// Deterministic from the seed; another seed picks other addresses.
	again, _ := ResolveServices(objs, pods, testServiceCIDR, 1)
	other, _ := ResolveServices(objs, pods, testServiceCIDR, 2)
	assert.Equal(t, svcs, again)
	assert.NotEqual(t, web.ClusterIP, svcByName(other, "web").ClusterIP)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestResolveEndpoints(t *testing.T) {
	service := func(spec string) string {
		return webDeployment + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n" + spec
	}
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, s *kubeproxy.Service)
	}{
		{"numeric targetPort", service("  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			require.Len(t, s.Endpoints[""], 3)
			assert.Equal(t, 8080, s.Endpoints[""][0].Port)
		}},
		{"targetPort defaults to port", service("  selector: {app: web}\n  ports: [{port: 9090}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.Equal(t, 9090, s.Endpoints[""][0].Port)
		}},
		{"named targetPort nobody has", service("  selector: {app: web}\n  ports: [{name: a, port: 80, targetPort: web}, {name: b, port: 90, targetPort: metrics}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.Empty(t, s.Endpoints["a"], "pods without the named port are no endpoints")
			assert.Len(t, s.Endpoints["b"], 3)
		}},
		{"named targetPort with the protocol", service("  selector: {app: web}\n  ports: [{name: u, port: 53, targetPort: dns, protocol: UDP}, {name: t, port: 53, targetPort: dns}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.Equal(t, 5353, s.Endpoints["u"][0].Port)
			assert.Empty(t, s.Endpoints["t"], "dns is a UDP container port")
		}},
		{"selector in another namespace", "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n---\n" + webDeployment, func(t *testing.T, s *kubeproxy.Service) {
			assert.Empty(t, s.Endpoints)
		}},
		{"empty selector selects the namespace", service("  selector: {}\n  ports: [{port: 80}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.Len(t, s.Endpoints[""], 3)
		}},
		{"not ready pod", service("  selector: {app: nr}\n  ports: [{port: 80}]\n") + notReadyPod, func(t *testing.T, s *kubeproxy.Service) {
			require.Len(t, s.Endpoints[""], 1)
			assert.False(t, s.Endpoints[""][0].Ready)
			assert.False(t, s.Endpoints[""][0].Serving)
		}},
		{"publishNotReadyAddresses", service("  selector: {app: nr}\n  publishNotReadyAddresses: true\n  ports: [{port: 80}]\n") + notReadyPod, func(t *testing.T, s *kubeproxy.Service) {
			assert.True(t, s.Endpoints[""][0].Ready)
		}},
		{"EndpointSlices before Endpoints", service("  ports: [{name: pg, port: 5432}]\n") + explicitEndpointsYAML, func(t *testing.T, s *kubeproxy.Service) {
			assert.Equal(t, []kubeproxy.Endpoint{
				{IP: netip.MustParseAddr("192.168.1.30"), Port: 6432, NodeName: "node-1", Ready: true, Serving: true},
				{IP: netip.MustParseAddr("192.168.1.31"), Port: 6432, Serving: true, Terminating: true},
			}, s.Endpoints["pg"])
		}},
		{"selector wins over Endpoints", service("  selector: {app: web}\n  ports: [{name: pg, port: 5432}]\n") + explicitEndpointsYAML, func(t *testing.T, s *kubeproxy.Service) {
			assert.Equal(t, netip.MustParseAddr("172.20.0.2"), s.Endpoints["pg"][0].IP)
		}},
		{"TCP and UDP share a node port", service("  type: NodePort\n  selector: {app: web}\n  ports: [{name: t, port: 53}, {name: u, port: 53, protocol: UDP}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.NotZero(t, s.Ports[0].NodePort)
			assert.Equal(t, s.Ports[0].NodePort, s.Ports[1].NodePort)
		}},
		{"LoadBalancer without node ports", service("  type: LoadBalancer\n  allocateLoadBalancerNodePorts: false\n  selector: {app: web}\n  ports: [{port: 80}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.Zero(t, s.Ports[0].NodePort)
			assert.Zero(t, s.HealthCheckNodePort)
		}},
		{"requested health check port", service("  type: LoadBalancer\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 32000\n  selector: {app: web}\n  ports: [{port: 80}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.Equal(t, 32000, s.HealthCheckNodePort)
		}},
		{"requested ClusterIP", service("  clusterIP: 172.21.0.10\n  ports: [{port: 80}]\n"), func(t *testing.T, s *kubeproxy.Service) {
			assert.Equal(t, netip.MustParseAddr("172.21.0.10"), s.ClusterIP)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svcs, probs := resolve(t, tt.text)
			require.Empty(t, probs)
			s := svcByName(svcs, "s")
			require.NotNil(t, s)
			tt.check(t, s)
		})
	}
}

const notReadyPod = `---
apiVersion: v1
kind: Pod
metadata: {name: nr, labels: {app: nr}}
spec: {containers: [{name: a, image: a}]}
status:
  conditions: [{type: Ready, status: "False"}]
`

const explicitEndpointsYAML = `---
apiVersion: v1
kind: Endpoints
metadata: {name: s}
subsets:
  - addresses: [{ip: 192.168.1.40}]
    ports: [{name: pg, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: s-1
  labels: {kubernetes.io/service-name: s}
addressType: IPv4
ports: [{name: pg, port: 6432}]
endpoints:
  - addresses: [192.168.1.30]
    nodeName: node-1
  - addresses: [192.168.1.31]
    conditions: {ready: false, serving: true, terminating: true}
`

func TestResolveServicesProblems(t *testing.T) {
	svc := func(name, spec string) string {
		return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec:\n" + spec
	}
	tests := []struct {
		name, text, path, msg string
	}{
		{"outside the range", svc("a", "  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n"), "spec.clusterIP", "is not inside the service CIDR 172.21.0.0/20"},
		{"the API server's", svc("a", "  clusterIP: 172.21.0.1\n  ports: [{port: 80}]\n"), "spec.clusterIP", "the kubernetes Service's"},
		{"network address", svc("a", "  clusterIP: 172.21.0.0\n  ports: [{port: 80}]\n"), "spec.clusterIP", "network address"},
		{"taken", svc("a", "  clusterIP: 172.21.0.9\n  ports: [{port: 80}]\n") + svc("b", "  clusterIP: 172.21.0.9\n  ports: [{port: 80}]\n"), "spec.clusterIP", "already the ClusterIP of Service default/a"},
		{"node port taken", svc("a", "  type: NodePort\n  ports: [{port: 80, nodePort: 30001}]\n") + svc("b", "  type: NodePort\n  ports: [{port: 81, nodePort: 30001}]\n"), "spec.ports[0].nodePort", "already allocated to Service default/a (spec.ports[0])"},
		{"health check port taken", svc("a", "  type: NodePort\n  ports: [{port: 80, nodePort: 30001}]\n") + svc("b", "  type: LoadBalancer\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 30001\n  ports: [{port: 81}]\n"), "spec.healthCheckNodePort", "already allocated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svcs, probs := resolve(t, tt.text)
			require.Len(t, probs, 1, probs.Error())
			assert.Equal(t, "m.yaml", probs[0].File)
			assert.NotZero(t, probs[0].Line)
			assert.Equal(t, tt.path, probs[0].Path)
			assert.Contains(t, probs[0].Msg, tt.msg)
			assert.NotEmpty(t, svcs)
		})
	}
}

func TestAllocators(t *testing.T) {
	// A /24: 254 usable addresses, the lowest 16 kept for requests, the
	// first for the API server.
	cidr := netip.MustParsePrefix("10.0.0.0/24")
	a := newIPAllocator(cidr, 1)
	assert.Equal(t, 254, a.bits.max)
	assert.Equal(t, 16, a.bits.offset)
	got := map[netip.Addr]bool{}
	for range 238 {
		ip, ok := a.allocateNext("x")
		require.True(t, ok)
		assert.False(t, got[ip])
		got[ip] = true
		assert.GreaterOrEqual(t, addrUint32(ip)-addrUint32(cidr.Addr()), uint32(17), "the upper band first: %s", ip)
	}
	// Upper band full: the lower band, but never .1.
	for range 15 {
		ip, ok := a.allocateNext("x")
		require.True(t, ok)
		assert.Less(t, addrUint32(ip)-addrUint32(cidr.Addr()), uint32(17))
		assert.NotEqual(t, netip.MustParseAddr("10.0.0.1"), ip)
	}
	_, ok := a.allocateNext("x")
	assert.False(t, ok, "full")
	assert.Contains(t, a.allocate(netip.MustParseAddr("10.0.0.255"), "y"), "broadcast")

	assert.Equal(t, 256, rangeOffset(4096, 16, 256, 16), "a /20 keeps 256")
	assert.Equal(t, 0, rangeOffset(16, 16, 256, 16), "a /28 keeps none")
	assert.Equal(t, 86, rangeOffset(2768, 16, 128, 32), "node ports keep 86")

	p := newPortAllocator(NodePortMin, NodePortMax, 1)
	assert.Empty(t, p.allocate(30000, "a", "spec.ports[0]"))
	assert.Empty(t, p.allocate(30000, "a", "spec.ports[1]"), "one Service, two protocols")
	assert.Contains(t, p.allocate(30000, "b", "spec.ports[0]"), "already allocated to Service a")
	assert.Contains(t, p.allocate(30000, "a", "spec.healthCheckNodePort"), "already this Service's spec.ports[0]")
	assert.Contains(t, p.allocate(29999, "a", "spec.ports[0]"), "out of range")
}

func TestAssignLoadBalancerIPs(t *testing.T) {
	text := `apiVersion: v1
kind: Service
metadata:
  name: pub
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: priv
  annotations: {service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type: intranet}
spec: {type: LoadBalancer, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other}
spec: {type: LoadBalancer, loadBalancerClass: example.com/lb, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: broken}
spec: {type: LoadBalancer, ports: [{port: 80}]}
`
	objs, errs := decodeManifest(t, "m.yaml", text)
	require.Empty(t, errs)
	svcs, probs := ResolveServices(objs, nil, testServiceCIDR, 1)
	require.Empty(t, probs)
	var asked []string
	probs = AssignLoadBalancerIPs(svcs, objs, func(svc *kubeproxy.Service, spec *k8s.Service) ([]netip.Addr, error) {
		asked = append(asked, svc.Name+":"+spec.ACK.AddressType)
		switch spec.Name {
		case "broken":
			return nil, errors.New("vSwitch has no free address")
		case "priv":
			return []netip.Addr{netip.MustParseAddr("192.168.0.200")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("47.96.0.10")}, nil
	})
	assert.Equal(t, []string{"pub:internet", "priv:intranet", "broken:internet"}, asked, "other's class is not ACK's")
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("47.96.0.10")}, svcByName(svcs, "pub").LoadBalancerIPs)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("192.168.0.200")}, svcByName(svcs, "priv").LoadBalancerIPs)
	assert.Empty(t, svcByName(svcs, "other").LoadBalancerIPs)
	require.Len(t, probs, 1)
	assert.Equal(t, "m.yaml:19:1: Service default/broken: no load balancer: vSwitch has no free address", probs[0].String())
}

// describeServices prints resolved Services for golden files.
func describeServices(svcs []*kubeproxy.Service) string {
	var b strings.Builder
	for _, s := range svcs {
		ip := "None"
		if !s.Headless() {
			ip = s.ClusterIP.String()
		}
		fmt.Fprintf(&b, "Service %s/%s %s %s\n", s.Namespace, s.Name, s.Type, ip)
		for _, p := range s.Ports {
			var eps []string
			for _, e := range s.Endpoints[p.Name] {
				eps = append(eps, fmt.Sprintf("%s:%d (%s)", e.IP, e.Port, e.NodeName))
			}
			if len(eps) == 0 {
				eps = []string{"no endpoints"}
			}
			np := ""
			if p.NodePort != 0 {
				np = fmt.Sprintf(" nodePort %d", p.NodePort)
			}
			fmt.Fprintf(&b, "  %s %d/%s%s → %s\n", p.Name, p.Port, p.Protocol, np, strings.Join(eps, ", "))
		}
	}
	return b.String()
}

// TestManifestsGolden decodes every testdata/k8s/bad/*.yaml (manifests
// as a new user writes them) in a scenario with nodes node-1 and node-2
// and service CIDR 172.21.0.0/20, resolves the Services, and compares
// the problems (or, when there is none, the Services and their endpoints)
// with the .golden file next to it. Run with -update to rewrite them.
func TestManifestsGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "k8s", "bad", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 9)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			name := "bad/" + filepath.Base(file)
			objs, errs := decodeManifest(t, name, mustRead(t, file))
			var got string
			if len(errs) > 0 {
				got = errs.Error() + "\n"
			} else {
				svcs, probs := ResolveServices(objs, addrs(objs.Pods), testServiceCIDR, 1)
				if len(probs) > 0 {
					got = probs.Error() + "\n"
				} else {
					got = "no problem\n" + describeServices(svcs)
				}
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", got)
		})
	}
}

// TestScenarioServicesGolden loads every testdata/k8s/scenario-bad/*.yaml
// scenario (manifests, inline resources, Service flows, the Internet
// client, kube-proxy options) and compares the problems with the golden
// file next to it.
func TestScenarioServicesGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "k8s", "scenario-bad", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			s, err := Load(file)
			require.Error(t, err)
			assert.Nil(t, s)
			var probs Problems
			require.ErrorAs(t, err, &probs)
			for _, p := range probs {
				assert.NotZero(t, p.Line, p.String())
				assert.NotEmpty(t, p.File)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", err.Error()+"\n")
		})
	}
}

func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "no golden file: run go test ./topology -run 'Golden' -update")
	assert.Equal(t, string(want), got)
}

func TestK8sGoldenFilesHaveInputs(t *testing.T) {
	for _, dir := range []string{"bad", "scenario-bad"} {
		goldens, err := filepath.Glob(filepath.Join("testdata", "k8s", dir, "*.golden"))
		require.NoError(t, err)
		for _, g := range goldens {
			_, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".yaml")
			assert.NoError(t, err, "golden file without its input")
		}
	}
}

func TestLoadScenarioWithServices(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "k8s", "good", "services.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "ipvs", s.Cluster.ProxyMode)
	assert.Equal(t, "lc", s.Cluster.IPVSScheduler)
	assert.Equal(t, &Internet{Name: "client", IP: "198.51.100.20"}, s.Internet)
	require.NotNil(t, s.Objects)
	assert.Len(t, s.Objects.Services, 6, "5 from app.yaml, 1 inline")
	assert.Len(t, s.Objects.Deployments, 1)

	// Manifest pods, after the scenario's own: the Deployment's replicas
	// round-robin over the nodes, the Pods.
	mp := s.ManifestPods()
	require.Len(t, mp, 5)
	assert.Equal(t, []string{"node-1", "node-2", "node-1", "node-2", "node-2"}, []string{mp[0].Node, mp[1].Node, mp[2].Node, mp[3].Node, mp[4].Node})
	assert.Equal(t, Pod{Name: "api-1", Namespace: "shop", Node: "node-2", Labels: map[string]string{"app": "api"}}, mp[4])

	// The inline Service is located in the scenario file.
	api := s.Objects.Service("shop", "api")
	require.NotNil(t, api)
	assert.Equal(t, filepath.Join("testdata", "k8s", "good", "services.yaml"), api.Source.File)
	assert.Equal(t, "resources[0]", api.Source.Path)
	line, _ := api.Source.At("spec.ports[1].port")
	assert.Equal(t, 33, line)

	want := []string{
		"pod/default/tester → svc/default/web",
		"pod/default/tester → svc/shop/api",
		"internet → slb/default/web-lb",
		"pod/default/tester → dns:web-headless.default.svc.cluster.local",
		"pod/default/client → pod/shop/api-1",
		"node/node-1 → svc/default/web",
	}
	var got []string
	for _, f := range s.Flows {
		from, err := ParseEndpoint(f.From)
		require.NoError(t, err)
		to, err := ParseEndpoint(f.To)
		require.NoError(t, err)
		got = append(got, from.String()+" → "+to.String())
	}
	assert.Equal(t, want, got)

	// Defaults without the new keys.
	s, err = Load(filepath.Join("testdata", "good", "vxlan-two-node.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "iptables", s.Cluster.ProxyMode)
	assert.Empty(t, s.Cluster.IPVSScheduler)
	assert.Nil(t, s.Internet)
	assert.Nil(t, s.Objects)
	assert.Nil(t, s.ManifestPods())
}

func TestParseServiceEndpoints(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
		str  string
	}{
		{"svc/web", Endpoint{Kind: EndpointService, Namespace: "default", Name: "web"}, "svc/default/web"},
		{"svc/shop/api", Endpoint{Kind: EndpointService, Namespace: "shop", Name: "api"}, "svc/shop/api"},
		{"slb/web-lb", Endpoint{Kind: EndpointSLB, Namespace: "default", Name: "web-lb"}, "slb/default/web-lb"},
		{"slb/shop/api", Endpoint{Kind: EndpointSLB, Namespace: "shop", Name: "api"}, "slb/shop/api"},
		{"dns:web.shop.svc.cluster.local", Endpoint{Kind: EndpointDNS, Namespace: "shop", Name: "web"}, "dns:web.shop.svc.cluster.local"},
		{"dns:web.shop.svc.cluster.local.", Endpoint{Kind: EndpointDNS, Namespace: "shop", Name: "web"}, "dns:web.shop.svc.cluster.local"},
		{"internet", Endpoint{Kind: EndpointInternet}, "internet"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEndpoint(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.str, got.String())
		})
	}
	for _, bad := range []string{"svc/", "svc/a/b/c", "slb/a/", "dns:web", "dns:web.shop", "dns:web.shop.svc.example.com", "dns:.shop.svc.cluster.local", "Internet"} {
		_, err := ParseEndpoint(bad)
		assert.ErrorIs(t, err, errBadEndpoint, bad)
	}
	assert.Equal(t, "web.shop.svc.cluster.local", Endpoint{Kind: EndpointDNS, Namespace: "shop", Name: "web"}.Host())
}

func TestValidateServiceRules(t *testing.T) {
	// The base scenario with one inline LoadBalancer Service and one
	// manifest-like Pod.
	with := func(mutate func(s *Scenario)) *Scenario {
		s := baseScenario()
		s.Resources = []Resource{NewResource(yamlNode(t, `{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: LoadBalancer, selector: {app: web}, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}}`))}
		s.Internet = &Internet{}
		mutate(s)
		return s
	}
	tests := []struct {
		name   string
		mutate func(s *Scenario)
		path   string
		msg    string
	}{
		{"internet name", func(s *Scenario) { s.Internet.Name = "Client_1" }, "internet.name", "not a valid name"},
		{"internet ip", func(s *Scenario) { s.Internet.IP = "internet" }, "internet.ip", "not an IPv4 address"},
		{"internet loopback", func(s *Scenario) { s.Internet.IP = "127.0.0.1" }, "internet.ip", "loopback"},
		{"internet multicast", func(s *Scenario) { s.Internet.IP = "224.0.0.5" }, "internet.ip", "multicast"},
		{"internet reserved", func(s *Scenario) { s.Internet.IP = "255.255.255.255" }, "internet.ip", "reserved"},
		{"proxy mode", func(s *Scenario) { s.Cluster.ProxyMode = "userspace" }, "cluster.proxyMode", "unknown proxy mode"},
		{"scheduler", func(s *Scenario) { s.Cluster.ProxyMode = "ipvs"; s.Cluster.IPVSScheduler = "wrr" }, "cluster.ipvsScheduler", `did you mean "rr"?`},
		{"internet as destination without a client", func(s *Scenario) { s.Internet = nil; s.Flows[0].To = "internet" }, "flows[0].to", "there is no Internet client"},
		{"nodePortAddresses not a CIDR", func(s *Scenario) { s.Cluster.NodePortAddresses = []string{"eth0"} }, "cluster.nodePortAddresses[0]", "not an IPv4 CIDR"},
		{"nodePortAddresses host bits", func(s *Scenario) { s.Cluster.NodePortAddresses = []string{"192.168.0.10/16"} }, "cluster.nodePortAddresses[0]", "192.168.0.0/16"},
		{"nodePortAddresses primary", func(s *Scenario) { s.Cluster.NodePortAddresses = []string{"primary"} }, "cluster.nodePortAddresses[0]", "not modelled"},
		{"nodePortAddresses duplicate", func(s *Scenario) { s.Cluster.NodePortAddresses = []string{"192.168.0.0/16", "192.168.0.0/16"} }, "cluster.nodePortAddresses[1]", "already cluster.nodePortAddresses[0]"},
		{"sysctl not modelled", func(s *Scenario) { s.Nodes[0].Sysctls = map[string]int{"net.ipv4.ip_forward": 1} }, "nodes[0].sysctls.net.ipv4.ip_forward", "not a modelled sysctl"},
		{"sysctl knob typo", func(s *Scenario) { s.Nodes[0].Sysctls = map[string]int{"net.ipv4.conf.all.rp_filtr": 1} }, "nodes[0].sysctls.net.ipv4.conf.all.rp_filtr", `did you mean "rp_filter"?`},
		{"sysctl no device", func(s *Scenario) { s.Nodes[0].Sysctls = map[string]int{"net.ipv4.conf.rp_filter": 1} }, "nodes[0].sysctls.net.ipv4.conf.rp_filter", "names no device"},
		{"rp_filter out of range", func(s *Scenario) { s.Nodes[0].Sysctls = map[string]int{"net.ipv4.conf.eth0.rp_filter": 3} }, "nodes[0].sysctls.net.ipv4.conf.eth0.rp_filter", "expected 0 (off), 1 (strict) or 2 (loose)"},
		{"accept_local out of range", func(s *Scenario) { s.Nodes[0].Sysctls = map[string]int{"net.ipv4.conf.all.accept_local": 2} }, "nodes[0].sysctls.net.ipv4.conf.all.accept_local", "expected 0 or 1"},
		{"dns to missing", func(s *Scenario) { s.Flows[0].To = "dns:wbe.default.svc.cluster.local" }, "flows[0].to", `did you mean "default/web"?`},
		{"resource is nothing", func(s *Scenario) { s.Resources = append(s.Resources, Resource{}) }, "resources[1]", "got nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := with(tt.mutate).Validate()
			for _, p := range probs {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no problem at %s containing %q; got:\n%s", tt.path, tt.msg, probs.Error())
		})
	}

	// And what is valid.
	valid := []func(s *Scenario){
		func(s *Scenario) {},
		func(s *Scenario) { s.Flows[0].From = "internet"; s.Flows[0].To = "slb/web" },
		func(s *Scenario) {
			s.Flows[0].To = "svc/default/web"
			s.Flows[0].Protocol = "udp"
			s.Flows[0].Port = 53
		},
		func(s *Scenario) { s.Flows[0].To = "dns:web.default.svc.cluster.local" },
		func(s *Scenario) { s.Cluster.ProxyMode = "ipvs" },
		func(s *Scenario) { s.Internet = &Internet{Name: "client", IP: "8.8.8.8"} },
	}
	for i, mutate := range valid {
		s := with(mutate)
		assert.Empty(t, s.Validate().Error(), "valid case %d", i)
	}
	s := with(func(s *Scenario) { s.Cluster.ProxyMode = "ipvs" })
	require.Empty(t, s.Validate())
	assert.Equal(t, "rr", s.Cluster.IPVSScheduler, "the default scheduler")
	assert.Equal(t, &Internet{Name: "internet", IP: "203.0.113.10"}, s.Internet, "the defaults")
}

func TestPodAddrs(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "k8s", "good", "services.yaml"))
	require.NoError(t, err)
	api := s.Objects.Pod("shop", "api-1")
	require.NotNil(t, api)
	node := &Host{Name: "node-2"}
	w := &World{Scenario: s, Pods: []*WiredPod{
		{Namespace: "default", Name: "tester", Labels: map[string]string{"app": "tester"}, Node: &Host{Name: "node-1"}, IP: netip.MustParseAddr("172.20.0.2")},
		{Namespace: "shop", Name: "api-1", Labels: api.Labels, Node: node, IP: netip.MustParseAddr("172.20.1.2")},
	}}
	got := w.PodAddrs()
	sort.Slice(got, func(i, j int) bool { return got[i].Name > got[j].Name })
	assert.Equal(t, []PodAddr{
		{Namespace: "default", Name: "tester", Labels: map[string]string{"app": "tester"}, IP: netip.MustParseAddr("172.20.0.2"), Node: "node-1", Ready: true},
		{Namespace: "shop", Name: "api-1", Labels: map[string]string{"app": "api"}, IP: netip.MustParseAddr("172.20.1.2"), Node: "node-2",
			Ports: []k8s.ContainerPort{{Port: 9000, Protocol: "TCP"}}, Ready: true},
	}, got)
}

// yamlNode parses one YAML value into its node.
func yamlNode(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(text), &doc))
	return doc.Content[0]
}
