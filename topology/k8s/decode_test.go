package k8s

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

var twoNodes = Options{Nodes: []string{"node-1", "node-2"}, Seed: 1}

func decodeFiles(t *testing.T, opts Options, files ...string) (*Objects, Errors) {
	t.Helper()
	d := NewDecoder(opts)
	for _, f := range files {
		d.DecodeFile(f)
	}
	return d.Objects()
}

func decodeText(t *testing.T, text string) (*Objects, Errors) {
	t.Helper()
	d := NewDecoder(twoNodes)
	d.Decode("x.yaml", []byte(text))
	return d.Objects()
}

var generatedName = regexp.MustCompile(`^web-[bcdfghjklmnpqrstvwxz2456789]+-[bcdfghjklmnpqrstvwxz2456789]{5}$`)

func TestDecodeGood(t *testing.T) {
	objs, errs := decodeFiles(t, twoNodes, filepath.Join("testdata", "good", "app.yaml"), filepath.Join("testdata", "good", "more.yaml"))
	require.Empty(t, errs)

	// A Deployment of 3 replicas, spread round-robin over 2 nodes, then
	// the Pod object with its own nodeName.
	require.Len(t, objs.Deployments, 1)
	dep := objs.Deployments[0]
	assert.Equal(t, 3, dep.Replicas)
	assert.Equal(t, "app=web", dep.Selector)
	require.Len(t, dep.Pods, 3)
	require.Len(t, objs.Pods, 4)
	for i, p := range objs.Pods[:3] {
		assert.Equal(t, dep.Pods[i], p.Name)
		assert.Regexp(t, generatedName, p.Name)
		assert.True(t, strings.HasPrefix(p.Name, "web-"+dep.PodTemplateHash+"-"), p.Name)
		assert.Equal(t, map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": dep.PodTemplateHash}, p.Labels)
		assert.Equal(t, "Deployment default/web", p.Owner)
		assert.True(t, p.Placed)
		assert.True(t, p.Ready)
		assert.Equal(t, []ContainerPort{{Name: "http", Port: 8080, Protocol: "TCP"}, {Name: "metrics", Port: 9090, Protocol: "TCP"}}, p.Ports())
	}
	assert.Equal(t, []string{"node-1", "node-2", "node-1"}, []string{objs.Pods[0].Node, objs.Pods[1].Node, objs.Pods[2].Node})
	client := objs.Pod("default", "client")
	require.NotNil(t, client)
	assert.Equal(t, "node-2", client.Node)
	assert.False(t, client.Placed)
	assert.Equal(t, "testdata/good/app.yaml:98", client.Source.String())

	tests := []struct {
		name  string
		check func(t *testing.T, s *Service)
	}{
		{"web", func(t *testing.T, s *Service) {
			assert.Equal(t, TypeClusterIP, s.Type)
			assert.False(t, s.ClusterIP.IsValid(), "allocated later")
			assert.Equal(t, []ServicePort{
				{Name: "http", Protocol: "TCP", Port: 80, TargetPort: TargetPort{Name: "http"}},
				{Name: "metrics", Protocol: "TCP", Port: 9090, TargetPort: TargetPort{Name: "metrics"}},
			}, s.Ports)
			assert.Equal(t, "None", s.SessionAffinity)
			assert.Zero(t, s.AffinitySeconds)
			assert.Empty(t, s.ExternalTrafficPolicy, "not externally accessible")
			assert.Equal(t, "Cluster", s.InternalTrafficPolicy)
			assert.Equal(t, []string{"IPv4"}, s.IPFamilies)
			assert.Equal(t, "SingleStack", s.IPFamilyPolicy)
			assert.False(t, s.HasNodePorts())
			assert.Empty(t, s.ACK.Kind)
		}},
		{"web-headless", func(t *testing.T, s *Service) {
			assert.True(t, s.Headless)
			assert.Equal(t, TargetPort{Number: 8080}, s.Ports[0].TargetPort)
		}},
		{"web-nodeport", func(t *testing.T, s *Service) {
			assert.Equal(t, TypeNodePort, s.Type)
			assert.Equal(t, 30080, s.Ports[0].NodePort)
			assert.Equal(t, "Cluster", s.ExternalTrafficPolicy)
			assert.True(t, s.HasNodePorts())
		}},
		{"web-lb", func(t *testing.T, s *Service) {
			assert.Equal(t, TypeLoadBalancer, s.Type)
			assert.Equal(t, "Local", s.ExternalTrafficPolicy)
			assert.True(t, s.NeedsHealthCheck())
			assert.Zero(t, s.HealthCheckNodePort, "allocated later")
			assert.True(t, s.AllocateLoadBalancerNodePorts)
			assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.7/32")}, s.LoadBalancerSourceRanges)
			assert.Equal(t, "ClientIP", s.SessionAffinity)
			assert.Equal(t, 10800, s.AffinitySeconds)
			assert.Equal(t, ACKLoadBalancer{Kind: LBKindCLB, AddressType: AddressIntranet, AddressTypePath: "metadata.annotations." + AnnotationAddressType, BackendType: BackendENI, Spec: "slb.s1.small", IPVersion: "ipv4"}, s.ACK)
		}},
		{"db", func(t *testing.T, s *Service) {
			assert.Equal(t, "shop", s.Namespace)
			assert.Nil(t, s.Selector)
			assert.Equal(t, TargetPort{Number: 5432}, s.Ports[0].TargetPort)
		}},
	}
	require.Len(t, objs.Services, len(tests))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := objs.Services[i]
			assert.Equal(t, tt.name, s.Name)
			tt.check(t, s)
		})
	}

	require.Len(t, objs.Endpoints, 2)
	ep := objs.Endpoints[0]
	assert.Equal(t, "db", ep.Service)
	assert.Equal(t, []EndpointSubset{{
		Ports: []EndpointPort{{Name: "pg", Port: 5432, Protocol: "TCP"}},
		Addresses: []EndpointAddress{
			{IP: netip.MustParseAddr("192.168.1.20"), Ready: true, Serving: true},
			{IP: netip.MustParseAddr("192.168.1.21")},
		},
	}}, ep.Subsets)
	slice := objs.Endpoints[1]
	assert.Equal(t, "EndpointSlice", slice.Kind)
	assert.Equal(t, "cache", slice.Service)
	assert.Equal(t, []EndpointAddress{
		{IP: netip.MustParseAddr("192.168.1.30"), NodeName: "node-1", Ready: true, Serving: true},
		{IP: netip.MustParseAddr("192.168.1.31"), Serving: true, Terminating: true},
	}, slice.Subsets[0].Addresses)

	require.Len(t, objs.NetworkPolicies, 1)
	assert.Equal(t, "app=web", objs.NetworkPolicies[0].PodSelector)
	assert.Equal(t, []string{"Ingress"}, objs.NetworkPolicies[0].PolicyTypes)
	assert.Contains(t, string(objs.NetworkPolicies[0].Spec), `"podSelector"`)
	require.Len(t, objs.Ingresses, 1)
	assert.Equal(t, []string{"shop.example.com/ → web:http"}, objs.Ingresses[0].Backends)
}

func TestDeploymentNamesDeterministic(t *testing.T) {
	files := []string{filepath.Join("testdata", "good", "app.yaml")}
	a, _ := decodeFiles(t, twoNodes, files...)
	b, _ := decodeFiles(t, twoNodes, files...)
	c, _ := decodeFiles(t, Options{Nodes: twoNodes.Nodes, Seed: 2}, files...)
	assert.Equal(t, a.Deployments[0].Pods, b.Deployments[0].Pods, "same seed, same names")
	assert.NotEqual(t, a.Deployments[0].Pods, c.Deployments[0].Pods, "the seed draws the random part")
	assert.Equal(t, a.Deployments[0].PodTemplateHash, c.Deployments[0].PodTemplateHash, "the hash depends on the template only")

	// Without nodes, nothing is placed.
	d, errs := decodeFiles(t, Options{Seed: 1}, files...)
	require.Empty(t, errs)
	assert.Empty(t, d.Pods[0].Node)
	assert.False(t, d.Pods[0].Placed)
}

func TestDefaultsAndRules(t *testing.T) {
	svc := func(spec string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n" + spec
	}
	tests := []struct {
		name  string
		text  string
		err   string // a part of the one expected problem; "" for none
		check func(t *testing.T, o *Objects)
	}{
		{name: "clientIP timeout", text: svc("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n  ports: [{port: 80}]\n"),
			check: func(t *testing.T, o *Objects) { assert.Equal(t, 60, o.Services[0].AffinitySeconds) }},
		{name: "clientIP timeout range", text: svc("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n  ports: [{port: 80}]\n"),
			err: "1 to 86400 seconds"},
		{name: "udp and targetPort default", text: svc("  ports: [{port: 53, protocol: UDP}]\n"),
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, ServicePort{Protocol: "UDP", Port: 53, TargetPort: TargetPort{Number: 53}}, o.Services[0].Ports[0])
			}},
		{name: "externalIPs make it external", text: svc("  externalIPs: [198.51.100.1]\n  ports: [{port: 80}]\n"),
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, "Cluster", o.Services[0].ExternalTrafficPolicy)
				assert.Equal(t, []netip.Addr{netip.MustParseAddr("198.51.100.1")}, o.Services[0].ExternalIPs)
			}},
		{name: "lb without node ports", text: svc("  type: LoadBalancer\n  allocateLoadBalancerNodePorts: false\n  ports: [{port: 80}]\n"),
			check: func(t *testing.T, o *Objects) { assert.False(t, o.Services[0].HasNodePorts()) }},
		{name: "nlb class", text: svc("  type: LoadBalancer\n  loadBalancerClass: alibabacloud.com/nlb\n  ports: [{port: 80}]\n"),
			check: func(t *testing.T, o *Objects) { assert.Equal(t, LBKindNLB, o.Services[0].ACK.Kind) }},
		{name: "other class", text: svc("  type: LoadBalancer\n  loadBalancerClass: example.com/lb\n  ports: [{port: 80}]\n"),
			check: func(t *testing.T, o *Objects) { assert.Empty(t, o.Services[0].ACK.Kind) }},
		{name: "legacy annotation prefix", text: "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations: {service.beta.kubernetes.io/alicloud-loadbalancer-address-type: intranet}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n",
			check: func(t *testing.T, o *Objects) { assert.Equal(t, AddressIntranet, o.Services[0].ACK.AddressType) }},
		{name: "source ranges annotation", text: "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations: {service.beta.kubernetes.io/load-balancer-source-ranges: \"10.0.0.0/8, 192.168.1.1/24\"}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n",
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24")}, o.Services[0].LoadBalancerSourceRanges)
			}},
		{name: "clusterIPs", text: svc("  clusterIPs: [172.21.0.10]\n  ports: [{port: 80}]\n"),
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, netip.MustParseAddr("172.21.0.10"), o.Services[0].ClusterIP)
			}},
		{name: "dual stack", text: svc("  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 80}]\n"), err: "needs a dual-stack cluster"},
		{name: "ipv6 clusterIP", text: svc("  clusterIP: fd00::10\n  ports: [{port: 80}]\n"), err: "IPv6 address"},
		{name: "no ports", text: svc("  selector: {app: a}\n"), err: "required: at least one port"},
		{name: "headless without ports", text: svc("  clusterIP: None\n"),
			check: func(t *testing.T, o *Objects) { assert.True(t, o.Services[0].Headless) }},
		{name: "external name", text: svc("  type: ExternalName\n  externalName: db.example.com\n"),
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, "db.example.com", o.Services[0].ExternalName)
				assert.Empty(t, o.Services[0].InternalTrafficPolicy)
			}},
		{name: "lb ip version 6", text: "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations: {service.beta.kubernetes.io/alibaba-cloud-loadbalancer-ip-version: ipv6}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n",
			err: "IPv6 load balancer is not modelled"},
		{name: "generateName", text: "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec: {containers: [{name: a, image: a}]}\n", err: "generateName is not supported"},
		{name: "pod not ready, pinned ip", text: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: a}]}\nstatus:\n  podIP: 172.20.0.9\n  conditions: [{type: Ready, status: \"False\"}]\n",
			check: func(t *testing.T, o *Objects) {
				assert.False(t, o.Pods[0].Ready)
				assert.Equal(t, netip.MustParseAddr("172.20.0.9"), o.Pods[0].IP)
				assert.Equal(t, "node-1", o.Pods[0].Node)
			}},
		{name: "replicas zero", text: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 0\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: a}]}}\n",
			check: func(t *testing.T, o *Objects) { assert.Empty(t, o.Pods) }},
		{name: "match expressions", text: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchExpressions: [{key: a, operator: In, values: [b, c]}]}\n  template: {metadata: {labels: {a: c}}, spec: {containers: [{name: a, image: a}]}}\n",
			check: func(t *testing.T, o *Objects) { assert.Equal(t, "a in (b,c)", o.Deployments[0].Selector) }},
		{name: "empty selector", text: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {}\n  template: {metadata: {labels: {a: c}}, spec: {containers: [{name: a, image: a}]}}\n",
			err: "an empty selector is invalid"},
		{name: "merge keys and anchors", text: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n    - &p {name: a, port: 80}\n    - {<<: *p, name: b, port: 81}\n",
			check: func(t *testing.T, o *Objects) { assert.Equal(t, "b", o.Services[0].Ports[1].Name) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := decodeText(t, tt.text)
			if tt.err != "" {
				require.Len(t, errs, 1, errs.Error())
				assert.Contains(t, errs[0].Msg, tt.err)
				return
			}
			require.Empty(t, errs)
			tt.check(t, objs)
		})
	}
}

// TestBadGolden decodes every testdata/bad/*.yaml and compares the
// problems with the .golden file next to it. Run with -update to rewrite
// the golden files.
func TestBadGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			name := "bad/" + filepath.Base(file)
			d := NewDecoder(twoNodes)
			d.Decode(name, data)
			_, errs := d.Objects()
			require.NotEmpty(t, errs)
			for i, e := range errs {
				assert.Equal(t, name, e.File)
				assert.NotEmpty(t, e.Msg)
				assert.NotRegexp(t, `\b(v1|intstr|resource)\.[A-Z]`, e.Msg, "no Go type names")
				if i > 0 {
					assert.LessOrEqual(t, errs[i-1].Line, e.Line, "sorted by line")
				}
			}
			got := errs.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "no golden file: run go test ./topology/k8s -run TestBadGolden -update")
			assert.Equal(t, string(want), got)
		})
	}
}

func TestGoldenFilesHaveManifests(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "bad", "*.golden"))
	require.NoError(t, err)
	for _, g := range goldens {
		_, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".yaml")
		assert.NoError(t, err, "golden file without a manifest")
	}
}

// scenarioText holds two inline objects the way a scenario's resources
// list them; positions in messages must be this file's.
const scenarioText = `name: x
resources:
  - apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
        - port: 80
          prot: TCP
  - {apiVersion: v1, kind: Pod, metadata: {name: p, labels: &l {app: p}}, spec: {containers: [{name: a, image: a}]}}
  - apiVersion: v1
    kind: Service
    metadata: {name: uses-alias, labels: *l}
    spec: {ports: [{port: eighty}]}
flows: []
`

func TestDecodeNode(t *testing.T) {
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(scenarioText), &doc))
	root := doc.Content[0]
	var items *yaml.Node
	for i := 0; i < len(root.Content); i += 2 {
		if root.Content[i].Value == "resources" {
			items = root.Content[i+1]
		}
	}
	require.NotNil(t, items)
	d := NewDecoder(twoNodes)
	for i, n := range items.Content {
		d.DecodeNode("s.yaml", []byte(scenarioText), n, indexPath("resources", i))
	}
	objs, errs := d.Objects()
	assert.Equal(t, Errors{
		{File: "s.yaml", Line: 10, Column: 11, Object: "Service default/web", Path: "resources[0].spec.ports[0].prot", Msg: `unknown field "prot" (did you mean "protocol"?)`},
		// An alias to an anchor outside the object: decoded from the node
		// tree instead of the text, still located by the node.
		{File: "s.yaml", Line: 15, Column: 27, Object: "Service default/uses-alias", Path: "resources[2].spec.ports[0].port", Msg: `expected an integer, got "eighty"`},
	}, errs)
	require.Len(t, objs.Pods, 1)
	assert.Equal(t, map[string]string{"app": "p"}, objs.Pods[0].Labels)
	assert.Equal(t, Source{File: "s.yaml", Path: "resources[1]", Line: 11, Column: 5}.String(), objs.Pods[0].Source.String())
	line, col := objs.Pods[0].Source.At("spec.containers[0].image")
	assert.Equal(t, [2]int{11, 112}, [2]int{line, col})
	assert.Equal(t, "resources[1].metadata.name", objs.Pods[0].Source.FieldPath("metadata.name"))
}

func TestSplitDocuments(t *testing.T) {
	text := "a: 1\n---\nb: 2\n--- # comment\n\n---x: not a separator\nc: 3\n"
	chunks := splitDocuments([]byte(text))
	require.Len(t, chunks, 3)
	assert.Equal(t, []int{1, 3, 5}, []int{chunks[0].line, chunks[1].line, chunks[2].line})
	assert.Equal(t, "\n---x: not a separator\nc: 3\n", string(chunks[2].text), "not padded: the lines are shifted after parsing")
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Column: 5, Object: "Service default/web", Path: "spec.ports[0].port", Msg: "bad"}, "a.yaml:3:5: spec.ports[0].port: Service default/web: bad"},
		{Error{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{Error{File: "a.yaml", Msg: "empty"}, "a.yaml: empty"},
		{Error{Object: "Pod default/p", Msg: "m"}, "Pod default/p: m"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.e.Error())
	}
	es := Errors{{File: "b", Line: 1}, {File: "a", Line: 9}, {File: "b", Line: 0}, {File: "a", Line: 2}}
	es.Sort()
	assert.Equal(t, Errors{{File: "b", Line: 0}, {File: "b", Line: 1}, {File: "a", Line: 2}, {File: "a", Line: 9}}, es)
	assert.NoError(t, Errors(nil).Err())
}

func TestKnownFields(t *testing.T) {
	names, typ := knownFields(typeOfService(), "spec.ports[0]")
	assert.Equal(t, "ServicePort", typ)
	assert.Equal(t, []string{"name", "protocol", "appProtocol", "port", "targetPort", "nodePort"}, names)
	names, typ = knownFields(typeOfService(), "")
	assert.Equal(t, "Service", typ)
	assert.Equal(t, []string{"kind", "apiVersion", "metadata", "spec", "status"}, names)
	assert.Equal(t, intOrStringType, fieldType(typeOfService(), "spec.ports[3].targetPort"))
	assert.Nil(t, fieldType(typeOfService(), "spec.nope"))
}

func typeOfService() reflect.Type { return reflect.TypeOf(kinds[2].newObj()) }
