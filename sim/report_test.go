package sim_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/trace"
	"netsim/sim"
	"netsim/topology"
)

// TestNoLineOverTheWidth renders every bundled scenario at every level and
// at several widths: no line of the report may be wider than the width.
func TestNoLineOverTheWidth(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		_, res, _ := runScenario(t, f, false)
		for _, level := range trace.Levels() {
			for _, width := range []int{trace.MinWidth, 80, 100, 160} {
				t.Run(fmt.Sprintf("%s/%s/%d", filepath.Base(f), level, width), func(t *testing.T) {
					var b bytes.Buffer
					sim.WriteTextOptions(&b, res, sim.TextOptions{Width: width, Level: level})
					for i, l := range strings.Split(b.String(), "\n") {
						require.LessOrEqual(t, len([]rune(l)), width, "line %d: %q", i+1, l)
					}
					var s bytes.Buffer
					sim.WriteSummaryWidth(&s, res, width)
					for i, l := range strings.Split(s.String(), "\n") {
						require.LessOrEqual(t, len([]rune(l)), width, "summary line %d: %q", i+1, l)
					}
				})
			}
		}
	}
}

// TestLevelsShortenTheTrace checks that each level prints less than the
// one above it, and that minimal prints the path in at most a few lines a
// flow.
func TestLevelsShortenTheTrace(t *testing.T) {
	_, res, _ := runScenario(t, "../scenarios/flannel-vxlan.yaml", false)
	lines := map[trace.Level]int{}
	for _, level := range trace.Levels() {
		var b bytes.Buffer
		sim.WriteTextOptions(&b, res, sim.TextOptions{Width: 100, Level: level})
		lines[level] = strings.Count(b.String(), "\n")
		if level == trace.LevelMinimal {
			assert.Contains(t, b.String(), "path:  default/web-1 eth0 → node-1 cni0 → flannel.1 → eth0 ⇒ vpc vsw-hangzhou-h ⇒ node-2 eth0 →")
		}
	}
	assert.Less(t, lines[trace.LevelSummary], lines[trace.LevelDetailed]/3, "%v", lines)
	assert.Less(t, lines[trace.LevelMinimal], lines[trace.LevelSummary], "%v", lines)
}

// TestTraceAllSeparatesExchanges traces every exchange of a 3-ping flow:
// each exchange gets its header, and its hops are numbered from 1.
func TestTraceAllSeparatesExchanges(t *testing.T) {
	s, err := topology.Load(writeHintScenario(t, "", "  - {name: three, from: pod/a, to: pod/b, count: 3}\n"))
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	res, err := r.Run(sim.Options{Trace: true, TraceAll: true})
	require.NoError(t, err)
	for _, level := range trace.Levels() {
		var b bytes.Buffer
		sim.WriteTextOptions(&b, res, sim.TextOptions{Width: 100, Level: level})
		out := b.String()
		for i := 1; i <= 3; i++ {
			assert.Contains(t, out, fmt.Sprintf("-- exchange %d of 3 (icmp seq %d) --", i, i), "level %s", level)
		}
		assert.NotContains(t, out, "hops of the first of", "level %s", level)
	}
	// TCP exchanges are named by their addresses and ports (whatever the
	// verdict: the SYN is enough).
	st, err := topology.Load(writeHintScenario(t, "", "  - {name: tcp, from: pod/a, to: pod/b, protocol: tcp, port: 80, count: 2}\n"))
	require.NoError(t, err)
	rt, err := mustRunner(t, st).Run(sim.Options{Trace: true, TraceAll: true})
	require.NoError(t, err)
	var bt bytes.Buffer
	sim.WriteTextOptions(&bt, rt, sim.TextOptions{Level: trace.LevelMinimal})
	assert.Regexp(t, `(?m)^  -- exchange 1 of 2 \(tcp 172\.20\.0\.2:\d+ > 172\.20\.1\.2:80\) --$`, bt.String())
	assert.Regexp(t, `(?m)^  -- exchange 2 of 2 \(tcp 172\.20\.0\.2:\d+ > 172\.20\.1\.2:80\) --$`, bt.String())

	// Traced once, the report says which exchange it shows, without separators.
	res, err = mustRunner(t, s).Run(sim.Options{Trace: true})
	require.NoError(t, err)
	var b bytes.Buffer
	sim.WriteText(&b, res, 100)
	assert.Contains(t, b.String(), "hops of the first of 3 exchanges")
	assert.NotContains(t, b.String(), "-- exchange")
}

func mustRunner(t *testing.T, s *topology.Scenario) *sim.Runner {
	t.Helper()
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	return r
}

// writeHintScenario is a two-node cluster (node-1 in vsw-a, node-2 in
// vsw-b, an ECS instance in vsw-b) with the given CNI block, extra
// top-level YAML and flows.
func writeHintScenario(t *testing.T, extra, flows string) string {
	t.Helper()
	return writeHintScenarioCNI(t, "{mode: flannel, flannel: {backend: vxlan}}", extra, flows)
}

func writeHintScenarioCNI(t *testing.T, cni, extra, flows string) string {
	t.Helper()
	text := `name: hints
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
    - {name: vsw-b, zone: z2, cidr: 192.168.1.0/24}
  routes:                        # a custom entry the vxlan case deletes
    - {destination: 10.9.0.0/16, nextHop: ecs-ops}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-b}
  - {name: node-3, vswitch: vsw-a}
instances:
  - {name: ecs-ops, vswitch: vsw-b}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: ` + cni + `
pods:
  - {name: a, node: node-1}
  - {name: b, node: node-2, labels: {app: b}, ports: [{port: 8080}]}
  - {name: c, node: node-3}
` + extra + "flows:\n" + flows
	p := filepath.Join(t.TempDir(), "hints.yaml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

const serviceB = `resources:
  - apiVersion: v1
    kind: Service
    metadata: {name: b}
    spec: {selector: {app: b}, ports: [{port: 80, targetPort: 8080}]}
`

// TestHints runs each common mistake and checks the verdict's why and hint
// in the result and in the text report; the same flows done right get no
// hint.
func TestHints(t *testing.T) {
	tests := []struct {
		name        string
		cni, extra  string
		flow        string
		hint        string // "" : no hint
		why         bool
		wantReason  string
		wantDeliver bool
	}{
		{name: "ClusterIP from outside the cluster", extra: serviceB,
			flow: "{name: f, from: ecs/ecs-ops, to: svc/b, protocol: tcp, port: 80}",
			hint: "a ClusterIP exists only on nodes (kube-proxy's rules); from outside the cluster use a NodePort or an intranet SLB", why: true, wantReason: "vpc-no-route"},
		{name: "ClusterIP from a pod works: no hint", extra: serviceB,
			flow: "{name: f, from: pod/a, to: svc/b, protocol: tcp, port: 80}", wantDeliver: true},
		{name: "ping to a ClusterIP", extra: serviceB,
			flow: "{name: f, from: pod/a, to: svc/b}",
			hint: "a ClusterIP answers only the Service's ports", why: true, wantReason: "vpc-no-route"},
		{name: "host-gw across vSwitches", cni: "{mode: flannel, flannel: {backend: host-gw}}",
			flow: "{name: f, from: pod/a, to: pod/b}",
			hint: "node-2 (vSwitch vsw-b) is not on-link from node-1 (vSwitch vsw-a)", why: true, wantReason: "vpc-no-route"},
		{name: "host-gw in one vSwitch on a VPC", cni: "{mode: flannel, flannel: {backend: host-gw}}",
			flow: "{name: f, from: pod/a, to: pod/c}",
			hint: "the VPC forwards by destination address and knows no pod CIDR; on ACK use the ali-vpc backend", why: true, wantReason: "vpc-no-route"},
		{name: "Calico BGP across vSwitches on a VPC", cni: "{mode: calico, calico: {ipipMode: Never}}",
			flow: "{name: f, from: pod/a, to: pod/b}",
			hint: "node-2 (vSwitch vsw-b) is not on-link from node-1 (vSwitch vsw-a), so BIRD's gateway recursive resolved the route through the vSwitch gateway", why: true, wantReason: "vpc-no-route"},
		{name: "Calico BGP in one vSwitch on a VPC", cni: "{mode: calico, calico: {ipipMode: Never}}",
			flow: "{name: f, from: pod/a, to: pod/c}",
			hint: "the vRouter forwards by destination address and knows no pod block; on ACK use ipipMode: Always or vxlanMode: Always", why: true, wantReason: "vpc-no-route"},
		{name: "Calico IPIP across vSwitches works: no hint", cni: "{mode: calico, calico: {ipipMode: Always}}",
			flow: "{name: f, from: pod/a, to: pod/b}", wantDeliver: true},
		{name: "ECS to a Calico pod", cni: "{mode: calico, calico: {ipipMode: Always}}",
			flow: "{name: f, from: ecs/ecs-ops, to: pod/b, protocol: tcp, port: 8080}",
			hint: "Calico's pod blocks live only in the nodes' routing tables", why: true, wantReason: "vpc-no-route"},
		{name: "vxlan with a deleted VPC entry it never needed",
			extra: "failures:\n  - {type: delete-vpc-route, destination: 10.9.0.0/16}\n  - {type: link-down, node: node-2, device: flannel.1}\n",
			flow:  "{name: f, from: pod/a, to: pod/b}",
			hint:  "flannel vxlan carries pod traffic between node addresses and never needed VPC route entries", why: true, wantReason: "link-down"},
		{name: "vxlan with a VPC entry deleted by an action",
			extra: "failures:\n  - {type: link-down, node: node-2, device: flannel.1}\n",
			flow:  "{action: delete-vpc-route, destination: 10.9.0.0/16}\n  - {name: f, from: pod/a, to: pod/b}",
			hint:  "flannel vxlan carries pod traffic between node addresses and never needed VPC route entries", why: true, wantReason: "link-down"},
		{name: "internet egress without a NAT gateway",
			flow: "{name: f, from: pod/a, to: 8.8.8.8}",
			hint: "internet egress from a VPC needs a NAT gateway with an SNAT entry for the source's vSwitch, or an EIP", why: true, wantReason: "vpc-no-internet"},
		{name: "private address outside the VPC",
			flow: "{name: f, from: pod/a, to: 10.1.2.3}",
			hint: "10.1.2.3 is outside the VPC and the cluster's ranges", why: true, wantReason: "vpc-no-route"},
		{name: "NetworkPolicy not enforced by Flannel",
			extra: "resources:\n  - apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    metadata: {name: deny-b}\n    spec: {podSelector: {matchLabels: {app: b}}}\n",
			flow:  "{name: f, from: pod/a, to: pod/b}",
			hint:  "NetworkPolicy default/deny-b selects default/b, but it is not enforced: flannel does not implement NetworkPolicy (ACK: choose Terway)", wantDeliver: true},
		{name: "NetworkPolicy selecting other pods: no hint",
			extra: "resources:\n  - apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    metadata: {name: deny-x}\n    spec: {podSelector: {matchLabels: {app: x}}}\n",
			flow:  "{name: f, from: pod/a, to: pod/c}", wantDeliver: true},
		{name: "flannel udp to an address no lease covers", cni: "{mode: flannel, flannel: {backend: udp}}",
			flow: "{name: f, from: pod/a, to: 172.20.9.9, protocol: udp, port: 9000}",
			hint: "172.20.9.9 is inside the pod network 172.20.0.0/16 but in no node's lease (node-1 172.20.0.0/24, node-2 172.20.1.0/24, node-3 172.20.2.0/24)",
			why:  true, wantReason: "flanneld-no-route"},
		{name: "flannel udp between leased subnets: no hint", cni: "{mode: flannel, flannel: {backend: udp}}",
			flow: "{name: f, from: pod/a, to: pod/b}", wantDeliver: true},
		{name: "an ordinary drop explains itself without a hint",
			extra: "failures:\n  - {type: link-down, node: node-2, device: flannel.1}\n",
			flow:  "{name: f, from: pod/a, to: pod/b}", why: true, wantReason: "link-down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cni := tc.cni
			if cni == "" {
				cni = "{mode: flannel, flannel: {backend: vxlan}}"
			}
			s, err := topology.Load(writeHintScenarioCNI(t, cni, tc.extra, "  - "+tc.flow+"\n"))
			require.NoError(t, err)
			res, err := mustRunner(t, s).Run(sim.Options{Trace: true})
			require.NoError(t, err)
			v := res.Flows[0].Verdict
			if tc.wantDeliver {
				assert.Equal(t, "delivered", v.Result)
				assert.Empty(t, v.Why)
			} else {
				assert.Equal(t, tc.wantReason, v.Reason, "%+v", v)
			}
			if tc.why {
				assert.Equal(t, trace.WhyCode(v.Reason), v.Why)
				assert.NotEmpty(t, v.Why)
			}
			var txt, js bytes.Buffer
			sim.WriteText(&txt, res, 0)
			require.NoError(t, sim.WriteJSON(&js, res))
			if tc.hint == "" {
				assert.Empty(t, v.Hint)
				assert.NotContains(t, txt.String(), "hint: ")
				return
			}
			assert.Contains(t, v.Hint, tc.hint)
			assert.Contains(t, txt.String(), "     hint: "+v.Hint)
			assert.Contains(t, js.String(), `"hint": "`)
			if v.Why != "" {
				assert.Contains(t, txt.String(), "      why: "+v.Why)
				assert.Contains(t, js.String(), `"why": "`)
			}
		})
	}
}
