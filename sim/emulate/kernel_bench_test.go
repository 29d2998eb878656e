package emulate_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/internal/columns"
	"netsim/sim"
	"netsim/sim/encapcost"
	"netsim/topology/kernel"
)

// kernelBenchEnv turns TestKernelModesReport on (`make bench-kernel`).
const kernelBenchEnv = "NETSIM_KERNEL_BENCH"

// kernelMode is one CNI mode built from kernel devices.
type kernelMode struct {
	name   string
	net    *kernel.Net
	src    string // pod a's namespace
	dst    string // pod b's namespace
	ip     string // pod b's address
	runs   []figures
	ratios []figures // each run over host-gw's run of the same round
}

// TestKernelModesReport measures the real kernel's data path for each CNI
// mode kernel.Realise can build, on the two-node topology of `netsim bench
// model` (sim/encapcost): 64-byte UDP packets/s (iperf3 -u -l 64 -b 0,
// received) and TCP throughput (iperf3, received) from pod a on node-1 to
// pod b on node-2. Every mode is built first; then each round measures
// every mode in turn, so each ratio to host-gw comes from runs seconds
// apart; the report gives medians of the rounds (ratios: the median of the
// per-round ratios). Modes the realiser cannot build (flannel udp, terway
// ipvlan; calico ipip without the ipip module) are listed with the reason.
// Offloads are off in the kernel build (kernel.Realise turns off TSO, GSO
// and transmit checksumming), so TCP is per-packet work too.
//
// NETSIM_KERNEL_BENCH=1 turns it on, root only; NETSIM_KERNEL_BENCH_RUNS
// (default 3) and NETSIM_KERNEL_BENCH_SECONDS (default 2, per iperf3 test)
// size it.
func TestKernelModesReport(t *testing.T) {
	if os.Getenv(kernelBenchEnv) == "" {
		t.Skip("set " + kernelBenchEnv + "=1 (or run `make bench-kernel`) to measure the kernel's data path per CNI mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and kernel devices")
	}
	_, err := exec.LookPath("iperf3")
	require.NoError(t, err, "the benchmark runs iperf3 in the namespaces")
	runs := envInt(t, "NETSIM_KERNEL_BENCH_RUNS", 3)
	secs := envInt(t, "NETSIM_KERNEL_BENCH_SECONDS", 2)
	require.NoError(t, kernel.Supported(fmt.Sprintf("nskb%d-probe-", os.Getpid()%100000)))

	var modes []*kernelMode
	var skipped []string
	for i, m := range encapcost.Modes() {
		s, err := m.Scenario()
		require.NoError(t, err)
		r, err := sim.NewRunner(s)
		require.NoError(t, err)
		prefix := fmt.Sprintf("nskb%d-%d-", os.Getpid()%100000, i)
		kn, err := kernel.Realise(r.World, prefix)
		if errors.Is(err, kernel.ErrUnsupported) {
			skipped = append(skipped, fmt.Sprintf("%s: not built: %v", m.Name, err))
			continue
		}
		require.NoError(t, err, m.Name)
		t.Cleanup(func() { require.NoError(t, kn.Cleanup(), "removing the namespaces of %s", m.Name) })
		if m.Name == "calico bgp" {
			// As in the model's scenario (its add-node-route actions): a
			// node proxy-ARPs 169.254.1.1 for its pods only with a route
			// for it through eth0; the L2 segment has no router.
			for _, node := range []string{"node-1", "node-2"} {
				require.NoError(t, kn.IP(kn.NS[node], "route", "add", "default", "via", "192.168.0.1", "dev", "eth0"))
			}
		}
		b := r.World.Pod("b")
		require.NotNil(t, b)
		modes = append(modes, &kernelMode{name: m.Name, net: kn, src: kn.NS["default/a"], dst: kn.NS["default/b"], ip: b.IP.String()})
	}
	var hostgw *kernelMode
	for _, m := range modes {
		if m.name == "flannel host-gw" {
			hostgw = m
		}
	}
	require.NotNil(t, hostgw, "the realiser must build flannel host-gw, the reference of the ratios")
	for round := range runs {
		for _, m := range modes {
			f := measure(t, m.src, m.dst, m.ip, secs)
			t.Logf("round %d %s: TCP %.3f Gbit/s, UDP %.1f kpps (loss %.2f)", round+1, m.name, f.tcpGbps, f.udpKpps, f.udpLoss)
			m.runs = append(m.runs, f)
		}
		ref := hostgw.runs[round]
		for _, m := range modes {
			f := m.runs[round]
			m.ratios = append(m.ratios, figures{tcpGbps: ratioOf(f.tcpGbps, ref.tcpGbps), udpKpps: ratioOf(f.udpKpps, ref.udpKpps)})
		}
	}
	fmt.Print(kernelReport(modes, skipped, runs, secs))
}

func ratioOf(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// kernelReport is the table TestKernelModesReport prints.
func kernelReport(modes []*kernelMode, skipped []string, runs, secs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Kernel data path per CNI mode, measured (kernel): pod a (node-1) → pod b (node-2), iperf3, offloads off;\n")
	fmt.Fprintf(&b, "medians of %d rounds of %d s per test, every mode measured in each round; ratios are medians of per-round ratios to host-gw.\n\n", runs, secs)
	rows := [][]string{{"mode", "UDP kpps", "× host-gw", "TCP Gbit/s", "× host-gw", "UDP loss", "figures"}}
	for _, m := range modes {
		col := func(v []figures, f func(figures) float64) float64 {
			x := make([]float64, len(v))
			for i := range v {
				x[i] = f(v[i])
			}
			return median(x)
		}
		udp := func(f figures) float64 { return f.udpKpps }
		tcp := func(f figures) float64 { return f.tcpGbps }
		loss := func(f figures) float64 { return f.udpLoss }
		rows = append(rows, []string{m.name,
			fmt.Sprintf("%.1f", col(m.runs, udp)), fmt.Sprintf("%.2f", col(m.ratios, udp)),
			fmt.Sprintf("%.3f", col(m.runs, tcp)), fmt.Sprintf("%.2f", col(m.ratios, tcp)),
			fmt.Sprintf("%.2f", col(m.runs, loss)), "measured (kernel)"})
	}
	columns.Write(&b, rows, 0, -1)
	for _, s := range skipped {
		fmt.Fprintf(&b, "skipped: %s\n", s)
	}
	return b.String()
}
