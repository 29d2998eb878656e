package sim

import (
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/topology"
	generate "netsim/topology/gen"
)

// referenceCells are the cells of the matrix as netsim computed them before
// the prober: one runFlow per probe, a count-1 flow named after the cell,
// a TCP connect and close (six segments) where the prober sends a
// half-open probe, and the bystanders of every probe resolved up front.
func referenceCells(t *testing.T, s *topology.Scenario, o MatrixOptions) []MatrixCell {
	t.Helper()
	r, err := NewRunner(s)
	require.NoError(t, err)
	m, pods, dsts, err := r.matrixSetup(o)
	require.NoError(t, err)
	r.resolved = map[string]topology.Target{}
	podRefs := make(map[string]bool, len(r.World.Pods))
	for _, p := range r.World.Pods {
		podRefs[p.Ref()] = true
	}
	id := int32(len(s.Flows))
	tcpSize, udpSize := 0, 16
	for _, proto := range o.Protocols {
		for _, port := range o.Ports {
			for _, src := range pods {
				for _, dst := range dsts {
					c := MatrixCell{From: src.ref, To: dst.ref, Port: port, Protocol: proto}
					if src.ref == dst.ref {
						c.Self = true
						m.Cells = append(m.Cells, c)
						continue
					}
					id++
					size := &udpSize
					if proto == "tcp" {
						size = &tcpSize
					}
					f := &topology.Flow{Name: fmt.Sprintf("matrix %s -> %s %s/%d", src.ref, dst.ref, proto, port),
						From: src.endpoint, To: dst.endpoint, Protocol: proto, Port: port, Size: size}
					fr, err := r.runFlow(nil, id, f, Options{})
					require.NoError(t, err)
					fillCell(&c, fr.Verdict, decidingDrop(r.Rec.DropList(), id, referenceBystander(r, podRefs, src, dst)))
					m.Cells = append(m.Cells, c)
				}
			}
		}
	}
	return m.Cells
}

// referenceBystander is the bystander test as it was: the probe's
// involved pods resolved for every probe.
func referenceBystander(r *Runner, pods map[string]bool, src, dst matrixPod) func(ns string) bool {
	involved := map[string]bool{src.ref: true, dst.ref: true}
	if t, err := r.resolve(dst.endpoint); err == nil && t.Service != nil {
		for _, eps := range t.Service.Endpoints {
			for _, ep := range eps {
				if p := r.World.PodByIP(ep.IP); p != nil {
					involved[p.Ref()] = true
				}
			}
		}
	}
	return func(ns string) bool { return !involved[ns] && pods[ns] }
}

// TestMatrixProberMatchesFlows: every cell of the prober's matrix —
// allowed, reason, direction, policy, where and detail — is the cell one
// runFlow per probe gives, on every bundled scenario (every port its flows
// use, TCP, UDP and SCTP, every Service and instance as extra columns),
// the matrix test scenarios and generated clusters with a NetworkPolicy.
func TestMatrixProberMatchesFlows(t *testing.T) {
	type matrixCase struct {
		name string
		s    func(t *testing.T) *topology.Scenario
	}
	var cases []matrixCase
	files, err := filepath.Glob("../scenarios/*.yaml")
	require.NoError(t, err)
	more, err := filepath.Glob("../testdata/matrix/*.yaml")
	require.NoError(t, err)
	for _, f := range append(files, more...) {
		if strings.HasPrefix(filepath.Base(f), "plan-") {
			continue
		}
		cases = append(cases, matrixCase{filepath.Base(f), func(t *testing.T) *topology.Scenario {
			s, err := topology.Load(f)
			require.NoError(t, err)
			return s
		}})
	}
	for _, cni := range []string{generate.CalicoIPIP, generate.FlannelVXLAN, generate.Terway} {
		cases = append(cases, matrixCase{"gen-" + cni, func(t *testing.T) *topology.Scenario { return policyCluster(t, cni, 3, 4) }})
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s(t)
			o := MatrixOptions{Ports: []int{80, 81}, Protocols: []string{"tcp", "udp", "sctp"}, Services: []string{"all"}}
			for _, f := range s.Flows {
				if f.Port > 0 && !slices.Contains(o.Ports, f.Port) {
					o.Ports = append(o.Ports, f.Port)
				}
			}
			for _, in := range s.Instances {
				o.External = append(o.External, "ecs/"+in.Name)
			}
			o, err := o.Normalize()
			require.NoError(t, err)
			want := referenceCells(t, tt.s(t), o)
			got, err := RunMatrix(s, o)
			require.NoError(t, err)
			require.Len(t, got.Cells, len(want))
			allowed, denied := 0, 0
			for i, c := range got.Cells {
				require.Equal(t, want[i], c, "cell %d: %s -> %s %s/%d", i, c.From, c.To, c.Protocol, c.Port)
				switch {
				case c.Allowed:
					allowed++
				case !c.Self:
					denied++
				}
			}
			t.Logf("%d cells: %d allowed, %d denied", len(want), allowed, denied)
		})
	}
}

// policyCluster is a generated cluster of nodes × pods for cni where every
// pod listens on TCP 80 and UDP 80, every third pod is labelled
// tier=locked, and a NetworkPolicy isolates the locked pods for ingress,
// allowing only app=api pods on TCP 80.
func policyCluster(tb testing.TB, cni string, nodes, pods int) *topology.Scenario {
	tb.Helper()
	data, err := generate.Generate(generate.Options{CNI: cni, Nodes: nodes, Pods: pods})
	require.NoError(tb, err)
	text := policyClusterYAML(data)
	require.Contains(tb, string(text), "kind: NetworkPolicy")
	s, err := topology.Parse(fmt.Sprintf("gen-%s-%dx%d.yaml", cni, nodes, pods), text)
	require.NoError(tb, err)
	return s
}

// rePort is an ephemeral port in a drop's detail ("RST sent to
// 10.0.0.1:39488").
var rePort = regexp.MustCompile(`:\d{5}\b`)

// TestMatrixShards: a matrix split into shards (each a world of its own)
// has the cells of the matrix probed in one world — the same verdict,
// reason, direction, policy and where, and the same detail but for the
// client's ephemeral port — and is the same run after run, whatever
// GOMAXPROCS.
func TestMatrixShards(t *testing.T) {
	defer func(above, shards int) { matrixShardAbove, matrixShards = above, shards }(matrixShardAbove, matrixShards)
	for _, name := range []string{"denials", "universe"} {
		for _, cni := range []string{"", generate.CalicoIPIP, generate.FlannelVXLAN} {
			if name != "denials" && cni != "" {
				continue
			}
			t.Run(name+"/"+cni, func(t *testing.T) {
				load := func() *topology.Scenario {
					if cni != "" {
						return policyCluster(t, cni, 3, 5)
					}
					s, err := topology.Load(filepath.Join("..", "testdata", "matrix", name+".yaml"))
					require.NoError(t, err)
					return s
				}
				o := MatrixOptions{Protocols: []string{"tcp", "udp"}, Ports: []int{80, 81}, Services: []string{"all"}}
				matrixShardAbove = 1 << 30
				one, err := RunMatrix(load(), o)
				require.NoError(t, err)
				matrixShardAbove, matrixShards = 0, 3
				sharded, err := RunMatrix(load(), o)
				require.NoError(t, err)
				prev := runtime.GOMAXPROCS(1)
				again, err := RunMatrix(load(), o)
				runtime.GOMAXPROCS(prev)
				require.NoError(t, err)
				assert.Equal(t, sharded.Cells, again.Cells, "the same shards, run after run, on one core or more")
				assert.Equal(t, one.Pods, sharded.Pods)
				require.Len(t, sharded.Cells, len(one.Cells))
				ports := 0
				for i, c := range sharded.Cells {
					want := one.Cells[i]
					if c.Detail != want.Detail {
						ports++
					}
					want.Detail, c.Detail = rePort.ReplaceAllString(want.Detail, ":PORT"), rePort.ReplaceAllString(c.Detail, ":PORT")
					require.Equal(t, want, c, "cell %d", i)
				}
				t.Logf("%d cells, %d details with another ephemeral port", len(one.Cells), ports)
			})
		}
	}
}
