package topology

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/kubeproxy"
	"netsim/dataplane/packet"
)

// TestKubernetesService: every cluster has default/kubernetes at the first
// address of the service CIDR, https 443/TCP, its one endpoint the API
// server's internal endpoint at 6443 (the intranet SLB on a VPC, the host
// itself on an L2 segment), and kube-proxy's rules for it on every node.
func TestKubernetesService(t *testing.T) {
	tests := []struct {
		name, src string
		clusterIP string
		host      string // the API server host
		endpoint  string // the kubernetes Endpoints
		slb       bool
	}{
		{"vpc", fmt.Sprintf(buildBase, "vxlan"), "172.21.0.1", "192.168.0.1", "192.168.0.2:6443", true},
		{"vpc, other service CIDR", strings.Replace(fmt.Sprintf(buildBase, "vxlan"), "serviceCIDR: 172.21.0.0/20", "serviceCIDR: 10.96.0.0/16", 1), "10.96.0.1", "192.168.0.1", "192.168.0.2:6443", true},
		{"l2", mustReadFile(t, "testdata/build/hostgw-l2.yaml"), "10.96.0.1", "192.168.10.4", "192.168.10.4:6443", false}, // .1-.3: the nodes and nas,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustBuild(t, tt.src)
			svc := w.Service("default", "kubernetes")
			require.NotNil(t, svc)
			assert.Same(t, svc, w.Services[0], "listed first")
			assert.Equal(t, tt.clusterIP, svc.ClusterIP.String())
			assert.Equal(t, kubeproxy.TypeClusterIP, svc.Type)
			assert.Equal(t, []kubeproxy.ServicePort{{Name: "https", Protocol: "TCP", Port: 443}}, svc.Ports)
			require.Len(t, svc.Endpoints["https"], 1)
			ep := svc.Endpoints["https"][0]
			assert.Equal(t, tt.endpoint, fmt.Sprintf("%s:%d", ep.IP, ep.Port))
			assert.True(t, ep.Ready && ep.Serving)

			a := w.APIServer
			require.NotNil(t, a)
			assert.Equal(t, tt.host, a.Host.IP.String())
			assert.Equal(t, tt.endpoint, a.Endpoint.String())
			assert.True(t, a.Host.Stack.Listening(packet.ProtoTCP, 6443), "the API server listens on 6443")
			assert.False(t, a.Host.Stack.Listening(packet.ProtoTCP, 443), "and not on the Service port")
			if tt.slb {
				require.NotNil(t, a.SLB)
				assert.Equal(t, "intranet", a.SLB.AddressType)
				assert.Equal(t, a.Endpoint.Addr(), a.SLB.Address)
				ls := a.SLB.Listeners()
				require.Len(t, ls, 1)
				assert.Equal(t, uint16(6443), ls[0].Port)
				require.Len(t, ls[0].Backends, 1)
				assert.Equal(t, a.Host.IP, ls[0].Backends[0].Addr)
				assert.Equal(t, uint16(6443), ls[0].Backends[0].Port)
			} else {
				assert.Nil(t, a.SLB)
			}

			for _, h := range w.Nodes {
				save := h.Filter.Save(false, "nat")
				assert.Contains(t, save, fmt.Sprintf(`-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y`, tt.clusterIP), h.Name)
				assert.Contains(t, save, fmt.Sprintf(`--comment "default/kubernetes:https" -m tcp -j DNAT --to-destination %s`, tt.endpoint), h.Name)
			}
		})
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	return mustRead(t, path)
}

// TestKubernetesServiceIsTheAPIServers: a manifest cannot declare
// default/kubernetes or its endpoints, nor a host take the API server's
// name; each problem is located.
func TestKubernetesServiceIsTheAPIServers(t *testing.T) {
	base := fmt.Sprintf(buildBase, "vxlan")
	tests := []struct {
		name, extra, at, want string
	}{
		{"service", `resources:
  - apiVersion: v1
    kind: Service
    metadata: {name: kubernetes}
    spec: {ports: [{port: 443}]}
`, "metadata: {name: kubernetes}>>name", "is the API server's own"},
		{"endpoints", `resources:
  - apiVersion: v1
    kind: Endpoints
    metadata: {name: kubernetes}
    subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 6443}]}]
`, "- apiVersion: v1", "the endpoints of the Service default/kubernetes are the API server's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + tt.extra
			s, err := Parse("build.yaml", []byte(src))
			var probs Problems
			if err == nil {
				_, err = Build(s, nopSched{})
			}
			require.Error(t, err)
			require.ErrorAs(t, err, &probs)
			require.NotEmpty(t, probs)
			assert.Contains(t, probs[0].Msg, tt.want)
			line, _ := posOf(t, src, tt.at)
			assert.Equal(t, line, probs[0].Line, probs[0].String())
		})
	}

	src := strings.Replace(base, "{name: ecs-db,", "{name: kube-apiserver,", 1)
	probs := buildProblems(t, src)
	require.Len(t, probs, 1)
	assert.Equal(t, "instances[0].name", probs[0].Path)
	assert.Contains(t, probs[0].Msg, "modelled API server host")
}

// TestFlowsToKubernetesServiceValidated: flows may name svc/kubernetes
// without any manifest; its one port is 443/TCP.
func TestFlowsToKubernetesServiceValidated(t *testing.T) {
	base := fmt.Sprintf(buildBase, "vxlan") + "flows:\n"
	tests := []struct {
		flow, want string
	}{
		{"  - {name: f, from: pod/web-1, to: svc/kubernetes, protocol: tcp, port: 443}\n", ""},
		{"  - {name: f, from: pod/web-1, to: dns:kubernetes.default.svc.cluster.local, protocol: tcp, port: 443}\n", ""},
		{"  - {name: f, from: pod/web-1, to: svc/default/kubernetes, protocol: tcp, port: 6443}\n", "flows[0].port: 6443/TCP is not a port of Service default/kubernetes (its ports: 443/TCP (https))"},
		{"  - {name: f, from: pod/web-1, to: slb/kubernetes, protocol: tcp, port: 443}\n", "Service default/kubernetes is of type ClusterIP: slb/ needs a Service of type LoadBalancer"},
		{"  - {name: f, from: pod/web-1, to: svc/kubernete, protocol: tcp, port: 443}\n", `Service "default/kubernete" does not exist (Services are: default/kubernetes) (did you mean "default/kubernetes"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			_, err := Parse("build.yaml", []byte(base+tt.flow))
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
