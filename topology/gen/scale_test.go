package gen_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
	"netsim/topology/gen"
)

// The scale measurement (make scale): for each CNI and size, a child
// process (this test binary again) does what `netsim validate FILE` does
// — load, validate, build, write the overview — on a generated scenario,
// then traces one cross-node flow. The parent reads the child's figures,
// its maximum RSS and its CPU time (user + system, the whole child: a
// steadier figure than wall time on a shared machine) and prints one
// table.
//
//	NETSIM_SCALE=1                 run it (otherwise it is skipped)
//	NETSIM_SCALE_SIZES=100,500     node counts (default 100,500,1000,5000)
//	NETSIM_SCALE_PODS=30           pods per node
//	NETSIM_SCALE_CNI=terway,...    CNIs (default: every mode)
//	NETSIM_SCALE_CALICO_MAX=5000   Calico's largest size (default 2000)
//
// Flannel vxlan and host-gw stop at 1,000 nodes (netsim's limit for
// them, ACK's for Flannel), Flannel ali-vpc too (ACK's node limit, a
// planning rule error past it), Calico at 2,000 (see maxNodesFor).
const (
	envScale      = "NETSIM_SCALE"
	envScaleSizes = "NETSIM_SCALE_SIZES"
	envScalePods  = "NETSIM_SCALE_PODS"
	envScaleCNI   = "NETSIM_SCALE_CNI"
	envScaleChild = "NETSIM_SCALE_CHILD" // the child's scenario file
)

// measurement is what the child reports.
type measurement struct {
	ValidateSec float64 `json:"validate_s"`
	HeapMiB     float64 `json:"heap_mib"`
	FlowMS      float64 `json:"flow_ms"`
	FlowMet     bool    `json:"flow_met"`
}

// maxNodesFor is the largest size measured for a CNI: Flannel's is
// netsim's limit and ACK's; Calico's is NETSIM_SCALE_CALICO_MAX (default
// 2,000: every node holds a route to every other node's block, about
// 1.5 GiB at 2,000 nodes and some 8 GiB at 5,000).
func maxNodesFor(mode string) int {
	switch mode {
	case gen.FlannelVXLAN, gen.FlannelHostGW, gen.FlannelAliVPC:
		return 1000
	case gen.CalicoIPIP, gen.CalicoBGP:
		if n, err := strconv.Atoi(os.Getenv("NETSIM_SCALE_CALICO_MAX")); err == nil {
			return n
		}
		return 2000
	}
	return 5000
}

func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

// TestScale prints the scale table (see above).
func TestScale(t *testing.T) {
	if os.Getenv(envScale) == "" || testing.Short() {
		t.Skipf("set %s=1 (make scale) to measure", envScale)
	}
	pods, err := strconv.Atoi(envList(envScalePods, "30")[0])
	require.NoError(t, err)
	dir := t.TempDir()
	type row struct {
		mode       string
		nodes      int
		m          measurement
		rssMiB     float64
		cpuSec     float64
		err        string
		fileMiB    float64
		genSeconds float64
	}
	var rows []row
	for _, mode := range envList(envScaleCNI, strings.Join(gen.Modes(), ",")) {
		for _, s := range envList(envScaleSizes, "100,500,1000,5000") {
			n, err := strconv.Atoi(s)
			require.NoError(t, err)
			if n > maxNodesFor(mode) {
				continue
			}
			file := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", mode, n))
			t0 := time.Now()
			data, err := gen.Generate(gen.Options{CNI: mode, Nodes: n, Pods: pods})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(file, data, 0o644))
			r := row{mode: mode, nodes: n, fileMiB: float64(len(data)) / (1 << 20), genSeconds: time.Since(t0).Seconds()}
			cmd := exec.Command(os.Args[0], "-test.run=^TestScaleChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envScaleChild+"="+file)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if cmd.ProcessState != nil {
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					r.rssMiB = float64(ru.Maxrss) / 1024 // kilobytes on Linux
					r.cpuSec = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
				}
			}
			if err != nil {
				r.err = err.Error()
			} else if i := strings.Index(string(out), "{"); i < 0 {
				r.err = "no figures from the child"
			} else if err := json.NewDecoder(strings.NewReader(string(out[i:]))).Decode(&r.m); err != nil {
				r.err = err.Error()
			}
			t.Logf("%s %d×%d: %+v rss %.0f MiB %s", mode, n, pods, r.m, r.rssMiB, r.err)
			rows = append(rows, r)
			os.Remove(file)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-15s %6s %5s %10s %9s %8s %15s %10s\n", "CNI", "nodes", "pods", "validate s", "heap MiB", "RSS MiB", "traced flow ms", "child CPU s")
	for _, r := range rows {
		if r.err != "" {
			fmt.Fprintf(&b, "%-15s %6d %5d  failed: %s\n", r.mode, r.nodes, pods, r.err)
			continue
		}
		met := ""
		if !r.m.FlowMet {
			met = " (not met)"
		}
		fmt.Fprintf(&b, "%-15s %6d %5d %10.2f %9.0f %8.0f %15.2f %10.2f%s\n", r.mode, r.nodes, pods, r.m.ValidateSec, r.m.HeapMiB, r.rssMiB, r.m.FlowMS, r.cpuSec, met)
	}
	fmt.Fprint(os.Stdout, b.String())
	for _, r := range rows {
		assert.Empty(t, r.err, "%s %d", r.mode, r.nodes)
	}
}

// TestScaleChild is the child of TestScale: it measures one scenario
// file and prints its figures as JSON.
func TestScaleChild(t *testing.T) {
	file := os.Getenv(envScaleChild)
	if file == "" {
		t.Skip("run by TestScale")
	}
	t0 := time.Now()
	s, err := topology.LoadWith(file, topology.LoadOptions{})
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	topology.WriteOverview(io.Discard, r.World)
	var m measurement
	m.ValidateSec = time.Since(t0).Seconds()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.HeapMiB = float64(ms.HeapInuse) / (1 << 20)
	t1 := time.Now()
	res, err := r.Run(sim.Options{Trace: true, Flow: "pod-to-pod-cross-node"})
	require.NoError(t, err)
	m.FlowMS = float64(time.Since(t1).Microseconds()) / 1000
	require.Len(t, res.Flows, 1)
	m.FlowMet = res.Flows[0].Met
	runtime.KeepAlive(r)
	require.NoError(t, json.NewEncoder(os.Stdout).Encode(m))
}
