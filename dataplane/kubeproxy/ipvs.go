package kubeproxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/ipvs"
	"netsim/dataplane/netfilter"
)

// IPVS mode follows kube-proxy's IPVS proxier of Kubernetes v1.32
// (pkg/proxy/ipvs/proxier.go syncProxyRules, writeIptablesRules,
// acceptIPVSTraffic, createAndLinkKubeChain, syncService, syncEndpoint;
// ipset.go for the set names, types and comments).

// DummyDevice is the dummy interface the service addresses are bound to.
const DummyDevice = "kube-ipvs0"

// Chains of the IPVS proxier.
const (
	kubeNodePortChain             = "KUBE-NODE-PORT"
	kubeLoadBalancerChain         = "KUBE-LOAD-BALANCER"
	kubeSourceRangesFirewallChain = "KUBE-SOURCE-RANGES-FIREWALL"
	kubeIPVSFilterChain           = "KUBE-IPVS-FILTER"
	kubeIPVSOutFilterChain        = "KUBE-IPVS-OUT-FILTER"
)

// The ipsets of the IPVS proxier.
const (
	kubeLoopBackIPSet             = "KUBE-LOOP-BACK"
	kubeClusterIPSet              = "KUBE-CLUSTER-IP"
	kubeExternalIPSet             = "KUBE-EXTERNAL-IP"
	kubeExternalIPLocalSet        = "KUBE-EXTERNAL-IP-LOCAL"
	kubeLoadBalancerSet           = "KUBE-LOAD-BALANCER"
	kubeLoadBalancerFWSet         = "KUBE-LOAD-BALANCER-FW"
	kubeLoadBalancerLocalSet      = "KUBE-LOAD-BALANCER-LOCAL"
	kubeLoadBalancerSourceIPSet   = "KUBE-LOAD-BALANCER-SOURCE-IP"
	kubeLoadBalancerSourceCIDRSet = "KUBE-LOAD-BALANCER-SOURCE-CIDR"
	kubeNodePortSetTCP            = "KUBE-NODE-PORT-TCP"
	kubeNodePortLocalSetTCP       = "KUBE-NODE-PORT-LOCAL-TCP"
	kubeNodePortSetUDP            = "KUBE-NODE-PORT-UDP"
	kubeNodePortLocalSetUDP       = "KUBE-NODE-PORT-LOCAL-UDP"
	kubeNodePortSetSCTP           = "KUBE-NODE-PORT-SCTP-HASH"
	kubeNodePortLocalSetSCTP      = "KUBE-NODE-PORT-LOCAL-SCTP-HASH"
	kubeHealthCheckNodePortSet    = "KUBE-HEALTH-CHECK-NODE-PORT"
	kubeIPVSSet                   = "KUBE-IPVS-IPS"
)

// ipsetInfo is upstream's list: name, type, comment (the comment goes into
// the iptables rules, not into the set).
var ipsetInfo = []struct{ name, typ, comment string }{
	{kubeLoopBackIPSet, netfilter.SetHashIPPortIP, "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"},
	{kubeClusterIPSet, netfilter.SetHashIPPort, "Kubernetes service cluster ip + port for masquerade purpose"},
	{kubeExternalIPSet, netfilter.SetHashIPPort, "Kubernetes service external ip + port for masquerade and filter purpose"},
	{kubeExternalIPLocalSet, netfilter.SetHashIPPort, "Kubernetes service external ip + port with externalTrafficPolicy=local"},
	{kubeLoadBalancerSet, netfilter.SetHashIPPort, "Kubernetes service lb portal"},
	{kubeLoadBalancerFWSet, netfilter.SetHashIPPort, "Kubernetes service load balancer ip + port for load balancer with sourceRange"},
	{kubeLoadBalancerLocalSet, netfilter.SetHashIPPort, "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"},
	{kubeLoadBalancerSourceIPSet, netfilter.SetHashIPPortIP, "Kubernetes service load balancer ip + port + source IP for packet filter purpose"},
	{kubeLoadBalancerSourceCIDRSet, netfilter.SetHashIPPortNet, "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"},
	{kubeNodePortSetTCP, netfilter.SetBitmapPort, "Kubernetes nodeport TCP port for masquerade purpose"},
	{kubeNodePortLocalSetTCP, netfilter.SetBitmapPort, "Kubernetes nodeport TCP port with externalTrafficPolicy=local"},
	{kubeNodePortSetUDP, netfilter.SetBitmapPort, "Kubernetes nodeport UDP port for masquerade purpose"},
	{kubeNodePortLocalSetUDP, netfilter.SetBitmapPort, "Kubernetes nodeport UDP port with externalTrafficPolicy=local"},
	{kubeNodePortSetSCTP, netfilter.SetHashIPPort, "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"},
	{kubeNodePortLocalSetSCTP, netfilter.SetHashIPPort, "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"},
	{kubeHealthCheckNodePortSet, netfilter.SetBitmapPort, "Kubernetes health check node port"},
	{kubeIPVSSet, netfilter.SetHashIP, "Addresses on the ipvs interface"},
}

// ipsetWithIptablesChain is upstream's: the sets matched by one rule each,
// "-A FROM [-p PROTO] -m comment --comment COMMENT -m set --match-set NAME
// MATCH -j TO", written only when the set is not empty.
var ipsetWithIptablesChain = []struct {
	name, table, from, to, match, proto string
}{
	{kubeLoopBackIPSet, "nat", kubePostroutingChain, "MASQUERADE", "dst,dst,src", ""},
	{kubeLoadBalancerSet, "nat", kubeServicesChain, kubeLoadBalancerChain, "dst,dst", ""},
	{kubeLoadBalancerLocalSet, "nat", kubeLoadBalancerChain, "RETURN", "dst,dst", ""},
	{kubeNodePortLocalSetTCP, "nat", kubeNodePortChain, "RETURN", "dst", "tcp"},
	{kubeNodePortSetTCP, "nat", kubeNodePortChain, kubeMarkMasqChain, "dst", "tcp"},
	{kubeNodePortLocalSetUDP, "nat", kubeNodePortChain, "RETURN", "dst", "udp"},
	{kubeNodePortSetUDP, "nat", kubeNodePortChain, kubeMarkMasqChain, "dst", "udp"},
	{kubeNodePortLocalSetSCTP, "nat", kubeNodePortChain, "RETURN", "dst,dst", "sctp"},
	{kubeNodePortSetSCTP, "nat", kubeNodePortChain, kubeMarkMasqChain, "dst,dst", "sctp"},
	{kubeLoadBalancerFWSet, "filter", kubeProxyFirewallChain, kubeSourceRangesFirewallChain, "dst,dst", ""},
	{kubeLoadBalancerSourceCIDRSet, "filter", kubeSourceRangesFirewallChain, "RETURN", "dst,dst,src", ""},
	{kubeLoadBalancerSourceIPSet, "filter", kubeSourceRangesFirewallChain, "RETURN", "dst,dst,src", ""},
}

// ipvsChains is upstream's iptablesChains.
var ipvsChains = []TableChain{
	{"nat", kubeServicesChain}, {"nat", kubePostroutingChain}, {"nat", kubeNodePortChain},
	{"nat", kubeLoadBalancerChain}, {"nat", kubeMarkMasqChain},
	{"filter", kubeForwardChain}, {"filter", kubeNodePortChain}, {"filter", kubeProxyFirewallChain},
	{"filter", kubeSourceRangesFirewallChain}, {"filter", kubeIPVSFilterChain}, {"filter", kubeIPVSOutFilterChain},
}

// ipvsJumpChains is upstream's iptablesJumpChain: table, from, to, comment.
var ipvsJumpChains = []iptablesJumpChain{
	{"nat", kubeServicesChain, "OUTPUT", "kubernetes service portals", nil},
	{"nat", kubeServicesChain, "PREROUTING", "kubernetes service portals", nil},
	{"nat", kubePostroutingChain, "POSTROUTING", "kubernetes postrouting rules", nil},
	{"filter", kubeForwardChain, "FORWARD", "kubernetes forwarding rules", nil},
	{"filter", kubeNodePortChain, "INPUT", "kubernetes health check rules", nil},
	{"filter", kubeProxyFirewallChain, "INPUT", "kube-proxy firewall rules", nil},
	{"filter", kubeProxyFirewallChain, "FORWARD", "kube-proxy firewall rules", nil},
	{"filter", kubeIPVSFilterChain, "INPUT", "kubernetes ipvs access filter", nil},
	{"filter", kubeIPVSOutFilterChain, "OUTPUT", "kubernetes ipvs access filter", nil},
}

// IPSet is an ipset kube-proxy maintains, with its entries in ipset's
// syntax ("172.21.0.10,tcp:80"), sorted.
type IPSet struct {
	Name, Type string
	// Comment is the text kube-proxy puts in the iptables rules that
	// match the set.
	Comment string
	Entries []string
}

// IPVSRules is what kube-proxy's IPVS proxier programs on a node.
type IPVSRules struct {
	// Addresses are bound (/32) on the dummy device DummyDevice: every
	// ClusterIP, and the external and load-balancer IPs that are not
	// already addresses of the node. Sorted.
	Addresses []netip.Prefix
	// Services are the virtual services with their real servers, in
	// ipvsadm's order.
	Services []*ipvs.VirtualService
	// Sets are the ipsets, all of those kube-proxy creates, in its
	// ipsetInfo order.
	Sets []IPSet
	// NATChains, NATRules, FilterChains and FilterRules are kube-proxy's
	// iptables-restore input (nat first, then filter).
	NATChains, NATRules, FilterChains, FilterRules []string
	// Chains are the chains kube-proxy ensures (EnsureChain) and Jumps the
	// jump rules it ensures with EnsureRule(Prepend), in its order.
	Chains []TableChain
	Jumps  []JumpRule
}

// Restore is the iptables-restore input (with --noflush), nat then filter
// as the IPVS proxier writes it.
func (r IPVSRules) Restore() string {
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, l := range append(append([]string(nil), r.NATChains...), r.NATRules...) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n*filter\n")
	for _, l := range append(append([]string(nil), r.FilterChains...), r.FilterRules...) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// IPSetRestore is the sets as `ipset restore` input: what kube-proxy's
// ipset calls (create … -exist with its options, add … -exist) amount to.
func (r IPVSRules) IPSetRestore() string {
	var b strings.Builder
	for _, s := range r.Sets {
		if s.Type == netfilter.SetBitmapPort {
			fmt.Fprintf(&b, "create %s %s range 0-65535 -exist\n", s.Name, s.Type)
		} else {
			fmt.Fprintf(&b, "create %s %s family inet hashsize 1024 maxelem 65536 -exist\n", s.Name, s.Type)
		}
		for _, e := range s.Entries {
			fmt.Fprintf(&b, "add %s %s -exist\n", s.Name, e)
		}
	}
	return b.String()
}

// AddTo adds the virtual services to a node's IPVS table.
func (r IPVSRules) AddTo(t *ipvs.Table) {
	for _, v := range r.Services {
		t.Add(v)
	}
}

// IPVS computes what kube-proxy's IPVS proxier installs on node
// cfg.NodeName for the Services (IPv4). NodePort virtual services are
// created on every address in cfg.NodeIPs — upstream uses every address of
// the node except those of kube-ipvs0 and loopback (with flannel that
// includes cni0's and flannel.1's), or those inside --nodeport-addresses.
func IPVS(cfg Config, svcs []*Service) (IPVSRules, error) {
	sps, err := servicePorts(cfg, svcs)
	if err != nil {
		return IPVSRules{}, err
	}
	scheduler := cfg.IPVSScheduler
	if scheduler == "" {
		scheduler = ipvs.RoundRobin
	}
	mark := cfg.masqueradeMark()
	nodeAddrs := map[netip.Addr]bool{}
	var nodeIPs []netip.Addr
	for _, a := range cfg.NodeIPs {
		if !a.Is4() || a.IsLoopback() || nodeAddrs[a] {
			continue
		}
		nodeAddrs[a] = true
		if len(cfg.NodePortAddresses) == 0 {
			nodeIPs = append(nodeIPs, a)
		} else {
			for _, p := range cfg.NodePortAddresses {
				if p.Contains(a) {
					nodeIPs = append(nodeIPs, a)
					break
				}
			}
		}
	}

	entries := map[string]map[string]bool{}
	for _, s := range ipsetInfo {
		entries[s.name] = map[string]bool{}
	}
	add := func(set, e string) { entries[set][e] = true }
	bind := map[netip.Addr]bool{}
	services := map[string]*ipvs.VirtualService{}
	var lbNoNodeAccess []struct {
		ip    netip.Addr
		proto string
		port  int
	}

	newVS := func(sp *servicePort, a netip.Addr, port int) *ipvs.VirtualService {
		v := &ipvs.VirtualService{Addr: a, Port: uint16(port), Proto: ipvs.Proto(sp.Proto), Scheduler: scheduler, Comment: sp.name}
		if sp.affinity {
			v.Persistence = time.Duration(sp.stickySeconds) * time.Second
		}
		return v
	}
	// syncEndpoint: the real servers of a virtual service.
	syncEndpoint := func(sp *servicePort, onlyNodeLocal bool, v *ipvs.VirtualService) {
		cluster, local, _, _ := sp.categorize()
		eps := cluster
		if onlyNodeLocal && len(local) > 0 {
			eps = local
		}
		// (onlyNodeLocal without local endpoints falls back to the
		// cluster endpoints, kubernetes#97081.)
		for _, e := range eps {
			v.Reals = append(v.Reals, &ipvs.RealServer{Addr: e.IP, Port: uint16(e.Port), Weight: 1})
		}
		sort.Slice(v.Reals, func(i, j int) bool {
			return netip.AddrPortFrom(v.Reals[i].Addr, v.Reals[i].Port).String() < netip.AddrPortFrom(v.Reals[j].Addr, v.Reals[j].Port).String()
		})
		services[v.Key()] = v
	}

	for _, sp := range sps {
		protocol := sp.proto
		port := sp.port.Port
		for _, e := range sp.endpoints {
			if e.local {
				add(kubeLoopBackIPSet, fmt.Sprintf("%s,%s:%d,%s", e.IP, protocol, e.Port, e.IP))
			}
		}
		// ClusterIP.
		add(kubeClusterIPSet, fmt.Sprintf("%s,%s:%d", sp.clusterIP, protocol, port))
		v := newVS(sp, sp.clusterIP, port)
		bind[sp.clusterIP] = true
		syncEndpoint(sp, sp.internalLocal, v)
		// External IPs.
		for _, eip := range sp.externalIPs {
			e := fmt.Sprintf("%s,%s:%d", eip, protocol, port)
			if sp.externalLocal {
				add(kubeExternalIPLocalSet, e)
			} else {
				add(kubeExternalIPSet, e)
			}
			v := newVS(sp, eip, port)
			if !nodeAddrs[eip] {
				bind[eip] = true
			}
			syncEndpoint(sp, sp.externalLocal, v)
		}
		// Load-balancer ingress.
		for _, lb := range sp.lbVIPs {
			e := fmt.Sprintf("%s,%s:%d", lb, protocol, port)
			add(kubeLoadBalancerSet, e)
			if sp.externalLocal {
				add(kubeLoadBalancerLocalSet, e)
			}
			if len(sp.sourceRanges) > 0 {
				add(kubeLoadBalancerFWSet, e)
				allowFromNode := false
				for _, cidr := range sp.sourceRanges {
					add(kubeLoadBalancerSourceCIDRSet, fmt.Sprintf("%s,%s:%d,%s", lb, protocol, port, cidr))
					if n := cfg.nodeIP(); n.IsValid() && cidr.Contains(n) {
						allowFromNode = true
					}
				}
				if allowFromNode {
					add(kubeLoadBalancerSourceIPSet, fmt.Sprintf("%s,%s:%d,%s", lb, protocol, port, lb))
				} else {
					lbNoNodeAccess = append(lbNoNodeAccess, struct {
						ip    netip.Addr
						proto string
						port  int
					}{lb, protocol, port})
				}
			}
			v := newVS(sp, lb, port)
			if !nodeAddrs[lb] {
				bind[lb] = true
			}
			syncEndpoint(sp, sp.externalLocal, v)
		}
		// NodePort.
		if sp.nodePort != 0 && len(nodeIPs) > 0 {
			var set, localSet string
			var es []string
			switch protocol {
			case "tcp":
				set, localSet, es = kubeNodePortSetTCP, kubeNodePortLocalSetTCP, []string{itoa(sp.nodePort)}
			case "udp":
				set, localSet, es = kubeNodePortSetUDP, kubeNodePortLocalSetUDP, []string{itoa(sp.nodePort)}
			case "sctp":
				set, localSet = kubeNodePortSetSCTP, kubeNodePortLocalSetSCTP
				for _, ip := range nodeIPs {
					es = append(es, fmt.Sprintf("%s,%s:%d", ip, protocol, sp.nodePort))
				}
			}
			for _, e := range es {
				add(set, e)
				if sp.externalLocal {
					add(localSet, e)
				}
			}
			for _, ip := range nodeIPs {
				syncEndpoint(sp, sp.externalLocal, newVS(sp, ip, sp.nodePort))
			}
		}
		if sp.hcNodePort != 0 {
			add(kubeHealthCheckNodePortSet, itoa(sp.hcNodePort))
		}
	}
	for a := range bind {
		add(kubeIPVSSet, a.String())
	}

	r := IPVSRules{Chains: append([]TableChain(nil), ipvsChains...), Jumps: jumpRules(ipvsJumpChains)}
	for a := range bind {
		r.Addresses = append(r.Addresses, netip.PrefixFrom(a, 32))
	}
	sort.Slice(r.Addresses, func(i, j int) bool { return r.Addresses[i].Addr().Less(r.Addresses[j].Addr()) })
	for _, s := range ipsetInfo {
		set := IPSet{Name: s.name, Type: s.typ, Comment: s.comment}
		for e := range entries[s.name] {
			set.Entries = append(set.Entries, e)
		}
		sort.Strings(set.Entries)
		r.Sets = append(r.Sets, set)
	}
	t := ipvs.NewTable()
	for _, v := range services {
		t.Add(v)
	}
	r.Services = t.Services()

	// iptables (writeIptablesRules).
	comment := map[string]string{}
	for _, s := range ipsetInfo {
		comment[s.name] = `"` + s.comment + `"`
	}
	empty := func(set string) bool { return len(entries[set]) == 0 }
	var natChains, natRules, filterChains, filterRules lines
	for _, c := range ipvsChains {
		if c.Table == "nat" {
			natChains.write(chainLine(c.Chain))
		} else {
			filterChains.write(chainLine(c.Chain))
		}
	}
	natRules.write("-A", kubeServicesChain, "-s", "127.0.0.0/8", "-j", "RETURN")
	for _, s := range ipsetWithIptablesChain {
		if empty(s.name) {
			continue
		}
		args := []string{"-A", s.from}
		if s.proto != "" {
			args = append(args, "-p", s.proto)
		}
		args = append(args, "-m", "comment", "--comment", comment[s.name], "-m", "set", "--match-set", s.name, s.match)
		if s.table == "filter" {
			filterRules.write(args, "-j", s.to)
		} else {
			natRules.write(args, "-j", s.to)
		}
	}
	if !empty(kubeClusterIPSet) {
		args := []string{"-A", kubeServicesChain, "-m", "comment", "--comment", comment[kubeClusterIPSet],
			"-m", "set", "--match-set", kubeClusterIPSet}
		switch {
		case cfg.MasqueradeAll:
			natRules.write(args, "dst,dst", "-j", kubeMarkMasqChain)
		case cfg.ClusterCIDR.IsValid() && cfg.ClusterCIDR.Addr().Is4():
			natRules.write(args, "dst,dst", "!", "-s", cfg.ClusterCIDR.Masked().String(), "-j", kubeMarkMasqChain)
		default:
			natRules.write(args, "src,dst", "-j", kubeMarkMasqChain)
		}
	}
	externalIPRules := func(args []string) {
		natRules.write(args, "-m", "physdev", "!", "--physdev-is-in", "-m", "addrtype", "!", "--src-type", "LOCAL", "-j", "ACCEPT")
		natRules.write(args, "-m", "addrtype", "--dst-type", "LOCAL", "-j", "ACCEPT")
	}
	if !empty(kubeExternalIPSet) {
		args := []string{"-A", kubeServicesChain, "-m", "comment", "--comment", comment[kubeExternalIPSet],
			"-m", "set", "--match-set", kubeExternalIPSet, "dst,dst"}
		natRules.write(args, "-j", kubeMarkMasqChain)
		externalIPRules(args)
	}
	if !empty(kubeExternalIPLocalSet) {
		externalIPRules([]string{"-A", kubeServicesChain, "-m", "comment", "--comment", comment[kubeExternalIPLocalSet],
			"-m", "set", "--match-set", kubeExternalIPLocalSet, "dst,dst"})
	}
	natRules.write("-A", kubeServicesChain, "-m", "addrtype", "--dst-type", "LOCAL", "-j", kubeNodePortChain)
	natRules.write("-A", kubeLoadBalancerChain, "-j", kubeMarkMasqChain)
	filterRules.write("-A", kubeSourceRangesFirewallChain, "-j", "DROP")
	for _, e := range lbNoNodeAccess {
		filterRules.write("-A", kubeIPVSOutFilterChain, "-s", e.ip.String(), "-m", "ipvs", "--vaddr", e.ip.String(),
			"--vproto", e.proto, "--vport", itoa(e.port), "-j", "DROP")
	}
	// acceptIPVSTraffic.
	for _, s := range []string{kubeClusterIPSet, kubeLoadBalancerSet} {
		if !empty(s) {
			natRules.write("-A", kubeServicesChain, "-m", "set", "--match-set", s, "dst,dst", "-j", "ACCEPT")
		}
	}
	filterRules.write("-A", kubeForwardChain, "-m", "comment", "--comment", `"kubernetes forwarding rules"`,
		"-m", "mark", "--mark", mark+"/"+mark, "-j", "ACCEPT")
	filterRules.write("-A", kubeForwardChain, "-m", "comment", "--comment", `"kubernetes forwarding conntrack rule"`,
		"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
	filterRules.write("-A", kubeNodePortChain, "-m", "comment", "--comment", comment[kubeHealthCheckNodePortSet],
		"-m", "set", "--match-set", kubeHealthCheckNodePortSet, "dst", "-j", "ACCEPT")
	for _, s := range []struct{ set, match string }{
		{kubeLoadBalancerSet, "dst,dst"}, {kubeClusterIPSet, "dst,dst"}, {kubeExternalIPSet, "dst,dst"},
		{kubeExternalIPLocalSet, "dst,dst"}, {kubeHealthCheckNodePortSet, "dst"},
	} {
		filterRules.write("-A", kubeIPVSFilterChain, "-m", "set", "--match-set", s.set, s.match, "-j", "RETURN")
	}
	filterRules.write("-A", kubeIPVSFilterChain, "-m", "conntrack", "--ctstate", "NEW",
		"-m", "set", "--match-set", kubeIPVSSet, "dst", "-j", "REJECT")
	writeMasqueradeRules(&natRules, cfg, mark)

	r.NATChains, r.NATRules, r.FilterChains, r.FilterRules = natChains, natRules, filterChains, filterRules
	return r, nil
}

// InstallIPVS applies the IPVS-mode state to a namespace's netfilter in
// the order of kube-proxy's sync: the chains (EnsureChain) and jump rules
// (EnsureRule(Prepend): checked, inserted at position 1 when missing), the
// ipsets (created with their options, filled: entries no longer wanted
// are deleted, as syncIPSetEntries does), then iptables-restore --noflush
// of Restore(); user chains are then sorted as iptables-legacy keeps them.
// The virtual services (AddTo) and the kube-ipvs0 addresses belong to the
// node's IPVS table and stack, not to netfilter.
func InstallIPVS(nf *netfilter.Netfilter, r IPVSRules) error {
	for _, c := range r.Chains {
		if err := nf.NewChain(c.Table, c.Chain); err != nil {
			return fmt.Errorf("kube-proxy: %w", err)
		}
	}
	if err := ensureCommon(nf, nil, r.Jumps, nil); err != nil {
		return err
	}
	for _, s := range r.Sets {
		opts := []string{"family", "inet", "hashsize", "1024", "maxelem", "65536", "-exist"}
		if s.Type == netfilter.SetBitmapPort {
			opts = []string{"range", "0-65535", "-exist"}
		}
		if err := nf.CreateSet(s.Name, s.Type, opts...); err != nil {
			return fmt.Errorf("kube-proxy: %w", err)
		}
		want := map[string]bool{}
		for _, e := range s.Entries {
			want[e] = true
		}
		for _, e := range nf.Set(s.Name).Members() {
			if !want[e] {
				if err := nf.DelFromSet(s.Name, e); err != nil {
					return fmt.Errorf("kube-proxy: %w", err)
				}
			}
		}
		for _, e := range s.Entries {
			if err := nf.AddToSet(s.Name, e, true); err != nil {
				return fmt.Errorf("kube-proxy: %w", err)
			}
		}
	}
	if err := nf.RestoreNoFlush(r.Restore()); err != nil {
		return fmt.Errorf("kube-proxy: iptables-restore: %w", err)
	}
	for _, t := range []string{"nat", "filter"} {
		nf.SortUserChains(t)
	}
	return nil
}
