package topology

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestLoadGoodVXLAN(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "good", "vxlan-two-node.yaml"))
	require.NoError(t, err)
	require.NotNil(t, s)

	assert.Equal(t, filepath.Join("testdata", "good", "vxlan-two-node.yaml"), s.File)
	assert.Equal(t, "vxlan-two-node", s.Name)
	assert.Equal(t, int64(1), s.Seed)
	assert.Equal(t, "vpc", s.VPC.Underlay)
	assert.Equal(t, 1500, s.VPC.MTU)
	require.NotNil(t, s.VPC.Latency)
	assert.Equal(t, 50*time.Microsecond, *s.VPC.Latency)
	assert.Equal(t, 200, s.VPC.RouteQuota)
	assert.Len(t, s.VPC.VSwitches, 2)
	assert.Equal(t, 24, s.Cluster.NodeCIDRMask)

	f := s.Cluster.CNI.Flannel
	require.NotNil(t, f)
	assert.Equal(t, "vxlan", f.Backend)
	assert.Equal(t, 1, *f.VNI)
	assert.Equal(t, 8472, *f.Port)
	assert.True(t, *f.IPMasq)
	assert.Zero(t, f.MTU, "the flannel MTU is derived at Build time")

	require.Len(t, s.Pods, 2)
	assert.Equal(t, "default", s.Pods[0].Namespace)
	assert.Equal(t, map[string]string{"app": "web", "app.kubernetes.io/name": "web"}, s.Pods[0].Labels)
	assert.Equal(t, "shop", s.Pods[1].Namespace)
	assert.Equal(t, 1400, s.Pods[1].MTU)

	require.Len(t, s.Failures, 4)
	assert.Equal(t, Failure{Type: "link-down", Pod: "shop/web-2", Device: "eth0"}, s.Failures[3])

	require.Len(t, s.Flows, 4)
	ping := s.Flows[0]
	assert.Equal(t, "icmp", ping.Protocol)
	assert.Equal(t, 56, *ping.Size)
	assert.Equal(t, 1, ping.Count)
	assert.Nil(t, ping.DF)
	assert.Equal(t, &Expect{Verdict: "delivered"}, ping.Expect)

	udp := s.Flows[1]
	assert.Equal(t, 512, *udp.Size)
	assert.Equal(t, 3, udp.Count)
	require.NotNil(t, udp.DF)
	assert.True(t, *udp.DF)
	assert.Equal(t, &Expect{Verdict: "delivered", SeenSource: "172.20.0.5"}, udp.Expect)

	assert.Equal(t, &Expect{Verdict: "dropped", Reason: "vpc-no-route"}, s.Flows[2].Expect)
	assert.Nil(t, s.Flows[3].Expect)

	assert.Equal(t, "node-1", s.NodeByName("node-1").Name)
	assert.Equal(t, "192.168.1.20", s.InstanceByName("ecs-1").IP)
	assert.Equal(t, "web-2", s.PodByRef("shop/web-2").Name)
	assert.Equal(t, "web-1", s.PodByRef("web-1").Name)
	assert.Nil(t, s.PodByRef("web-2"), "web-2 is in namespace shop")
	assert.Equal(t, "cn-hangzhou-i", s.VSwitchByName("vsw-i").Zone)
}

func TestLoadGoodOthers(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, s *Scenario)
	}{
		{"host-gw-minimal.yaml", func(t *testing.T, s *Scenario) {
			assert.Equal(t, "host-gw", s.Cluster.CNI.Flannel.Backend)
			assert.Equal(t, 26, s.Cluster.NodeCIDRMask)
			assert.Empty(t, s.Pods)
		}},
		{"l2-alivpc.yaml", func(t *testing.T, s *Scenario) {
			assert.Equal(t, int64(7), s.Seed)
			assert.Equal(t, "l2", s.VPC.Underlay)
			assert.Equal(t, 10*time.Microsecond, *s.VPC.Latency)
			assert.Equal(t, "alivpc", s.Cluster.CNI.Flannel.Backend, "ali-vpc is normalised")
			assert.False(t, *s.Cluster.CNI.Flannel.IPMasq)
			require.Len(t, s.Nodes, 2)
			assert.Equal(t, Node{Name: "node-b", VSwitch: "seg"}, s.Nodes[1], "merge key")
			assert.Equal(t, &Expect{Verdict: "dropped", Reason: "frag-needed"}, s.Flows[0].Expect)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Load(filepath.Join("testdata", "good", tt.file))
			require.NoError(t, err)
			tt.check(t, s)
		})
	}
}

// TestBadGolden loads every testdata/bad/*.yaml and compares the error with
// the .golden file next to it. Run with -update to rewrite the golden files.
func TestBadGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 20)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			// Name the file relative to testdata so the golden text is stable.
			name := filepath.ToSlash(filepath.Join("bad", filepath.Base(file)))
			s, err := Parse(name, data)
			require.Error(t, err)
			assert.Nil(t, s, "nothing half-validated is returned")

			var probs Problems
			require.True(t, errors.As(err, &probs), "the error is a Problems")
			require.NotEmpty(t, probs)
			for i, p := range probs {
				assert.Equal(t, name, p.File)
				assert.NotEmpty(t, p.Msg)
				assert.NotContains(t, p.Msg, "topology.", "no Go type names")
				if i > 0 {
					assert.LessOrEqual(t, probs[i-1].Line, p.Line, "sorted by line")
				}
			}

			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "no golden file: run go test ./topology -run TestBadGolden -update")
			assert.Equal(t, string(want), got)
		})
	}
}

// TestGoldenFilesHaveScenarios catches golden files left behind by a
// renamed or deleted scenario.
func TestGoldenFilesHaveScenarios(t *testing.T) {
	err := filepath.WalkDir(filepath.Join("testdata", "bad"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".golden" {
			return err
		}
		_, statErr := os.Stat(strings.TrimSuffix(path, ".golden") + ".yaml")
		assert.NoError(t, statErr, "golden file without a scenario")
		return nil
	})
	require.NoError(t, err)
}

func TestLoadMissingFile(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "no-such-file.yaml"))
	assert.Nil(t, s)
	require.Error(t, err)
	var probs Problems
	require.ErrorAs(t, err, &probs)
	assert.Equal(t, filepath.Join("testdata", "no-such-file.yaml")+": cannot read the scenario: no such file or directory", err.Error())
}

func TestParseProblemsPositions(t *testing.T) {
	src := `name: x
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: a, zone: z, cidr: 192.168.0.0/24}
nodes:
  - {name: n1, vswitch: a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
pods:
  - name: p
    node: n9
  - name: q
flows:
  - name: f
    from: pod/p
    to: pod/q
    expect: {verdict: dropped, reason: nope}
`
	_, err := Parse("x.yaml", []byte(src))
	var probs Problems
	require.ErrorAs(t, err, &probs)
	want := Problems{
		{File: "x.yaml", Line: 14, Column: 11, Path: "pods[0].node", Msg: `node "n9" does not exist (nodes are: n1)`},
		{File: "x.yaml", Line: 15, Column: 5, Path: "pods[1].node", Msg: `required: the node the pod runs on (nodes are: n1)`},
		{File: "x.yaml", Line: 20, Column: 40, Path: "flows[0].expect.reason", Msg: `unknown drop reason "nope" (known reasons: ` + strings.Join(reasonCodes(), ", ") + ")"},
	}
	assert.Equal(t, want, probs)
	assert.Equal(t, `x.yaml:14:11: pods[0].node: node "n9" does not exist (nodes are: n1)`, probs[0].String())
}

// TestRewriteYAMLError checks the translation of yaml.v3's own messages,
// the fallback for anything the walk does not report itself.
func TestRewriteYAMLError(t *testing.T) {
	src := "name: x\nvpcs:\n  cidr: 1\nvpc:\n  mtu: abcdefghijklmnop\n  vswitches: {a: 1}\nflows:\n  - {name: f, count: nine}\n"
	l := newLoader("x.yaml", LoadOptions{})
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(src), &doc))
	l.root = doc.Content[0]
	l.walk(l.root, scenarioType, "")

	tests := []struct {
		msg  string
		want Problem
	}{
		{"line 2: field vpcs not found in type topology.Scenario",
			Problem{Line: 2, Column: 1, Msg: `unknown field "vpcs" in scenario (did you mean "vpc"?)`}},
		{"line 5: cannot unmarshal !!str `abcdefg...` into int",
			Problem{Line: 5, Column: 8, Path: "vpc.mtu", Msg: `expected an integer, got "abcdefghijklmnop"`}},
		{"line 6: cannot unmarshal !!map into []topology.VSwitch",
			Problem{Line: 6, Column: 14, Path: "vpc.vswitches", Msg: `expected a list, got a mapping`}},
		{"line 8: cannot unmarshal !!str `nine` into int",
			Problem{Line: 8, Column: 22, Path: "flows[0].count", Msg: `expected an integer, got "nine"`}},
		{"line 4: mapping key \"mtu\" already defined at line 3",
			Problem{Line: 4, Path: "mtu", Msg: `"mtu" is set twice`}},
		{"line 9: something else about topology.Flow",
			Problem{Line: 9, Msg: "something else about value"}},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			assert.Equal(t, tt.want, l.rewriteYAMLError(tt.msg))
		})
	}
}

func TestExpectUnmarshalYAML(t *testing.T) {
	tests := []struct {
		src     string
		want    Expect
		wantErr string
	}{
		{src: "delivered", want: Expect{Verdict: "delivered"}},
		{src: "{verdict: dropped, reason: no-route}", want: Expect{Verdict: "dropped", Reason: "no-route"}},
		{src: "{verdict: delivered, seenSource: 10.0.0.1}", want: Expect{Verdict: "delivered", SeenSource: "10.0.0.1"}},
		{src: "{verdict: delivered, why: x}", wantErr: "line 1: field why not found in type topology.Expect"},
		{src: "{verdict: delivered, verdict: dropped}", wantErr: `line 1: mapping key "verdict" already defined at line 1`},
		{src: "[delivered]", wantErr: "cannot unmarshal !!seq into topology.Expect"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			var e Expect
			err := yaml.Unmarshal([]byte(tt.src), &e)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, e)
		})
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Column: 5, Path: "vpc.cidr", Msg: "bad"}, "a.yaml:3:5: vpc.cidr: bad"},
		{Problem{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{Problem{File: "a.yaml", Msg: "empty"}, "a.yaml: empty"},
		{Problem{Path: "name", Msg: "required"}, "name: required"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.p.String())
	}
	ps := Problems{{Line: 9, Msg: "b"}, {Line: 2, Column: 7, Msg: "a2"}, {Line: 2, Column: 3, Msg: "a1"}}
	ps.Sort()
	assert.Equal(t, "2:3: a1\n2:7: a2\n9: b", ps.Error())
	assert.NoError(t, Problems(nil).Err())
	assert.Error(t, ps.Err())
}

func TestInputFilesListsTheScenarioAndItsManifests(t *testing.T) {
	s, err := Load("../scenarios/networkpolicy.yaml")
	require.NoError(t, err)
	assert.Equal(t, []string{"../scenarios/networkpolicy.yaml", "../scenarios/manifests/networkpolicy-xyz.yaml"}, s.InputFiles())
}
