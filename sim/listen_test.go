package sim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

// listenScenario: a client pod, a server pod that declares http/TCP 8080
// and dns/UDP 53, a node that runs a UDP service on 8125, an instance
// with a database on 5432, and Services whose targetPorts are right and
// wrong.
const listenScenario = `name: listen
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-a, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-a, ip: 192.168.0.11, ports: [{port: 8125, protocol: UDP, name: statsd}]}
instances:
  - {name: ecs-db, vswitch: vsw-a, ip: 192.168.0.50, ports: [{port: 5432}]}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
pods:
  - {name: client, node: node-1}
  - name: server
    node: node-2
    labels: {app: server}
    ports: [{port: 8080, name: http}, {port: 53, protocol: UDP, name: dns}]
resources:
  - {apiVersion: v1, kind: Service, metadata: {name: good}, spec: {selector: {app: server}, ports: [{port: 80, targetPort: http}]}}
  - {apiVersion: v1, kind: Service, metadata: {name: good-dns}, spec: {selector: {app: server}, ports: [{port: 53, protocol: UDP, targetPort: dns}]}}
  - {apiVersion: v1, kind: Service, metadata: {name: typo}, spec: {selector: {app: server}, ports: [{port: 80, targetPort: htpp}]}}
  - {apiVersion: v1, kind: Service, metadata: {name: wrong-number}, spec: {selector: {app: server}, ports: [{port: 80, targetPort: 80}]}}
  - {apiVersion: v1, kind: Service, metadata: {name: wrong-udp}, spec: {selector: {app: server}, ports: [{port: 5353, protocol: UDP}]}}
  - {apiVersion: v1, kind: Service, metadata: {name: np}, spec: {type: NodePort, selector: {app: server}, ports: [{port: 80, targetPort: http, nodePort: 30080}]}}
flows:
  - {name: pod-tcp-declared, from: pod/client, to: pod/server, protocol: tcp, port: 8080}
  - {name: pod-tcp-undeclared, from: pod/client, to: pod/server, protocol: tcp, port: 8081}
  - {name: pod-tcp-on-a-udp-port, from: pod/client, to: pod/server, protocol: tcp, port: 53}
  - {name: pod-udp-declared, from: pod/client, to: pod/server, protocol: udp, port: 53}
  - {name: pod-udp-undeclared, from: pod/client, to: pod/server, protocol: udp, port: 8080}
  - {name: pod-tcp-size-0-undeclared, from: pod/client, to: pod/server, protocol: tcp, port: 9, size: 0}
  - {name: ping-always, from: pod/client, to: pod/server}
  - {name: node-kubelet, from: pod/client, to: node/node-2, protocol: tcp, port: 10250}
  - {name: node-udp-declared, from: pod/client, to: node/node-2, protocol: udp, port: 8125}
  - {name: node-tcp-undeclared, from: pod/client, to: node/node-2, protocol: tcp, port: 22}
  - {name: node-udp-undeclared, from: node/node-1, to: node/node-2, protocol: udp, port: 514}
  - {name: ecs-declared, from: pod/client, to: ecs/ecs-db, protocol: tcp, port: 5432}
  - {name: ecs-undeclared, from: pod/client, to: ecs/ecs-db, protocol: tcp, port: 3306}
  - {name: ecs-has-no-kubelet, from: pod/client, to: ecs/ecs-db, protocol: tcp, port: 10250}
  - {name: svc-named-target, from: pod/client, to: svc/good, protocol: tcp, port: 80}
  - {name: svc-named-target-udp, from: pod/client, to: svc/good-dns, protocol: udp, port: 53}
  - {name: svc-named-target-typo, from: pod/client, to: svc/typo, protocol: tcp, port: 80}
  - {name: svc-numeric-target-nobody-listens, from: pod/client, to: svc/wrong-number, protocol: tcp, port: 80}
  - {name: svc-udp-target-nobody-listens, from: pod/client, to: svc/wrong-udp, protocol: udp, port: 5353}
  - {name: nodeport, from: ecs/ecs-db, to: node/node-1, protocol: tcp, port: 30080}
  - {name: nodeport-range-without-service, from: ecs/ecs-db, to: node/node-1, protocol: tcp, port: 30081}
`

func TestListenersAtRunTime(t *testing.T) {
	s, err := topology.Parse("listen.yaml", []byte(listenScenario))
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	res, err := r.Run(sim.Options{})
	require.NoError(t, err)
	require.Len(t, res.Warnings, 3, "typo, wrong-number, wrong-udp: %v", res.Warnings)
	assert.Contains(t, res.Warnings[0], `Service default/typo: port 80/TCP: targetPort "htpp" names no TCP container port`)
	assert.Contains(t, res.Warnings[1], "Service default/wrong-number: port 80/TCP: targetPort 80: nothing listens on 80/TCP")
	assert.Contains(t, res.Warnings[2], "Service default/wrong-udp: port 5353/UDP: targetPort 5353: nothing listens on 5353/UDP")

	tests := []struct {
		flow   string
		reason string // "" for delivered
		where  string // the namespace that answered the drop
	}{
		{"pod-tcp-declared", "", ""},
		{"pod-tcp-undeclared", "conn-refused", "default/server eth0"},
		{"pod-tcp-on-a-udp-port", "conn-refused", "default/server eth0"},
		{"pod-udp-declared", "", ""},
		{"pod-udp-undeclared", "port-unreachable", "default/server eth0"},
		{"pod-tcp-size-0-undeclared", "conn-refused", "default/server eth0"},
		{"ping-always", "", ""},
		{"node-kubelet", "", ""},
		{"node-udp-declared", "", ""},
		{"node-tcp-undeclared", "conn-refused", "node-2 eth0"},
		{"node-udp-undeclared", "port-unreachable", "node-2 eth0"},
		{"ecs-declared", "", ""},
		{"ecs-undeclared", "conn-refused", "ecs-db eth0"},
		{"ecs-has-no-kubelet", "conn-refused", "ecs-db eth0"},
		{"svc-named-target", "", ""},
		{"svc-named-target-udp", "", ""},
		{"svc-named-target-typo", "no-endpoints", "node-1 cni0"},
		{"svc-numeric-target-nobody-listens", "conn-refused", "default/server eth0"},
		{"svc-udp-target-nobody-listens", "port-unreachable", "default/server eth0"},
		{"nodeport", "", ""},
		{"nodeport-range-without-service", "conn-refused", "node-1 eth0"},
	}
	byName := map[string]*sim.FlowResult{}
	for _, f := range res.Flows {
		byName[f.Name] = f
	}
	require.Len(t, byName, len(tests), "every flow has a case")
	for _, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			f := byName[tt.flow]
			require.NotNil(t, f)
			if tt.reason == "" {
				assert.Equal(t, "delivered", f.Verdict.Result, "%+v", f.Verdict)
				return
			}
			assert.Equal(t, "dropped", f.Verdict.Result)
			assert.Equal(t, tt.reason, f.Verdict.Reason, "%+v", f.Verdict)
			assert.Equal(t, tt.where, f.Verdict.Where)
		})
	}
}
