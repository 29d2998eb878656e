package topology

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/vpc"

	"netsim/dataplane/link/linktest"
)

// TestBuildGolden builds every testdata/build/*.yaml and compares
// WriteOverview and WriteState with NAME.overview.golden and
// NAME.state.golden; go test ./topology -update rewrites them.
func TestBuildGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "build", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			s, err := Load(file)
			require.NoError(t, err)
			w, err := Build(s, linktest.New())
			require.NoError(t, err)

			var overview, state bytes.Buffer
			WriteOverview(&overview, w)
			require.NoError(t, WriteState(&state, w, ""))

			base := strings.TrimSuffix(file, ".yaml")
			for _, g := range []struct {
				path string
				got  []byte
			}{{base + ".overview.golden", overview.Bytes()}, {base + ".state.golden", state.Bytes()}} {
				if *update {
					require.NoError(t, os.WriteFile(g.path, g.got, 0o644))
					continue
				}
				want, err := os.ReadFile(g.path)
				require.NoError(t, err, "no golden file: run go test ./topology -run TestBuildGolden -update")
				assert.Equal(t, string(want), string(g.got), "%s differs; if intended, run go test ./topology -update and review the diff", g.path)
			}

			// The same scenario builds the same world, byte for byte.
			w2, err := Build(s, linktest.New())
			require.NoError(t, err)
			var again bytes.Buffer
			require.NoError(t, WriteState(&again, w2, ""))
			assert.Equal(t, state.String(), again.String(), "deterministic")
		})
	}
}

func TestBuildGoldenFilesHaveScenarios(t *testing.T) {
	err := filepath.WalkDir(filepath.Join("testdata", "build"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".golden" {
			return err
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(path, ".golden"), ".overview"), ".state")
		_, statErr := os.Stat(base + ".yaml")
		assert.NoError(t, statErr, "golden file without a scenario: %s", path)
		return nil
	})
	require.NoError(t, err)
}

func TestWriteOverview(t *testing.T) {
	w := mustBuild(t, fmt.Sprintf(buildBase, "alivpc")+"failures:\n  - {type: delete-vpc-route, node: node-2}\n")
	var b bytes.Buffer
	WriteOverview(&b, w)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	assert.Equal(t, "  CNI flannel/alivpc, pod MTU 1500, underlay vpc", lines[0])
	assert.Equal(t, "  node node-1       192.168.0.10    vSwitch vsw-a            pods 172.20.0.0/24; listens 10250/TCP kubelet", lines[1])
	assert.Equal(t, "  node node-2       192.168.1.11    vSwitch vsw-b            pods 172.20.1.0/24; listens 10250/TCP kubelet", lines[2])
	assert.Equal(t, "  ecs  ecs-db       192.168.1.50    vSwitch vsw-b; listens on no port", lines[3])
	assert.Equal(t, "  apiserver kube-apiserver 192.168.0.1 (modelled) vSwitch vsw-a, listens on tcp/6443; endpoint 192.168.0.2:6443: intranet SLB "+w.APIServer.SLB.ID+" (API server internal endpoint)", lines[4])
	assert.Contains(t, lines[5], "  pod  default/web-1        172.20.0.2      on node-1 (host veth veth")
	assert.Contains(t, lines[6], "  pod  shop/api-1           172.20.1.2      on node-2 (host veth veth")
	assert.Equal(t, "  kube-proxy mode iptables", lines[7])
	assert.Equal(t, "  svc  default/kubernetes   ClusterIP 172.21.0.1  443/TCP → 192.168.0.2:6443", lines[8])
	assert.Equal(t, "  VPC route table "+w.VPC.RouteTableID+" (1 of 200 custom entries):", lines[9])
	assert.True(t, strings.HasPrefix(lines[10], "    172.20.0.0/24 → ECS instance node-1 (rte-"), lines[10])
	assert.Equal(t, "    172.20.1.0/24 → ECS instance node-2 ("+vpc.ID("rte", "172.20.1.0/24")+", custom) [flannel ali-vpc route for node-2] — DELETED", lines[11],
		"the deleted entry is listed, marked")
	assert.Equal(t, "    192.168.0.0/24 → local (system route of vSwitch vsw-a)", lines[12])
	assert.Equal(t, "    192.168.1.0/24 → local (system route of vSwitch vsw-b)", lines[13])
	assert.True(t, strings.HasPrefix(lines[14], "  note: ACK control plane: SLB kube-apiserver"), lines[14])
	assert.Equal(t, "  listener TCP:6443 → ecs backends: 192.168.0.1:6443(kube-apiserver) weight 100;", lines[15])
	assert.True(t, strings.HasPrefix(lines[16], "  note: failure: deleted VPC route entry 172.20.1.0/24 → node-2"), lines[16])
	assert.Len(t, lines, 17)
}

func TestWriteStateOnly(t *testing.T) {
	w := mustBuild(t, fmt.Sprintf(buildBase, "vxlan"))
	sections := func(out string) []string {
		var s []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "### ") {
				s = append(s, l)
			}
		}
		return s
	}
	tests := []struct {
		only    string
		want    []string
		wantErr string
	}{
		{only: "", want: []string{"### node node-1", "### node node-2", "### ecs ecs-db", "### apiserver kube-apiserver (modelled)", "### pod default/web-1", "### pod shop/api-1", "### VPC vpc-test route table " + w.VPC.RouteTableID}},
		{only: "node-1", want: []string{"### node node-1"}},
		{only: "ecs-db", want: []string{"### ecs ecs-db"}},
		{only: "kube-apiserver", want: []string{"### apiserver kube-apiserver (modelled)"}},
		{only: "web-1", want: []string{"### pod default/web-1"}},
		{only: "default/web-1", want: []string{"### pod default/web-1"}},
		{only: "shop/api-1", want: []string{"### pod shop/api-1"}},
		{only: "nope", wantErr: `no node, instance or pod named "nope"`},
		{only: "api-1", wantErr: `no node, instance or pod named "api-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.only, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteState(&b, w, tt.only)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
				assert.Empty(t, b.String())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, sections(b.String()))
		})
	}

	var b bytes.Buffer
	require.NoError(t, WriteState(&b, w, "node-1"))
	out := b.String()
	for _, want := range []string{
		"$ ip -br addr\n",
		"flannel.1      UP    ",
		"$ ip route\ndefault via 192.168.0.253 dev eth0\n172.20.0.0/24 dev cni0 proto kernel scope link src 172.20.0.1\n172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink\n192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.10\n",
		"$ ip neigh\n172.20.1.0 dev flannel.1 lladdr ",
		"$ bridge fdb show br cni0\n0a:58:ac:14:00:01 dev cni0 master cni0 permanent\n",
		"$ bridge fdb show dev flannel.1\n",
		" dev flannel.1 dst 192.168.1.11 self permanent\n",
		"$ iptables-save\n*nat\n",
		"-A FLANNEL-FWD -d 172.20.0.0/16 -m comment --comment \"flanneld forward\" -j ACCEPT\n",
		// The kubernetes Service, on every node.
		"-A KUBE-SERVICES -d 172.21.0.1/32 -p tcp -m comment --comment \"default/kubernetes:https cluster IP\" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y\n",
		"-A INPUT -j KUBE-FIREWALL\n", // kubelet's, on every node
		"$ sysctl -a | grep -E 'ip_forward|rp_filter|accept_local|route_localnet|proxy_arp'  # other keys only when not 0\nnet.ipv4.ip_forward = 1\nnet.ipv4.conf.all.route_localnet = 1\nnet.ipv4.conf.all.rp_filter = 0\n",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "### VPC", "the route table only with the whole world")
}
