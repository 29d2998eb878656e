package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology"
	"netsim/topology/ack"
	"netsim/topology/ackplan"
)

const planTestdata = "testdata/plan"

// planCLIGoldenDir is absolute: TestPlanFiles runs in testdata/plan.
var planCLIGoldenDir = func() string {
	d, err := filepath.Abs(filepath.Join(planTestdata, "golden"))
	if err != nil {
		panic(err)
	}
	return d
}()

// planGolden compares got with testdata/plan/golden/NAME; -update
// rewrites it.
func planGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(planCLIGoldenDir, name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./cmd/netsim -run TestPlan -update")
	assert.Equal(t, string(want), got, "%s differs; if intended run go test ./cmd/netsim -run TestPlan -update and review the diff", path)
}

// renderPlan is a Flannel ali-vpc plan of 300 nodes (the route quota
// binds at 200) checked by three rules made for the test: one passes, one
// reports an error and a warning, one does not apply. It tests how the
// CLI prints rules, findings and capacity, apart from the real rule table.
func renderPlan(t *testing.T) *topology.PlanCheck {
	t.Helper()
	it, ok := ack.Builtin(ack.DefaultInstanceType)
	require.True(t, ok)
	p := &ackplan.Plan{
		VPC:         ackplan.Block{Prefix: netip.MustParsePrefix("192.168.0.0/16"), Path: "vpc.cidr"},
		VSwitches:   []ackplan.VSwitch{{Name: "vsw-h", Zone: "cn-hangzhou-h", CIDR: netip.MustParsePrefix("192.168.0.0/22"), Path: "vpc.vswitches[0]"}},
		CNI:         ackplan.CNI{Mode: "flannel", Backend: "alivpc"},
		PodCIDR:     ackplan.Block{Prefix: netip.MustParsePrefix("172.20.0.0/16"), Path: "cluster.podCIDR"},
		NodeMask:    24,
		ServiceCIDR: ackplan.Block{Prefix: netip.MustParsePrefix("172.21.0.0/20"), Path: "cluster.serviceCIDR"},
		Pools:       []ackplan.Pool{{Name: "pool-h", VSwitch: "vsw-h", Nodes: 300, Type: it, Path: "plan.nodePools[0]"}},
		PodsPerNode: 100,
		// The loader's default for an unwritten plan.podSurgePercent.
		PodSurgePercent: ackplan.DefaultPodSurgePercent,
	}
	rules := []ackplan.Rule{
		{ID: "test-ok", Title: "a rule that passes", Source: "the test", Kinds: []ackplan.Severity{ackplan.Error}},
		{ID: "test-route-quota", Title: "route entries within the quota", Source: "https://example.test/quota: \"One node corresponds to one entry\"", Kinds: []ackplan.Severity{ackplan.Error, ackplan.Warning}},
		{ID: "test-terway", Title: "a Terway rule", Source: "the test", Scope: "Terway plans"},
	}
	fErr := ackplan.Finding{Rule: &rules[1], Severity: ackplan.Error, Path: "plan.nodePools[0].nodes", Msg: "300 nodes need 300 route entries: the quota is 200"}
	fWarn := ackplan.Finding{Rule: &rules[1], Severity: ackplan.Warning, Path: "vpc.routeQuota", Msg: "not written: the default 200 applies"}
	return &topology.PlanCheck{
		Plan: p,
		Result: ackplan.Result{Rules: []ackplan.RuleResult{
			{Rule: &rules[0], Applied: true},
			{Rule: &rules[1], Applied: true, Findings: []ackplan.Finding{fErr, fWarn}},
			{Rule: &rules[2], Applied: false},
		}},
		Findings: []topology.LocatedFinding{
			{Finding: fErr, At: topology.Problem{File: "plan.yaml", Line: 14, Column: 12, Path: "plan.nodePools[0].nodes", Msg: fErr.Msg}},
			{Finding: fWarn, At: topology.Problem{File: "plan.yaml", Line: 3, Column: 3, Path: "vpc", Msg: fWarn.Msg}},
		},
	}
}

// TestPlanRender checks the text and JSON reports of a checked plan.
func TestPlanRender(t *testing.T) {
	pc := renderPlan(t)
	capa := ackplan.ComputeCapacity(pc.Plan)
	r := newPlanReport("plan.yaml", pc, capa, nil)
	assert.True(t, r.failed())
	require.Len(t, r.Rules, 3)
	assert.Equal(t, []string{"ok", "error", "n/a"}, []string{r.Rules[0].Status, r.Rules[1].Status, r.Rules[2].Status})
	assert.Equal(t, "only for Terway plans", r.Rules[2].NotWhy)
	assert.Equal(t, planFinding{Severity: "warning", File: "plan.yaml", Line: 3, Column: 3, Path: "vpc", Message: "not written: the default 200 applies"}, r.Rules[1].Findings[1])

	var text bytes.Buffer
	require.NoError(t, writePlanText(&text, r, capa, nil))
	out := text.String()
	for _, s := range []string{
		"plan.yaml: plan for CNI flannel/alivpc, ACK Pro: 300 nodes planned in 1 pool(s): pool-h (300 × ecs.g7.xlarge in vsw-h)\n",
		"Rules: 2 checked — 1 ok, 1 with errors, 0 with warnings; 1 n/a\n",
		"  ok       test-ok           a rule that passes\n",
		"  ERROR    test-route-quota  route entries within the quota\n",
		"           plan.yaml:14:12: plan.nodePools[0].nodes: 300 nodes need 300 route entries: the quota is 200\n",
		"           warning: plan.yaml:3:3: vpc: not written: the default 200 applies\n",
		"           source: https://example.test/quota: \"One node corresponds to one entry\"\n",
		"a Terway rule — n/a (only for Terway plans)",
		"Maximum nodes: 200, bound by route-quota (planned 300)",
		"255        100 ok",
	} {
		assert.Contains(t, out, s)
	}
	planGolden(t, "render.txt", out)

	js, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	planGolden(t, "render.json", string(js)+"\n")
	var back map[string]any
	require.NoError(t, json.Unmarshal(js, &back))
	for _, k := range []string{"file", "cni", "rules", "capacity"} {
		assert.Contains(t, back, k)
	}
	assert.NotContains(t, back, "comparison", "no --compare: no comparison")
	capJS := back["capacity"].(map[string]any)
	assert.Equal(t, float64(200), capJS["max_nodes"])
	assert.Equal(t, "route-quota", capJS["binding"])

	// A plan whose rules all pass (or do not apply) exits 0.
	pc.Result.Rules[1].Findings = nil
	pc.Findings = nil
	assert.False(t, newPlanReport("plan.yaml", pc, capa, nil).failed())

	// A failing writer is reported.
	assert.Error(t, writePlanText(errorWriter{}, r, capa, nil))
}

type errorWriter struct{}

func (errorWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

// TestPlanUsage checks the flag errors of netsim plan in-process (the
// hostile table runs the same through a subprocess).
func TestPlanUsage(t *testing.T) {
	sug := []string{"plan", "--suggest", "--vpc", "192.168.0.0/16", "--nodes", "10", "--pods-per-node", "30", "--cni", "terway"}
	with := func(extra ...string) []string { return append(append([]string{}, sug...), extra...) }
	tests := []struct {
		name  string
		args  []string
		first string
	}{
		{"no FILE", []string{"plan"}, `netsim plan: missing the plan FILE, or --rules, or --suggest (run "netsim plan --help")`},
		{"two FILEs", []string{"plan", "a.yaml", "b.yaml"}, "netsim plan: expected one plan FILE, got 2 arguments (a.yaml b.yaml)"},
		{"-o yaml on a FILE", []string{"plan", "a.yaml", "-o", "yaml"}, `netsim plan: -o "yaml": expected text or json`},
		{"-o text with --suggest", with("-o", "text"), `netsim plan: -o "text": expected yaml or json with --suggest`},
		{"--rules with a FILE", []string{"plan", "--rules", "a.yaml"}, "netsim plan: --rules lists the rule table and takes no FILE"},
		{"--rules -o yaml", []string{"plan", "--rules", "-o", "yaml"}, `netsim plan: -o "yaml": expected text or json`},
		{"--compare with --suggest", with("--compare"), "netsim plan: --compare compares a plan FILE, not --suggest"},
		{"--suggest flags on a FILE", []string{"plan", "a.yaml", "--vpc", "10.0.0.0/8", "--cni", "terway"}, "netsim plan: --vpc and --cni: only with --suggest"},
		{"FILE and --suggest", append([]string{"plan", "a.yaml"}, sug[1:]...), "netsim plan: FILE (a.yaml) and --suggest are exclusive"},
		{"--vpc IPv6", []string{"plan", "--suggest", "--vpc", "fd00::/8", "--nodes", "1", "--pods-per-node", "1", "--cni", "terway"}, `netsim plan: --vpc "fd00::/8": "fd00::" is not an IPv4 address`},
		{"--vpc without a length", []string{"plan", "--suggest", "--vpc", "10.0.0.0", "--nodes", "1", "--pods-per-node", "1", "--cni", "terway"}, `netsim plan: --vpc "10.0.0.0": expected an IPv4 CIDR with its prefix length`},
		{"--vpc /7", []string{"plan", "--suggest", "--vpc", "10.0.0.0/7", "--nodes", "1", "--pods-per-node", "1", "--cni", "terway"}, "netsim plan: --vpc 10.0.0.0/7: a VPC's CIDR is /8 to /28 (CreateVpc)"},
		{"--vpc host bits", []string{"plan", "--suggest", "--vpc", "192.168.1.0/16", "--nodes", "1", "--pods-per-node", "1", "--cni", "terway"}, "netsim plan: --vpc 192.168.1.0/16: host bits are set (did you mean 192.168.0.0/16?)"},
		{"--vpc /6 masked", []string{"plan", "--suggest", "--vpc", "8.0.0.0/6", "--nodes", "1", "--pods-per-node", "1", "--cni", "terway"}, "netsim plan: --vpc 8.0.0.0/6: a VPC's CIDR is /8 to /28 (CreateVpc)"},
		{"--nodes one past ACK's most", []string{"plan", "--suggest", "--vpc", "10.0.0.0/8", "--nodes", "15001", "--pods-per-node", "1", "--cni", "terway"}, "netsim plan: --nodes 15001: at most 15000"},
		{"--pods-per-node past a /16", []string{"plan", "--suggest", "--vpc", "10.0.0.0/8", "--nodes", "1", "--pods-per-node", "65535", "--cni", "terway"}, "netsim plan: --pods-per-node 65535: at most 65534"},
		{"--pods-per-node negative", []string{"plan", "--suggest", "--vpc", "10.0.0.0/8", "--nodes", "1", "--pods-per-node=-5", "--cni", "terway"}, "netsim plan: --pods-per-node -5: expected at least 1 pod"},
		{"--cni close to one value", []string{"plan", "--suggest", "--vpc", "10.0.0.0/8", "--nodes", "1", "--pods-per-node", "1", "--cni", "terwya"}, `netsim plan: --cni "terwya": expected "flannel-alivpc", "flannel-vxlan", "terway", "terway-exclusive" or "calico" (did you mean "terway"`},
		{"--cni nothing close", []string{"plan", "--suggest", "--vpc", "10.0.0.0/8", "--nodes", "1", "--pods-per-node", "1", "--cni", "cilium"}, `netsim plan: --cni "cilium": expected "flannel-alivpc", "flannel-vxlan", "terway", "terway-exclusive" or "calico"`},
		{"--zones empty item", with("--zones", "cn-hangzhou-h,,cn-hangzhou-i"), `netsim plan: --zones "cn-hangzhou-h,,cn-hangzhou-i": an empty zone`},
		{"--zones twice the same", with("--zones", "cn-hangzhou-h,cn-hangzhou-h"), "netsim plan: --zones: cn-hangzhou-h is given twice"},
		{"--zones not a zone ID", with("--zones", "Hangzhou H"), `netsim plan: --zones: "Hangzhou H" is not a zone ID`},
		{"--instance-type nothing close", with("--instance-type", "m5.large"), `netsim plan: --instance-type "m5.large": not in netsim's instance type table (known: ecs.c6.2xlarge,`},
		{"--services negative", with("--services=-1"), "netsim plan: --services -1: expected 0 or more Services"},
		{"--services past a /16", with("--services", "65534"), "netsim plan: --services 65534: at most 65533: ACK's largest Service CIDR is a /16"},
		{"--services twice", with("--services", "1", "--services", "2"), "netsim plan: --services is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := netsim(t, tt.args...)
			assert.Equal(t, exitBadInput, code, stderr)
			assert.Empty(t, stdout)
			first, _, _ := strings.Cut(stderr, "\n")
			assert.True(t, strings.HasPrefix(first, tt.first), "first line:\n%s\nwant:\n%s", first, tt.first)
		})
	}
}

// TestPlanSuggestRequest checks the request the flags build.
func TestPlanSuggestRequest(t *testing.T) {
	var got ackplan.Request
	suggestPlan = func(req ackplan.Request) (*ackplan.Suggestion, error) {
		got = req
		return &ackplan.Suggestion{YAML: []byte("# why\nname: x\n"), Choices: []ackplan.Choice{{What: "VPC", Value: "10.0.0.0/8", Why: "asked"}}}, nil
	}
	t.Cleanup(func() { suggestPlan = ackplan.Suggest })
	code, stdout, stderr := netsim(t, "plan", "--suggest", "--vpc", "10.0.0.0/8", "--nodes", "40", "--pods-per-node", "60",
		"--cni", "terway-exclusive", "--zones", "cn-hangzhou-h, cn-hangzhou-i", "--zones", "cn-hangzhou-j", "--instance-type", "ecs.g7.4xlarge", "--services", "300")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "# why\nname: x\n", stdout, "the suggester's YAML, as it is")
	it, _ := ack.Builtin("ecs.g7.4xlarge")
	assert.Equal(t, ackplan.Request{VPC: netip.MustParsePrefix("10.0.0.0/8"), Nodes: 40, PodsPerNode: 60, CNI: "terway-exclusive",
		Zones: []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}, InstanceType: it, Services: 300}, got)

	code, stdout, _ = netsim(t, "plan", "--suggest", "--vpc", "192.168.0.0/16", "--nodes", "3", "--pods-per-node", "30", "--cni", "calico", "-o", "json")
	require.Equal(t, exitOK, code)
	var js struct {
		Choices []ackplan.Choice `json:"choices"`
		YAML    string           `json:"yaml"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &js))
	assert.Equal(t, "# why\nname: x\n", js.YAML)
	assert.Equal(t, []ackplan.Choice{{What: "VPC", Value: "10.0.0.0/8", Why: "asked"}}, js.Choices)
	assert.Equal(t, ack.InstanceType{}, got.InstanceType, "no --instance-type: the suggester's default")
	assert.Empty(t, got.Zones)

	// No valid plan: exit 1, what to relax, on stderr; nothing on stdout
	// (`--suggest … > plan.yaml` must not write a file that is no plan).
	suggestPlan = func(ackplan.Request) (*ackplan.Suggestion, error) {
		return nil, &ackplan.NoPlanError{Requirement: "--nodes", Why: "a /24 VPC holds 252 nodes", Relax: "ask for 252 nodes or fewer"}
	}
	code, stdout, stderr = netsim(t, "plan", "--suggest", "--vpc", "192.168.0.0/24", "--nodes", "300", "--pods-per-node", "30", "--cni", "terway")
	assert.Equal(t, exitUnmet, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "netsim plan: no valid plan: a /24 VPC holds 252 nodes\nrelax --nodes: ask for 252 nodes or fewer\n", stderr)
	code, stdout, stderr = netsim(t, "plan", "--suggest", "--vpc", "192.168.0.0/24", "--nodes", "300", "--pods-per-node", "30", "--cni", "terway", "-o", "json")
	assert.Equal(t, exitUnmet, code)
	assert.Empty(t, stdout)
	assert.JSONEq(t, `{"no_plan": {"requirement": "--nodes", "why": "a /24 VPC holds 252 nodes", "relax": "ask for 252 nodes or fewer"}}`, stderr)
}

// TestPlanSuggestNoPlanReal runs the real suggester on a request no plan
// meets (1,001 ali-vpc nodes: ACK's Flannel limit): exit 1, stdout empty,
// the reason and what to relax on stderr; a good request writes only the
// scenario to stdout, which netsim validate accepts.
func TestPlanSuggestNoPlanReal(t *testing.T) {
	for _, o := range []string{"yaml", "json"} {
		code, stdout, stderr := netsim(t, "plan", "--suggest", "--vpc", "10.0.0.0/8", "--nodes", "1001", "--pods-per-node", "30", "--cni", "flannel-alivpc", "-o", o)
		assert.Equal(t, exitUnmet, code, o)
		assert.Empty(t, stdout, o)
		assert.Contains(t, stderr, "1,001", o)
		assert.Contains(t, stderr, "--nodes", o)
		if o == "json" {
			var js struct {
				NoPlan struct{ Requirement, Why, Relax string } `json:"no_plan"`
			}
			require.NoError(t, json.Unmarshal([]byte(stderr), &js), stderr)
			assert.Equal(t, "--nodes", js.NoPlan.Requirement)
			assert.Contains(t, js.NoPlan.Relax, "terway")
		} else {
			assert.True(t, strings.HasPrefix(stderr, "netsim plan: no valid plan: "), stderr)
			assert.Contains(t, stderr, "\nrelax --nodes: ")
		}
	}
	code, stdout, stderr := netsim(t, "plan", "--suggest", "--vpc", "192.168.0.0/16", "--nodes", "50", "--pods-per-node", "30", "--cni", "terway")
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stderr)
	f := filepath.Join(t.TempDir(), "plan.yaml")
	require.NoError(t, os.WriteFile(f, []byte(stdout), 0o644))
	code, _, stderr = netsim(t, "validate", f)
	assert.Equal(t, exitOK, code, stderr)
}

// TestPlanRulesList checks --rules lists every rule of the table.
func TestPlanRulesList(t *testing.T) {
	code, stdout, stderr := netsim(t, "plan", "--rules")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "planning rules, in the order they run")
	for _, r := range ackplan.Rules {
		assert.Contains(t, stdout, r.ID+"  [")
		assert.Contains(t, stdout, "  source: "+r.Source+"\n")
	}
	code, stdout, _ = netsim(t, "plan", "--rules", "-o", "json")
	require.Equal(t, exitOK, code)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	assert.Len(t, list, len(ackplan.Rules))
}

// TestPlanFiles runs netsim plan on the plan files of testdata/plan and
// compares the reports with their goldens; -update rewrites them.
func TestPlanFiles(t *testing.T) {
	t.Chdir(planTestdata) // the reports name the files as given
	tests := []struct {
		file   string
		args   []string
		code   int
		golden string
		want   []string // substrings of stdout, figures worked out by hand
	}{
		{"terway-ok.yaml", nil, exitOK, "terway-ok.txt", []string{
			"(EniQuantity 8 − 1) × EniPrivateIpAddressQuantity 30 = 210",
			"8,188 usable pod vSwitch addresses ÷ (60 plan.podsPerNode + 25% surge) per node = 109 (136 without the surge)",
			"+25% surge: 300 pods",
		}},
		{"terway-ok.yaml", []string{"-o", "json"}, exitOK, "terway-ok.json", []string{`"binding": "pod-vswitch-addresses"`, `"max_nodes": 109`}},
		{"flannel-alivpc-300.yaml", nil, exitUnmet, "flannel-alivpc-300.txt", []string{
			"Maximum nodes: 200, bound by route-quota (planned 300)",
			"2^(24−16) = 256", // shown though pod-cidr-nodes reports the pod CIDR
			"ERROR    pod-cidr-nodes",
			"VPC route entries: 300 used of 200",
		}},
		{"flannel-mistakes.yaml", nil, exitUnmet, "flannel-mistakes.txt", []string{
			"ERROR    pod-cidr-overlap",
			"flannel-mistakes.yaml:9:12: cluster.podCIDR: 192.168.128.0/17 overlaps the VPC CIDR 192.168.0.0/16",
			"ERROR    service-cidr-overlap",
			"flannel-mistakes.yaml:11:16: cluster.serviceCIDR: ",
			// The figures stay: a rule's error does not hide them.
			"2^(26−17) = 512",
			"Maximum nodes: 252, bound by node-vswitch-addresses (planned 10)",
		}},
		{"flannel-mistakes.yaml", []string{"-o", "json"}, exitUnmet, "flannel-mistakes.json", []string{`"status": "error"`, `"line": 9`, `"column": 12`}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			code, stdout, stderr := netsim(t, append([]string{"plan", tt.file}, tt.args...)...)
			assert.Equal(t, tt.code, code, "stderr:\n%s", stderr)
			assert.Empty(t, stderr)
			for _, s := range tt.want {
				assert.Contains(t, stdout, s)
			}
			planGolden(t, tt.golden, stdout)
		})
	}
}

// TestParsedPlan checks that capacity ignores only the fields that did
// not parse, not those a rule reported an error at.
func TestParsedPlan(t *testing.T) {
	pc := renderPlan(t)
	pc.Plan.Invalid = []string{"cluster.serviceCIDR", "plan.nodePools[0].nodes"} // did not parse; broke a rule
	p := parsedPlan(pc)
	assert.Equal(t, []string{"cluster.serviceCIDR"}, p.Invalid)
	assert.Equal(t, []string{"cluster.serviceCIDR", "plan.nodePools[0].nodes"}, pc.Plan.Invalid, "the check's plan is not changed")
	capa := ackplan.ComputeCapacity(p)
	assert.Nil(t, capa.Services, "a Service CIDR that did not parse has no figures")
}

// TestRuleTableSaysKindsAndScope checks that every rule states the
// severities it reports (netsim plan --rules prints them) and, when it
// does not always apply, which plans it concerns (the n/a lines say it).
func TestRuleTableSaysKindsAndScope(t *testing.T) {
	require.NotEmpty(t, ackplan.Rules)
	for _, r := range ackplan.Rules {
		assert.NotEmpty(t, r.Kinds, "rule %s: Kinds", r.ID)
		assert.Equal(t, r.Applies != nil, r.Scope != "", "rule %s: a Scope exactly when it has Applies", r.ID)
	}
}

// TestPlanCompareCLI runs `netsim plan --compare` on bundled plans, text
// and JSON: a Calico plan gets its own column after the three; a Flannel
// plan whose instance type holds too few pods for Terway names the
// built-in types that would; derived pod vSwitches say their growth.
func TestPlanCompareCLI(t *testing.T) {
	code, stdout, stderr := netsim(t, "plan", "--compare", "../../scenarios/plan-calico.yaml", "-o", "json")
	require.Equal(t, exitOK, code, stderr)
	var js struct {
		Comparison struct {
			From    string `json:"from"`
			Columns []struct {
				CNI          string   `json:"cni"`
				Title        string   `json:"title"`
				Derived      []string `json:"derived"`
				PodMTU       int      `json:"pod_mtu"`
				InstanceHint string   `json:"instance_hint"`
			} `json:"columns"`
		} `json:"comparison"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &js), stdout)
	cols := js.Comparison.Columns
	require.Len(t, cols, 4)
	assert.Equal(t, "calico", js.Comparison.From)
	assert.Equal(t, []string{"flannel-alivpc", "flannel-vxlan", "terway", "calico"}, []string{cols[0].CNI, cols[1].CNI, cols[2].CNI, cols[3].CNI})
	assert.Equal(t, 1500-20, cols[3].PodMTU, "IPIP: 20 bytes")
	assert.Contains(t, strings.Join(cols[2].Derived, "\n"), "× 2 for growth, as --suggest sizes them")

	code, stdout, stderr = netsim(t, "plan", "--compare", "../../scenarios/plan-flannel-alivpc.yaml")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "Terway (shared ENI): ecs.g7.xlarge holds 45 pods in shared ENI mode")
	assert.Contains(t, stdout, "fewer than the 64 planned; built-in types that hold them: ecs.g7.3xlarge: 105 pods")
	assert.NotContains(t, stdout, "Calico (self-managed)", "no fourth column: the plan is one of the three")

	code, stdout, stderr = netsim(t, "plan", "--compare", "../../scenarios/plan-terway-exclusive.yaml")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "Terway (exclusive ENI)")
}
