package sim_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni/calico"
	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/pcap"
	"netsim/sim"
	"netsim/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// scenarioFiles are the bundled traffic scenarios: scenarios/*.yaml but
// the plan files scenarios/plan-*.yaml. A plan file has a plan: block and
// no nodes, pods or flows: there is no world to build and no traffic to
// send, so these tests have nothing to run on it. Its goldens are
// `netsim plan` outputs, pinned by cmd/netsim/plan_scenarios_test.go
// (which also checks that every plan-*.yaml is a plan file and no other
// scenario is).
func scenarioFiles(t *testing.T) []string {
	files, err := filepath.Glob("../scenarios/*.yaml")
	require.NoError(t, err)
	files = slices.DeleteFunc(files, isPlanFile)
	require.NotEmpty(t, files)
	return files
}

// isPlanFile reports whether a bundled scenario file is a plan file
// (scenarios/plan-*.yaml).
func isPlanFile(file string) bool { return strings.HasPrefix(filepath.Base(file), "plan-") }

func runScenario(t *testing.T, file string, withPcap bool) (*sim.Runner, *sim.Result, *pcap.Sink) {
	t.Helper()
	s, err := topology.Load(file)
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	var sink *pcap.Sink
	if withPcap {
		sink = pcap.NewSink(r.Loop.Now, r.Rec)
		r.World.Env.Capture = sink
	}
	res, err := r.Run(sim.Options{Trace: true})
	require.NoError(t, err)
	return r, res, sink
}

// TestShippedScenariosMeetTheirExpectations runs every bundled scenario:
// each flow carries an expect, and each must be met.
func TestShippedScenariosMeetTheirExpectations(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, res, _ := runScenario(t, f, false)
			for _, fl := range res.Flows {
				assert.NotNil(t, fl.Expect, "flow %s has no expect", fl.Name)
				assert.True(t, fl.Met, "flow %s: %s (verdict %+v)", fl.Name, fl.Mismatch, fl.Verdict)
			}
		})
	}
}

// TestGolden compares the JSON and text reports of every scenario with
// testdata/golden; -update rewrites them. The same scenario must give the
// same bytes every time (virtual time, seeded randomness).
func TestGolden(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, res, _ := runScenario(t, f, false)
			var js, txt bytes.Buffer
			require.NoError(t, sim.WriteJSON(&js, res))
			sim.WriteText(&txt, res, 120)
			_, res2, _ := runScenario(t, f, false)
			var js2 bytes.Buffer
			require.NoError(t, sim.WriteJSON(&js2, res2))
			require.Equal(t, js.String(), js2.String(), "two runs of the same scenario differ")
			for ext, got := range map[string][]byte{".json": js.Bytes(), ".txt": txt.Bytes()} {
				path := filepath.Join("..", "testdata", "golden", name+ext)
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
					require.NoError(t, os.WriteFile(path, got, 0o644))
					continue
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "missing golden file; run go test ./sim -update")
				assert.Equal(t, string(want), string(got), "%s differs from the golden file; if the change is intended run go test ./sim -update and review the diff", path)
			}
		})
	}
}

// TestCapturesDecodeCleanlyInTshark writes the pcapng of every scenario and
// has tshark decode it with checksum validation on: no bad checksum, no
// malformed packet, VXLAN decoded with the port hint.
func TestCapturesDecodeCleanlyInTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (apt-get install tshark); .ci/run installs it")
	}
	for _, f := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			r, _, sink := runScenario(t, f, true)
			require.Positive(t, sink.Len())
			file := filepath.Join(t.TempDir(), name+".pcapng")
			out, err := os.Create(file)
			require.NoError(t, err)
			require.NoError(t, sink.Write(out))
			require.NoError(t, out.Close())
			args := []string{"-r", file, "-n",
				"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
				// SCTP's CRC32c (RFC 9260 App. B): tshark 4.0's preference.
				"-o", "sctp.checksum:CRC 32c"}
			for _, p := range r.World.Env.VXLANPorts {
				args = append(args, "-d", fmt.Sprintf("udp.port==%d,vxlan", p))
			}
			// flannel udp has no dissector: its payload is a bare IP packet,
			// decoded (and its checksums checked) as IP by decode-as.
			flannelUDP := 0
			if f := r.World.Scenario.Cluster.CNI.Flannel; f != nil && f.Backend == "udp" {
				flannelUDP = *f.Port
				args = append(args, "-d", fmt.Sprintf("udp.port==%d,ip", flannelUDP))
			}
			// Every frame decodes, and none has a bad checksum or is malformed.
			bad := exec.Command(tshark, append(args, "-Y",
				"ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0 || icmp.checksum.status == 0 || sctp.checksum.status == 0 || _ws.malformed || _ws.expert.severity == error")...)
			outb, err := bad.CombinedOutput()
			require.NoError(t, err, "%s", outb)
			assert.Empty(t, strings.TrimSpace(filterNoise(string(outb))), "frames with bad checksums or malformed")
			all := exec.Command(tshark, append(args, "-T", "fields", "-e", "frame.number")...)
			outb, err = all.CombinedOutput()
			require.NoError(t, err, "%s", outb)
			assert.Equal(t, sink.Len(), len(strings.Fields(filterNoise(string(outb)))), "tshark read every frame")
			if flannelUDP != 0 {
				fu := exec.Command(tshark, append(args, "-Y", fmt.Sprintf("udp.dstport == %d", flannelUDP), "-T", "fields", "-e", "frame.protocols")...)
				outb, err = fu.CombinedOutput()
				require.NoError(t, err, "%s", outb)
				lines := strings.Split(strings.TrimSpace(filterNoise(string(outb))), "\n")
				require.NotEmpty(t, lines)
				for _, l := range lines {
					assert.Contains(t, l, ":ip:udp:ip:", "flannel udp datagram decoded as %q: the payload must be the inner IP packet", l)
				}
			}
			if len(r.World.Env.VXLANPorts) > 0 {
				vx := exec.Command(tshark, append(args, "-Y", "vxlan", "-T", "fields", "-e", "vxlan.vni", "-e", "ip.proto")...)
				outb, err = vx.CombinedOutput()
				require.NoError(t, err, "%s", outb)
				lines := strings.Split(strings.TrimSpace(filterNoise(string(outb))), "\n")
				require.NotEmpty(t, lines)
				vni := tunnelVNI(r.World)
				for _, l := range lines {
					// The device's VNI; ip.proto lists outer UDP then the inner protocol.
					assert.True(t, strings.HasPrefix(l, fmt.Sprintf("%d\t17,", vni)), "VXLAN frame decoded as %q (want vni %d)", l, vni)
				}
			}
			if r.World.CNI != nil && strings.HasPrefix(r.World.CNI.Name(), "calico/ipip") {
				// IPIP: outer protocol 4, then the inner IPv4 header
				// (ip.proto lists both), each checksum validated above.
				ipip := exec.Command(tshark, append(args, "-Y", "ip.proto == 4", "-T", "fields", "-e", "ip.proto", "-e", "ip.src")...)
				outb, err = ipip.CombinedOutput()
				require.NoError(t, err, "%s", outb)
				lines := strings.Split(strings.TrimSpace(filterNoise(string(outb))), "\n")
				require.NotEmpty(t, lines, "no IPIP frame in the capture")
				for _, l := range lines {
					assert.Regexp(t, `^4,(1|6|17)\t[0-9.]+,[0-9.]+$`, l, "IPIP frame decoded as %q", l)
				}
			}
		})
	}
}

// tunnelVNI is the VNI of the world's VXLAN devices (flannel.<VNI> or
// vxlan.calico).
func tunnelVNI(w *topology.World) uint32 {
	for _, h := range w.Nodes {
		if vx := flannel.Tunnel(h.CNI); vx != nil {
			return vx.VNI
		}
		if vx := calico.VXLAN(h.CNI); vx != nil {
			return vx.VNI
		}
	}
	return 0
}

func filterNoise(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "Running as user") || strings.TrimSpace(l) == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
