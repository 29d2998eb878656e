package emulate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/sim/emulate"
	"netsim/topology"
	"netsim/topology/kernel"
)

// benchEnv turns TestThroughputReport on (`make emulate-bench`); without
// it the test skips, so `go test ./...` stays fast.
const benchEnv = "NETSIM_EMULATE_BENCH"

// benchPaths are the measured paths: two pods on different nodes of a
// bundled scenario that both the emulator and kernel.Realise build.
var benchPaths = []struct {
	name, file, from, to string
}{
	{"flannel-vxlan web-1 -> api-1", "../../scenarios/flannel-vxlan.yaml", "default/web-1", "default/api-1"},
	{"flannel-alivpc web-1 -> api-1", "../../scenarios/flannel-alivpc.yaml", "default/web-1", "default/api-1"},
}

// figures are one measurement of one path in one build.
type figures struct {
	tcpGbps float64 // TCP goodput the receiver saw
	udpKpps float64 // 64-byte UDP datagrams received per second
	udpLoss float64 // fraction of the UDP datagrams sent that were lost
}

// pair is one adjacent measurement of both builds.
type pair struct{ emu, kern figures }

// TestThroughputReport measures TCP throughput and 64-byte UDP packets/s
// between two pods on different nodes through the emulator and through
// the kernel build of the same topology (kernel.Realise), alternating the
// two builds so that each ratio comes from adjacent runs, and prints the
// medians. NETSIM_EMULATE_BENCH=1 turns it on; NETSIM_EMULATE_BENCH_RUNS
// (default 3) and NETSIM_EMULATE_BENCH_SECONDS (default 3) size it;
// NETSIM_EMULATE_BENCH_ONLY=emulator skips the kernel build (profiling).
func TestThroughputReport(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skip("set " + benchEnv + "=1 (or run `make emulate-bench`) to measure emulator throughput against the kernel")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, TAP and kernel devices")
	}
	_, err := exec.LookPath("iperf3")
	require.NoError(t, err, "the benchmark runs iperf3 in the namespaces")
	runs := envInt(t, "NETSIM_EMULATE_BENCH_RUNS", 3)
	secs := envInt(t, "NETSIM_EMULATE_BENCH_SECONDS", 3)
	onlyEmu := os.Getenv("NETSIM_EMULATE_BENCH_ONLY") == "emulator"

	var report strings.Builder
	fmt.Fprintf(&report, "%-30s %9s %9s %6s   %9s %9s %6s   %s\n", "path", "emu TCP", "kern TCP", "ratio", "emu UDP", "kern UDP", "ratio", "UDP loss emu/kern")
	fmt.Fprintf(&report, "%-30s %9s %9s %6s   %9s %9s %6s\n", "", "Gbit/s", "Gbit/s", "", "kpps", "kpps", "")
	for _, p := range benchPaths {
		s, err := topology.Load(p.file)
		require.NoError(t, err)
		var pairs []pair
		for i := range runs {
			var pr pair
			pr.emu = measureEmulator(t, s, p.from, p.to, secs, i)
			if !onlyEmu {
				pr.kern = measureKernel(t, s, p.from, p.to, secs, i)
			}
			t.Logf("%s run %d: emulator %+v kernel %+v", p.name, i+1, pr.emu, pr.kern)
			pairs = append(pairs, pr)
		}
		med := func(f func(pair) float64) float64 {
			v := make([]float64, len(pairs))
			for i, pr := range pairs {
				v[i] = f(pr)
			}
			return median(v)
		}
		ratio := func(a, b float64) float64 {
			if b == 0 {
				return 0
			}
			return a / b
		}
		fmt.Fprintf(&report, "%-30s %9.3f %9.3f %6.3f   %9.1f %9.1f %6.3f   %.2f/%.2f\n", p.name,
			med(func(x pair) float64 { return x.emu.tcpGbps }),
			med(func(x pair) float64 { return x.kern.tcpGbps }),
			med(func(x pair) float64 { return ratio(x.emu.tcpGbps, x.kern.tcpGbps) }),
			med(func(x pair) float64 { return x.emu.udpKpps }),
			med(func(x pair) float64 { return x.kern.udpKpps }),
			med(func(x pair) float64 { return ratio(x.emu.udpKpps, x.kern.udpKpps) }),
			med(func(x pair) float64 { return x.emu.udpLoss }),
			med(func(x pair) float64 { return x.kern.udpLoss }))
	}
	fmt.Fprintf(&report, "medians of %d runs of %ds each; each ratio is the median of the ratios of adjacent emulator/kernel runs\n", runs, secs)
	fmt.Print(report.String())
}

// measureEmulator starts the emulator on s, with only the two pods
// emulated, and measures from -> to.
func measureEmulator(t *testing.T, s *topology.Scenario, from, to string, secs, run int) figures {
	prefix := fmt.Sprintf("nsbe%d-%d-", os.Getpid()%100000, run)
	e, err := emulate.Start(s, emulate.Options{Prefix: prefix, LockDir: t.TempDir(), Pods: []string{from, to}, NoHosts: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close()) }()
	a, b := e.Endpoint(from), e.Endpoint(to)
	require.NotNil(t, a, from)
	require.NotNil(t, b, to)
	f := measure(t, a.NS, b.NS, b.IP.String(), secs)
	// Where the UDP flood's loss is: the sender's TAP (TX dropped).
	if out, err := exec.Command("ip", "-n", a.NS, "-s", "link", "show", "eth0").CombinedOutput(); err == nil {
		t.Logf("%s eth0 (TAP):\n%s", from, out)
	}
	st := e.Stats()
	t.Logf("emulator stats: frames %d overruns %d drops %v", st.Frames, st.Overruns, st.Drops)
	return f
}

// measureKernel realises s from kernel devices and measures from -> to.
func measureKernel(t *testing.T, s *topology.Scenario, from, to string, secs, run int) figures {
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	prefix := fmt.Sprintf("nsbk%d-%d-", os.Getpid()%100000, run)
	kn, err := kernel.Realise(r.World, prefix)
	require.NoError(t, err)
	defer func() { require.NoError(t, kn.Cleanup()) }()
	dst := r.World.Pod(to)
	require.NotNil(t, dst, to)
	return measure(t, kn.NS[from], kn.NS[to], dst.IP.String(), secs)
}

// measure runs an iperf3 TCP test and a 64-byte UDP test from namespace
// src to the server it starts in namespace dst at ip.
func measure(t *testing.T, src, dst, ip string, secs int) figures {
	var f figures
	tcp := iperf(t, src, dst, ip, "-t", strconv.Itoa(secs))
	f.tcpGbps = tcp.End.SumReceived.BitsPerSecond / 1e9
	udp := iperf(t, src, dst, ip, "-t", strconv.Itoa(secs), "-u", "-l", "64", "-b", "0")
	sum := udp.End.Sum
	require.Positive(t, sum.Seconds, "iperf3 UDP: no duration in its report")
	got := sum.Packets - sum.LostPackets
	f.udpKpps = float64(got) / sum.Seconds / 1e3
	if sum.Packets > 0 {
		f.udpLoss = float64(sum.LostPackets) / float64(sum.Packets)
	}
	return f
}

// iperfReport is the part of iperf3 -J's report read here.
type iperfReport struct {
	End struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		Sum struct {
			Seconds     float64 `json:"seconds"`
			Packets     int64   `json:"packets"`
			LostPackets int64   `json:"lost_packets"`
		} `json:"sum"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf starts a one-off iperf3 server in dst (killed by its PID when the
// test is done with it), runs the client in src with args and returns its
// report. The client is retried while the server is not listening yet.
func iperf(t *testing.T, src, dst, ip string, args ...string) iperfReport {
	srv := exec.Command("ip", "netns", "exec", dst, "iperf3", "-s", "-1")
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = srv.Process.Kill()
			<-exited
		}
	}()
	var rep iperfReport
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		out, err := exec.Command("ip", append([]string{"netns", "exec", src, "iperf3", "-c", ip, "-J", "--connect-timeout", "2000"}, args...)...).Output()
		rep = iperfReport{}
		if jerr := json.Unmarshal(out, &rep); jerr != nil {
			lastErr = fmt.Errorf("iperf3 %v: %v, output %q: %w", args, err, out, jerr)
		} else if rep.Error != "" || err != nil {
			lastErr = fmt.Errorf("iperf3 %v: %v: %s", args, err, rep.Error)
		} else {
			return rep
		}
		if !strings.Contains(rep.Error, "refused") && !strings.Contains(rep.Error, "unable to connect") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, lastErr)
	return rep
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s=%q: want a positive integer", name, v)
	require.Positive(t, n, "%s=%q: want a positive integer", name, v)
	return n
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
