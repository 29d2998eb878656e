// Package ipvs is the kernel's IP Virtual Server as kube-proxy's IPVS mode
// uses it: virtual services (VIP:port/proto) with real servers, the rr, lc
// and sh schedulers, persistence (sessionAffinity ClientIP), NAT
// ("masquerading") forwarding with its own connection table, and the
// `ipvsadm -Ln` listing.
package ipvs

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Schedulers.
const (
	RoundRobin      = "rr"
	LeastConnection = "lc"
	SourceHashing   = "sh"
)

// Proto is "TCP", "UDP" or "SCTP" (as ipvsadm prints it).
type Proto string

// RealServer is a backend of a virtual service.
type RealServer struct {
	Addr   netip.Addr
	Port   uint16
	Weight int
	// ActiveConn and InActConn are what ipvsadm -Ln shows.
	ActiveConn, InActConn int
}

// VirtualService is one IPVS service.
type VirtualService struct {
	Addr      netip.Addr
	Port      uint16
	Proto     Proto
	Scheduler string
	// Persistence is the persistent timeout (ipvsadm -p), 0 when off.
	Persistence time.Duration
	Reals       []*RealServer
	// Comment is for people (e.g. "default/web:http"); not printed by ipvsadm.
	Comment string

	rrNext int
}

// Key is "PROTO ADDR:PORT".
func (v *VirtualService) Key() string {
	return fmt.Sprintf("%s %s", v.Proto, netip.AddrPortFrom(v.Addr, v.Port))
}

// Table holds a node's virtual services.
type Table struct {
	services map[svcKey]*VirtualService
}

type svcKey struct {
	addr  netip.Addr
	port  uint16
	proto Proto
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{services: map[svcKey]*VirtualService{}} }

// Add adds (or replaces) a virtual service.
func (t *Table) Add(v *VirtualService) {
	if v.Scheduler == "" {
		v.Scheduler = RoundRobin
	}
	t.services[svcKey{v.Addr, v.Port, v.Proto}] = v
}

// Get returns the virtual service for addr:port/proto, or nil.
func (t *Table) Get(addr netip.Addr, port uint16, proto Proto) *VirtualService {
	return t.services[svcKey{addr, port, proto}]
}

// Services returns the services sorted as ipvsadm -Ln lists them
// (by protocol, address, port).
func (t *Table) Services() []*VirtualService {
	out := make([]*VirtualService, 0, len(t.services))
	for _, v := range t.services {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.Addr != b.Addr {
			return a.Addr.Less(b.Addr)
		}
		return a.Port < b.Port
	})
	return out
}

// Len is the number of virtual services.
func (t *Table) Len() int { return len(t.services) }

// Format prints the table as `ipvsadm -Ln` does.
func (t *Table) Format() string {
	var b strings.Builder
	b.WriteString("IP Virtual Server version 1.2.1 (size=4096)\n")
	b.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
	b.WriteString("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	for _, v := range t.Services() {
		line := fmt.Sprintf("%s  %s %s", v.Proto, netip.AddrPortFrom(v.Addr, v.Port), v.Scheduler)
		if v.Persistence > 0 {
			line += fmt.Sprintf(" persistent %d", int(v.Persistence/time.Second))
		}
		b.WriteString(line + "\n")
		for _, r := range v.Reals {
			fmt.Fprintf(&b, "  -> %-28s Masq    %-6d %-10d %d\n", netip.AddrPortFrom(r.Addr, r.Port), r.Weight, r.ActiveConn, r.InActConn)
		}
	}
	return b.String()
}
