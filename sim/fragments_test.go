package sim_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

// TestFragmentedExchangesThroughNodes: 3000-byte datagrams, fragmented by
// the sender, pass the nodes' conntrack and NAT. nf_defrag_ipv4
// reassembles them before conntrack, so every fragment of a masqueraded
// datagram (and of its reply) gets the datagram's translation; without it
// only the first fragment, the one with the ICMP/UDP header, matched the
// connection and the rest went to the node itself, where they waited for
// a first fragment that never came (reasm-timeout). Two exchanges each,
// so that a leftover queue of the first would break the second.
func TestFragmentedExchangesThroughNodes(t *testing.T) {
	base, err := os.ReadFile("../scenarios/flannel-vxlan.yaml")
	require.NoError(t, err)
	head := string(base[:strings.Index(string(base), "\nflows:")])
	tests := []struct {
		from, to, proto string
		port            int
		seen            string
	}{
		{from: "pod/web-1", to: "ecs/ecs-db", proto: "icmp", seen: "192.168.0.10"},
		{from: "pod/web-1", to: "node/node-2", proto: "icmp", seen: "192.168.0.10"},
		{from: "pod/web-1", to: "pod/api-1", proto: "icmp", seen: "172.20.0.2"},
		{from: "pod/web-1", to: "pod/api-1", proto: "udp", port: 7, seen: "172.20.0.2"},
		{from: "node/node-1", to: "ecs/ecs-db", proto: "icmp", seen: "192.168.0.10"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s→%s/%s", tt.from, tt.to, tt.proto), func(t *testing.T) {
			flow := fmt.Sprintf("\nflows:\n  - {name: big, from: %s, to: %s, protocol: %s, port: %d, size: 3000, count: 2}\n", tt.from, tt.to, tt.proto, tt.port)
			s, err := topology.Parse("../scenarios/flannel-vxlan.yaml", []byte(head+flow))
			require.NoError(t, err)
			r, err := sim.NewRunner(s)
			require.NoError(t, err)
			res, err := r.Run(sim.Options{})
			require.NoError(t, err)
			require.Len(t, res.Flows, 1)
			f := res.Flows[0]
			assert.Equal(t, "delivered", f.Verdict.Result, "%s at %s: %s", f.Verdict.Reason, f.Verdict.Where, f.Verdict.Detail)
			assert.Equal(t, 2, f.Delivered)
			assert.Equal(t, tt.seen, f.SeenSource)
		})
	}
}
