// Package worldstate dumps what a built world holds, as far as a packet can
// change it, so that tests can compare two worlds that ran the same traffic
// two ways (the fast path on and off).
package worldstate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/cni/flannel"
	"netsim/dataplane/netfilter"
	"netsim/topology"
)

// Dump returns the clock and the events run (as the caller's loop reports
// them), the buffers still out of the pool, `show` of every namespace, and
// what show leaves out: every FDB entry's and neighbour's age, every
// device's counters, every rule's counters and every conntrack entry with
// its timeout, marks and packet counts.
func Dump(w *topology.World, now time.Duration, events uint64) (string, error) {
	var st strings.Builder
	fmt.Fprintf(&st, "now %v events %d pool out %d\n", now, events, w.Env.Pool.Out)
	if err := topology.WriteState(&st, w, ""); err != nil {
		return "", fmt.Errorf("worldstate: %w", err)
	}
	for _, h := range append(append([]*topology.Host(nil), w.Nodes...), w.Instances...) {
		if h.CNI == nil {
			continue
		}
		if br := flannel.Bridge(h.CNI); br != nil {
			var lines []string
			for _, e := range br.FDB() {
				lines = append(lines, fmt.Sprintf("%s updated %v", e.String(br), e.Updated))
			}
			sort.Strings(lines)
			fmt.Fprintf(&st, "## fdb %s\n%s\n", h.Name, strings.Join(lines, "\n"))
		}
	}
	for _, stk := range w.Stacks() {
		fmt.Fprintf(&st, "## %s\n", stk.Name)
		for _, ifc := range stk.Ifaces() {
			fmt.Fprintf(&st, "%s %+v\n", ifc.Dev.Name, ifc.Dev.Stats)
		}
		for _, n := range stk.Neighbours() {
			fmt.Fprintf(&st, "neigh %s dev %s lladdr %s %v updated %v\n", n.IP, n.Iface.Dev.Name, n.MAC, n.State, n.Updated)
		}
		if nf, ok := stk.Filter.(*netfilter.Netfilter); ok {
			st.WriteString(nf.Save(true, "raw", "mangle", "nat", "filter"))
			for _, c := range nf.Conntrack().Entries() {
				fmt.Fprintf(&st, "ct %s mark %#x packets %v\n", c.Format(now), c.Mark, c.Packets)
			}
		}
	}
	return st.String(), nil
}
