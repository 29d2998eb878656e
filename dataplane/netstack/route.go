package netstack

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/gaissmai/bart"
)

// RouteType is the kernel route type.
type RouteType uint8

// Route types (`ip route add TYPE ...`).
const (
	RouteUnicast RouteType = iota
	RouteBlackhole
	RouteUnreachable
	RouteProhibit
)

// Route is one entry of the main routing table.
type Route struct {
	Dst    netip.Prefix
	Gw     netip.Addr // invalid: directly connected
	Dev    *Iface     // nil only for blackhole/unreachable/prohibit
	Onlink bool
	// Proto is "kernel" for connected routes, "" for static ones (boot).
	Proto string
	// Scope is "link" for connected routes, "" for universe.
	Scope string
	// Src is the preferred source address (`src`), if any.
	Src    netip.Addr
	Metric int
	Type   RouteType
	// MTU, if non-zero, overrides the device MTU for this route (`mtu lock`).
	MTU int
}

// String prints the route as `ip route show` does, e.g.
// "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink".
func (r *Route) String() string { return r.StringIn(TableMain) }

// StringIn prints the route as `ip route show table all` does for a route
// of table id: "table ID" after the device for tables other than main.
func (r *Route) StringIn(id uint32) string {
	var b strings.Builder
	switch r.Type {
	case RouteBlackhole:
		b.WriteString("blackhole ")
	case RouteUnreachable:
		b.WriteString("unreachable ")
	case RouteProhibit:
		b.WriteString("prohibit ")
	}
	switch r.Dst.Bits() {
	case 0:
		b.WriteString("default")
	case 32:
		b.WriteString(r.Dst.Addr().String()) // iproute2 omits /32
	default:
		b.WriteString(r.Dst.String())
	}
	if r.Gw.IsValid() {
		b.WriteString(" via ")
		b.WriteString(r.Gw.String())
	}
	if r.Dev != nil {
		b.WriteString(" dev ")
		b.WriteString(r.Dev.Dev.Name)
	}
	if id != TableMain {
		b.WriteString(" table ")
		b.WriteString(TableName(id))
	}
	if r.Proto != "" {
		b.WriteString(" proto ")
		b.WriteString(r.Proto)
	}
	if r.Scope != "" {
		b.WriteString(" scope ")
		b.WriteString(r.Scope)
	}
	if r.Src.IsValid() {
		b.WriteString(" src ")
		b.WriteString(r.Src.String())
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	// iproute2 prints the flags (onlink, linkdown) before the metrics.
	if r.Onlink {
		b.WriteString(" onlink")
	}
	if r.Dev != nil && !r.Dev.Dev.Up() {
		b.WriteString(" linkdown")
	}
	if r.MTU != 0 {
		fmt.Fprintf(&b, " mtu lock %d", r.MTU)
	}
	return b.String()
}

// RouteTable is a longest-prefix-match table of routes (the main table).
// Several routes may share a prefix; the lowest metric wins.
type RouteTable struct {
	t bart.Table[[]*Route]
	n int
	// gen advances with every change (see Stack.gen).
	gen uint64
	// peers is the shared layer of per-peer routes (AttachPeers), nil
	// without one.
	peers *peerRoutes
}

// Add inserts r. A route with the same prefix, metric and device is an
// error, as `ip route add` says "File exists".
func (t *RouteTable) Add(r *Route) error {
	t.gen++
	if p := t.peers; p != nil {
		if i := p.set.exact(r.Dst); p.has(i) {
			// Copy-on-write: the shared route becomes the table's own.
			if err := t.own(i); err != nil {
				return err
			}
		}
	}
	return t.addOwn(r)
}

func (t *RouteTable) addOwn(r *Route) error {
	list, _ := t.t.Get(r.Dst)
	for _, o := range list {
		if o.Metric == r.Metric {
			return fmt.Errorf("route %s: RTNETLINK answers: File exists (have %s)", r, o)
		}
	}
	list = append(slices.Clone(list), r)
	slices.SortStableFunc(list, func(a, b *Route) int { return a.Metric - b.Metric })
	t.t.Insert(r.Dst, list)
	t.n++
	if t.peers != nil && t.peers.deeperThanPeer(r.Dst) {
		t.peers.deeper++
	}
	return nil
}

// Delete removes the route equal to r (by prefix, metric and device).
func (t *RouteTable) Delete(r *Route) bool {
	t.gen++
	list, ok := t.t.Get(r.Dst)
	if !ok {
		if p := t.peers; p != nil {
			if i := p.set.exact(r.Dst); p.has(i) && (r == p.cached(i) || (r.Metric == p.template(i).Metric && r.Dev == p.template(i).Dev)) {
				p.mask(i)
				return true
			}
		}
		return false
	}
	for i, o := range list {
		if o == r || (o.Metric == r.Metric && o.Dev == r.Dev) {
			list = slices.Delete(slices.Clone(list), i, i+1)
			if len(list) == 0 {
				t.t.Delete(r.Dst)
			} else {
				t.t.Insert(r.Dst, list)
			}
			t.n--
			if t.peers != nil && t.peers.deeperThanPeer(r.Dst) {
				t.peers.deeper--
			}
			return true
		}
	}
	return false
}

// Lookup returns the best route for dst, or nil.
func (t *RouteTable) Lookup(dst netip.Addr) *Route {
	if t.peers != nil {
		if r := t.peerLookup(dst); r != nil {
			return r
		}
	}
	return t.lookupOwn(dst)
}

// lookupOwn is Lookup among the table's own routes.
func (t *RouteTable) lookupOwn(dst netip.Addr) *Route {
	list, ok := t.t.Lookup(dst)
	if !ok {
		return nil
	}
	return list[0]
}

// Len is the number of routes.
func (t *RouteTable) Len() int { return t.n + t.PeerRoutes() }

// All returns every route sorted as `ip route show` sorts them: by
// prefix (default first), then metric.
func (t *RouteTable) All() []*Route {
	var out []*Route
	p := t.peers
	if p != nil {
		out = make([]*Route, 0, t.Len())
	}
	k := 0 // next peer in p.set.sorted
	for pfx, list := range t.t.AllSorted4() {
		if p != nil {
			for ; k < len(p.set.sorted) && cmpPrefix(p.set.peers[p.set.sorted[k]].Dst, pfx) < 0; k++ {
				if i := p.set.sorted[k]; p.has(i) {
					out = append(out, p.view(i))
				}
			}
		}
		out = append(out, list...)
	}
	if p != nil {
		for ; k < len(p.set.sorted); k++ {
			if i := p.set.sorted[k]; p.has(i) {
				out = append(out, p.view(i))
			}
		}
	}
	return out
}
