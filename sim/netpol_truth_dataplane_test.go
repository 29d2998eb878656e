package sim

// The harness: the truth universe as a Calico cluster (felix enforces
// policy there), each case's policies loaded as NetworkPolicy objects,
// sim.RunMatrix sending the probes through the data plane, and the
// data plane's grid compared cell by cell with the e2e expectation and
// with the independent evaluator.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	networkingv1 "k8s.io/api/networking/v1"

	"netsim/topology"
)

// truthScenario writes the universe u with the policy documents (YAML)
// as a scenario on cluster c: the pods at their pinned addresses with
// their container ports, the namespaces as Namespace objects with their
// labels, the policies as resources.
func truthScenario(c truthCluster, u *tUniverse, policyDocs []string) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "name: netpol-truth-%s\ndescription: the e2e x/y/z × a/b/c universe on %s, for the NetworkPolicy truth-table tests.\nseed: 1\n", c.Name, c.Name)
	b.WriteString(c.Header)
	b.WriteString("pods:\n")
	for _, p := range u.Pods {
		pod := map[string]any{"name": p.Name, "namespace": p.Namespace, "node": p.Node, "ip": p.IP.String(), "labels": p.Labels}
		var ports []map[string]any
		for _, cp := range p.Ports {
			ports = append(ports, map[string]any{"port": cp.Port, "protocol": cp.Protocol, "name": cp.Name})
		}
		pod["ports"] = ports
		js, err := json.Marshal(pod)
		if err != nil {
			return nil, err
		}
		b.WriteString("  - " + string(js) + "\n")
	}
	b.WriteString("resources:\n")
	nss := make([]string, 0, len(u.Namespaces))
	for ns := range u.Namespaces {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		js, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns, "labels": u.Namespaces[ns]}})
		if err != nil {
			return nil, err
		}
		b.WriteString("  - " + string(js) + "\n")
	}
	for _, doc := range policyDocs {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("policy %q: %w", doc, err)
		}
		js, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		b.WriteString("  - " + string(js) + "\n")
	}
	return []byte(b.String()), nil
}

// truthProbe is one (port, protocol) grid to compute.
type truthProbe struct {
	Port     int
	Protocol string // TCP, UDP, SCTP
}

// dataplaneGrids runs the matrix of the scenario for the probes and
// returns a grid per probe (and the matrix, for the drop details). A
// protocol the data plane does not carry (SCTP before netstack has it)
// is reported in skipped with the reason.
func dataplaneGrids(t *testing.T, c truthCluster, u *tUniverse, policyDocs []string, probes []truthProbe) (map[truthProbe]tGrid, *Matrix, map[string]string) {
	t.Helper()
	data, err := truthScenario(c, u, policyDocs)
	require.NoError(t, err)
	s, err := topology.Parse("netpol-truth-"+c.Name+".yaml", data)
	if err != nil && strings.Contains(err.Error(), `kind "Namespace" is not supported`) {
		t.Skipf("this build does not load Namespace objects (their labels are what namespaceSelectors match): %v", err)
	}
	require.NoError(t, err, "scenario:\n%s", data)
	var ports []int
	var protos []string
	for _, p := range probes {
		if !containsInt(ports, p.Port) {
			ports = append(ports, p.Port)
		}
		if lp := strings.ToLower(p.Protocol); !containsStr(protos, lp) {
			protos = append(protos, lp)
		}
	}
	skipped := map[string]string{}
	var external []string
	for _, e := range u.External {
		external = append(external, e.Ref())
	}
	o, err := MatrixOptions{Ports: ports, Protocols: protos, External: external}.Normalize()
	if err != nil && containsStr(protos, "sctp") && strings.Contains(err.Error(), "sctp") {
		// Without SCTP, remembering why.
		skipped["SCTP"] = err.Error()
		protos = removeStr(protos, "sctp")
		if len(protos) == 0 {
			return nil, nil, skipped
		}
		o, err = MatrixOptions{Ports: ports, Protocols: protos, External: external}.Normalize()
	}
	require.NoError(t, err)
	r, err := NewRunner(s)
	require.NoError(t, err, "scenario:\n%s", data)
	requireEnforcement(t, r.World)
	m, err := r.Matrix(o)
	require.NoError(t, err, "scenario:\n%s", data)
	out := map[truthProbe]tGrid{}
	for _, p := range probes {
		if _, skip := skipped[p.Protocol]; skip {
			continue
		}
		g := tGrid{Pods: m.Pods, Cells: map[[2]string]bool{}}
		for _, from := range m.Pods {
			for _, to := range m.Pods {
				c, ok := m.Cell(from, to, p.Port, strings.ToLower(p.Protocol))
				if !ok || c.Self {
					continue
				}
				g.Cells[[2]string{from, to}] = c.Allowed
			}
		}
		out[p] = g
	}
	return out, m, skipped
}

// requireEnforcement skips the test when this build does not enforce
// policy on the Calico universe (no felix chains in the nodes' filter
// tables, or the not-enforced warning): the truth tables compare an
// enforcing data plane with the spec.
func requireEnforcement(t *testing.T, w *topology.World) {
	t.Helper()
	if enforced, how := w.PolicyEnforcement(); !enforced {
		t.Skipf("this build does not enforce NetworkPolicy on Calico (%s)", how)
	}
	for _, p := range w.Warnings {
		if strings.Contains(p.String(), "not enforced") {
			t.Skipf("this build does not enforce NetworkPolicy on Calico (%s)", p)
		}
	}
	if len(w.Policies) == 0 {
		// Nothing to enforce (felix here programs its chains only for
		// policies; a real felix always has cali-FORWARD).
		return
	}
	for _, n := range w.Nodes {
		nf := n.Filter
		if n.Cilium != nil {
			nf = n.Cilium.NF // Terway ipvlan: the modelled Cilium's rules
		}
		if nf == nil || !strings.Contains(nf.Save(false, "filter"), ":cali-FORWARD") {
			t.Skipf("felix is not wired into topology.Build on this build (node %s has no cali-FORWARD chain): the data plane cannot be compared with the truth tables", n.Name)
		}
	}
}

// checkDenials: every cell both deny is dropped as policy-denied, in the
// direction the evaluator says (egress first: the source's node drops
// before the packet leaves), naming every policy that isolates that pod
// in that direction.
func checkDenials(u *tUniverse, pols []*networkingv1.NetworkPolicy, m *Matrix, p truthProbe) []string {
	var out []string
	for _, s := range u.Pods {
		for _, d := range u.Pods {
			if s == d {
				continue
			}
			v := evaluate(u, pols, s, d, p.Port, p.Protocol)
			c, ok := m.Cell(s.Ref(), d.Ref(), p.Port, strings.ToLower(p.Protocol))
			if !ok || v.Allowed() || c.Allowed {
				continue
			}
			dir, pod := "egress", s
			if v.Egress {
				dir, pod = "ingress", d
			}
			var isolating []string
			for _, np := range pols {
				in, eg := policyTypes(np)
				if np.Namespace == pod.Namespace && selectorMatches(&np.Spec.PodSelector, pod.Labels) && (dir == "ingress" && in || dir == "egress" && eg) {
					isolating = append(isolating, np.Namespace+"/"+np.Name)
				}
			}
			switch {
			case c.Reason != "policy-denied":
				out = append(out, fmt.Sprintf("%s → %s: dropped as %q (%s), want policy-denied", s.Ref(), d.Ref(), c.Reason, c.Detail))
			case c.Direction != dir:
				out = append(out, fmt.Sprintf("%s → %s: denied for %q, want %s (%s)", s.Ref(), d.Ref(), c.Direction, dir, c.Detail))
			case c.Policy != "" && !samePolicies(c.Policy, isolating):
				out = append(out, fmt.Sprintf("%s → %s: names %s, but the policies isolating %s for %s are %s", s.Ref(), d.Ref(), c.Policy, pod.Ref(), dir, strings.Join(isolating, ", ")))
			}
		}
	}
	return out
}

// samePolicies: the drop's policy list ("x/a, x/b") names exactly the
// isolating policies.
func samePolicies(named string, isolating []string) bool {
	var got []string
	for _, p := range strings.Split(named, ",") {
		got = append(got, strings.TrimSpace(p))
	}
	want := append([]string(nil), isolating...)
	sort.Strings(got)
	sort.Strings(want)
	return strings.Join(got, ",") == strings.Join(want, ",")
}

// explainDiff adds the data plane's drop of every differing cell.
func explainDiff(m *Matrix, p truthProbe, diffs []string) string {
	var b strings.Builder
	for _, d := range diffs {
		b.WriteString("  " + d)
		from, rest, _ := strings.Cut(d, " → ")
		to, _, _ := strings.Cut(rest, ":")
		if c, ok := m.Cell(from, to, p.Port, strings.ToLower(p.Protocol)); ok && !c.Allowed {
			fmt.Fprintf(&b, " [data plane: %s %s %s]", c.Reason, c.Where, c.Detail)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestNetpolTruthE2EDataplane: every e2e case on the data plane of each
// enforcing cluster, cell by cell against the e2e expectation and the
// evaluator.
func TestNetpolTruthE2EDataplane(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the data-plane truth tables build a cluster per probe")
	}
	for _, cl := range []truthCluster{truthCalico, truthTerwayVeth, truthTerwayIPVlan} {
		t.Run(cl.Name, func(t *testing.T) {
			forEachE2EProbe(t, func() *tUniverse { return truthUniverseOn(cl) }, func(t *testing.T, c *e2eCase, s *e2eState, p e2eProbe, want tGrid) {
				if p.KnownFailure != "" {
					t.Skipf("known data-plane failure: %s", p.KnownFailure)
				}
				tp := truthProbe{Port: p.Port, Protocol: p.Protocol}
				grids, m, skipped := dataplaneGrids(t, cl, s.U, s.Texts, []truthProbe{tp})
				if why, ok := skipped[p.Protocol]; ok {
					t.Skipf("the data plane does not carry %s: %s", p.Protocol, why)
				}
				got := grids[tp].restrict(c.Pods)
				eval := evalGrid(s.U, s.Policies, p.Port, p.Protocol, tVerdict.Allowed).restrict(c.Pods)
				if d := diffGrid(want, got); len(d) > 0 {
					t.Errorf("%s on %s\n%s/%d: the data plane disagrees with the e2e expectation in %d cell(s):\n%se2e expects:\n%s\ndata plane:\n%s\nevaluator:\n%s\npolicies:\n%s",
						c.Case, cl.Name, p.Protocol, p.Port, len(d), explainDiff(m, tp, d), want, got, eval, strings.Join(s.Texts, "---\n"))
				}
				if d := diffGrid(eval, got); len(d) > 0 {
					t.Errorf("%s/%d: the data plane disagrees with the evaluator in %d cell(s):\n%s", p.Protocol, p.Port, len(d), explainDiff(m, tp, d))
				}
				if d := checkDenials(s.U, s.Policies, m, tp); len(d) > 0 {
					t.Errorf("%s/%d: denied cells without the right drop:\n  %s", p.Protocol, p.Port, strings.Join(d, "\n  "))
				}
			})
		})
	}
}

// TestNetpolTruthE2EFlannel: the same e2e cases on Flannel, which has no
// policy agent: every policy is loaded with one not-enforced warning and
// every probe the e2e suite expects denied is delivered — the exam's
// point, as a truth table.
func TestNetpolTruthE2EFlannel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the data-plane truth tables build a cluster per probe")
	}
	cl := truthFlannel
	forEachE2EProbe(t, func() *tUniverse { return truthUniverseOn(cl) }, func(t *testing.T, c *e2eCase, s *e2eState, p e2eProbe, want tGrid) {
		data, err := truthScenario(cl, s.U, s.Texts)
		require.NoError(t, err)
		sc, err := topology.Parse("netpol-truth-flannel.yaml", data)
		require.NoError(t, err)
		m, err := RunMatrix(sc, MatrixOptions{Ports: []int{p.Port}, Protocols: []string{strings.ToLower(p.Protocol)}})
		require.NoError(t, err)
		warned := 0
		for _, w := range m.Warnings {
			if strings.Contains(w, "NetworkPolicy") && strings.Contains(w, "not enforced") {
				warned++
			}
		}
		require.Equal(t, len(s.Policies), warned, "one not-enforced warning per policy: %v", m.Warnings)
		for _, from := range c.Pods {
			for _, to := range c.Pods {
				if from == to {
					continue
				}
				cell, ok := m.Cell(from, to, p.Port, strings.ToLower(p.Protocol))
				require.True(t, ok, "%s → %s", from, to)
				require.True(t, cell.Allowed, "%s → %s %s/%d on Flannel: %s %s %s (the e2e suite expects %s on an enforcing CNI)", from, to, p.Protocol, p.Port, cell.Reason, cell.Where, cell.Detail, word(want.Cells[[2]string{from, to}]))
			}
		}
	})
}

func containsInt(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func containsStr(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func removeStr(l []string, v string) []string {
	var out []string
	for _, x := range l {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}
