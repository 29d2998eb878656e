package sim

// Generated truth tables: a fixed-seed generator of policy sets over the
// truth universe covering the shapes of the spec (selectors with every
// operator, namespaceSelector, both in one peer vs two peers, empty
// selectors, ipBlock with except, numbered and named ports, endPort,
// TCP/UDP/SCTP, policyTypes defaulting, ingress+egress, stacked policies,
// `ingress: [{}]`, default deny both ways), each case's data-plane grids
// checked against the independent evaluator.

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
)

var (
	// truthCases is how many cases the generator makes: 400 in go test
	// (about 5 s on the data plane), more with make netpol-truth.
	truthCases = flag.Int("netpol-truth-cases", 400, "generated NetworkPolicy truth-table cases to run on the data plane")
	truthSeed  = flag.Uint64("netpol-truth-seed", 20261202, "seed of the generated NetworkPolicy truth-table cases")
)

// genUniverse is the truth universe with a few extra labels so that
// Exists/DoesNotExist and NotIn have something to tell apart: pods x/a,
// y/b, z/c carry app=web, x/b and y/c app=db; namespaces x and y carry
// tier=front.
func genUniverse() *tUniverse { return genUniverseOn(truthCalico) }

// genUniverseOn is genUniverse with the cluster's addresses.
func genUniverseOn(c truthCluster) *tUniverse {
	u := truthUniverseOn(c)
	for ref, app := range map[string]string{"x/a": "web", "y/b": "web", "z/c": "web", "x/b": "db", "y/c": "db"} {
		u.pod(ref).Labels["app"] = app
	}
	u.Namespaces["x"]["tier"] = "front"
	u.Namespaces["y"]["tier"] = "front"
	return u
}

// genCase is one generated policy set and the probes to check.
type genCase struct {
	Name     string
	Tags     []string
	Policies []*networkingv1.NetworkPolicy
	Probes   []truthProbe
}

type gen struct {
	r    *rand.Rand
	tags map[string]bool
}

func (g *gen) tag(t string)          { g.tags[t] = true }
func (g *gen) pick(n int) int        { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// selector returns a random label selector of pod or namespace labels
// (as JSON-shaped maps).
func (g *gen) selector(forNS bool) map[string]any {
	key, vals, extra := "pod", []string{"a", "b", "c"}, "app"
	extraVals := []string{"web", "db"}
	if forNS {
		key, vals, extra = "ns", []string{"x", "y", "z"}, "tier"
		extraVals = []string{"front"}
		if g.chance(0.3) {
			key = "kubernetes.io/metadata.name"
		}
	}
	// In/NotIn sometimes on the extra key, which some objects lack
	// (NotIn matches those, In does not).
	exprKey, exprVals := key, vals
	if g.chance(0.4) {
		exprKey, exprVals = extra, extraVals
	}
	some := func() []string {
		out := []string{exprVals[g.pick(len(exprVals))]}
		if g.chance(0.5) {
			if v := exprVals[g.pick(len(exprVals))]; v != out[0] {
				out = append(out, v)
			}
		}
		return out
	}
	switch g.pick(8) {
	case 0:
		g.tag("selector-empty")
		return map[string]any{}
	case 1, 2:
		g.tag("selector-matchLabels")
		return map[string]any{"matchLabels": map[string]string{key: vals[g.pick(len(vals))]}}
	case 3:
		g.tag("selector-In")
		return map[string]any{"matchExpressions": []map[string]any{{"key": exprKey, "operator": "In", "values": some()}}}
	case 4:
		g.tag("selector-NotIn")
		return map[string]any{"matchExpressions": []map[string]any{{"key": exprKey, "operator": "NotIn", "values": some()}}}
	case 5:
		g.tag("selector-Exists")
		return map[string]any{"matchExpressions": []map[string]any{{"key": extra, "operator": "Exists"}}}
	case 6:
		g.tag("selector-DoesNotExist")
		return map[string]any{"matchExpressions": []map[string]any{{"key": extra, "operator": "DoesNotExist"}}}
	default:
		g.tag("selector-matchLabels+matchExpressions")
		return map[string]any{
			"matchLabels":      map[string]string{extra: extraVals[g.pick(len(extraVals))]},
			"matchExpressions": []map[string]any{{"key": key, "operator": "NotIn", "values": some()}},
		}
	}
}

// peer returns a random from/to entry.
func (g *gen) peer(u *tUniverse) map[string]any {
	switch g.pick(6) {
	case 0, 1:
		g.tag("peer-podSelector")
		return map[string]any{"podSelector": g.selector(false)}
	case 2:
		g.tag("peer-namespaceSelector")
		return map[string]any{"namespaceSelector": g.selector(true)}
	case 3, 4:
		g.tag("peer-podSelector-and-namespaceSelector")
		return map[string]any{"podSelector": g.selector(false), "namespaceSelector": g.selector(true)}
	default:
		if len(u.External) > 0 && g.chance(0.35) {
			// Addresses outside the cluster, ipBlock's intended use.
			g.tag("peer-ipBlock-external")
			ext := u.External[0].IP
			switch g.pick(3) {
			case 0:
				return map[string]any{"ipBlock": map[string]any{"cidr": ext.String() + "/32"}}
			case 1:
				g.tag("peer-ipBlock-except")
				return map[string]any{"ipBlock": map[string]any{"cidr": maskCIDR(ext.String() + "/24"), "except": []string{ext.String() + "/32"}}}
			default:
				// Everything but the pods' /24: the usual "allow the
				// world, not the cluster".
				g.tag("peer-ipBlock-except")
				return map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0", "except": []string{maskCIDR(u.Pods[0].IP.String() + "/24")}}}
			}
		}
		p := u.Pods[g.pick(len(u.Pods))]
		cidr := fmt.Sprintf("%s/%d", p.IP, []int{32, 26, 24, 16}[g.pick(4)])
		b := map[string]any{"cidr": maskCIDR(cidr)}
		if g.chance(0.6) {
			ex := u.Pods[g.pick(len(u.Pods))]
			if exc := ex.IP.String() + "/32"; ex != p && containsCIDR(b["cidr"].(string), ex.IP.String()) {
				b["except"] = []string{exc}
				g.tag("peer-ipBlock-except")
			}
		}
		g.tag("peer-ipBlock")
		return map[string]any{"ipBlock": b}
	}
}

// port returns a random ports entry.
func (g *gen) port() map[string]any {
	proto := truthProtocols[g.pick(len(truthProtocols))]
	e := map[string]any{}
	if g.chance(0.7) {
		e["protocol"] = proto
		g.tag("protocol-" + proto)
	} else {
		proto = "TCP"
		g.tag("protocol-default")
	}
	switch g.pick(5) {
	case 0:
		g.tag("port-any")
	case 1, 2:
		g.tag("port-number")
		e["port"] = truthPorts[g.pick(2)]
	case 3:
		g.tag("port-named")
		// Sometimes a name of another protocol: it must not match.
		pr := proto
		if g.chance(0.2) {
			pr = truthProtocols[g.pick(len(truthProtocols))]
		}
		e["port"] = fmt.Sprintf("serve-%d-%s", truthPorts[g.pick(2)], strings.ToLower(pr))
	default:
		g.tag("port-endPort")
		lo := []int{70, 80, 81}[g.pick(3)]
		e["port"] = lo
		e["endPort"] = lo + []int{0, 1, 10}[g.pick(3)]
	}
	return e
}

// rules returns a random ingress/egress rule list (nil = absent).
func (g *gen) rules(u *tUniverse, peersKey string) []map[string]any {
	switch g.pick(6) {
	case 0:
		g.tag("rules-absent")
		return nil
	case 1:
		g.tag("rules-empty-list")
		return []map[string]any{}
	case 2:
		g.tag("rule-allow-all")
		return []map[string]any{{}}
	}
	var out []map[string]any
	for n := 1 + g.pick(2); n > 0; n-- {
		r := map[string]any{}
		if g.chance(0.7) {
			var peers []map[string]any
			for k := 1 + g.pick(2); k > 0; k-- {
				peers = append(peers, g.peer(u))
			}
			if len(peers) > 1 {
				g.tag("two-peers")
			}
			r[peersKey] = peers
		} else {
			g.tag("rule-any-peer")
		}
		if g.chance(0.6) {
			var ports []map[string]any
			for k := 1 + g.pick(2); k > 0; k-- {
				ports = append(ports, g.port())
			}
			r["ports"] = ports
		} else {
			g.tag("rule-any-port")
		}
		out = append(out, r)
	}
	if len(out) > 1 {
		g.tag("two-rules")
	}
	return out
}

// policy returns one random policy as a JSON-shaped object.
func (g *gen) policy(u *tUniverse, name string) map[string]any {
	ns := truthNamespaces[g.pick(3)]
	spec := map[string]any{"podSelector": g.selector(false)}
	switch g.pick(5) {
	case 0:
		g.tag("default-deny-ingress")
		spec["policyTypes"] = []string{"Ingress"}
	case 1:
		g.tag("default-deny-both")
		spec["policyTypes"] = []string{"Ingress", "Egress"}
	default:
		if in := g.rules(u, "from"); in != nil {
			spec["ingress"] = in
		}
		if eg := g.rules(u, "to"); eg != nil {
			spec["egress"] = eg
		}
		switch g.pick(4) {
		case 0:
			g.tag("policyTypes-defaulted")
		case 1:
			spec["policyTypes"] = []string{"Ingress"}
			g.tag("policyTypes-Ingress")
		case 2:
			spec["policyTypes"] = []string{"Egress"}
			g.tag("policyTypes-Egress")
		default:
			spec["policyTypes"] = []string{"Ingress", "Egress"}
			g.tag("policyTypes-both")
		}
	}
	return map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec}
}

// generateCases makes n cases from the seed.
func generateCases(t testing.TB, u *tUniverse, n int, seed uint64) []genCase {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []genCase
	for i := 0; i < n; i++ {
		g := &gen{r: r, tags: map[string]bool{}}
		c := genCase{Name: fmt.Sprintf("gen-%03d", i)}
		k := 1 + g.pick(3)
		if k > 1 {
			g.tag("stacked")
		}
		for j := 0; j < k; j++ {
			obj := g.policy(u, fmt.Sprintf("p%d", j))
			js, err := json.Marshal(obj)
			require.NoError(t, err)
			pols, err := decodePolicies(string(js))
			require.NoError(t, err, "%s", js)
			c.Policies = append(c.Policies, pols...)
		}
		// Two probes: one TCP/80 or 81, one of a random protocol.
		c.Probes = []truthProbe{{Port: truthPorts[g.pick(2)], Protocol: "TCP"}}
		if p := (truthProbe{Port: truthPorts[g.pick(2)], Protocol: truthProtocols[g.pick(3)]}); p != c.Probes[0] {
			c.Probes = append(c.Probes, p)
		}
		for tg := range g.tags {
			c.Tags = append(c.Tags, tg)
		}
		sort.Strings(c.Tags)
		out = append(out, c)
	}
	return out
}

func policyTexts(t testing.TB, pols []*networkingv1.NetworkPolicy) []string {
	var out []string
	for _, p := range pols {
		obj := map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
			"metadata": map[string]any{"name": p.Name, "namespace": p.Namespace}, "spec": p.Spec}
		js, err := json.Marshal(obj)
		require.NoError(t, err)
		out = append(out, string(js))
	}
	return out
}

// TestNetpolGeneratorCoverage: the generated set is large, deterministic
// and covers every shape.
func TestNetpolGeneratorCoverage(t *testing.T) {
	u := genUniverse()
	cases := generateCases(t, u, 400, 20261202)
	again := generateCases(t, u, 400, 20261202)
	require.Equal(t, policyTexts(t, cases[7].Policies), policyTexts(t, again[7].Policies), "fixed seed")
	seen := map[string]int{}
	distinct := map[string]bool{}
	denied, allowed := 0, 0
	for _, c := range cases {
		for _, tg := range c.Tags {
			seen[tg]++
		}
		distinct[strings.Join(policyTexts(t, c.Policies), "\n")] = true
		for _, p := range c.Probes {
			g := evalGrid(u, c.Policies, p.Port, p.Protocol, tVerdict.Allowed)
			for _, v := range g.Cells {
				if v {
					allowed++
				} else {
					denied++
				}
			}
		}
	}
	assert := require.New(t)
	assert.GreaterOrEqual(len(distinct), 300, "distinct policy sets")
	for _, tg := range []string{"selector-empty", "selector-matchLabels", "selector-In", "selector-NotIn", "selector-Exists", "selector-DoesNotExist",
		"peer-podSelector", "peer-namespaceSelector", "peer-podSelector-and-namespaceSelector", "two-peers", "peer-ipBlock", "peer-ipBlock-except", "peer-ipBlock-external",
		"port-number", "port-named", "port-endPort", "port-any", "protocol-TCP", "protocol-UDP", "protocol-SCTP", "protocol-default",
		"policyTypes-defaulted", "policyTypes-Ingress", "policyTypes-Egress", "policyTypes-both", "default-deny-ingress", "default-deny-both",
		"rule-allow-all", "rules-empty-list", "stacked"} {
		assert.Greater(seen[tg], 5, "shape %s", tg)
	}
	// Neither all-allowed nor all-denied: the cases discriminate.
	assert.Greater(denied, allowed/10)
	assert.Greater(allowed, denied/10)
}

// TestNetpolTruthGeneratedDataplane: the generated cases on the data
// plane against the evaluator (-netpol-truth-cases, -netpol-truth-seed):
// all of them on Calico, every fourth on Terway veth (the same felix
// rules behind another datapath's veths).
func TestNetpolTruthGeneratedDataplane(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the data-plane truth tables build a cluster per case")
	}
	for _, cl := range []truthCluster{truthCalico, truthTerwayVeth, truthTerwayIPVlan} {
		t.Run(cl.Name, func(t *testing.T) {
			u := genUniverseOn(cl)
			cases := generateCases(t, u, *truthCases, *truthSeed)
			for i, c := range cases {
				if cl.Name != truthCalico.Name && i%4 != 0 {
					continue
				}
				t.Run(c.Name, func(t *testing.T) {
					texts := policyTexts(t, c.Policies)
					grids, m, skipped := dataplaneGrids(t, cl, u, texts, c.Probes)
					for _, p := range c.Probes {
						if why, ok := skipped[p.Protocol]; ok {
							t.Logf("%s/%d not probed: the data plane does not carry %s: %s", p.Protocol, p.Port, p.Protocol, why)
							continue
						}
						got := grids[p]
						want := evalGrid(u, c.Policies, p.Port, p.Protocol, tVerdict.Allowed)
						if d := diffGrid(want, got); len(d) > 0 {
							t.Errorf("%s on %s %s/%d (shapes %s): the data plane disagrees with the evaluator in %d cell(s):\n%sevaluator:\n%s\ndata plane:\n%s\npolicies:\n%s",
								c.Name, cl.Name, p.Protocol, p.Port, strings.Join(c.Tags, ","), len(d), explainDiff(m, p, d), want, got, strings.Join(texts, "\n"))
						}
						// The column outside the cluster: egress only.
						for _, src := range u.Pods {
							for _, ext := range u.External {
								want := evaluate(u, c.Policies, src, ext, p.Port, p.Protocol)
								cell, ok := m.Cell(src.Ref(), ext.Ref(), p.Port, strings.ToLower(p.Protocol))
								if !ok {
									t.Errorf("no matrix cell %s → %s %s/%d", src.Ref(), ext.Ref(), p.Protocol, p.Port)
									continue
								}
								if cell.Allowed != want.Allowed() {
									t.Errorf("%s on %s %s/%d: %s → %s (%s): evaluator says %s, data plane %s [%s %s]\npolicies:\n%s", c.Name, cl.Name, p.Protocol, p.Port,
										src.Ref(), ext.Ref(), ext.IP, word(want.Allowed()), word(cell.Allowed), cell.Reason, cell.Detail, strings.Join(texts, "\n"))
								}
							}
						}
						if d := checkDenials(u, c.Policies, m, p); len(d) > 0 {
							t.Errorf("%s on %s %s/%d: denied cells without the right drop:\n  %s\npolicies:\n%s", c.Name, cl.Name, p.Protocol, p.Port, strings.Join(d, "\n  "), strings.Join(texts, "\n"))
						}
					}
				})
			}
		})
	}
}

// maskCIDR zeroes the host bits ("172.20.0.10/24" → "172.20.0.0/24").
func maskCIDR(s string) string { return netip.MustParsePrefix(s).Masked().String() }

// containsCIDR: addr is inside cidr and cidr is wider than a /32 (an
// except must be strictly inside its cidr).
func containsCIDR(cidr, addr string) bool {
	p := netip.MustParsePrefix(cidr)
	return p.Bits() < 32 && p.Contains(netip.MustParseAddr(addr))
}
