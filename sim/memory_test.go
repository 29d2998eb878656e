package sim_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/pcap"
	"netsim/sim"
	"netsim/topology"
)

// bulkScenario is two pods on two flannel-vxlan nodes and one flow of
// count exchanges.
func bulkScenario(flow string, count int) string {
	return fmt.Sprintf(`name: bulk
seed: 1
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
    - {name: vsw-b, zone: z2, cidr: 192.168.1.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-b}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel, flannel: {backend: vxlan}}
pods:
  - {name: a, node: node-1}
  - {name: b, node: node-2, ports: [{port: 8080, protocol: TCP}]}
flows:
  - {name: bulk, from: pod/a, to: pod/b, %s, count: %d, expect: delivered}
`, flow, count)
}

// heapAfterRun runs the scenario as netsim run does when it keeps no trace
// (the report streamed, a flow's hops dropped once written; the capture,
// if any, streamed to a discarding writer) and returns the heap in use
// after a GC with the world still alive.
func heapAfterRun(t *testing.T, text string, capture bool) uint64 {
	t.Helper()
	file := filepath.Join(t.TempDir(), "bulk.yaml")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o644))
	s, err := topology.Load(file)
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	if capture {
		sink, err := pcap.NewStreamSink(io.Discard, r.Loop.Now, r.Rec)
		require.NoError(t, err)
		r.World.Env.Capture = sink
	}
	js := sim.NewJSONStream(io.Discard)
	res, err := r.Run(sim.Options{Trace: true, OnFlow: func(res *sim.Result, fr *sim.FlowResult) error {
		err := js.Flow(res, fr)
		fr.DropTrace()
		return err
	}})
	require.NoError(t, err)
	require.NoError(t, js.Close(res))
	require.True(t, res.AllMet(), "%s", res.Flows[0].Mismatch)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	runtime.KeepAlive(r)
	return m.HeapInuse
}

// TestMemoryIsFlatInExchanges runs a flow with count n and 10n (or 2n) exchanges
// and compares the heap kept. What a run keeps per exchange is what the
// kernel keeps: conntrack entries and TIME-WAIT sockets, until their
// timeouts (ICMP 30 s at one ping a second; a closed TCP connection 120 s
// in conntrack at one exchange per 10 ms, at most 12,000 a namespace).
// Beyond that window nothing grows: no trace, no frame, no packet label.
func TestMemoryIsFlatInExchanges(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tens of thousands of exchanges")
	}
	tests := []struct {
		name    string
		flow    string
		n       int
		times   int // the second run has times×n exchanges (default 10)
		capture bool
		// slack is the most the 10n run may keep beyond the n run.
		slack uint64
	}{
		// 40 s and 400 s of pings: both past the 30 s ICMP timeout.
		{name: "icmp", flow: "protocol: icmp", n: 40, slack: 1 << 20},
		{name: "icmp with a capture", flow: "protocol: icmp", n: 40, capture: true, slack: 1 << 20},
		// 65,000-byte TCP exchanges: 100 and 1,000 closed connections, all
		// within conntrack's 120 s TIME_WAIT: the conntrack entries of the
		// four namespaces they cross and the client's TIME-WAIT socket,
		// 2 to 3 KiB each with the tables' spare room; nothing for their frames or hops.
		{name: "big tcp with a capture", flow: "protocol: tcp, port: 8080, size: 65000", n: 100, capture: true, slack: 900 * 4096},
		// Past the window (14,000 exchanges of ~10 ms are 140 s) the
		// expired entries are reaped: twice the exchanges, the same heap.
		{name: "tcp past the conntrack window", flow: "protocol: tcp, port: 8080, size: 100", n: 14000, times: 2, slack: 4 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			times := tt.times
			if times == 0 {
				times = 10
			}
			one := heapAfterRun(t, bulkScenario(tt.flow, tt.n), tt.capture)
			ten := heapAfterRun(t, bulkScenario(tt.flow, times*tt.n), tt.capture)
			t.Logf("%s: count %d: heap %.1f MiB; count %d: heap %.1f MiB (×%.2f)", tt.name, tt.n, float64(one)/(1<<20), times*tt.n, float64(ten)/(1<<20), float64(ten)/float64(one))
			assert.LessOrEqual(t, ten, one+tt.slack, "the bigger run keeps %d KiB more", (int64(ten)-int64(one))>>10)
		})
	}
}
