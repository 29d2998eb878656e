package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
	"netsim/topology/ackplan"
)

// planBase is a plan file: a plan: block and no nodes. %s is replaced.
const planBase = `name: plan-test
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
    - {name: vsw-i, zone: cn-hangzhou-i, cidr: 192.168.1.0/24}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: flannel
    flannel: {backend: alivpc}
plan:
  nodePools:
    - {name: pool-h, vswitch: vsw-h, nodes: 150}
    - {name: pool-i, vswitch: vsw-i, nodes: 100}
  podsPerNode: 100
%s`

func writePlan(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.yaml")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	return path
}

// TestValidateAndLoadPlanAgree: validate (LoadWith) and LoadPlan run the
// same rules on the same file and report the same findings at the same
// positions; validate names the rule after the message, fails on the
// errors and keeps the warnings.
func TestValidateAndLoadPlanAgree(t *testing.T) {
	src := fmt.Sprintf(planBase, `  services: 5000
  ranges:
    - {name: idc, kind: on-premises, cidr: 192.168.1.0/24}
`)
	src = strings.Replace(src, "cidr: 192.168.0.0/24}", "cidr: 192.168.0.0/28}", 1)
	path := writePlan(t, src)

	pc, err := LoadPlan(path, LoadOptions{})
	require.NoError(t, err, "rule errors are LoadPlan's output, not its error")
	var got []string
	for _, f := range pc.Findings {
		got = append(got, fmt.Sprintf("%d:%d %s %s %s", f.At.Line, f.At.Column, f.Rule.ID, f.Severity, f.Path))
		assert.Equal(t, f.Msg, f.At.Msg)
		assert.Equal(t, path, f.At.File)
	}
	at := func(needle string) string {
		l, c := posOf(t, src, needle)
		return fmt.Sprintf("%d:%d", l, c)
	}
	assert.Equal(t, []string{
		at("nodes: 100>>100") + " route-quota warning plan.nodePools[1].nodes",
		at("on-premises, cidr: 192.168.1.0/24>>192.168.1.0/24") + " range-overlap error plan.ranges[0].cidr",
		at("serviceCIDR: 172.21.0.0/20>>172.21.0.0/20") + " services-capacity error cluster.serviceCIDR",
		at("192.168.0.0/28") + " node-vswitch-addresses error vpc.vswitches[0].cidr",
	}, got)
	require.Len(t, pc.Result.Rules, len(ackplan.Rules), "every rule has an outcome")
	assert.Equal(t, pc.Result.Findings()[0].Rule.ID, pc.Findings[0].Rule.ID, "Findings are Result's, in rule order")

	_, err = LoadWith(path, LoadOptions{})
	var probs Problems
	require.True(t, errors.As(err, &probs), "%v", err)
	var errs []string
	for _, f := range pc.Findings {
		if f.Severity == ackplan.Error {
			want := f.At
			want.Msg += " [rule " + f.Rule.ID + "]"
			errs = append(errs, want.String())
		}
	}
	var shown []string
	for _, p := range probs {
		shown = append(shown, p.String())
	}
	assert.ElementsMatch(t, errs, shown, "validate fails with the same errors, the rule named")

	// Without the errors, validate loads and keeps the warning, the rule named.
	ok := strings.Replace(strings.Replace(src, "services: 5000", "services: 100", 1), "192.168.0.0/28", "192.168.0.0/24", 1)
	ok = strings.Replace(ok, "on-premises, cidr: 192.168.1.0/24}", "on-premises, cidr: 10.0.0.0/8}", 1)
	s, err := LoadWith(writePlan(t, ok), LoadOptions{})
	require.NoError(t, err)
	require.True(t, s.IsPlanFile())
	require.Len(t, s.planWarnings(), 1)
	assert.True(t, strings.HasSuffix(s.planWarnings()[0].Msg, " [rule route-quota]"), s.planWarnings()[0].Msg)
	assert.Contains(t, s.planWarnings()[0].Msg, "250 nodes (one entry each), 1 declared range (one entry each, to the VPN gateway, Express Connect or peering connection) need 251 route entries but the default quota is 200: request up to 1,000 (Quota Center)")
	_, err = Build(s, linktest.New())
	require.Error(t, err, "a plan file is not built")
	assert.Contains(t, err.Error(), "check it with `netsim plan")
}

// TestPlanBlockProblems: the plan: block itself is checked with located
// problems (not rule findings): LoadPlan returns them as its error.
func TestPlanBlockProblems(t *testing.T) {
	tests := []struct {
		name, from, to string
		at, path, msg  string
	}{
		{"unknown vSwitch", "vswitch: vsw-i, nodes: 100", "vswitch: vsw-j, nodes: 100", "vsw-j", "plan.nodePools[1].vswitch",
			`vSwitch "vsw-j" does not exist (vSwitches are: vsw-h, vsw-i) (did you mean "vsw-h"?)`},
		{"no nodes", "nodes: 100}", "nodes: 0}", "nodes: 0>>0", "plan.nodePools[1].nodes", "0 is out of range: a node pool plans 1 to 150,000 nodes"},
		{"too many nodes", "nodes: 100}", "nodes: 1000000}", "1000000", "plan.nodePools[1].nodes", "1,000,000 is out of range"},
		{"unknown instance type", "nodes: 100}", "nodes: 100, instanceType: ecs.g7.xlarg}", "ecs.g7.xlarg", "plan.nodePools[1].instanceType",
			`unknown instance type "ecs.g7.xlarg"`},
		{"duplicate pool", "name: pool-i", "name: pool-h", "pool-h, vswitch: vsw-i>>pool-h", "plan.nodePools[1].name", `node pool "pool-h" is already plan.nodePools[0]`},
		{"surge percent", "podsPerNode: 100", "podsPerNode: 100\n  podSurgePercent: 150", "podSurgePercent: 150>>150", "plan.podSurgePercent", "150 is out of range: expected 0 to 100 percent"},
		{"edition", "podsPerNode: 100", "podsPerNode: 100\n  edition: basik", "basik", "plan.edition", `unknown edition "basik": expected "pro" (ACK Pro, the default) or "basic" (ACK Basic) (did you mean "basic"?)`},
		{"range kind", "podsPerNode: 100", "podsPerNode: 100\n  ranges: [{name: idc, kind: onprem, cidr: 10.0.0.0/8}]", "onprem", "plan.ranges[0].kind", `unknown kind "onprem"`},
		{"range CIDR", "podsPerNode: 100", "podsPerNode: 100\n  ranges: [{name: idc, kind: on-premises, cidr: 10.0.0.1/8}]", "10.0.0.1/8", "plan.ranges[0].cidr", "is not in canonical form"},
		{"range of every address", "podsPerNode: 100", "podsPerNode: 100\n  ranges: [{name: all, kind: on-premises, cidr: 0.0.0.0/0}]", "0.0.0.0/0", "plan.ranges[0].cidr", "0.0.0.0/0 is every address (a default route), not a network the VPC reaches"},
		{"range larger than a /8", "podsPerNode: 100", "podsPerNode: 100\n  ranges: [{name: big, kind: on-premises, cidr: 16.0.0.0/4}]", "16.0.0.0/4", "plan.ranges[0].cidr", "16.0.0.0/4 is larger than a /8"},
		{"peered VPC mask", "podsPerNode: 100", "podsPerNode: 100\n  ranges: [{name: vpc-2, kind: peered-vpc, cidr: 10.9.0.0/30}]", "10.9.0.0/30", "plan.ranges[0].cidr", "a peered VPC's CIDR mask is /8 to /28 (CreateVpc)"},
		{"pods in a plan file", "podsPerNode: 100", "podsPerNode: 100\npods: [{name: web, node: node-1}]", "pods:>>[", "pods", "a plan file (a plan: block and no nodes:) is checked, not run: pods need nodes"},
		{"unknown key", "podsPerNode: 100", "podsPerNode: 100\n  pods: 3", "pods: 3>>pods", "plan", `unknown field "pods"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(fmt.Sprintf(planBase, ""), tt.from, tt.to, 1)
			require.NotEqual(t, fmt.Sprintf(planBase, ""), src)
			_, err := LoadPlan(writePlan(t, src), LoadOptions{})
			var probs Problems
			require.True(t, errors.As(err, &probs), "%v", err)
			var hit *Problem
			for i := range probs {
				if strings.Contains(probs[i].Msg, tt.msg) {
					hit = &probs[i]
				}
			}
			require.NotNil(t, hit, "no problem %q in\n%v", tt.msg, err)
			line, col := posOf(t, src, tt.at)
			assert.Equal(t, [2]int{line, col}, [2]int{hit.Line, hit.Column}, hit.String())
			if tt.path != "plan" {
				assert.Equal(t, tt.path, hit.Path)
			}
		})
	}
}

// TestScenarioRuleWarningsReachTheWorld: a scenario's rule warnings are
// the built world's warnings, located and named, as validate prints them.
func TestScenarioRuleWarningsReachTheWorld(t *testing.T) {
	src := strings.Replace(fmt.Sprintf(buildBase, "alivpc"), "  vswitches:", "  routes:\n    - {destination: 172.20.9.0/24, nextHop: ecs-db}\n  vswitches:", 1)
	w := mustBuild(t, src)
	require.NotEmpty(t, w.Warnings)
	p := w.Warnings[0]
	line, col := posOf(t, src, "172.20.9.0/24")
	assert.Equal(t, [2]int{line, col}, [2]int{p.Line, p.Column})
	assert.Equal(t, "vpc.routes[0].destination", p.Path)
	assert.True(t, strings.HasSuffix(p.Msg, " [rule route-overlap]"), p.Msg)
	assert.Contains(t, p.Msg, "ACK's cloud-controller-manager deletes a custom entry there")

	// The same file through LoadPlan: the same finding, one rule table.
	pc, err := LoadPlan(writePlan(t, src), LoadOptions{})
	require.NoError(t, err)
	require.Len(t, pc.Findings, 1)
	assert.Equal(t, "route-overlap", pc.Findings[0].Rule.ID)
	assert.Equal(t, p.Line, pc.Findings[0].At.Line)
	assert.Equal(t, strings.TrimSuffix(p.Msg, " [rule route-overlap]"), pc.Findings[0].Msg)
	assert.False(t, pc.Scenario.IsPlanFile())
	// Its pools are the scenario's nodes, one per vSwitch and type.
	require.Len(t, pc.Plan.Pools, 2)
	assert.Equal(t, "node-1", pc.Plan.Pools[0].FirstNode)
	assert.Equal(t, "nodes[1]", pc.Plan.Pools[1].Path)
}

// TestPlanBlockWithNodes: with a plan block and nodes, the plan's pools
// give the size and the scenario's nodes are still judged by ACK's join
// rule (they are built).
func TestPlanBlockWithNodes(t *testing.T) {
	withTerway(t)
	src := `name: terway-plan
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
    - {name: vsw-p, zone: z1, cidr: 192.168.64.0/18}
nodes:
  - {name: node-1, vswitch: vsw-a, instanceType: ecs.g6.large}
cluster:
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: terway
    terway: {podVSwitches: {z1: [vsw-p]}}
plan:
  nodePools:
    - {name: workers, vswitch: vsw-a, nodes: 100, instanceType: ecs.g7.xlarge}
  podsPerNode: 40
`
	pc, err := LoadPlan(writePlan(t, src), LoadOptions{})
	require.NoError(t, err)
	var got []string
	for _, f := range pc.Findings {
		got = append(got, f.Rule.ID+" "+f.Path)
	}
	// 100 × 40 = 4,000 pods, 5,000 with the surge; the /18 has 16,380.
	assert.Equal(t, []string{"pods-per-node nodes[0].instanceType"}, got)
	assert.Contains(t, pc.Findings[0].Msg, `node "node-1" cannot join the cluster: ecs.g6.large allows`)
	assert.Equal(t, 100, pc.Plan.TotalNodes(), "the scenario's node is not counted in the planned size")
}
