package sim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

func loadMatrixScenario(t *testing.T, name string) *topology.Scenario {
	t.Helper()
	s, err := topology.Load(filepath.Join("..", "testdata", "matrix", name+".yaml"))
	require.NoError(t, err)
	return s
}

// TestMatrixUniverse: the 3×3×3 universe with no policy — every pair
// allowed on TCP and UDP 80/81, self pairs marked and not probed, rows and
// columns in namespace/name order, fast.
func TestMatrixUniverse(t *testing.T) {
	s := loadMatrixScenario(t, "universe")
	start := time.Now()
	m, err := sim.RunMatrix(s, sim.MatrixOptions{Protocols: []string{"tcp", "udp"}})
	require.NoError(t, err)
	elapsed := time.Since(start)
	t.Logf("3×3×3 universe, TCP+UDP 80/81: %d cells (%d probes) in %v (probes %v)", len(m.Cells), m.Counts(0, "").Probes, elapsed, m.Elapsed)
	assert.Less(t, elapsed, 10*time.Second, "the universe must run in seconds")

	want := []string{"x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"}
	assert.Equal(t, want, m.Pods)
	assert.Equal(t, []int{80, 81}, m.Ports)
	assert.Len(t, m.Cells, 9*9*2*2)
	c := m.Counts(0, "")
	assert.Equal(t, sim.MatrixCounts{Probes: 288, Allowed: 288, Self: 36, ByReason: map[string]int{}}, c)
	for _, from := range want {
		for _, to := range want {
			for _, proto := range []string{"tcp", "udp"} {
				cell, ok := m.Cell(from, to, 81, proto)
				require.True(t, ok, "%s -> %s %s/81", from, to, proto)
				assert.Equal(t, from == to, cell.Self, "%s -> %s", from, to)
				assert.Equal(t, from != to, cell.Allowed, "%s -> %s", from, to)
				if from == to {
					assert.Equal(t, "#", cell.Mark(sim.ViewCombined))
				}
			}
		}
	}
	_, ok := m.Cell("x/a", "x/b", 82, "tcp")
	assert.False(t, ok, "no cell for a port not probed")
}

// TestMatrixDenials: denials without policy — a refused port, a pod whose
// eth0 an action set down — with their reasons, in every option shape.
func TestMatrixDenials(t *testing.T) {
	s := loadMatrixScenario(t, "denials")
	m, err := sim.RunMatrix(s, sim.MatrixOptions{Protocols: []string{"tcp", "udp"}, Services: []string{"x/web"}, External: []string{"ecs/ecs-db"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"x/a", "x/b", "y/a", "y/b"}, m.Pods)
	assert.Equal(t, []string{"svc/x/web", "ecs/ecs-db"}, m.Extra)
	assert.Equal(t, []string{"y-b-down"}, m.Actions)
	tests := []struct {
		from, to string
		port     int
		proto    string
		allowed  bool
		reason   string
	}{
		{"x/a", "x/b", 80, "tcp", true, ""},
		{"x/a", "x/b", 81, "tcp", false, "conn-refused"},
		{"x/a", "x/b", 80, "udp", false, "port-unreachable"},
		{"x/b", "x/a", 81, "tcp", true, ""},
		{"x/b", "x/a", 81, "udp", true, ""},
		{"y/a", "x/a", 80, "udp", true, ""},
		{"x/a", "y/b", 80, "tcp", false, "neigh-unresolved"}, // no ARP answer: the port to y/b has no carrier
		{"y/b", "x/a", 80, "tcp", false, "no-route"},         // eth0 down flushed its routes: connect() fails
		{"y/a", "svc/x/web", 80, "tcp", true, ""},
		{"x/b", "svc/x/web", 80, "tcp", true, ""},
		{"x/b", "ecs/ecs-db", 80, "tcp", true, ""},
		{"x/b", "ecs/ecs-db", 81, "tcp", false, "conn-refused"},
		{"y/b", "ecs/ecs-db", 80, "tcp", false, "no-route"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s->%s/%s/%d", tt.from, tt.to, tt.proto, tt.port), func(t *testing.T) {
			c, ok := m.Cell(tt.from, tt.to, tt.port, tt.proto)
			require.True(t, ok)
			assert.Equal(t, tt.allowed, c.Allowed, "%+v", c)
			assert.Equal(t, tt.reason, c.Reason, "%+v", c)
			want := "."
			if !tt.allowed {
				want = "X"
				assert.NotEmpty(t, c.Detail)
			}
			assert.Equal(t, want, c.Mark(sim.ViewCombined))
			assert.Equal(t, ".", c.Mark(sim.ViewIngress), "not a policy denial")
			assert.Equal(t, ".", c.Mark(sim.ViewEgress), "not a policy denial")
		})
	}
}

// TestMatrixProbesAreIndependent: a cell does not depend on the probes
// before it (conntrack, neighbour state): the matrix of one port and
// protocol equals that part of the matrix of several, whatever the order.
func TestMatrixProbesAreIndependent(t *testing.T) {
	s := loadMatrixScenario(t, "denials")
	all, err := sim.RunMatrix(s, sim.MatrixOptions{Ports: []int{81, 80}, Protocols: []string{"udp", "tcp"}})
	require.NoError(t, err)
	for _, proto := range []string{"tcp", "udp"} {
		for _, port := range []int{80, 81} {
			one, err := sim.RunMatrix(loadMatrixScenario(t, "denials"), sim.MatrixOptions{Ports: []int{port}, Protocols: []string{proto}})
			require.NoError(t, err)
			for _, c := range one.Cells {
				got, ok := all.Cell(c.From, c.To, c.Port, c.Protocol)
				require.True(t, ok)
				assert.Equal(t, c.Allowed, got.Allowed, "%s -> %s %s/%d", c.From, c.To, proto, port)
				assert.Equal(t, c.Reason, got.Reason, "%s -> %s %s/%d", c.From, c.To, proto, port)
			}
		}
	}
}

type matrixOptionsCase struct {
	name    string
	opts    sim.MatrixOptions
	pods    []string
	cells   int
	wantErr string
}

func TestMatrixOptions(t *testing.T) {
	tests := []matrixOptionsCase{
		{name: "defaults", opts: sim.MatrixOptions{}, pods: []string{"x/a", "x/b", "y/a", "y/b"}, cells: 4 * 4 * 2},
		{name: "one namespace", opts: sim.MatrixOptions{Namespaces: []string{"y"}}, pods: []string{"y/a", "y/b"}, cells: 2 * 2 * 2},
		{name: "duplicates dropped", opts: sim.MatrixOptions{Ports: []int{80, 80}, Protocols: []string{"TCP", "tcp"}}, pods: []string{"x/a", "x/b", "y/a", "y/b"}, cells: 16},
		{name: "extra columns", opts: sim.MatrixOptions{Ports: []int{80}, Services: []string{"all"}, External: []string{"192.168.0.50"}}, pods: []string{"x/a", "x/b", "y/a", "y/b"}, cells: 4 * 7}, // + default/kubernetes,
		{name: "unknown namespace", opts: sim.MatrixOptions{Namespaces: []string{"q"}}, wantErr: `namespace "q" has no pods (namespaces with pods: x, y)`},
		{name: "port 0", opts: sim.MatrixOptions{Ports: []int{0}}, wantErr: "port 0: expected 1-65535"},
		{name: "icmp", opts: sim.MatrixOptions{Protocols: []string{"icmp"}}, wantErr: `protocol "icmp": expected tcp, udp or sctp`},
		{name: "sctp", opts: sim.MatrixOptions{Protocols: []string{"sctp"}}, pods: []string{"x/a", "x/b", "y/a", "y/b"}, cells: 4 * 4 * 2},
		{name: "unknown service", opts: sim.MatrixOptions{Services: []string{"x/nope"}}, wantErr: "service svc/x/nope: svc/x/nope does not exist"},
		{name: "pod as external", opts: sim.MatrixOptions{External: []string{"pod/x/a"}}, wantErr: "external pod/x/a: expected ecs/NAME, node/NAME or an address outside the pod network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := sim.RunMatrix(loadMatrixScenario(t, "denials"), tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "denials.yaml: matrix: ", "located at the file")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.pods, m.Pods)
			assert.Len(t, m.Cells, tt.cells)
		})
	}
}

// TestMatrixPolicyMarks: how a policy-denied cell is read and marked in
// each view (the detail is the enforcing CNI's drop text).
func TestMatrixPolicyMarks(t *testing.T) {
	tests := []struct {
		detail, direction, policy string
		combined, ingress, egress string
	}{
		{"pod x/a is isolated for ingress by x/default-deny; no rule of x/allow-web allows source y/b on TCP 81", "ingress", "x/default-deny", "X", "X", "."},
		{"egress of y/b denied by policy y/deny-egress: no rule allows 172.20.1.3 on UDP 80", "egress", "y/deny-egress", "X", "?", "X"},
		{"pod ingress-nginx/ctl is isolated for egress by ingress-nginx/a, ingress-nginx/b; no rule of ingress-nginx/b allows destination x/a (172.20.0.2) on TCP 80", "egress", "ingress-nginx/a, ingress-nginx/b", "X", "?", "X"},
		{"pod y/b is isolated for ingress by y/deny; no policy selecting it has an ingress rule, so source x/a (172.20.0.2) on UDP 81 is denied", "ingress", "y/deny", "X", "X", "."},
		{"denied (no policy named)", "", "", "X", ".", "."},
	}
	for _, tt := range tests {
		t.Run(tt.detail, func(t *testing.T) {
			dir, pol := sim.PolicyOfDetail(tt.detail)
			assert.Equal(t, tt.direction, dir)
			assert.Equal(t, tt.policy, pol)
			c := sim.MatrixCell{Reason: "policy-denied", Direction: dir, Policy: pol}
			assert.Equal(t, tt.combined, c.Mark(sim.ViewCombined))
			assert.Equal(t, tt.ingress, c.Mark(sim.ViewIngress))
			assert.Equal(t, tt.egress, c.Mark(sim.ViewEgress))
		})
	}
}

// TestMatrixGolden compares the text (every view) and JSON of the denials
// matrix with testdata/golden/matrix; -update rewrites them.
func TestMatrixGolden(t *testing.T) {
	m, err := sim.RunMatrix(loadMatrixScenario(t, "denials"), sim.MatrixOptions{Protocols: []string{"tcp", "udp"}, Services: []string{"x/web"}, External: []string{"ecs/ecs-db"}})
	require.NoError(t, err)
	var txt, js bytes.Buffer
	sim.WriteMatrixText(&txt, m, sim.ViewAll)
	require.NoError(t, sim.WriteMatrixJSON(&js, m))
	var back struct {
		Pods    []string         `json:"pods"`
		Cells   []sim.MatrixCell `json:"cells"`
		Summary sim.MatrixCounts `json:"summary"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.Equal(t, m.Pods, back.Pods)
	assert.Len(t, back.Cells, len(m.Cells))
	assert.Equal(t, m.Counts(0, ""), back.Summary)
	assert.True(t, strings.Contains(txt.String(), "| TCP/81 | X/A | X/B | Y/A | Y/B | svc/x/web | ecs/ecs-db |"), txt.String())
	for ext, got := range map[string][]byte{".txt": txt.Bytes(), ".json": js.Bytes()} {
		path := filepath.Join("..", "testdata", "golden", "matrix", "denials"+ext)
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, got, 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "missing golden file; run go test ./sim -run TestMatrixGolden -update")
		assert.Equal(t, string(want), string(got), "%s differs; if intended run go test ./sim -run TestMatrixGolden -update and review the diff", path)
	}
}

// TestMatrixConntrackDoesNotLeak: with a stateful filter like felix's
// (ESTABLISHED,RELATED accepted first, then y/a -> x/a denied), the allowed
// probes x/a -> y/a, probed first, leave conntrack entries that must not
// let the later probes y/a -> x/a through: every probe is a new tuple.
func TestMatrixConntrackDoesNotLeak(t *testing.T) {
	r, err := sim.NewRunner(loadMatrixScenario(t, "denials"))
	require.NoError(t, err)
	xa, ya := r.World.Pod("x/a"), r.World.Pod("y/a")
	require.NotNil(t, xa)
	require.NotNil(t, ya)
	nf := xa.Node.Filter
	require.NoError(t, nf.Insert("filter",
		"-I FORWARD 1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		fmt.Sprintf("-I FORWARD 2 -s %s/32 -d %s/32 -j DROP", ya.IP, xa.IP)))
	o, err := sim.MatrixOptions{Protocols: []string{"tcp", "udp"}, Namespaces: []string{"x", "y"}}.Normalize()
	require.NoError(t, err)
	m, err := r.Matrix(o)
	require.NoError(t, err)
	for _, proto := range []string{"tcp", "udp"} {
		for _, port := range []int{80, 81} {
			there, ok := m.Cell("x/a", "y/a", port, proto)
			require.True(t, ok)
			assert.True(t, there.Allowed, "x/a -> y/a %s/%d: %+v", proto, port, there)
			back, ok := m.Cell("y/a", "x/a", port, proto)
			require.True(t, ok)
			assert.False(t, back.Allowed, "y/a -> x/a %s/%d must be denied by the DROP rule, not let through by an earlier probe's conntrack entry", proto, port)
			assert.Contains(t, back.Where, xa.Node.Name, "dropped by %s's FORWARD rule: %+v", xa.Node.Name, back)
			assert.Equal(t, "filtered", back.Reason, "the DROP rule's reason")
			other, ok := m.Cell("x/b", "x/a", port, proto)
			require.True(t, ok)
			assert.True(t, other.Allowed, "x/b -> x/a %s/%d is not filtered", proto, port)
		}
	}
	var fromXA int
	for _, c := range nf.Conntrack().Entries() {
		if f := c.Format(r.Loop.Now()); strings.HasPrefix(f, "udp") && strings.Contains(f, "src="+xa.IP.String()+" dst="+ya.IP.String()) {
			fromXA++
		}
	}
	// (The TCP probes' entries are CLOSE after the half-open probe's RST,
	// and go 10 s later.)
	assert.Equal(t, 2, fromXA, "the allowed UDP probes x/a -> y/a left conntrack entries (80 and 81)")
}

// TestMatrixSample: --sample probes evenly spaced pods (first and last
// included), and each sampled cell is the cell the full matrix has.
func TestMatrixSample(t *testing.T) {
	for _, name := range []string{"universe", "denials"} {
		full, err := sim.RunMatrix(loadMatrixScenario(t, name), sim.MatrixOptions{Protocols: []string{"tcp", "udp"}})
		require.NoError(t, err)
		for n := 1; n < len(full.Pods); n++ {
			m, err := sim.RunMatrix(loadMatrixScenario(t, name), sim.MatrixOptions{Protocols: []string{"tcp", "udp"}, Sample: n})
			require.NoError(t, err)
			require.Len(t, m.Pods, n)
			assert.Equal(t, len(full.Pods), m.SampledFrom)
			assert.Equal(t, full.Pods[0], m.Pods[0], "the first pod is sampled")
			if n > 1 {
				assert.Equal(t, full.Pods[len(full.Pods)-1], m.Pods[n-1], "the last pod is sampled")
			}
			require.Len(t, m.Cells, n*n*2*2)
			for _, c := range m.Cells {
				want, ok := full.Cell(c.From, c.To, c.Port, c.Protocol)
				require.True(t, ok)
				// The detail names the client's ephemeral port, which
				// depends on the probes before.
				want.Detail, c.Detail = "", ""
				assert.Equal(t, want, c, "sample %d: %s -> %s %s/%d", n, c.From, c.To, c.Protocol, c.Port)
			}
		}
		m, err := sim.RunMatrix(loadMatrixScenario(t, name), sim.MatrixOptions{Sample: len(full.Pods)})
		require.NoError(t, err)
		assert.Zero(t, m.SampledFrom, "a sample of every pod is the full matrix")
	}
	_, err := sim.MatrixOptions{Sample: -1}.Normalize()
	require.ErrorContains(t, err, "sample -1")
}
