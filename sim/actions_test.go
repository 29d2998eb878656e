package sim_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/vpc"
	"netsim/sim"
	"netsim/topology"
)

// TestRestoreStory plays the bundled exam story: each flow's verdict at
// its place between the actions.
func TestRestoreStory(t *testing.T) {
	r, res, _ := runScenario(t, "../scenarios/flannel-alivpc-restore.yaml", false)
	entry := vpc.ID("rte", "172.20.2.0/24")
	tests := []struct {
		flow, result, reason string
		detail               []string
	}{
		{flow: "before-to-node-3", result: "delivered"},
		{flow: "to-node-3-fails", result: "dropped", reason: "vpc-no-route",
			detail: []string{"has no entry for 172.20.2.2", "the entry 172.20.2.0/24 → node-3 (" + entry + ") was deleted"}},
		{flow: "from-node-3-gets-no-reply", result: "dropped", reason: "vpc-no-route", detail: []string{"has no entry for 172.20.2.2"}},
		{flow: "other-nodes-still-work", result: "delivered"},
		{flow: "after-to-node-3", result: "delivered"},
		{flow: "after-from-node-3", result: "delivered"},
	}
	require.Len(t, res.Flows, len(tests))
	for i, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			f := res.Flows[i]
			assert.Equal(t, tt.flow, f.Name)
			assert.Equal(t, tt.result, f.Verdict.Result)
			assert.Equal(t, tt.reason, f.Verdict.Reason)
			for _, d := range tt.detail {
				assert.Contains(t, f.Verdict.Detail, d)
			}
			assert.True(t, f.Met, f.Mismatch)
		})
	}
	// The actions, where they happened.
	type step struct {
		name, action string
		after        int
	}
	var got []step
	for _, a := range res.Actions {
		got = append(got, step{a.Name, a.Action, a.AfterFlows})
	}
	assert.Equal(t, []step{
		{"route-entry-deleted", "delete-vpc-route", 1},
		{"list-route-table", "show-vpc-routes", 4},
		{"look-up-pod-cidr", "show-pod-cidr", 4},
		{"restore-route", "add-vpc-route", 4},
	}, got)
	assert.Equal(t, []string{"172.20.2.0/24"}, res.Actions[2].Output, "the looked-up pod CIDR")
	assert.Equal(t, r.World.Node("node-3").PodCIDR.String(), res.Actions[2].Output[0])
	assert.Contains(t, res.Actions[1].Output, "172.20.2.0/24 → ECS instance node-3 ("+entry+", custom) [flannel ali-vpc route for node-3] — DELETED")
	assert.Equal(t, "vpc route add 172.20.2.0/24 next hop node-3 ("+vpc.InstanceID("node-3")+"), entry "+vpc.ID("rte", "172.20.2.0/24#1"), res.Actions[3].Text)
	assert.Empty(t, r.World.VPC.Deleted(), "restored")

	// Text: the action sits between the flows.
	var txt bytes.Buffer
	sim.WriteText(&txt, res, 100)
	out := txt.String()
	del := strings.Index(out, "\n== action route-entry-deleted: vpc route delete 172.20.2.0/24 next hop node-3")
	before := strings.Index(out, "\n== flow before-to-node-3:")
	fails := strings.Index(out, "\n== flow to-node-3-fails:")
	restore := strings.Index(out, "\n== action restore-route: vpc route add 172.20.2.0/24 next hop node-3")
	after := strings.Index(out, "\n== flow after-to-node-3:")
	require.True(t, before >= 0 && del >= 0 && fails >= 0 && restore >= 0 && after >= 0, out)
	assert.Less(t, before, del)
	assert.Less(t, del, fails)
	assert.Less(t, fails, restore)
	assert.Less(t, restore, after)
	assert.Contains(t, out, "   $ kubectl get node node-3 -o jsonpath='{.spec.podCIDR}'\n     172.20.2.0/24\n")
	for _, block := range strings.Split(out, "\n== action ")[1:] {
		block, _, _ = strings.Cut(block, "\n\n")
		for _, l := range strings.Split("== action "+block, "\n") {
			assert.LessOrEqual(t, len([]rune(l)), 100, "action lines wrap at the width: %q", l)
		}
	}
	var sum bytes.Buffer
	sim.WriteSummary(&sum, res)
	assert.Contains(t, sum.String(), "\n----  restore-route              vpc route add 172.20.2.0/24")
	assert.Contains(t, sum.String(), "6 of 6 flows met their expectation")

	// JSON: a separate, additive list; flows keep their schema.
	var js bytes.Buffer
	require.NoError(t, sim.WriteJSON(&js, res))
	var doc struct {
		Flows   []map[string]any `json:"flows"`
		Actions []map[string]any `json:"actions"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	assert.Len(t, doc.Flows, 6)
	require.Len(t, doc.Actions, 4)
	assert.Equal(t, "add-vpc-route", doc.Actions[3]["action"])
	assert.EqualValues(t, 7, doc.Actions[3]["index"])
	assert.EqualValues(t, 4, doc.Actions[3]["after_flows"])
}

// TestRunOneFlowAppliesTheActionsBeforeIt: --flow runs one flow in the
// state the whole run would have given it.
func TestRunOneFlowAppliesTheActionsBeforeIt(t *testing.T) {
	tests := []struct {
		flow, result string
		actions      int
	}{
		{"before-to-node-3", "delivered", 0},
		{"to-node-3-fails", "dropped", 1},
		{"after-to-node-3", "delivered", 4},
	}
	for _, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			s, err := topology.Load("../scenarios/flannel-alivpc-restore.yaml")
			require.NoError(t, err)
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{Flow: tt.flow})
			require.NoError(t, err)
			require.Len(t, res.Flows, 1)
			assert.Equal(t, tt.result, res.Flows[0].Verdict.Result)
			assert.Len(t, res.Actions, tt.actions)
		})
	}
}

const endpointsScenario = `name: scale-down
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  proxyMode: PROXY
  cni: {mode: flannel, flannel: {backend: vxlan}}
pods:
  - {name: client, node: node-1}
resources:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]
  - apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
flows:
  - {name: three, from: pod/client, to: svc/web, protocol: tcp, port: 80, count: 30}
  - {name: down-to-one, action: scale, deployment: web, replicas: 1}
  - {name: one, from: pod/client, to: svc/web, protocol: tcp, port: 80, count: 10}
  - {name: down-to-zero, action: scale, deployment: web, replicas: 0}
  - {name: none, from: pod/client, to: svc/web, protocol: tcp, port: 80}
`

// TestScaleAwayEndpoints: scaling a Deployment down takes its pods out of
// the Service as kube-proxy resyncs, in both proxy modes.
func TestScaleAwayEndpoints(t *testing.T) {
	for _, mode := range []string{"iptables", "ipvs"} {
		t.Run(mode, func(t *testing.T) {
			s, err := topology.Parse("scale.yaml", []byte(strings.Replace(endpointsScenario, "PROXY", mode, 1)))
			require.NoError(t, err)
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.Len(t, res.Flows, 3)
			three, one, none := res.Flows[0], res.Flows[1], res.Flows[2]
			assert.Equal(t, "delivered", three.Verdict.Result)
			assert.Len(t, three.Responders, 3, "three replicas answer")
			assert.Equal(t, "delivered", one.Verdict.Result)
			require.Len(t, one.Responders, 1, "one replica left")
			require.Len(t, res.Actions, 2)
			for name := range one.Responders {
				assert.NotContains(t, res.Actions[0].Text, name, "a deleted replica answered")
				assert.Contains(t, res.Actions[1].Text, name, "the replica left is deleted by the scale to zero")
			}
			assert.Len(t, r.World.DeletedPods(), 3)
			assert.Equal(t, "dropped", none.Verdict.Result)
			if mode == "iptables" {
				assert.Equal(t, "no-endpoints", none.Verdict.Reason, none.Verdict.Detail)
			}
			assert.Contains(t, res.Actions[0].Output, "kube-proxy ("+mode+" mode) resynced on node-1, node-2")
			assert.Contains(t, res.Actions[1].Text, "kubectl scale deployment web -n default --replicas=0")
		})
	}
}

const vxlanActions = `name: vxlan-actions
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel, flannel: {backend: vxlan}}
pods:
  - {name: a, node: node-1}
  - {name: b, node: node-2}
flows:
`

// TestActionVerdicts: each action kind changes what a flow after it gets,
// and undoing it restores the verdict.
func TestActionVerdicts(t *testing.T) {
	tests := []struct {
		name  string
		items string
	}{
		{name: "node route deleted and added back", items: `
  - {name: before, from: pod/a, to: pod/b, expect: delivered}
  - {action: delete-node-route, node: node-1, route: 172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink}
  - {name: via-default-route, from: pod/a, to: pod/b, expect: {verdict: dropped, reason: vpc-no-route}}
  - {action: add-node-route, node: node-1, route: 172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink}
  - {name: after, from: pod/a, to: pod/b, expect: delivered}
`},
		{name: "flannel.1 down and up", items: `
  - {action: link-down, node: node-2, device: flannel.1}
  - {name: down, from: pod/a, to: pod/b, expect: {verdict: dropped, reason: link-down}}
  - {action: link-up, node: node-2, device: flannel.1}
  - {name: up, from: pod/a, to: pod/b, expect: delivered}
`},
		{name: "a pod's eth0 down and up", items: `
  - {action: link-down, pod: b, device: eth0}
  - {name: down, from: pod/a, to: pod/b, expect: {verdict: dropped, reason: neigh-unresolved}}
  - {action: link-up, pod: b, device: eth0}
  - {name: up, from: pod/a, to: pod/b, expect: delivered}
`},
		// The node knows b's MAC from the first flow: the frame reaches
		// cni0, whose port to b has no carrier.
		{name: "a known pod's eth0 down", items: `
  - {name: before, from: pod/a, to: pod/b, expect: delivered}
  - {action: link-down, pod: b, device: eth0}
  - {name: down, from: pod/a, to: pod/b, expect: {verdict: dropped, reason: link-down}}
`},
		{name: "a pod deleted", items: `
  - {action: delete-pod, pod: b}
  - {name: to-its-address, from: pod/a, to: 172.20.1.2, expect: {verdict: dropped, reason: neigh-unresolved}}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := topology.Parse("actions.yaml", []byte(vxlanActions+strings.TrimPrefix(tt.items, "\n")))
			require.NoError(t, err)
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.NotEmpty(t, res.Flows)
			for _, f := range res.Flows {
				assert.True(t, f.Met, "%s: %s (%s: %s)", f.Name, f.Mismatch, f.Verdict.Reason, f.Verdict.Detail)
			}
		})
	}
}
