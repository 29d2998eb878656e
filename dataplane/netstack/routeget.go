package netstack

import (
	"fmt"
	"net/netip"

	"netsim/dataplane/trace"
)

// RouteGetResult is what `ip route get DST from SRC iif DEV [mark M]`
// answers: the input route decision for a packet arriving on a device,
// with the rules, the tables and the source validation of
// ip_route_input_slow, or the error the kernel returns.
type RouteGetResult struct {
	// Route is the route chosen (nil for local delivery and on errors).
	Route *Route
	// Table is the table that held it.
	Table uint32
	// Rule is the rule that chose it (nil with only the default rules).
	Rule *Rule
	// Local is set when the destination is one of the namespace's own
	// addresses or broadcast addresses (table local).
	Local bool
	// Errno is the error iproute2 prints after "RTNETLINK answers: ", or
	// "" on success: "Network is unreachable" (no route, or an
	// unreachable rule), "No route to host" (an unreachable route, or
	// forwarding off), "Invalid argument" (blackhole; a martian source or
	// destination, rp_filter's included: ip_route_input_slow answers
	// EINVAL for every martian), "Permission denied" (prohibit).
	Errno string
	// Detail is netsim's explanation of an error (the drop's detail).
	Detail string
}

// RouteGet answers `ip route get dst from src iif dev mark mark` without
// sending a packet: the same checks a packet arriving on dev meets in
// routeInput (martian addresses, local table, rules and tables,
// forwarding, fib_validate_source), for comparing with a kernel.
func (s *Stack) RouteGet(dst, src netip.Addr, iif string, mark uint32) (RouteGetResult, error) {
	ifc := s.Iface(iif)
	if ifc == nil {
		return RouteGetResult{}, fmt.Errorf("namespace %s: Cannot find device %q", s.Name, iif)
	}
	var res RouteGetResult
	s.probe = &res
	defer func() { s.probe = nil }()
	if !s.martianInput(ifc, nil, src, dst) {
		return res, nil
	}
	if s.IsLocal(dst) || s.isBroadcast(dst) {
		res.Local = true
		if !s.validateSource(ifc, nil, nil, src, dst) {
			res.Local = false
		}
		return res, nil
	}
	if !s.Forwarding {
		res.Errno, res.Detail = "No route to host", "ip_forward=0"
		return res, nil
	}
	r, ru := s.fibLookup(dst, src, ifc, nil, mark)
	switch {
	case r == nil:
		res.Errno, res.Detail = "Network is unreachable", "no route"
		return res, nil
	case r.Type != RouteUnicast:
		res.Errno, res.Detail = routeErrno(r, ru), routeText(r, ru)
		return res, nil
	}
	res.Route, res.Rule, res.Table = r, ru, TableMain
	if ru != nil {
		res.Table = ru.Table
	} else if s.Routes.Lookup(dst) != r {
		res.Table = TableDefault
	}
	if !s.validateSource(ifc, r.Dev, nil, src, dst) {
		res.Route, res.Rule, res.Table = nil, nil, 0
	}
	return res, nil
}

// routeErrno is the error a non-unicast route or rule gives: a rule's
// action returns its own error (fib_rule_match → FR_ACT_*), a route's
// type the error of fib_props.
func routeErrno(r *Route, ru *Rule) string {
	if ru != nil && ru.Action != RuleLookup {
		switch ru.Action {
		case RuleBlackhole:
			return "Invalid argument"
		case RuleUnreachable:
			return "Network is unreachable"
		case RuleProhibit:
			return "Permission denied"
		}
	}
	switch r.Type {
	case RouteBlackhole:
		return "Invalid argument"
	case RouteUnreachable:
		return "No route to host"
	case RouteProhibit:
		return "Permission denied"
	}
	return ""
}

// probeDrop records, during RouteGet, the drop a packet would have met:
// every check RouteGet runs drops as a martian (EINVAL).
func (s *Stack) probeDrop(_ trace.Reason, detail string) {
	s.probe.Errno = "Invalid argument"
	s.probe.Detail = detail
}
