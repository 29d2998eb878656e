package sim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

// TestWrongNextHopLoop plays the wrong-next-hop scenario with node-2's
// sysctls varied: the martian check is what ends the loop. With
// accept_local=1 node-2 takes its own masqueraded packet back and forwards
// it again, until the TTL runs out; rp_filter does not matter (a local
// source is martian in every mode).
func TestWrongNextHopLoop(t *testing.T) {
	tests := []struct {
		name    string
		sysctls map[string]int
		reason  string
		where   string
		drops   int // drop records in the flow's trace
	}{
		{name: "defaults: one martian drop", reason: "martian-source", where: "node-2 eth0", drops: 1},
		{name: "rp_filter=1 changes nothing", sysctls: map[string]int{"net.ipv4.conf.all.rp_filter": 1}, reason: "martian-source", where: "node-2 eth0", drops: 1},
		{name: "rp_filter=2 on eth0 changes nothing", sysctls: map[string]int{"net.ipv4.conf.eth0.rp_filter": 2}, reason: "martian-source", where: "node-2 eth0", drops: 1},
		{name: "accept_local=1 loops until the TTL expires", sysctls: map[string]int{"net.ipv4.conf.all.accept_local": 1}, reason: "ttl-exceeded", where: "node-2 eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := topology.Load("../scenarios/flannel-alivpc-wrong-nexthop.yaml")
			require.NoError(t, err)
			require.Equal(t, "node-2", s.Nodes[1].Name)
			s.Nodes[1].Sysctls = tt.sysctls
			s.Flows = s.Flows[:3] // the two actions, then ecs-db → api-3
			require.Equal(t, "ecs-to-pod-on-node-3", s.Flows[2].Name)
			s.Flows[2].Expect = nil
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.Len(t, res.Flows, 1)
			v := res.Flows[0].Verdict
			assert.Equal(t, "dropped", v.Result)
			assert.Equal(t, tt.reason, v.Reason, v.Detail)
			assert.Equal(t, tt.where, v.Where)
			if tt.drops != 0 {
				assert.Len(t, r.World.Env.Trace.DropList(), tt.drops)
			}
		})
	}
}
