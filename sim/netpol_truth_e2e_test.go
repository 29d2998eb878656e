package sim

// The Kubernetes e2e NetworkPolicy cases as data (testdata/netpol-e2e):
// each case's policies, the label changes of its steps and, per probe
// (port, protocol), the e2e suite's expectation both as the transcribed
// Reachability calls and as the grid those calls give.

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	networkingv1 "k8s.io/api/networking/v1"
)

var writeE2EGrids = flag.Bool("netpol-e2e-grids", false, "rewrite the grid of every probe in testdata/netpol-e2e from its transcribed reachability calls")

// e2eCase is one file of testdata/netpol-e2e.
type e2eCase struct {
	File  string    `yaml:"-"`
	Case  string    `yaml:"case"`
	Pods  []string  `yaml:"pods"`
	Steps []e2eStep `yaml:"steps"`
}

// e2eStep: policies created or updated (same namespace/name replaces),
// optionally all deleted first, labels added to namespaces or pods, then
// the probes.
type e2eStep struct {
	Add             string                       `yaml:"add"`
	DeleteAll       bool                         `yaml:"deleteAll"`
	NamespaceLabels map[string]map[string]string `yaml:"namespaceLabels"`
	PodLabels       map[string]map[string]string `yaml:"podLabels"`
	Probes          []e2eProbe                   `yaml:"probes"`
}

// e2eProbe is one ValidateOrFail call.
type e2eProbe struct {
	Port         int      `yaml:"port"`
	Protocol     string   `yaml:"protocol"`
	Reachability []string `yaml:"reachability"`
	Grid         string   `yaml:"grid"`
	// KnownFailure, when set, names a known bug of the data plane for
	// this probe (the harness skips it with the reason).
	KnownFailure string `yaml:"knownFailure"`
}

func loadE2ECases(t testing.TB) []*e2eCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "netpol-e2e", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 20, "e2e cases in testdata/netpol-e2e")
	var out []*e2eCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		c := &e2eCase{File: f}
		require.NoError(t, yaml.Unmarshal(data, c), f)
		require.NotEmpty(t, c.Case, f)
		require.NotEmpty(t, c.Steps, f)
		out = append(out, c)
	}
	return out
}

// The universe of the e2e suite (model.go): namespaces x, y, z labelled
// kubernetes.io/metadata.name (and ns, as cyclonus does), pods a, b, c
// labelled pod=<name>, each serving 80 and 81 on TCP, UDP and SCTP with
// container ports named serve-<port>-<protocol>. Addresses are pinned so
// that ipBlock policies can name them; pods alternate between the two
// nodes of the scenario (a, c on node-1; b on node-2 in x and z, and the
// other way round in y) so that both same-node and cross-node paths are
// probed.
var (
	truthNamespaces = []string{"x", "y", "z"}
	truthPodNames   = []string{"a", "b", "c"}
	truthPorts      = []int{80, 81}
	truthProtocols  = []string{"TCP", "UDP", "SCTP"}
)

// truthCluster is a cluster the universe runs on: its scenario header
// (everything but pods, resources and flows) and the pod addresses of
// node-1 and node-2 (pod i of the universe at Base[i%2]+i).
type truthCluster struct {
	Name   string
	Header string
	Base   [2]netip.Addr
	// External is the address of ecs-ext, an ECS instance in the VPC
	// outside the cluster serving 80 and 81 on TCP and UDP (the
	// destination of egress ipBlock rules for cluster-external
	// addresses).
	External netip.Addr
}

// The enforcing clusters: Calico (VXLAN), Terway shared ENI with the
// veth datapath (felix in Terway's policy container) and with the ipvlan
// datapath (Cilium).
var (
	truthCalico = truthCluster{Name: "calico", Base: [2]netip.Addr{netip.MustParseAddr("172.20.0.10"), netip.MustParseAddr("172.20.0.74")}, External: netip.MustParseAddr("10.0.0.50"), Header: `vpc:
  name: vpc-ack
  cidr: 10.0.0.0/16
  underlay: vpc
  mtu: 1500
  vswitches: [{name: vsw-h, zone: cn-hangzhou-h, cidr: 10.0.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-h, ip: 10.0.0.10}
  - {name: node-2, vswitch: vsw-h, ip: 10.0.0.11}
instances:
  - {name: ecs-ext, vswitch: vsw-h, ip: 10.0.0.50, ports: [{port: 80}, {port: 81}, {port: 80, protocol: UDP}, {port: 81, protocol: UDP}, {port: 80, protocol: SCTP}, {port: 81, protocol: SCTP}]}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: calico, calico: {ipipMode: Never, vxlanMode: Always}}
`}
	truthTerwayVeth = truthCluster{Name: "terway-veth", Base: [2]netip.Addr{netip.MustParseAddr("192.168.16.10"), netip.MustParseAddr("192.168.16.74")}, External: netip.MustParseAddr("192.168.0.50"), Header: `vpc:
  name: vpc-ack
  cidr: 192.168.0.0/16
  underlay: vpc
  vswitches:
    - {name: vsw-node-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
    - {name: vsw-pod-h, zone: cn-hangzhou-h, cidr: 192.168.16.0/24}
nodes:
  - {name: node-1, vswitch: vsw-node-h, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-node-h, ip: 192.168.0.11}
instances:
  - {name: ecs-ext, vswitch: vsw-node-h, ip: 192.168.0.50, ports: [{port: 80}, {port: 81}, {port: 80, protocol: UDP}, {port: 81, protocol: UDP}, {port: 80, protocol: SCTP}, {port: 81, protocol: SCTP}]}
cluster:
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: terway
    terway:
      eniMode: shared
      eniipVirtualType: veth
      podVSwitches:
        cn-hangzhou-h: [vsw-pod-h]
`}
	// truthTerwayIPVlan is Terway shared ENI with the ipvlan datapath
	// (Cilium, modelled with felix's rules at the pods' ipvlan slaves).
	truthTerwayIPVlan = truthCluster{Name: "terway-ipvlan", Base: [2]netip.Addr{netip.MustParseAddr("192.168.16.10"), netip.MustParseAddr("192.168.16.74")}, External: netip.MustParseAddr("192.168.0.50"), Header: `vpc:
  name: vpc-ack
  cidr: 192.168.0.0/16
  underlay: vpc
  vswitches:
    - {name: vsw-node-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
    - {name: vsw-pod-h, zone: cn-hangzhou-h, cidr: 192.168.16.0/24}
nodes:
  - {name: node-1, vswitch: vsw-node-h, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-node-h, ip: 192.168.0.11}
instances:
  - {name: ecs-ext, vswitch: vsw-node-h, ip: 192.168.0.50, ports: [{port: 80}, {port: 81}, {port: 80, protocol: UDP}, {port: 81, protocol: UDP}, {port: 80, protocol: SCTP}, {port: 81, protocol: SCTP}]}
cluster:
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: terway
    terway:
      eniMode: shared
      eniipVirtualType: ipvlan
      podVSwitches:
        cn-hangzhou-h: [vsw-pod-h]
`}
)

// truthFlannel is the universe on Flannel (VXLAN), which enforces no
// NetworkPolicy: the same policies load, are warned about, and every
// probe is delivered.
var truthFlannel = truthCluster{Name: "flannel", Base: [2]netip.Addr{netip.MustParseAddr("172.20.0.10"), netip.MustParseAddr("172.20.1.74")}, External: netip.MustParseAddr("10.0.0.50"), Header: `vpc:
  name: vpc-ack
  cidr: 10.0.0.0/16
  underlay: vpc
  vswitches: [{name: vsw-h, zone: cn-hangzhou-h, cidr: 10.0.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-h, ip: 10.0.0.10}
  - {name: node-2, vswitch: vsw-h, ip: 10.0.0.11}
cluster:
  podCIDR: 172.20.0.0/16
  nodeCIDRMask: 24
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel, flannel: {backend: vxlan}}
`}

// truthUniverse is the universe on Calico.
func truthUniverse() *tUniverse { return truthUniverseOn(truthCalico) }

// truthUniverseOn is the universe with the cluster's addresses.
func truthUniverseOn(c truthCluster) *tUniverse {
	u := &tUniverse{Namespaces: map[string]map[string]string{}}
	i := 0
	for _, ns := range truthNamespaces {
		u.Namespaces[ns] = map[string]string{"kubernetes.io/metadata.name": ns, "ns": ns}
		for _, name := range truthPodNames {
			b := c.Base[i%2].As4()
			b[3] += byte(i)
			p := &tPod{Namespace: ns, Name: name, Labels: map[string]string{"pod": name}, Node: fmt.Sprintf("node-%d", 1+i%2), IP: netip.AddrFrom4(b)}
			for _, port := range truthPorts {
				for _, proto := range truthProtocols {
					p.Ports = append(p.Ports, tPort{Name: fmt.Sprintf("serve-%d-%s", port, strings.ToLower(proto)), Port: port, Protocol: proto})
				}
			}
			u.Pods = append(u.Pods, p)
			i++
		}
	}
	u.External = []*tPod{{Name: "ecs/ecs-ext", IP: c.External}}
	return u
}

var placeholder = regexp.MustCompile(`\$(ip|cidr4)\(([a-z]/[a-z])\)`)

// expandAddresses replaces $ip(ns/pod) with the pod's address and
// $cidr4(ns/pod) with the /4 holding it (the e2e suite's
// makeLargeCIDRForIP).
func expandAddresses(u *tUniverse, text string) (string, error) {
	var err error
	out := placeholder.ReplaceAllStringFunc(text, func(m string) string {
		g := placeholder.FindStringSubmatch(m)
		p := u.pod(g[2])
		if p == nil {
			err = fmt.Errorf("%s: no pod %s", m, g[2])
			return m
		}
		if g[1] == "ip" {
			return p.IP.String()
		}
		return netip.PrefixFrom(p.IP, 4).Masked().String()
	})
	return out, err
}

// e2eState is the cluster state a case has reached: the universe with
// its label changes and the policies in place.
type e2eState struct {
	U        *tUniverse
	Policies []*networkingv1.NetworkPolicy
	Texts    []string // the YAML of each policy, in Policies' order
}

// apply performs one step.
func (s *e2eState) apply(st e2eStep) error {
	if st.DeleteAll {
		s.Policies, s.Texts = nil, nil
	}
	for ns, l := range st.NamespaceLabels {
		for k, v := range l {
			s.U.Namespaces[ns][k] = v
		}
	}
	for ref, l := range st.PodLabels {
		p := s.U.pod(ref)
		if p == nil {
			return fmt.Errorf("podLabels: no pod %s", ref)
		}
		for k, v := range l {
			p.Labels[k] = v
		}
	}
	if st.Add == "" {
		return nil
	}
	text, err := expandAddresses(s.U, st.Add)
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(text, "\n---\n") {
		pols, err := decodePolicies(doc)
		if err != nil {
			return err
		}
		for _, np := range pols {
			replaced := false
			for i, old := range s.Policies {
				if old.Namespace == np.Namespace && old.Name == np.Name {
					s.Policies[i], s.Texts[i] = np, doc
					replaced = true
				}
			}
			if !replaced {
				s.Policies = append(s.Policies, np)
				s.Texts = append(s.Texts, doc)
			}
		}
	}
	return nil
}

var reachCall = regexp.MustCompile(`^(ExpectPeer|ExpectAllIngress|ExpectAllEgress|Expect)\(([^)]*)\)$`)

// e2eReachability replays the e2e suite's Reachability calls over pods:
// NewReachability(pods, true), then each call in order. Peers are written
// "ns/pod" with "*" for an unset field (&Peer{} is "*/*",
// &Peer{Namespace: x} is "x/*").
func e2eReachability(pods []string, calls []string) (tGrid, error) {
	g := tGrid{Pods: pods, Cells: map[[2]string]bool{}}
	for _, f := range pods {
		for _, to := range pods {
			if f != to {
				g.Cells[[2]string{f, to}] = true
			}
		}
	}
	matches := func(peer, pod string) bool {
		pn, pp, _ := strings.Cut(peer, "/")
		n, p, _ := strings.Cut(pod, "/")
		return (pn == "*" || pn == n) && (pp == "*" || pp == p)
	}
	set := func(from, to string, v bool) {
		for _, f := range pods {
			for _, d := range pods {
				if f != d && matches(from, f) && matches(to, d) {
					g.Cells[[2]string{f, d}] = v
				}
			}
		}
	}
	for _, c := range calls {
		m := reachCall.FindStringSubmatch(strings.TrimSpace(c))
		if m == nil {
			return g, fmt.Errorf("reachability call %q: want ExpectPeer(from, to, bool), ExpectAllIngress(pod, bool), ExpectAllEgress(pod, bool) or Expect(from, to, bool)", c)
		}
		args := strings.Split(m[2], ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		v := args[len(args)-1] == "true"
		if last := args[len(args)-1]; last != "true" && last != "false" {
			return g, fmt.Errorf("reachability call %q: last argument must be true or false", c)
		}
		switch {
		case (m[1] == "ExpectPeer" || m[1] == "Expect") && len(args) == 3:
			set(args[0], args[1], v)
		case m[1] == "ExpectAllIngress" && len(args) == 2:
			set("*/*", args[0], v)
		case m[1] == "ExpectAllEgress" && len(args) == 2:
			set(args[0], "*/*", v)
		default:
			return g, fmt.Errorf("reachability call %q: wrong number of arguments", c)
		}
	}
	return g, nil
}

// TestNetpolE2EGrids: every stored grid is what the transcribed e2e
// Reachability calls give (-netpol-e2e-grids rewrites them).
func TestNetpolE2EGrids(t *testing.T) {
	for _, c := range loadE2ECases(t) {
		t.Run(filepath.Base(c.File), func(t *testing.T) {
			var grids []string
			for si, st := range c.Steps {
				for pi, p := range st.Probes {
					want, err := e2eReachability(c.Pods, p.Reachability)
					require.NoError(t, err, "step %d probe %d", si+1, pi+1)
					grids = append(grids, want.String())
					if *writeE2EGrids {
						continue
					}
					got, err := parseGrid(p.Grid)
					require.NoError(t, err, "step %d probe %d grid", si+1, pi+1)
					require.Empty(t, diffGrid(want, got), "step %d probe %d %s/%d: stored grid\n%s\nreachability calls give\n%s", si+1, pi+1, p.Protocol, p.Port, got, want)
				}
			}
			if *writeE2EGrids {
				require.NoError(t, rewriteGrids(c.File, grids))
			}
		})
	}
}

// rewriteGrids sets the grid of each probe, in file order, keeping the
// rest of the file (comments included) as yaml.v3 round-trips it.
func rewriteGrids(file string, grids []string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	root := doc.Content[0]
	n := 0
	steps := mapValue(root, "steps")
	for _, st := range steps.Content {
		probes := mapValue(st, "probes")
		if probes == nil {
			continue
		}
		for _, p := range probes.Content {
			if n >= len(grids) {
				return fmt.Errorf("%s: more probes than grids", file)
			}
			p.Style = 0
			val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.ReplaceAll(grids[n], "\t", " "), Style: yaml.LiteralStyle}
			if g := mapValue(p, "grid"); g != nil {
				*g = *val
			} else {
				p.Content = append(p.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "grid"}, val)
			}
			n++
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// restrict keeps the cells between pods.
func (g tGrid) restrict(pods []string) tGrid {
	r := tGrid{Pods: pods, Cells: map[[2]string]bool{}}
	for _, s := range pods {
		for _, d := range pods {
			if v, ok := g.Cells[[2]string{s, d}]; ok {
				r.Cells[[2]string{s, d}] = v
			}
		}
	}
	return r
}

// forEachE2EProbe walks every case, step and probe with the state the
// case has reached.
func forEachE2EProbe(t *testing.T, u func() *tUniverse, fn func(t *testing.T, c *e2eCase, s *e2eState, p e2eProbe, want tGrid)) {
	for _, c := range loadE2ECases(t) {
		t.Run(strings.TrimSuffix(filepath.Base(c.File), ".yaml"), func(t *testing.T) {
			s := &e2eState{U: u()}
			for si, st := range c.Steps {
				require.NoError(t, s.apply(st), "step %d", si+1)
				for _, p := range st.Probes {
					want, err := parseGrid(p.Grid)
					require.NoError(t, err)
					t.Run(fmt.Sprintf("step%d-%s-%d", si+1, p.Protocol, p.Port), func(t *testing.T) {
						fn(t, c, s, p, want)
					})
				}
			}
		})
	}
}

// TestNetpolEvaluatorE2E: the evaluator agrees with every e2e case.
func TestNetpolEvaluatorE2E(t *testing.T) {
	forEachE2EProbe(t, truthUniverse, func(t *testing.T, c *e2eCase, s *e2eState, p e2eProbe, want tGrid) {
		got := evalGrid(s.U, s.Policies, p.Port, p.Protocol, tVerdict.Allowed).restrict(c.Pods)
		d := diffGrid(want, got)
		sort.Strings(d)
		require.Empty(t, d, "%s\n%s/%d\ne2e expects\n%s\nevaluator gives\n%s", c.Case, p.Protocol, p.Port, want, got)
	})
}
