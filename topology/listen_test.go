package topology

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
)

// listenBase is a scenario with a ports: list on each kind of entry; the
// tests replace POD, NODE, ECS and NET with a list in flow style.
const listenBase = `name: listen
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - name: node-1
    vswitch: vsw-a
    ports: NODE
instances:
  - name: ecs-1
    vswitch: vsw-a
    ports: ECS
internet:
  ports: NET
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
pods:
  - name: web
    node: node-1
    ports: POD
`

func listenScenario(pod, node, ecs, net string) string {
	r := strings.NewReplacer("POD", pod, "NODE", node, "ECS", ecs, "NET", net)
	return r.Replace(listenBase)
}

func TestListenPortsYAML(t *testing.T) {
	tests := []struct {
		name                string
		pod, node, ecs, net string
		// want are the decoded pod ports (when no problem is expected).
		want []ListenPort
		// problems are the exact located problems expected, in order.
		problems []string
	}{
		{name: "protocol defaults to TCP", pod: "[{port: 8080, name: http}]",
			want: []ListenPort{{Port: 8080, Protocol: "TCP", Name: "http"}}},
		{name: "lowercase protocol stored uppercase", pod: "[{port: 53, protocol: udp, name: dns}, {port: 53}]",
			want: []ListenPort{{Port: 53, Protocol: "UDP", Name: "dns"}, {Port: 53, Protocol: "TCP"}}},
		{name: "sctp accepted", pod: "[{port: 38412, protocol: SCTP}]",
			want: []ListenPort{{Port: 38412, Protocol: "SCTP"}}},
		{name: "empty list", pod: "[]", want: []ListenPort{}},
		{name: "port required", pod: "[{name: http}]",
			problems: []string{"listen.yaml:22:13: pods[0].ports[0].port: required: the port number, 1 to 65535, e.g. {port: 8080, protocol: TCP, name: http}"}},
		{name: "port out of range", node: "[{port: 65536}]",
			problems: []string{"listen.yaml:8:20: nodes[0].ports[0].port: 65536 is out of range: a port is 1 to 65535"}},
		{name: "negative port", ecs: "[{port: -1}]",
			problems: []string{"listen.yaml:12:20: instances[0].ports[0].port: -1 is out of range: a port is 1 to 65535"}},
		{name: "unknown protocol with a hint", net: "[{port: 80, protocol: TPC}]",
			problems: []string{`listen.yaml:14:32: internet.ports[0].protocol: unknown protocol "TPC": expected TCP (the default), UDP or SCTP (did you mean "TCP"?)`}},
		{name: "mixed-case protocol", pod: "[{port: 80, protocol: Tcp}]",
			problems: []string{`listen.yaml:22:34: pods[0].ports[0].protocol: unknown protocol "Tcp": expected TCP (the default), UDP or SCTP (did you mean "TCP"?)`}},
		{name: "a port as a string", pod: `[{port: "http"}]`,
			problems: []string{`listen.yaml:22:20: pods[0].ports[0].port: expected an integer, got "http"`}},
		{name: "a bare number", pod: "[8080]",
			problems: []string{"listen.yaml:22:13: pods[0].ports[0]: expected a mapping such as {port: 8080, protocol: TCP, name: http}, got 8080"}},
		{name: "unknown key", pod: "[{port: 80, targetPort: 8080}]",
			problems: []string{`listen.yaml:22:24: pods[0].ports[0]: unknown field "targetPort" (known fields: port, protocol, name)`}},
		{name: "same port and protocol twice", pod: "[{port: 80}, {port: 80, protocol: TCP}]",
			problems: []string{"listen.yaml:22:32: pods[0].ports[1].port: 80/TCP is already listed at pods[0].ports[0]: one socket per port and protocol"}},
		{name: "same name twice", pod: "[{port: 80, name: web}, {port: 81, name: web}]",
			problems: []string{`listen.yaml:22:53: pods[0].ports[1].name: "web" is already the name of pods[0].ports[0]: port names must be unique`}},
		{name: "name not an IANA service name", node: "[{port: 22, name: Secure_Shell}]",
			problems: []string{`listen.yaml:8:30: nodes[0].ports[0].name: "Secure_Shell" is not a valid port name: an IANA_SVC_NAME must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`}},
		{name: "several problems, sorted by line", pod: "[{port: 0}]", node: "[{port: 99999, protocol: icmp}]",
			problems: []string{
				"listen.yaml:8:20: nodes[0].ports[0].port: 99999 is out of range: a port is 1 to 65535",
				`listen.yaml:8:37: nodes[0].ports[0].protocol: unknown protocol "icmp": expected TCP (the default), UDP or SCTP`,
				"listen.yaml:22:20: pods[0].ports[0].port: required: the port number, 1 to 65535, e.g. {port: 8080, protocol: TCP, name: http}",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			or := func(s string) string {
				if s == "" {
					return "[]"
				}
				return s
			}
			src := listenScenario(or(tt.pod), or(tt.node), or(tt.ecs), or(tt.net))
			s, err := Parse("listen.yaml", []byte(src))
			if len(tt.problems) == 0 {
				require.NoError(t, err, "scenario:\n%s", src)
				assert.Equal(t, tt.want, s.Pods[0].Ports)
				return
			}
			require.Error(t, err)
			var ps Problems
			require.True(t, errors.As(err, &ps))
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			assert.Equal(t, tt.problems, got)
		})
	}
}

// TestListenersAreExplicit: a namespace listens on its declared ports and
// nothing else; nodes also on kubelet's port.
func TestListenersAreExplicit(t *testing.T) {
	src := listenScenario("[{port: 8080, name: http}, {port: 53, protocol: UDP}, {port: 9, protocol: SCTP}]",
		"[{port: 22}, {port: 10250, name: kubelet-again}]", "[{port: 3306}, {port: 514, protocol: udp}]", "[{port: 443}]") + `resources:
  - apiVersion: v1
    kind: Pod
    metadata: {name: db, labels: {app: db}}
    spec:
      nodeName: node-1
      containers:
        - name: db
          image: mysql:8
          ports: [{containerPort: 3306, name: mysql}, {containerPort: 3306, protocol: UDP}]
  - apiVersion: v1
    kind: Service
    metadata: {name: shop}
    spec:
      type: LoadBalancer
      externalTrafficPolicy: Local
      healthCheckNodePort: 32100
      selector: {app: db}
      ports: [{port: 3306, targetPort: mysql}]
`
	w, err := Build(mustParse(t, src), linktest.New())
	require.NoError(t, err)
	tcp, udp := uint8(packet.ProtoTCP), uint8(packet.ProtoUDP)
	type probe struct {
		proto  uint8
		port   uint16
		listen bool
	}
	tests := []struct {
		name   string
		ns     string
		probes []probe
	}{
		{"scenario pod", "default/web", []probe{{tcp, 8080, true}, {udp, 53, true}, {tcp, 53, false}, {udp, 8080, false}, {tcp, 9, false}, {tcp, 80, false}}},
		{"manifest pod", "default/db", []probe{{tcp, 3306, true}, {udp, 3306, true}, {tcp, 8080, false}}},
		{"node", "node-1", []probe{{tcp, 22, true}, {tcp, KubeletPort, true}, {tcp, 32100, true}, {udp, 22, false}, {tcp, 3306, false}, {tcp, 30000, false}}},
		{"instance", "ecs-1", []probe{{tcp, 3306, true}, {udp, 514, true}, {tcp, KubeletPort, false}, {tcp, 22, false}}},
		{"internet", "internet", []probe{{tcp, 443, true}, {tcp, 80, false}, {udp, 443, false}}},
	}
	assert.Equal(t, "10250/TCP kubelet, 32100/TCP health-check default/shop, 22/TCP", w.ListenPorts(w.Nodes[0].Stack), "one entry per port and protocol")
	assert.Equal(t, "8080/TCP http, 53/UDP, 9/SCTP", w.ListenPorts(w.Pods[0].Stack))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st interface {
				Listening(uint8, uint16) bool
			}
			for _, s := range w.Stacks() {
				if s.Name == tt.ns {
					st = s
				}
			}
			require.NotNil(t, st, "no namespace %s", tt.ns)
			for _, p := range tt.probes {
				assert.Equal(t, p.listen, st.Listening(p.proto, p.port), "proto %d port %d", p.proto, p.port)
			}
		})
	}
}

// danglingBase has two scenario pods labelled app=web (web-a declares
// http/TCP 8080 and dns/UDP 53, web-b only 8080 unnamed) and one manifest
// pod app=api (http 9000); resources are appended by the tests.
const danglingBase = `name: dangling
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes: [{name: node-1, vswitch: vsw-a}]
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
pods:
  - {name: web-a, node: node-1, labels: {app: web}, ports: [{port: 8080, name: http}, {port: 53, protocol: UDP, name: dns}]}
  - {name: web-b, node: node-1, labels: {app: web}, ports: [{port: 8080}]}
resources:
  - apiVersion: v1
    kind: Pod
    metadata: {name: api, labels: {app: api}}
    spec:
      nodeName: node-1
      containers: [{name: api, image: api:1, ports: [{containerPort: 9000, name: http}]}]
  - apiVersion: v1
    kind: Service
    metadata: {name: svc}
    spec:
      selector: SELECTOR
      ports: [PORT]
`

func TestDanglingTargetPortWarnings(t *testing.T) {
	tests := []struct {
		name, selector, port string
		// warning is the exact warning, "" for none.
		warning string
		// endpoints are the endpoints of the Service port, "IP:port".
		endpoints []string
	}{
		{name: "named port declared", selector: "{app: api}", port: "{port: 80, targetPort: http}",
			endpoints: []string{"172.20.0.4:9000"}},
		{name: "named port of a scenario pod", selector: "{app: web}", port: "{port: 53, protocol: UDP, targetPort: dns}",
			warning:   `dangling.yaml:25:53: resources[1].spec.ports[0].targetPort: Service default/svc: port 53/UDP: targetPort "dns" names no UDP container port of pod default/web-b (declared: 8080/TCP): only 1 of the 2 selected pods are endpoints of this port`,
			endpoints: []string{"172.20.0.2:53"}},
		{name: "named port typo", selector: "{app: api}", port: "{port: 80, targetPort: htpp}",
			warning: `dangling.yaml:25:38: resources[1].spec.ports[0].targetPort: Service default/svc: port 80/TCP: targetPort "htpp" names no TCP container port of pod default/api (declared: 9000/TCP http): no selected pod is an endpoint of this port, so kube-proxy rejects connections to it (no-endpoints) (did you mean "http"?)`},
		{name: "named port with the other protocol", selector: "{app: api}", port: "{port: 80, protocol: UDP, targetPort: http}",
			warning: `dangling.yaml:25:53: resources[1].spec.ports[0].targetPort: Service default/svc: port 80/UDP: targetPort "http" names no UDP container port of pod default/api (declared: 9000/TCP http): no selected pod is an endpoint of this port, so kube-proxy rejects connections to it (no-endpoints)`},
		{name: "number listened on by every pod", selector: "{app: web}", port: "{port: 80, targetPort: 8080}",
			endpoints: []string{"172.20.0.2:8080", "172.20.0.3:8080"}},
		{name: "number nobody listens on", selector: "{app: web}", port: "{port: 80, targetPort: 80}",
			warning:   `dangling.yaml:25:38: resources[1].spec.ports[0].targetPort: Service default/svc: port 80/TCP: targetPort 80: nothing listens on 80/TCP in pods default/web-a, default/web-b (declared: 8080/TCP http, 53/UDP dns, 8080/TCP): connections kube-proxy sends there are refused with a RST (conn-refused)`,
			endpoints: []string{"172.20.0.2:80", "172.20.0.3:80"}},
		{name: "UDP number nobody listens on", selector: "{app: api}", port: "{port: 53, protocol: UDP}",
			warning:   `dangling.yaml:25:15: resources[1].spec.ports[0].targetPort: Service default/svc: port 53/UDP: targetPort 53: nothing listens on 53/UDP in pod default/api (declared: 9000/TCP http): datagrams kube-proxy sends there get ICMP port unreachable (port-unreachable)`,
			endpoints: []string{"172.20.0.4:53"}},
		{name: "selector matching no pod", selector: "{app: none}", port: "{port: 80, targetPort: http}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.NewReplacer("SELECTOR", tt.selector, "PORT", tt.port).Replace(danglingBase)
			s, err := Parse("dangling.yaml", []byte(src))
			require.NoError(t, err)
			w, err := Build(s, linktest.New())
			require.NoError(t, err)
			var got []string
			for _, p := range w.Warnings {
				got = append(got, p.String())
			}
			if tt.warning == "" {
				assert.Empty(t, got)
			} else {
				assert.Equal(t, []string{tt.warning}, got)
			}
			svc := w.Service("default", "svc")
			require.NotNil(t, svc)
			var eps []string
			for _, e := range svc.Endpoints[svc.Ports[0].Name] {
				eps = append(eps, netip.AddrPortFrom(e.IP, uint16(e.Port)).String())
			}
			assert.ElementsMatch(t, tt.endpoints, eps)
		})
	}
}

// TestUnservedExplicitEndpoints: a Service without a selector whose
// Endpoints name a modelled host on a port it does not listen on.
func TestUnservedExplicitEndpoints(t *testing.T) {
	tests := []struct {
		name, port, proto string
		warning           string
	}{
		{name: "listened on", port: "5432", proto: "TCP"},
		{name: "wrong port", port: "5433", proto: "TCP",
			warning: "endpoints.yaml:29:15: resources[0].spec.ports[0]: Service default/db: port 5432/TCP: endpoint 192.168.0.50:5433 is ECS instance ecs-1, which does not listen on 5433/TCP (it listens on 5432/TCP): connections to it are refused with a RST (conn-refused)"},
		{name: "wrong protocol", port: "5432", proto: "UDP",
			warning: "endpoints.yaml:29:15: resources[0].spec.ports[0]: Service default/db: port 5432/UDP: endpoint 192.168.0.50:5432 is ECS instance ecs-1, which does not listen on 5432/UDP (it listens on 5432/TCP): datagrams to it get ICMP port unreachable (port-unreachable)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := listenScenario("[]", "[]", "[{port: 5432}]", "[]") + strings.NewReplacer("PORT", tt.port, "PROTO", tt.proto).Replace(`resources:
  - apiVersion: v1
    kind: Service
    metadata: {name: db}
    spec:
      ports: [{port: 5432, protocol: PROTO}]
  - apiVersion: v1
    kind: Endpoints
    metadata: {name: db}
    subsets:
      - addresses: [{ip: 192.168.0.50}]
        ports: [{port: PORT, protocol: PROTO}]
`)
			src = strings.Replace(src, "  - name: ecs-1\n    vswitch: vsw-a\n", "  - name: ecs-1\n    vswitch: vsw-a\n    ip: 192.168.0.50\n", 1)
			s, err := Parse("endpoints.yaml", []byte(src))
			require.NoError(t, err)
			w, err := Build(s, linktest.New())
			require.NoError(t, err)
			var got []string
			for _, p := range w.Warnings {
				got = append(got, p.String())
			}
			if tt.warning == "" {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, []string{tt.warning}, got)
		})
	}
}
