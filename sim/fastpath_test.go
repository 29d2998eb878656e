package sim_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/netfilter"
	"netsim/sim"
	"netsim/topology"
)

// runPath runs a bundled scenario with the fast path's caches on or off
// (link.Env.SlowPath), tracing every exchange or none, and returns the
// JSON report, a dump of the state the run left in every namespace, and
// how many chain walks the fast path replayed.
func runPath(t *testing.T, file string, slow, traced bool) (js, state string, replayed uint64) {
	t.Helper()
	s, err := topology.Load(file)
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	r.World.Env.SlowPath = slow
	res, err := r.Run(sim.Options{Trace: traced, TraceAll: traced})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, sim.WriteJSON(&b, res))
	var st strings.Builder
	for _, stk := range r.World.Stacks() {
		fmt.Fprintf(&st, "## %s\n", stk.Name)
		for _, ifc := range stk.Ifaces() {
			fmt.Fprintf(&st, "%s %+v\n", ifc.Dev.Name, ifc.Dev.Stats)
		}
		for _, n := range stk.Neighbours() {
			fmt.Fprintf(&st, "neigh %s dev %s lladdr %s %v updated %v\n", n.IP, n.Iface.Dev.Name, n.MAC, n.State, n.Updated)
		}
		if nf, ok := stk.Filter.(*netfilter.Netfilter); ok {
			st.WriteString(nf.Save(true, "raw", "mangle", "nat", "filter"))
			now := r.Loop.Now()
			for _, c := range nf.Conntrack().Entries() {
				fmt.Fprintf(&st, "ct %s mark %#x packets %v\n", c.Format(now), c.Mark, c.Packets)
			}
			replayed += nf.Replayed
		}
	}
	return b.String(), st.String(), replayed
}

// TestFastPathIsInvisible runs every bundled scenario with the fast path
// on and off: traced (every exchange) the JSON reports are byte for byte
// the same, and untraced the state every namespace is left in — device
// counters, neighbours, iptables-save -c of every table, the conntrack
// table with marks and packet counts — is the same. It also checks that
// the fast path was taken at all.
func TestFastPathIsInvisible(t *testing.T) {
	var replayed uint64
	for _, f := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			for _, traced := range []bool{true, false} {
				fastJS, fastState, n := runPath(t, f, false, traced)
				slowJS, slowState, m := runPath(t, f, true, traced)
				require.Zero(t, m, "the slow path replayed chain walks")
				replayed += n
				if traced {
					assert.Equal(t, slowJS, fastJS, "traced report, fast path on vs off")
				}
				assert.Equal(t, slowState, fastState, "state after the run (traced %v), fast path on vs off", traced)
			}
		})
	}
	t.Logf("chain walks replayed over the bundled scenarios: %d", replayed)
	require.Positive(t, replayed, "the fast path was never taken")
}
