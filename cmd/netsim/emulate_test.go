package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/sim/emulate"
	"netsim/topology"
)

// emulateScenario copies flannel-vxlan.yaml under a name of its own, so
// that the test's namespaces and lock never meet a user's emulation.
func emulateScenario(t *testing.T) (file, prefix string) {
	t.Helper()
	return emulateScenarioFrom(t, "flannel-vxlan")
}

// emulateScenarioFrom copies scenarios/NAME.yaml (and the manifests it
// reads) under a name of its own.
func emulateScenarioFrom(t *testing.T, scen string) (file, prefix string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: netsim emulate creates network namespaces and TAP devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no TUN/TAP driver: %v", err)
	}
	b, err := os.ReadFile("../../scenarios/" + scen + ".yaml")
	require.NoError(t, err)
	emulateCases++
	name := fmt.Sprintf("lifecycle-%d-%d", os.Getpid(), emulateCases)
	b = bytes.Replace(b, []byte("\nname: "+scen+"\n"), []byte("\nname: "+name+"\n"), 1)
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dir, "manifests"), os.DirFS("../../scenarios/manifests")))
	file = filepath.Join(dir, "scenario.yaml")
	require.NoError(t, os.WriteFile(file, b, 0o644))
	prefix = "netsim-" + name + "."
	t.Cleanup(func() { emulate.Cleanup("", prefix) })
	return file, prefix
}

var emulateCases int

// netsimCmd is the test binary acting as netsim (see TestMain).
func netsimCmd(t *testing.T, args ...string) *exec.Cmd {
	self, err := os.Executable()
	require.NoError(t, err)
	c := exec.Command(self, args...)
	c.Env = append(os.Environ(), hostileMainEnv+"=1")
	return c
}

// startEmulate starts `netsim emulate FILE` and waits until it says it
// runs; it returns the process and what it printed so far.
func startEmulate(t *testing.T, file string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	c := netsimCmd(t, "emulate", file)
	out, err := c.StdoutPipe()
	require.NoError(t, err)
	var errb bytes.Buffer
	c.Stderr = &errb
	require.NoError(t, c.Start())
	t.Cleanup(func() {
		if c.ProcessState == nil {
			c.Process.Kill()
			c.Wait()
		}
	})
	got := &bytes.Buffer{}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			got.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Ctrl-C") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		require.True(t, ok, "emulate ended before it was ready: %s%s", got, errb.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("emulate not ready after 20 s: %s%s", got, errb.String())
	}
	return c, got
}

func leftovers(t *testing.T, prefix string) []string {
	left, err := emulate.Leftovers(prefix)
	require.NoError(t, err)
	return left
}

func TestEmulateLifecycle(t *testing.T) {
	t.Run("duration", func(t *testing.T) {
		file, prefix := emulateScenario(t)
		out, err := netsimCmd(t, "emulate", file, "--duration", "1s").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "ran for 1s: stopped")
		assert.Contains(t, string(out), "removed 5 namespaces")
		assert.Empty(t, leftovers(t, prefix))
	})
	t.Run("sigterm, a second emulate, exec", func(t *testing.T) {
		file, prefix := emulateScenario(t)
		c, _ := startEmulate(t, file)
		assert.Len(t, leftovers(t, prefix), 5, "one namespace per pod and ECS instance")
		second, err := netsimCmd(t, "emulate", file, "--duration", "1s").CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", second)
		assert.Equal(t, exitBadInput, ee.ExitCode())
		assert.Contains(t, string(second), fmt.Sprintf("is already being emulated by PID %d", c.Process.Pid))
		// A real ping from web-1 (node-1) to api-1 (node-2) through the
		// simulated VXLAN path; TTL 62: two simulated routing hops.
		ping, err := netsimCmd(t, "exec", file, "web-1", "--", "ping", "-c", "1", "-W", "2", "172.20.1.2").CombinedOutput()
		require.NoError(t, err, "%s", ping)
		assert.Contains(t, string(ping), "ttl=62")
		require.NoError(t, c.Process.Signal(syscall.SIGTERM))
		require.NoError(t, c.Wait())
		assert.Empty(t, leftovers(t, prefix))
	})
	t.Run("--trace streams the hops of live packets", func(t *testing.T) {
		file, prefix := emulateScenario(t)
		capture := filepath.Join(t.TempDir(), "live.pcapng")
		c := netsimCmd(t, "emulate", file, "--trace", "--level", "minimal", "--duration", "3s", "--pcap", capture)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		require.NoError(t, c.Start())
		require.Eventually(t, func() bool { return len(leftovers(t, prefix)) == 5 }, 10*time.Second, 50*time.Millisecond)
		time.Sleep(200 * time.Millisecond)
		// Two echoes: the first may wait at node-2 for api-1's ARP reply,
		// which the real kernel in api-1's namespace takes its time to
		// send; on a loaded machine the trace is then flushed while the
		// request waits, and its path prints in pieces. The second finds
		// every neighbour resolved.
		ping, err := netsimCmd(t, "exec", file, "web-1", "--", "ping", "-c", "2", "-i", "0.3", "-W", "2", "172.20.1.2").CombinedOutput()
		require.NoError(t, err, "%s", ping)
		require.NoError(t, c.Wait(), "%s", out.String())
		// The echo request's path through the simulated VXLAN overlay.
		assert.Contains(t, out.String(), "default/web-1 eth0 → node-1 cni0 → flannel.1 → eth0")
		assert.Contains(t, out.String(), "⇒ vpc vsw-hangzhou-h ⇒ node-2 eth0 → flannel.1 → cni0")
		// The capture holds the echo request on node-1's eth0 inside VXLAN.
		assert.Regexp(t, `wrote [1-9][0-9]* frames on [0-9]+ interfaces to `, out.String())
		assert.Positive(t, vxlanEchoes(t, capture, "node-1/eth0"))
	})
	t.Run("without privileges", func(t *testing.T) {
		file, _ := emulateScenario(t)
		// The unprivileged user must reach the binary and the scenario.
		for _, d := range []string{filepath.Dir(file), filepath.Dir(filepath.Dir(file))} {
			require.NoError(t, os.Chmod(d, 0o755))
		}
		self, err := os.Executable()
		require.NoError(t, err)
		bin := filepath.Join(filepath.Dir(file), "netsim")
		b, err := os.ReadFile(self)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(bin, b, 0o755))
		c := exec.Command(bin, "emulate", file, "--duration", "1s")
		c.Env = append(os.Environ(), hostileMainEnv+"=1")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		assert.Equal(t, exitBadInput, ee.ExitCode())
		assert.Contains(t, string(out), "needs CAP_NET_ADMIN and CAP_SYS_ADMIN")
	})
	t.Run("echo servers answer curl through a ClusterIP", func(t *testing.T) {
		file, _ := emulateScenarioFrom(t, "service-clusterip")
		s, err := topology.Load(file)
		require.NoError(t, err)
		r, err := sim.NewRunner(s)
		require.NoError(t, err)
		res, err := r.Run(sim.Options{})
		require.NoError(t, err)
		var seen string
		for _, f := range res.Flows {
			if f.Name == "pod-to-clusterip" {
				seen = f.SeenSource
			}
		}
		require.NotEmpty(t, seen, "the simulator's pod-to-clusterip flow")
		var ip string
		for _, svc := range r.World.Services {
			if svc.Namespace == "default" && svc.Name == "web" {
				ip = svc.ClusterIP.String()
			}
		}
		require.NotEmpty(t, ip)
		c, out := startEmulate(t, file)
		assert.Contains(t, out.String(), "tcp/8080")
		got, err := netsimCmd(t, "exec", file, "client", "--", "curl", "-s", "-m", "5", "http://"+ip+"/hello").CombinedOutput()
		require.NoError(t, err, "%s", got)
		// A web pod answered (its pod IP, port 8080 after kube-proxy's
		// DNAT) and saw the client's own address, as the simulator does.
		assert.Regexp(t, `^netsim echo: default/web-[a-z0-9-]+ \(172\.20\.[0-9.]+\) port 8080\n`, string(got))
		assert.Contains(t, string(got), "client: "+seen+":")
		assert.Contains(t, string(got), "GET /hello HTTP/1.1")
		require.NoError(t, c.Process.Signal(syscall.SIGTERM))
		require.NoError(t, c.Wait())
	})
	t.Run("kill -9, then --cleanup", func(t *testing.T) {
		file, prefix := emulateScenario(t)
		c, _ := startEmulate(t, file)
		require.NoError(t, c.Process.Kill())
		c.Wait()
		assert.Len(t, leftovers(t, prefix), 5, "namespaces outlive a killed process")
		again, err := netsimCmd(t, "emulate", file, "--duration", "1s").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(again), "--cleanup "+file)
		out, err := netsimCmd(t, "emulate", "--cleanup", file).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "removed 5 namespaces")
		assert.Empty(t, leftovers(t, prefix))
		exe, err := netsimCmd(t, "exec", file, "web-1", "--", "true").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(exe), "is not being emulated")
	})
}

// vxlanEchoes counts the ICMP echo requests inside VXLAN (UDP 8472) on the
// interface named iface of a pcapng file.
func vxlanEchoes(t *testing.T, file, iface string) int {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	n := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		ifc, err := r.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		if ifc.Name != iface {
			continue
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || udp.DstPort != 8472 {
			continue
		}
		inner := gopacket.NewPacket(udp.Payload[8:], layers.LayerTypeEthernet, gopacket.Default)
		if ic, ok := inner.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && ic.TypeCode.Type() == layers.ICMPv4TypeEchoRequest {
			n++
		}
	}
	return n
}

func TestKernelUpDown(t *testing.T) {
	file, _ := emulateScenario(t)
	s, err := topology.Load(file)
	require.NoError(t, err)
	prefix := kernelPrefix(s)
	t.Cleanup(func() { netsimCmd(t, "kernel", "down", file).Run() })
	out, err := netsimCmd(t, "kernel", "up", file).CombinedOutput()
	if err != nil && strings.Contains(string(out), "needs") {
		t.Skipf("kernel build not possible here: %s", out)
	}
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "default/web-1")
	left := leftovers(t, prefix)
	assert.Contains(t, left, prefix+"default-web-1")
	// A real ping inside the kernel build, web-1 → api-1 across flannel.1.
	ping, err := exec.Command("ip", "netns", "exec", prefix+"default-web-1", "ping", "-c", "1", "-W", "2", "172.20.1.2").CombinedOutput()
	require.NoError(t, err, "%s", ping)
	again, err := netsimCmd(t, "kernel", "up", file).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(again), "is already up")
	out, err = netsimCmd(t, "kernel", "down", file).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), fmt.Sprintf("removed %d namespaces", len(left)))
	assert.Empty(t, leftovers(t, prefix))
}

func TestKernelVerifyTable(t *testing.T) {
	file, _ := emulateScenario(t)
	out, err := netsimCmd(t, "kernel", "verify", file).CombinedOutput()
	if err != nil && strings.Contains(string(out), "needs") {
		t.Skipf("kernel build not possible here: %s", out)
	}
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `pod-to-pod-cross-node +delivered +delivered +172\.20\.0\.2 +172\.20\.0\.2 +agree`, string(out))
	assert.Regexp(t, `oversize-df-from-misconfigured-pod +dropped \(frag-needed\) +dropped \(frag-needed mtu 1450\)`, string(out))
	assert.Regexp(t, `\n[0-9]+ flows compared: [0-9]+ agree, 0 disagree`, string(out))
}

// SIGTERM in the middle of `kernel verify` removes its namespaces.
func TestKernelVerifySIGTERM(t *testing.T) {
	file, _ := emulateScenarioFrom(t, "networkpolicy")
	c := netsimCmd(t, "kernel", "verify", file)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	require.NoError(t, c.Start())
	prefix := fmt.Sprintf("nskv%d.", c.Process.Pid)
	// Wait until the build has made namespaces, then stop it.
	require.Eventually(t, func() bool { return len(leftovers(t, prefix)) > 3 }, 20*time.Second, 20*time.Millisecond, "%s", &out)
	require.NoError(t, c.Process.Signal(syscall.SIGTERM))
	err := c.Wait()
	t.Logf("%s", out.String())
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out.String())
	assert.Equal(t, 128+int(syscall.SIGTERM), ee.ExitCode(), "%s", out.String())
	assert.Empty(t, leftovers(t, prefix))
}
