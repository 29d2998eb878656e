package emulate_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"netsim/sim/emulate"
	"netsim/topology"
)

func TestSmokePing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and TAP devices")
	}
	s, err := topology.Load("../../scenarios/flannel-vxlan.yaml")
	require.NoError(t, err)
	e, err := emulate.Start(s, emulate.Options{Prefix: "nstest-smoke-", LockDir: t.TempDir()})
	require.NoError(t, err)
	defer e.Close()
	a, b := e.Endpoint("web-1"), e.Endpoint("api-1")
	out, err := exec.Command("ip", "netns", "exec", a.NS, "ping", "-c", "3", "-i", "0.2", "-W", "2", b.IP.String()).CombinedOutput()
	t.Logf("%s", out)
	out2, _ := exec.Command("ip", "-n", a.NS, "neigh").CombinedOutput()
	t.Logf("%s %v", out2, e.Stats())
	require.NoError(t, err)
}
