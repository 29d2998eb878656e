package sim_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

const connectCloseScenario = `
name: connect-close
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
pods:
  - {name: client, node: node-1}
  - {name: server, node: node-2, ports: [{port: 8080}]}
flows:
  - {name: nc-z, from: pod/client, to: pod/server, protocol: tcp, port: 8080, size: 0, expect: delivered}
  - {name: with-data, from: pod/client, to: pod/server, protocol: tcp, port: 8080, size: 100, expect: delivered}
`

var segRE = regexp.MustCompile(`^tcp (\S+) > (\S+) \[([^\]]+)\] (\d+) bytes`)

// TestTCPConnectAndCloseIsDelivered: a size-0 TCP flow is nc -z: it is
// delivered when the handshake and the FIN exchange complete, and the
// client's namespace sends and receives exactly Linux's six segments.
func TestTCPConnectAndCloseIsDelivered(t *testing.T) {
	s, err := topology.Parse("connect-close.yaml", []byte(connectCloseScenario))
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	res, err := r.Run(sim.Options{Trace: true})
	require.NoError(t, err)
	tests := []struct {
		flow string
		want []string
	}{
		{"nc-z", []string{"client S 0", "server S. 0", "client . 0", "client F. 0", "server F. 0", "client . 0"}},
		{"with-data", []string{"client S 0", "server S. 0", "client . 0", "client P. 100", "server . 0", "server P. 100",
			"client . 0", "client F. 0", "server F. 0", "client . 0"}},
	}
	for i, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			f := res.Flows[i]
			require.Equal(t, tt.flow, f.Name)
			assert.Equal(t, "delivered", f.Verdict.Result, "%+v", f.Verdict)
			assert.Equal(t, 1, f.Delivered)
			assert.Positive(t, f.RTT)
			var got []string
			for _, h := range f.Hops {
				m := segRE.FindStringSubmatch(h.Change)
				if m == nil {
					continue
				}
				who := "server"
				if h.Node == "default/client" {
					who = "client"
				}
				got = append(got, who+" "+m[3]+" "+m[4])
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
