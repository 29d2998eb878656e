package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"netsim/dataplane/netstack"
	"netsim/topology/hint"
)

// RouteSpec is an `ip route` route as written in an action: the selector
// of `ip route del` or the route of `ip route add`.
type RouteSpec struct {
	Dst    netip.Prefix
	Gw     netip.Addr
	Dev    string
	Onlink bool
	Src    netip.Addr
	// Metric is set when HasMetric ("metric N", "preference N").
	Metric    int
	HasMetric bool
	Type      netstack.RouteType
	HasType   bool
	MTU       int
	// Table is the routing table ("table N|main|local|default"); 0 is main.
	Table uint32
}

// ParseRouteSpec parses the arguments of `ip route add|del`:
// [TYPE] PREFIX|default [via GW] [dev DEV] [onlink] [src ADDR]
// [metric N] [mtu [lock] N], TYPE one of unicast, blackhole, unreachable,
// prohibit. A bare address is a /32 as for iproute2.
func ParseRouteSpec(text string) (RouteSpec, error) {
	var r RouteSpec
	words := strings.Fields(text)
	if len(words) == 0 {
		return r, fmt.Errorf("empty route: expected e.g. \"172.20.2.0/24 via 172.20.2.0 dev flannel.1 onlink\"")
	}
	types := map[string]netstack.RouteType{"unicast": netstack.RouteUnicast, "blackhole": netstack.RouteBlackhole,
		"unreachable": netstack.RouteUnreachable, "prohibit": netstack.RouteProhibit}
	if t, ok := types[words[0]]; ok {
		r.Type, r.HasType = t, true
		if words = words[1:]; len(words) == 0 {
			return r, fmt.Errorf("route %q: a destination must follow the route type", text)
		}
	}
	switch dst := words[0]; {
	case dst == "default":
		r.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	case strings.Contains(dst, "/"):
		p, err := netip.ParsePrefix(dst)
		if err != nil || !p.Addr().Is4() {
			return r, fmt.Errorf("route %q: %q is not an IPv4 prefix", text, dst)
		}
		if p != p.Masked() {
			// iproute2: "Error: Invalid prefix for given prefix length."
			return r, fmt.Errorf("route %q: %s has host bits set (Error: Invalid prefix for given prefix length; did you mean %s?)", text, p, p.Masked())
		}
		r.Dst = p
	default:
		a, err := netip.ParseAddr(dst)
		if err != nil || !a.Is4() {
			return r, fmt.Errorf("route %q: %q is not an IPv4 prefix, address or \"default\"", text, dst)
		}
		r.Dst = netip.PrefixFrom(a, 32)
	}
	words = words[1:]
	need := func(i int, what string) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("route %q: %s needs %s", text, words[i], what)
		}
		return words[i+1], nil
	}
	needAddr := func(i int, what string) (netip.Addr, error) {
		v, err := need(i, what)
		if err != nil {
			return netip.Addr{}, err
		}
		a, perr := netip.ParseAddr(v)
		if perr != nil || !a.Is4() {
			return netip.Addr{}, fmt.Errorf("route %q: %s %q is not an IPv4 address", text, words[i], v)
		}
		return a, nil
	}
	for i := 0; i < len(words); i++ {
		switch words[i] {
		case "via":
			a, err := needAddr(i, "a gateway address")
			if err != nil {
				return r, err
			}
			r.Gw = a
			i++
		case "dev", "oif":
			v, err := need(i, "a device name")
			if err != nil {
				return r, err
			}
			r.Dev = v
			i++
		case "onlink":
			r.Onlink = true
		case "src":
			a, err := needAddr(i, "an address")
			if err != nil {
				return r, err
			}
			r.Src = a
			i++
		case "metric", "preference", "priority":
			v, err := need(i, "a number")
			if err != nil {
				return r, err
			}
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 {
				return r, fmt.Errorf("route %q: metric %q is not a number", text, v)
			}
			r.Metric, r.HasMetric = n, true
			i++
		case "mtu":
			v, err := need(i, "a number")
			if err != nil {
				return r, err
			}
			if v == "lock" {
				i++
				if v, err = need(i, "a number"); err != nil {
					return r, err
				}
			}
			n, perr := strconv.Atoi(v)
			if perr != nil || n <= 0 {
				return r, fmt.Errorf("route %q: mtu %q is not a number", text, v)
			}
			r.MTU = n
			i++
		case "table":
			v, err := need(i, "a table id or name")
			if err != nil {
				return r, err
			}
			id, err := ParseTable(v)
			if err != nil {
				return r, fmt.Errorf("route %q: %v", text, err)
			}
			r.Table = id
			i++
		default:
			return r, fmt.Errorf("route %q: unknown word %q (netsim reads: [TYPE] PREFIX [via GW] [dev DEV] [onlink] [src ADDR] [metric N] [mtu [lock] N] [table ID])", text, words[i])
		}
	}
	return r, nil
}

func (w *World) deleteNodeRoute(a ActionSpec) (*ActionOutcome, error) {
	st, who, err := w.actionStack(a)
	if err != nil {
		return nil, err
	}
	spec, err := ParseRouteSpec(a.Route)
	if err != nil {
		return nil, actionErrf("route", "%v", err)
	}
	// fib_table_delete: the first route of the prefix whose attributes
	// match every attribute given.
	table := st.Table(tableOr(spec.Table))
	var found *netstack.Route
	for _, r := range table.All() {
		switch {
		case r.Dst != spec.Dst,
			spec.Gw.IsValid() && r.Gw != spec.Gw,
			spec.Dev != "" && (r.Dev == nil || r.Dev.Dev.Name != spec.Dev),
			spec.HasMetric && r.Metric != spec.Metric,
			spec.HasType && r.Type != spec.Type:
			continue
		}
		found = r
		break
	}
	if found == nil {
		var have []string
		for _, r := range table.All() {
			have = append(have, r.String())
		}
		return nil, actionErrf("route", "ip route del %s on %s: RTNETLINK answers: No such process (no such route; routes: %s)", a.Route, who, strings.Join(have, "; "))
	}
	table.Delete(found)
	if w.deletedRoutes == nil {
		w.deletedRoutes = map[*netstack.Stack][]*netstack.Route{}
	}
	w.deletedRoutes[st] = append(w.deletedRoutes[st], found)
	// As `ip route show table ID` prints it, with the table named when not main.
	text := found.String()
	if t := tableOr(spec.Table); t != netstack.TableMain {
		text += " table " + netstack.TableName(t)
	}
	return &ActionOutcome{Text: fmt.Sprintf("ip route del %s on %s", text, who), Command: "ip route del " + a.Route,
		Output: []string{"deleted: " + text}}, nil
}

func (w *World) addNodeRoute(a ActionSpec) (*ActionOutcome, error) {
	st, who, err := w.actionStack(a)
	if err != nil {
		return nil, err
	}
	spec, err := ParseRouteSpec(a.Route)
	if err != nil {
		return nil, actionErrf("route", "%v", err)
	}
	r := &netstack.Route{Dst: spec.Dst, Gw: spec.Gw, Onlink: spec.Onlink, Src: spec.Src, Metric: spec.Metric, Type: spec.Type, MTU: spec.MTU}
	if spec.Dev != "" {
		r.Dev = st.Iface(spec.Dev)
		if r.Dev == nil {
			names := deviceNames(st)
			// iproute2: Cannot find device "X"
			return nil, actionErrf("route", "ip route add %s on %s: Cannot find device %q (devices: %s)%s", a.Route, who, spec.Dev, strings.Join(names, ", "), hint.DidYouMean(spec.Dev, names))
		}
	} else if spec.Gw.IsValid() {
		// Without dev, the kernel finds the device of the gateway's route.
		if gr := st.Routes.Lookup(spec.Gw); gr != nil && !gr.Gw.IsValid() && gr.Dev != nil {
			r.Dev = gr.Dev
		}
	}
	if r.Dev == nil && r.Type == netstack.RouteUnicast {
		return nil, actionErrf("route", "ip route add %s on %s: RTNETLINK answers: Network is unreachable (name dev DEVICE, or a gateway on a connected network)", a.Route, who)
	}
	if err := st.AddTableRoute(tableOr(spec.Table), r); err != nil {
		return nil, actionErrf("route", "ip route add %s on %s: %v", a.Route, who, err)
	}
	if list := w.deletedRoutes[st]; list != nil {
		w.deletedRoutes[st] = slices.DeleteFunc(list, func(o *netstack.Route) bool { return o.Dst == r.Dst && o.Metric == r.Metric })
	}
	text := r.String()
	if t := tableOr(spec.Table); t != netstack.TableMain {
		text += " table " + netstack.TableName(t)
	}
	return &ActionOutcome{Text: fmt.Sprintf("ip route add %s on %s", text, who), Command: "ip route add " + a.Route}, nil
}

// DeletedRoutes returns the routes an action deleted from a namespace and
// no action added back.
func (w *World) DeletedRoutes(st *netstack.Stack) []*netstack.Route { return w.deletedRoutes[st] }

// tableOr is the table of a spec: main when none was named.
func tableOr(id uint32) uint32 {
	if id == 0 {
		return netstack.TableMain
	}
	return id
}

// ParseTable reads a routing table as iproute2 takes it: main, local,
// default or a number from 1 to 4294967295.
func ParseTable(v string) (uint32, error) {
	switch v {
	case "main":
		return netstack.TableMain, nil
	case "local":
		return netstack.TableLocal, nil
	case "default":
		return netstack.TableDefault, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("table %q: expected main, local, default or a number from 1 to 4294967295", v)
	}
	return uint32(n), nil
}
