package sim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/ipvs"
	"netsim/sim"
	"netsim/topology"
)

// TestSCTPFlowsInBothProxyModes runs the bundled SCTP scenario with
// kube-proxy in iptables mode and again in IPVS mode: pod to pod, pod to
// the ClusterIP (DNAT by iptables, or IPVS masq, each rewriting the port
// and recomputing the CRC32c), and ABORT for closed ports.
func TestSCTPFlowsInBothProxyModes(t *testing.T) {
	for _, mode := range []string{"iptables", "ipvs"} {
		t.Run(mode, func(t *testing.T) {
			s, err := topology.Load("../scenarios/service-sctp.yaml")
			require.NoError(t, err)
			s.Cluster.ProxyMode = mode
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			want := map[string]string{
				"pod-to-pod-sctp":               "delivered",
				"pod-to-pod-sctp-connect-close": "delivered",
				"pod-to-service-sctp":           "delivered",
				"sctp-to-a-closed-port":         "conn-refused",
				"sctp-on-a-tcp-only-port":       "conn-refused",
			}
			require.Len(t, res.Flows, len(want))
			for _, f := range res.Flows {
				got := f.Verdict.Result
				if got == "dropped" {
					got = f.Verdict.Reason
				}
				assert.Equal(t, want[f.Name], got, "%s: %+v", f.Name, f.Verdict)
				assert.True(t, f.Met, "%s: %s", f.Name, f.Mismatch)
			}
			if mode == "ipvs" {
				// The client node's IPVS table has the SCTP virtual service.
				var found bool
				for _, n := range r.World.Nodes {
					if n.IPVS == nil {
						continue
					}
					for _, vs := range n.IPVS.Table.Services() {
						if vs.Proto == ipvs.Proto("SCTP") && vs.Port == 9000 {
							found = true
						}
					}
				}
				assert.True(t, found, "an SCTP virtual service for port 9000")
			}
		})
	}
}
