package topology

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"netsim/dataplane/netstack"
	"netsim/dataplane/vpc"
)

// VPCRouteLines lists a VPC route table the way the console lists it, the
// entries deleted (and not created again) included and marked.
func VPCRouteLines(v *vpc.VPC) []string {
	type line struct {
		p    netip.Prefix
		text string
	}
	var lines []line
	for _, e := range v.Routes() {
		lines = append(lines, line{e.Destination, e.String()})
	}
	for _, e := range v.Deleted() {
		lines = append(lines, line{e.Destination, e.String() + " — DELETED"})
	}
	slices.SortStableFunc(lines, func(a, b line) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return a.p.Bits() - b.p.Bits()
	})
	var out []string
	for _, l := range lines {
		out = append(out, l.text)
	}
	return out
}

// writeRemovedRoutes lists, after a namespace's `ip route`, the routes it
// no longer has: deleted by an action, or flushed because their device is
// down. ip route does not print them; netsim marks them as comments.
func writeRemovedRoutes(w io.Writer, wd *World, st *netstack.Stack) {
	for _, r := range wd.DeletedRoutes(st) {
		fmt.Fprintf(w, "# deleted (ip route del): %s\n", r)
	}
	for _, r := range st.Flushed() {
		fmt.Fprintf(w, "# flushed (dev %s down): %s\n", r.Dev.Dev.Name, r)
	}
}

// writeActionOverview lists the scenario's actions between flows, for
// validate: where each one is and what it does.
func writeActionOverview(w io.Writer, wd *World) {
	for i, f := range wd.Scenario.Flows {
		if f.Action == "" {
			continue
		}
		var args []string
		set := f.ActionSpec.set()
		for _, k := range actionFieldOrder {
			if !set[k] {
				continue
			}
			v := map[string]string{"destination": f.Destination, "nextHop": f.NextHop, "node": f.Node, "pod": f.Pod,
				"device": f.Device, "route": f.Route, "rule": f.Rule, "deployment": f.Deployment}[k]
			if k == "replicas" {
				v = strconv.Itoa(*f.Replicas)
			}
			args = append(args, k+" "+v)
		}
		name := f.Name
		if name == "" {
			name = f.Action
		}
		fmt.Fprintf(w, "  action %s (flows[%d]): %s\n", name, i, strings.TrimSpace(f.Action+" "+strings.Join(args, ", ")))
	}
}
