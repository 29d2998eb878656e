package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"

	"netsim/topology"
	"netsim/topology/ack"
	"netsim/topology/ackplan"
)

// planGoldenDir holds the `netsim plan` output of every bundled plan file,
// relative to the repository root (the tests below run there, so that the
// file names in the output are the ones a user types).
const planGoldenDir = "cmd/netsim/testdata/plan-golden"

// planScenario is a bundled plan file and what `netsim plan` must find in
// it: the good plans nothing, each mistake its rule.
type planScenario struct {
	file string
	// rules are the IDs of the rules with findings, in rule-table order;
	// empty for a good plan.
	rules []string
	// path and line locate the first finding: the field the user has to
	// change.
	path string
	line int
	// fix is what the first finding tells the user to do (a part of its
	// message): every rule names the fix, address rules with a block that
	// passes the rules (package ackplan TestFixesPass).
	fix string
}

// planScenarios is every scenarios/plan-*.yaml (TestPlanScenarioTable
// checks that none is missing). Each mistake file makes one mistake; the
// line is the line of the value in the file.
var planScenarios = []planScenario{
	// Good plans, one per CNI.
	{file: "plan-flannel-alivpc.yaml"},
	{file: "plan-flannel-vxlan.yaml"},
	{file: "plan-terway.yaml"},
	{file: "plan-terway-exclusive.yaml"},
	{file: "plan-calico.yaml"},

	// Mistakes.
	{file: "plan-mistake-vpc-cgnat.yaml", rules: []string{"vpc-cidr-private"}, path: "vpc.cidr", line: 12, fix: "Alibaba Cloud uses 100.64.0.0/10 for its cloud services"},
	{file: "plan-mistake-vswitch-outside-vpc.yaml", rules: []string{"vswitch-in-vpc"}, path: "vpc.vswitches[2].cidr", line: 16, fix: "use 10.0.2.0/24, the first free /24 inside the VPC"},
	{file: "plan-mistake-vswitch-overlap.yaml", rules: []string{"vswitch-overlap"}, path: "vpc.vswitches[1].cidr", line: 15, fix: "use 192.168.16.0/22, the next free /22 in the VPC"},
	{file: "plan-mistake-pod-cidr-overlaps-vpc.yaml", rules: []string{"pod-cidr-overlap"}, path: "cluster.podCIDR", line: 17, fix: "use e.g. 172.20.0.0/16"},
	{file: "plan-mistake-service-cidr-in-vswitch.yaml", rules: []string{"service-cidr-overlap"}, path: "cluster.serviceCIDR", line: 17, fix: "use e.g. 172.21.0.0/20"},
	{file: "plan-mistake-node-cidr-mask.yaml", rules: []string{"node-cidr-mask"}, path: "cluster.nodeCIDRMask", line: 17, fix: "choices are /24 (256 addresses per node) to /28"},
	{file: "plan-mistake-pod-cidr-too-small.yaml", rules: []string{"pod-cidr-nodes"}, path: "cluster.podCIDR", line: 16, fix: "40 nodes need a /18 pod CIDR with /24 node subnets"},
	{file: "plan-mistake-route-quota.yaml", rules: []string{"route-quota"}, path: "plan.nodePools[1].nodes", line: 27, fix: "request up to 1,000 (Quota Center) or use Terway"},
	// 1,200 nodes break two of ACK's limits, both stated by ACK: Flannel's
	// 1,000 nodes and the route table's 1,000 entries (one per node). The
	// first is the reason for the second.
	{file: "plan-mistake-flannel-1200-nodes.yaml", rules: []string{"route-quota", "node-limit"}, path: "plan.nodePools[2].nodes", line: 30, fix: "use Terway"},
	{file: "plan-mistake-basic-edition.yaml", rules: []string{"node-limit"}, path: "plan.nodePools[1].nodes", line: 26, fix: "use ACK Pro (plan.edition: pro)"},
	{file: "plan-mistake-pods-per-node.yaml", rules: []string{"pods-per-node"}, path: "plan.podsPerNode", line: 28, fix: "use nodeCIDRMask /25"},
	{file: "plan-mistake-terway-instance-too-small.yaml", rules: []string{"pods-per-node"}, path: "plan.nodePools[0].instanceType", line: 26, fix: "the smallest ecs.g6 type that joins is ecs.g6.xlarge"},
	{file: "plan-mistake-terway-zone-without-pod-vswitch.yaml", rules: []string{"terway-pod-vswitch-zone"}, path: "plan.nodePools[2].vswitch", line: 39, fix: "add a pod vSwitch for cn-hangzhou-j under cluster.cni.terway.podVSwitches"},
	{file: "plan-mistake-terway-pod-vswitch-small.yaml", rules: []string{"terway-pod-vswitch-addresses"}, path: "cluster.cni.terway.podVSwitches.cn-hangzhou-h", line: 26, fix: "add a pod vSwitch in zone cn-hangzhou-h or use larger ones (20 more addresses)"},
	{file: "plan-mistake-pod-cidr-overlaps-idc.yaml", rules: []string{"range-overlap"}, path: "plan.ranges[0].cidr", line: 32, fix: "choose a pod CIDR that avoids it"},
}

// bundledPlan is the path of a bundled plan file from the repository root.
func bundledPlan(name string) string { return filepath.Join("scenarios", name) }

// TestPlanScenarioTable checks the table against the directory: every
// scenarios/plan-*.yaml is in it, and a file is named plan-*.yaml exactly
// when it is a plan file (a plan: block and no nodes, pods or flows) — the
// traffic-scenario tests of sim and of this package skip plan-*.yaml.
func TestPlanScenarioTable(t *testing.T) {
	t.Chdir("../..")
	files, err := filepath.Glob("scenarios/*.yaml")
	require.NoError(t, err)
	var plans []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var top map[string]any
		require.NoError(t, yaml.Unmarshal(data, &top), f)
		_, hasPlan := top["plan"]
		isPlan := hasPlan && top["nodes"] == nil && top["pods"] == nil && top["flows"] == nil
		name := filepath.Base(f)
		assert.Equal(t, strings.HasPrefix(name, "plan-"), isPlan, "%s: a file is named plan-*.yaml exactly when it has a plan: block and no nodes, pods or flows", f)
		if strings.HasPrefix(name, "plan-") {
			plans = append(plans, name)
			assert.Equal(t, strings.TrimSuffix(name, ".yaml"), top["name"], "%s: name: is the file's name", f)
			assert.NotEmpty(t, top["description"], "%s: a plan file says what it is", f)
		}
	}
	var listed []string
	seen := map[string]bool{}
	for _, ps := range planScenarios {
		listed = append(listed, ps.file)
		require.False(t, seen[ps.file], "%s is listed twice", ps.file)
		seen[ps.file] = true
		assert.Equal(t, strings.HasPrefix(ps.file, "plan-mistake-"), len(ps.rules) > 0, "%s: a mistake file trips a rule, a good plan none", ps.file)
	}
	slices.Sort(listed)
	assert.Equal(t, plans, listed, "every scenarios/plan-*.yaml has a row in planScenarios")
}

// ruleIDs returns the rule IDs of the findings of pc, each once, in
// rule-table order.
func ruleIDs(pc *topology.PlanCheck) []string {
	var ids []string
	for _, f := range pc.Findings {
		if !slices.Contains(ids, f.Rule.ID) {
			ids = append(ids, f.Rule.ID)
		}
	}
	return ids
}

// TestPlanScenarios loads every bundled plan file with topology.LoadPlan
// and checks that the good plans break no rule and each mistake breaks its
// own rule and no other, located at the field to change; then that
// `netsim validate` runs the same rules (one table) and `netsim plan`
// names the rule and the location.
func TestPlanScenarios(t *testing.T) {
	t.Chdir("../..")
	known := map[string]bool{}
	for _, r := range ackplan.Rules {
		known[r.ID] = true
	}
	for _, ps := range planScenarios {
		t.Run(strings.TrimSuffix(ps.file, ".yaml"), func(t *testing.T) {
			file := bundledPlan(ps.file)
			for _, id := range ps.rules {
				require.True(t, known[id], "rule %q is not in ackplan.Rules", id)
			}
			pc, err := topology.LoadPlan(file, topology.LoadOptions{})
			require.NoError(t, err)
			require.NotNil(t, pc.Scenario.Plan)
			assert.Empty(t, pc.Scenario.Nodes, "a plan file has no nodes")

			got := ruleIDs(pc)
			var msgs []string
			for _, f := range pc.Findings {
				msgs = append(msgs, fmt.Sprintf("%s [%s %s]", f.At, f.Rule.ID, f.Severity))
			}
			assert.Equal(t, ps.rules, got, "rules with findings:\n%s", strings.Join(msgs, "\n"))
			for _, f := range pc.Findings {
				assert.Equal(t, file, f.At.File, "%s", f.At)
				assert.Positive(t, f.At.Line, "%s: a finding has a line", f.At)
				assert.Equal(t, f.Path, f.At.Path, "%s", f.At)
				assert.NotEmpty(t, f.Msg, "%s", f.At)
				assert.NotEmpty(t, f.Rule.Source, "rule %s names its source", f.Rule.ID)
				assert.Contains(t, []ackplan.Severity{ackplan.Error, ackplan.Warning}, f.Severity)
			}
			// Every rule ran or said why not; the ones with findings ran.
			require.Len(t, pc.Result.Rules, len(ackplan.Rules))
			for _, rr := range pc.Result.Rules {
				if len(rr.Findings) > 0 {
					assert.True(t, rr.Applied, "rule %s has findings but did not apply", rr.Rule.ID)
				}
			}
			if len(ps.rules) == 0 {
				// A good plan: validate accepts it, plan says so.
				code, _, stderr := netsim(t, "validate", file)
				assert.Equal(t, exitOK, code, "validate %s: %s", file, stderr)
				code, _, stderr = netsim(t, "plan", file)
				assert.Equal(t, exitOK, code, "plan %s: %s", file, stderr)
				return
			}
			require.NotEmpty(t, pc.Findings)
			first := pc.Findings[0]
			assert.Equal(t, ps.path, first.At.Path, "the first finding is at the field to change: %s", first.At)
			assert.Equal(t, ps.line, first.At.Line, "the first finding's line: %s", first.At)
			if ps.fix != "" {
				assert.Contains(t, first.Msg, ps.fix, "the finding says what to do")
			}

			// validate runs the same rules: an error fails it, a warning
			// is printed; either names the location.
			hasError := slices.ContainsFunc(pc.Findings, func(f topology.LocatedFinding) bool { return f.Severity == ackplan.Error })
			code, stdout, stderr := netsim(t, "validate", file)
			loc := fmt.Sprintf("%s:%d:", file, first.At.Line)
			if hasError {
				assert.Equal(t, exitBadInput, code, "validate %s: an error in the plan is bad input\n%s%s", file, stdout, stderr)
			} else {
				assert.Equal(t, exitOK, code, "validate %s: a warning is not an error\n%s%s", file, stdout, stderr)
			}
			assert.Contains(t, stdout+stderr, loc, "validate locates the finding")

			// plan names the rule and locates the finding.
			_, stdout, stderr = netsim(t, "plan", file)
			for _, id := range ps.rules {
				assert.Contains(t, stdout+stderr, id, "netsim plan names the rule")
			}
			assert.Contains(t, stdout+stderr, loc, "netsim plan locates the finding")
		})
	}
}

// TestPlanGolden compares `netsim plan FILE` and `netsim plan FILE -o json`
// for every bundled plan file with cmd/netsim/testdata/plan-golden/NAME.txt
// and NAME.json, and `netsim plan --compare FILE` for the good plans with
// NAME.compare.txt; -update rewrites them (go test ./cmd/netsim -run
// TestPlanGolden -update: without -run, -update rewrites the README's
// example traces too). The text golden holds what a user sees: standard
// output, then standard error and the exit code when there are any.
func TestPlanGolden(t *testing.T) {
	t.Chdir("../..")
	for _, ps := range planScenarios {
		name := strings.TrimSuffix(ps.file, ".yaml")
		t.Run(name, func(t *testing.T) {
			file := bundledPlan(ps.file)
			code, stdout, stderr := netsim(t, "plan", file)
			txt := stdout
			if stderr != "" {
				txt += "--- stderr\n" + stderr
			}
			if code != exitOK {
				txt += fmt.Sprintf("--- exit %d\n", code)
			}
			jcode, js, jstderr := netsim(t, "plan", file, "-o", "json")
			assert.Equal(t, code, jcode, "-o json exits as text does: %s", jstderr)
			assert.True(t, json.Valid([]byte(js)), "-o json prints JSON: %q", js)
			_, again, _ := netsim(t, "plan", file)
			assert.Equal(t, stdout, again, "two runs of netsim plan differ")
			goldens := map[string]string{".txt": txt, ".json": js}
			if len(ps.rules) == 0 {
				// A good plan is also compared with the other CNIs.
				ccode, cmp, cstderr := netsim(t, "plan", "--compare", file)
				require.Equal(t, exitOK, ccode, "plan --compare %s: %s", file, cstderr)
				goldens[".compare.txt"] = cmp
			}
			for ext, got := range goldens {
				path := filepath.Join(planGoldenDir, name+ext)
				if *update {
					require.NoError(t, os.MkdirAll(planGoldenDir, 0o755))
					require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
					continue
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "missing golden file; run go test ./cmd/netsim -run TestPlanGolden -update")
				assert.Equal(t, string(want), got, "%s differs; if intended run go test ./cmd/netsim -run TestPlanGolden -update and review the diff", path)
			}
		})
	}
}

// planVSwitchJSON is one vSwitch of the capacity report.
type planVSwitchJSON struct {
	Name   string `json:"name"`
	Usable int    `json:"usable"`
}

// planCapacityJSON is the part of `netsim plan -o json` the capacity test
// reads.
type planCapacityJSON struct {
	Capacity struct {
		Pools []struct {
			Name        string `json:"name"`
			PodsPerNode int    `json:"pods_per_node"`
		} `json:"pools"`
		MaxNodes int    `json:"max_nodes"`
		Binding  string `json:"binding"`
		Services struct {
			Allocatable int `json:"allocatable"`
		} `json:"services"`
		VSwitches    []planVSwitchJSON `json:"vswitches"`
		RouteEntries struct {
			Used  int `json:"used"`
			Quota int `json:"quota"`
		} `json:"route_entries"`
	} `json:"capacity"`
}

// TestPlanCapacityMatchesACKFormulas checks the capacity `netsim plan -o
// json` reports for the bundled plans against ACK's published formulas,
// worked out here from each plan's own figures:
//
//   - Flannel pods per node 2^(32−mask) − 1 (terraform node_cidr_mask:
//     "24 means 2^(32-24)-1=255"), node subnets 2^(mask − pod CIDR bits);
//   - Terway shared ENI (EniQuantity − 1) × EniPrivateIpAddressQuantity,
//     exclusive ENI EniQuantity − 1 (ACK "Adjust the maximum number of pods
//     per node"; the types' figures from topology/ack's table);
//   - a vSwitch's usable addresses 2^(32−bits) − 4 (CreateVSwitch: "The
//     first IP address and last three IP addresses ... are reserved"); ACK's
//     single-zone Terway example quotes 8,192 for its /19 pod vSwitch, the
//     whole block;
//   - route entries one per Flannel ali-vpc node, quota 200 by default;
//     ACK Pro node limits Flannel 1,000, Terway 5,000, ACK Basic 10;
//   - ClusterIPs 2^(32−bits) − 2 (kube-apiserver's allocator skips the
//     network and broadcast addresses).
func TestPlanCapacityMatchesACKFormulas(t *testing.T) {
	t.Chdir("../..")
	pow := func(n int) int { return 1 << n }
	usable := func(bits int) int { return pow(32-bits) - 4 }
	shared := func(name string) int {
		it, ok := ack.Builtin(name)
		require.True(t, ok, name)
		return (it.ENIs - 1) * it.IPv4PerENI
	}
	exclusive := func(name string) int {
		it, ok := ack.Builtin(name)
		require.True(t, ok, name)
		return it.ENIs - 1
	}
	tests := []struct {
		file        string
		podsPerNode int // every pool's
		maxNodes    int
		binding     string
		services    int
		routes      int            // route entries used
		usable      map[string]int // vSwitch → usable addresses
	}{
		// 150 nodes + 10 surge; limits: 512 node subnets, 200 route
		// entries, 1,000 Flannel nodes, 2 × 252 vSwitch addresses.
		{file: "plan-flannel-alivpc.yaml", podsPerNode: pow(32-25) - 1,
			maxNodes: min(pow(25-16), 200, 1000, 2*usable(24)), binding: "route-quota",
			services: pow(32-20) - 2, routes: 150 + 10,
			usable: map[string]int{"vsw-node-h": usable(24), "vsw-node-i": usable(24)}},
		// VXLAN uses no route entry and, self-managed (not an ACK CNI
		// option), has no ACK node limit: the 512 node subnets bind.
		{file: "plan-flannel-vxlan.yaml", podsPerNode: pow(32-25) - 1,
			maxNodes: min(pow(25-16), 3*usable(22)), binding: "pod-cidr",
			services: pow(32-20) - 2, routes: 0,
			usable: map[string]int{"vsw-node-h": usable(22), "vsw-node-j": usable(22)}},
		// Each zone's /19 pod vSwitch holds 8,188 addresses: n nodes × 30
		// pods + 25% surge, as terway-pod-vswitch-addresses counts them.
		{file: "plan-terway.yaml", podsPerNode: shared("ecs.g7.xlarge"),
			maxNodes: min(5000, 3*surgeFit(usable(19), 30, 25)), binding: "pod-vswitch-addresses",
			services: pow(32-20) - 2, routes: 0,
			usable: map[string]int{"vsw-node-h": usable(19), "vsw-pod-h": usable(19)}},
		{file: "plan-terway-exclusive.yaml", podsPerNode: exclusive("ecs.g7.4xlarge"),
			maxNodes: min(5000, 2*usable(24), 2*surgeFit(usable(22), 5, 25)), binding: "pod-vswitch-addresses",
			services: pow(32-20) - 2, routes: 0,
			usable: map[string]int{"vsw-node-h": usable(24), "vsw-pod-i": usable(22)}},
		// A node takes one /26 block at least: 1,024 blocks; 3 × 252
		// vSwitch addresses bind.
		{file: "plan-calico.yaml", podsPerNode: pow(32 - 26),
			maxNodes: min(pow(26-16), 3*usable(24)), binding: "node-vswitch-addresses",
			services: pow(32-16) - 2, routes: 0,
			usable: map[string]int{"vsw-node-j": usable(24)}},
		{file: "plan-mistake-route-quota.yaml", podsPerNode: pow(32-24) - 1,
			maxNodes: min(pow(24-16), 200, 1000), binding: "route-quota",
			services: pow(32-20) - 2, routes: 250},
		{file: "plan-mistake-flannel-1200-nodes.yaml", podsPerNode: pow(32-26) - 1,
			maxNodes: min(pow(26-14), 1000, 1000, 3*usable(22)), binding: "route-quota",
			services: pow(32-20) - 2, routes: 1200},
		{file: "plan-mistake-basic-edition.yaml", podsPerNode: pow(32-24) - 1,
			maxNodes: min(pow(24-16), 200, 10), binding: "ack-node-limit",
			services: pow(32-20) - 2, routes: 20},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".yaml"), func(t *testing.T) {
			_, js, stderr := netsim(t, "plan", bundledPlan(tt.file), "-o", "json")
			var got planCapacityJSON
			require.NoError(t, json.Unmarshal([]byte(js), &got), "%s", stderr)
			c := got.Capacity
			require.NotEmpty(t, c.Pools)
			for _, p := range c.Pools {
				assert.Equal(t, tt.podsPerNode, p.PodsPerNode, "pool %s: pods per node", p.Name)
			}
			assert.Equal(t, tt.maxNodes, c.MaxNodes, "maximum nodes")
			assert.Equal(t, tt.binding, c.Binding, "the limit that binds first")
			assert.Equal(t, tt.services, c.Services.Allocatable, "ClusterIPs")
			assert.Equal(t, tt.routes, c.RouteEntries.Used, "route entries used")
			for name, want := range tt.usable {
				i := slices.IndexFunc(c.VSwitches, func(v planVSwitchJSON) bool { return v.Name == name })
				require.GreaterOrEqual(t, i, 0, "vSwitch %s in the report", name)
				assert.Equal(t, want, c.VSwitches[i].Usable, "vSwitch %s usable addresses", name)
			}
		})
	}
}

// surgeFit is the most nodes of per pods each whose pods and the
// rolling-update surge (⌈pods × pct / 100⌉) fit in usable pod vSwitch
// addresses, counted one node at a time.
func surgeFit(usable, per, pct int) int {
	n := 0
	for (n+1)*per+((n+1)*per*pct+99)/100 <= usable {
		n++
	}
	return n
}
