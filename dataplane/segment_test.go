package dataplane_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netfilter"
	"netsim/dataplane/packet"
	"netsim/sim/worldstate"
)

// worldState is worldstate.Dump of the bench world.
func worldState(t *testing.T, bw *benchWorld) string {
	t.Helper()
	st, err := worldstate.Dump(bw.world, bw.loop.Now(), bw.loop.Events)
	require.NoError(t, err)
	return st
}

// TestSegmentsAreInvisible pushes the same flow through every benchmark
// path in two worlds built alike, one with the segment cache and one with
// the fast path off (link.Env.SlowPath), across jumps of the clock that
// age FDB entries, neighbours and connections out, and compares what the
// two worlds hold. Where the path's segments can be recorded it checks
// that they were replayed.
func TestSegmentsAreInvisible(t *testing.T) {
	type world struct {
		name   string
		make   func(testing.TB) *benchWorld
		replay bool // the path's segments are replayed
	}
	var worlds []world
	for _, p := range paths {
		worlds = append(worlds, world{p.name, func(tb testing.TB) *benchWorld {
			return newBenchWorld(tb, p.name, p.underlay, p.backend, p.dst, p.viaService)
		}, p.dst == "node-2" && p.backend != "udp"})
	}
	for _, p := range calicoPaths {
		worlds = append(worlds, world{p.name, func(tb testing.TB) *benchWorld {
			return newCalicoBenchWorld(tb, p.name, p.underlay, p.calico, p.dst)
		}, p.dst == "node-2"})
	}
	for _, p := range terwayPaths {
		worlds = append(worlds, world{p.name, func(tb testing.TB) *benchWorld {
			return newTerwayBenchWorld(tb, p.name, p.terway, p.dst)
		}, false})
	}
	for _, dst := range []string{"node-1", "node-2"} {
		worlds = append(worlds, world{"felix-" + dst, func(tb testing.TB) *benchWorld { return newFelixBenchWorld(tb, "felix-"+dst, dst) }, dst == "node-2"})
	}
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			fast, slow := w.make(t), w.make(t)
			slow.env.SlowPath = true
			// Every datagram differs (IP ID, payload, some corrupt), and
			// every packet crossing a delayed wire is kept, bytes and time.
			var crossed [2][]string
			for i, bw := range []*benchWorld{fast, slow} {
				bw.vary = true
				bw.loop.Tap = func(p *packet.Buffer) {
					crossed[i] = append(crossed[i], fmt.Sprintf("%v %x", bw.loop.Now(), p.Bytes()))
				}
			}
			before := fast.env.Flows.Replayed
			slowBefore := slow.env.Flows.Replayed // the warm-up ran with the cache on
			for _, bw := range []*benchWorld{fast, slow} {
				for step := 0; step < 6; step++ {
					bw.run(noTimer{}, 500)
					// 0, 40 s, 80 s, …: past conntrack's UDP and the
					// neighbours' timeouts; the last jump past FDB ageing.
					d := 40 * time.Second
					if step == 4 {
						d = 400 * time.Second
					}
					bw.loop.AfterFunc(d, func() {})
					bw.loop.Run()
				}
			}
			assert.Equal(t, worldState(t, slow), worldState(t, fast), "the worlds after 3,000 packets, segment cache on vs off")
			require.Equal(t, len(crossed[1]), len(crossed[0]), "packets crossing a delayed wire, cache on vs off")
			for i := range crossed[0] {
				require.Equal(t, crossed[1][i], crossed[0][i], "packet %d crossing a delayed wire, cache on vs off", i)
			}
			if w.replay {
				require.NotEmpty(t, crossed[0])
			}
			if w.replay {
				assert.Greater(t, fast.env.Flows.Replayed-before, uint64(2000), "segments replayed")
			}
			t.Logf("segments recorded %d, replayed %d", fast.env.Flows.Recorded, fast.env.Flows.Replayed-before)
			assert.Equal(t, slowBefore, slow.env.Flows.Replayed, "the slow world replayed segments")
		})
	}
}

// TestSegmentsFollowChanges changes the cross-node VXLAN world between
// bursts of packets — an MTU too small for them, a link down and up again,
// a DROP rule in FORWARD and its removal, a deleted neighbour — in two
// worlds, the segment cache on and off, and compares them after every step:
// a recorded segment must stop standing for the slow path the moment what it
// consulted changes.
func TestSegmentsFollowChanges(t *testing.T) {
	nf := func(bw *benchWorld, node string) *netfilter.Netfilter {
		return bw.world.Node(node).Stack.Filter.(*netfilter.Netfilter)
	}
	steps := []struct {
		name string
		do   func(t *testing.T, bw *benchWorld)
	}{
		{"flannel.1 MTU 80 on node-1", func(t *testing.T, bw *benchWorld) {
			bw.world.Node("node-1").Stack.Iface("flannel.1").Dev.SetMTU(80)
		}},
		{"flannel.1 MTU back", func(t *testing.T, bw *benchWorld) {
			bw.world.Node("node-1").Stack.Iface("flannel.1").Dev.SetMTU(1450)
		}},
		{"cni0 down on node-2", func(t *testing.T, bw *benchWorld) {
			require.NoError(t, bw.world.Node("node-2").Stack.SetLinkUp("cni0", false))
		}},
		{"cni0 up on node-2", func(t *testing.T, bw *benchWorld) {
			require.NoError(t, bw.world.Node("node-2").Stack.SetLinkUp("cni0", true))
		}},
		{"DROP in FORWARD on node-2", func(t *testing.T, bw *benchWorld) {
			require.NoError(t, nf(bw, "node-2").Insert("filter", "-I FORWARD -p udp --dport 9000 -j DROP"))
		}},
		{"the DROP deleted", func(t *testing.T, bw *benchWorld) {
			require.NoError(t, nf(bw, "node-2").Delete("filter", "-D FORWARD -p udp --dport 9000 -j DROP"))
		}},
		{"node-2's neighbour of pod b deleted", func(t *testing.T, bw *benchWorld) {
			bw.world.Node("node-2").Stack.DelNeigh("cni0", bw.dst.Addr())
		}},
	}
	fast := newBenchWorld(t, "follow", "vpc", "vxlan", "node-2", false)
	slow := newBenchWorld(t, "follow", "vpc", "vxlan", "node-2", false)
	slow.env.SlowPath = true
	before := fast.env.Flows.Replayed
	for _, bw := range []*benchWorld{fast, slow} {
		bw.run(noTimer{}, 200)
	}
	require.Equal(t, worldState(t, slow), worldState(t, fast), "before any change")
	for _, st := range steps {
		for _, bw := range []*benchWorld{fast, slow} {
			st.do(t, bw)
			bw.run(noTimer{}, 200)
		}
		require.Equal(t, worldState(t, slow), worldState(t, fast), "after %s", st.name)
	}
	assert.Greater(t, fast.env.Flows.Replayed-before, uint64(600), "segments replayed between the changes")
}
