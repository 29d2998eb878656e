package kubeproxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"netsim/dataplane/netfilter"
)

// IPTables mode follows kube-proxy's iptables proxier of Kubernetes v1.32
// (pkg/proxy/iptables/proxier.go: syncProxyRules and
// writeServiceToEndpointRules, iptablesJumpChains; the rule-writing code is
// unchanged in the v1.33/v1.34-era copy compared). The restore input is
// written token for token as upstream writes it (comments of several words
// in literal double quotes, "-m tcp -p tcp" before "-d", unquoted
// single-word comments, probabilities as "%0.10f" of 1/n, the mark as
// "%#08x"), so that Rules.Restore() is byte-for-byte what kube-proxy hands
// to iptables-restore, and what iptables-save prints after it comes from
// netfilter's canonical printer.
//
// Two things are not a function of the Services and are left to Install:
// the deletion of stale KUBE-SVC/SEP/... chains (kube-proxy reads them from
// iptables-save) and the chains and jump rules kube-proxy ensures outside
// the restore.

// Chains of the iptables proxier.
const (
	kubeServicesChain         = "KUBE-SERVICES"
	kubeExternalServicesChain = "KUBE-EXTERNAL-SERVICES"
	kubeNodePortsChain        = "KUBE-NODEPORTS"
	kubePostroutingChain      = "KUBE-POSTROUTING"
	kubeMarkMasqChain         = "KUBE-MARK-MASQ"
	kubeForwardChain          = "KUBE-FORWARD"
	kubeProxyFirewallChain    = "KUBE-PROXY-FIREWALL"
	kubeProxyCanaryChain      = "KUBE-PROXY-CANARY"
	kubeletFirewallChain      = "KUBE-FIREWALL"
)

// The nfacct counters (pkg/proxy/metrics).
const (
	nfacctCTStateInvalidDropped = "ct_state_invalid_dropped_pkts"
	nfacctLocalhostNodePorts    = "localhost_nps_accepted_pkts"
)

// JumpRule is a rule kube-proxy ensures outside iptables-restore with
// EnsureRule(Prepend, table, chain, args...): `iptables -C` and, when
// missing, `iptables -I CHAIN 1`.
type JumpRule struct {
	Table, Chain string
	// Target is the chain jumped to (ensured with EnsureChain first).
	Target string
	// Spec is the rule without "-A CHAIN", as kube-proxy passes it (the
	// comment in double quotes so that it parses as one word).
	Spec string
}

// Line is the rule as "-A CHAIN SPEC".
func (j JumpRule) Line() string { return "-A " + j.Chain + " " + j.Spec }

// TableChain names a chain of a table.
type TableChain struct{ Table, Chain string }

// Rules is what kube-proxy's iptables proxier programs on a node.
type Rules struct {
	// FilterChains and NATChains are the ":CHAIN - [0:0]" lines and
	// FilterRules and NATRules the "-A" lines of kube-proxy's
	// iptables-restore input, in the order kube-proxy writes them.
	FilterChains, FilterRules []string
	NATChains, NATRules       []string
	// Jumps are the jump rules into the builtin chains that kube-proxy
	// ensures on a full sync, in the order it ensures them (each is
	// inserted at position 1 when missing, so the last one ends up first).
	Jumps []JumpRule
	// Canary are the KUBE-PROXY-CANARY chains iptables.Monitor creates in
	// mangle, nat and filter.
	Canary []TableChain
	// NFAcct are the nfacct objects kube-proxy ensures (nfacct.Ensure).
	NFAcct []string
	// RouteLocalnet says kube-proxy sets net.ipv4.conf.all.route_localnet=1
	// at start-up (localhost NodePorts: --iptables-localhost-nodeports and
	// --nodeport-addresses empty or containing 127.0.0.0/8).
	RouteLocalnet bool
}

// Restore is the iptables-restore input kube-proxy writes (with
// --noflush): "*filter", the filter chains and rules, "COMMIT", then the
// same for nat.
func (r Rules) Restore() string {
	return restoreText(r.FilterChains, r.FilterRules, r.NATChains, r.NATRules)
}

func restoreText(fc, fr, nc, nr []string) string {
	n := len("*filter\nCOMMIT\n*nat\nCOMMIT\n")
	for _, ls := range [][]string{fc, fr, nc, nr} {
		for _, l := range ls {
			n += len(l) + 1
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString("*filter\n")
	for _, ls := range [][]string{fc, fr, {"COMMIT", "*nat"}, nc, nr, {"COMMIT"}} {
		for _, l := range ls {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// lines is proxyutil.LineBuffer: each Write joins its words with spaces.
type lines []string

func (l *lines) write(words ...any) {
	n, parts := 0, 0
	for _, w := range words {
		switch v := w.(type) {
		case string:
			n += len(v)
			parts++
		case []string:
			for _, p := range v {
				n += len(p)
			}
			parts += len(v)
		default:
			panic(fmt.Sprintf("lines.write: %T", w))
		}
	}
	if parts > 1 {
		n += parts - 1
	}
	var b strings.Builder
	b.Grow(n)
	first := true
	word := func(w string) { // strings.Join's: a space between words, "" included
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(w)
	}
	for _, w := range words {
		switch v := w.(type) {
		case string:
			word(v)
		case []string:
			for _, p := range v {
				word(p)
			}
		}
	}
	*l = append(*l, b.String())
}

// writeMasqueradeRules writes KUBE-POSTROUTING (masquerade what carries
// the mark, clearing it) and KUBE-MARK-MASQ, the same in both modes.
func writeMasqueradeRules(natRules *lines, cfg Config, mark string) {
	natRules.write("-A", kubePostroutingChain, "-m", "mark", "!", "--mark", mark+"/"+mark, "-j", "RETURN")
	natRules.write("-A", kubePostroutingChain, "-j", "MARK", "--xor-mark", mark)
	masq := []string{"-A", kubePostroutingChain, "-m", "comment", "--comment", `"kubernetes service traffic requiring SNAT"`, "-j", "MASQUERADE"}
	if !cfg.NoRandomFully {
		masq = append(masq, "--random-fully")
	}
	natRules.write(masq)
	natRules.write("-A", kubeMarkMasqChain, "-j", "MARK", "--or-mark", mark)
}

func chainLine(c string) string { return ":" + c + " - [0:0]" }

// iptablesJumpChain is an entry of iptablesJumpChains.
type iptablesJumpChain struct {
	table, dst, src, comment string
	extra                    []string
}

var ctNew = []string{"-m", "conntrack", "--ctstate", "NEW"}

// iptablesJumpChains and iptablesKubeletJumpChains, in upstream's order.
var iptablesJumpChains = []iptablesJumpChain{
	{"filter", kubeExternalServicesChain, "INPUT", "kubernetes externally-visible service portals", ctNew},
	{"filter", kubeExternalServicesChain, "FORWARD", "kubernetes externally-visible service portals", ctNew},
	{"filter", kubeNodePortsChain, "INPUT", "kubernetes health check service ports", nil},
	{"filter", kubeServicesChain, "FORWARD", "kubernetes service portals", ctNew},
	{"filter", kubeServicesChain, "OUTPUT", "kubernetes service portals", ctNew},
	{"filter", kubeForwardChain, "FORWARD", "kubernetes forwarding rules", nil},
	{"filter", kubeProxyFirewallChain, "INPUT", "kubernetes load balancer firewall", ctNew},
	{"filter", kubeProxyFirewallChain, "OUTPUT", "kubernetes load balancer firewall", ctNew},
	{"filter", kubeProxyFirewallChain, "FORWARD", "kubernetes load balancer firewall", ctNew},
	{"nat", kubeServicesChain, "OUTPUT", "kubernetes service portals", nil},
	{"nat", kubeServicesChain, "PREROUTING", "kubernetes service portals", nil},
	{"nat", kubePostroutingChain, "POSTROUTING", "kubernetes postrouting rules", nil},
	// iptablesKubeletJumpChains: duplicates of kubelet's, created by
	// kube-proxy too.
	{"filter", kubeletFirewallChain, "INPUT", "", nil},
	{"filter", kubeletFirewallChain, "OUTPUT", "", nil},
}

func jumpRules(js []iptablesJumpChain) []JumpRule {
	var out []JumpRule
	for _, j := range js {
		words := append([]string(nil), j.extra...)
		if j.comment != "" {
			words = append(words, "-m", "comment", "--comment", `"`+j.comment+`"`)
		}
		words = append(words, "-j", j.dst)
		out = append(out, JumpRule{Table: j.table, Chain: j.src, Target: j.dst, Spec: strings.Join(words, " ")})
	}
	return out
}

func canaryChains() []TableChain {
	return []TableChain{{"mangle", kubeProxyCanaryChain}, {"nat", kubeProxyCanaryChain}, {"filter", kubeProxyCanaryChain}}
}

// IPTables computes what kube-proxy's iptables proxier installs on node
// cfg.NodeName for the Services (IPv4).
func IPTables(cfg Config, svcs []*Service) (Rules, error) {
	sps, err := servicePorts(cfg, svcs)
	if err != nil {
		return Rules{}, err
	}
	mark := cfg.masqueradeMark()
	localhostNodePorts := !cfg.DisableLocalhostNodePorts
	if len(cfg.NodePortAddresses) > 0 {
		// proxyutil.NodePortAddresses: localhost NodePorts only when the
		// addresses include 127.0.0.0/8.
		has := false
		for _, p := range cfg.NodePortAddresses {
			has = has || p.Contains(netip.MustParseAddr("127.0.0.1"))
		}
		localhostNodePorts = localhostNodePorts && has
	}
	nfacct := !cfg.NoNFAcct
	detectLocal := cfg.ClusterCIDR.IsValid() && cfg.ClusterCIDR.Addr().Is4()
	var ifNotLocal, ifLocal []string
	if detectLocal {
		cidr := cfg.ClusterCIDR.Masked().String()
		ifNotLocal, ifLocal = []string{"!", "-s", cidr}, []string{"-s", cidr}
	}

	r := Rules{Jumps: jumpRules(iptablesJumpChains), Canary: canaryChains(), RouteLocalnet: localhostNodePorts}
	if nfacct {
		r.NFAcct = []string{nfacctCTStateInvalidDropped, nfacctLocalhostNodePorts}
	}
	var filterChains, filterRules, natChains, natRules lines

	for _, c := range []string{kubeServicesChain, kubeExternalServicesChain, kubeForwardChain, kubeNodePortsChain, kubeProxyFirewallChain} {
		filterChains.write(chainLine(c))
	}
	for _, c := range []string{kubeServicesChain, kubeNodePortsChain, kubePostroutingChain, kubeMarkMasqChain} {
		natChains.write(chainLine(c))
	}
	writeMasqueradeRules(&natRules, cfg, mark)
	if localhostNodePorts {
		filterChains.write(chainLine(kubeletFirewallChain))
		filterRules.write("-A", kubeletFirewallChain, "-m", "comment", "--comment", `"block incoming localnet connections"`,
			"-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP")
	}

	totalEndpoints := 0
	for _, sp := range sps {
		totalEndpoints += len(sp.endpoints)
	}
	// largeClusterEndpointsThreshold: over 1000 endpoints kube-proxy leaves
	// out the per-endpoint comments.
	largeCluster := totalEndpoints > 1000
	serviceComment := func(args []string, c string) []string {
		if largeCluster {
			return args
		}
		return append(args, "-m", "comment", "--comment", c)
	}
	nodeIP := cfg.nodeIP()

	for _, sp := range sps {
		protocol := sp.proto
		name := sp.name
		clusterEndpoints, localEndpoints, reachable, hasEndpoints := sp.categorize()
		clusterPolicyChain := ServicePortPolicyClusterChain(name, protocol)
		usesClusterPolicyChain := len(clusterEndpoints) > 0 && sp.usesClusterEndpoints()
		localPolicyChain := ServicePortPolicyLocalChain(name, protocol)
		usesLocalPolicyChain := len(localEndpoints) > 0 && sp.usesLocalEndpoints()

		internalPolicyChain := clusterPolicyChain
		hasInternalEndpoints := hasEndpoints
		if sp.internalLocal {
			internalPolicyChain = localPolicyChain
			if len(localEndpoints) == 0 {
				hasInternalEndpoints = false
			}
		}
		internalTrafficChain := internalPolicyChain

		externalPolicyChain := clusterPolicyChain
		hasExternalEndpoints := hasEndpoints
		if sp.externalLocal {
			externalPolicyChain = localPolicyChain
			if len(localEndpoints) == 0 {
				hasExternalEndpoints = false
			}
		}
		externalTrafficChain := ServiceExternalChain(name, protocol)
		usesExternalTrafficChain := hasEndpoints && sp.externallyAccessible()

		loadBalancerTrafficChain := externalTrafficChain
		fwChain := ServiceFirewallChain(name, protocol)
		usesFWChain := hasEndpoints && len(sp.lbVIPs) > 0 && len(sp.sourceRanges) > 0
		if usesFWChain {
			loadBalancerTrafficChain = fwChain
		}

		var internalFilterTarget, internalFilterComment, externalFilterTarget, externalFilterComment string
		if !hasEndpoints {
			internalFilterTarget = "REJECT"
			internalFilterComment = fmt.Sprintf(`"%s has no endpoints"`, name)
			externalFilterTarget = "REJECT"
			externalFilterComment = internalFilterComment
		} else {
			if !hasInternalEndpoints {
				internalFilterTarget = "DROP"
				internalFilterComment = fmt.Sprintf(`"%s has no local endpoints"`, name)
			}
			if !hasExternalEndpoints {
				externalFilterTarget = "DROP"
				externalFilterComment = fmt.Sprintf(`"%s has no local endpoints"`, name)
			}
		}
		clusterIP := sp.clusterIP.String()
		port := itoa(sp.port.Port)

		// Capture the clusterIP.
		if hasInternalEndpoints {
			natRules.write("-A", kubeServicesChain, "-m", "comment", "--comment", fmt.Sprintf(`"%s cluster IP"`, name),
				"-m", protocol, "-p", protocol, "-d", clusterIP, "--dport", port, "-j", internalTrafficChain)
		} else {
			filterRules.write("-A", kubeServicesChain, "-m", "comment", "--comment", internalFilterComment,
				"-m", protocol, "-p", protocol, "-d", clusterIP, "--dport", port, "-j", internalFilterTarget)
		}
		// Capture externalIPs.
		for _, eip := range sp.externalIPs {
			if hasEndpoints {
				natRules.write("-A", kubeServicesChain, "-m", "comment", "--comment", fmt.Sprintf(`"%s external IP"`, name),
					"-m", protocol, "-p", protocol, "-d", eip.String(), "--dport", port, "-j", externalTrafficChain)
			}
			if !hasExternalEndpoints {
				filterRules.write("-A", kubeExternalServicesChain, "-m", "comment", "--comment", externalFilterComment,
					"-m", protocol, "-p", protocol, "-d", eip.String(), "--dport", port, "-j", externalFilterTarget)
			}
		}
		// Capture load-balancer ingress.
		for _, lbip := range sp.lbVIPs {
			if hasEndpoints {
				natRules.write("-A", kubeServicesChain, "-m", "comment", "--comment", fmt.Sprintf(`"%s loadbalancer IP"`, name),
					"-m", protocol, "-p", protocol, "-d", lbip.String(), "--dport", port, "-j", loadBalancerTrafficChain)
			}
			if usesFWChain {
				filterRules.write("-A", kubeProxyFirewallChain, "-m", "comment", "--comment",
					fmt.Sprintf(`"%s traffic not accepted by %s"`, name, fwChain),
					"-m", protocol, "-p", protocol, "-d", lbip.String(), "--dport", port, "-j", "DROP")
			}
		}
		if !hasExternalEndpoints {
			for _, lbip := range sp.lbVIPs {
				filterRules.write("-A", kubeExternalServicesChain, "-m", "comment", "--comment", externalFilterComment,
					"-m", protocol, "-p", protocol, "-d", lbip.String(), "--dport", port, "-j", externalFilterTarget)
			}
		}
		// Capture nodeports.
		if sp.nodePort != 0 {
			np := itoa(sp.nodePort)
			if hasEndpoints {
				if localhostNodePorts && nfacct {
					natRules.write("-A", kubeNodePortsChain, "-m", "comment", "--comment", name,
						"-m", protocol, "-p", protocol, "-d", "127.0.0.0/8", "--dport", np,
						"-m", "nfacct", "--nfacct-name", nfacctLocalhostNodePorts, "-j", externalTrafficChain)
				}
				natRules.write("-A", kubeNodePortsChain, "-m", "comment", "--comment", name,
					"-m", protocol, "-p", protocol, "--dport", np, "-j", externalTrafficChain)
			}
			if !hasExternalEndpoints {
				filterRules.write("-A", kubeExternalServicesChain, "-m", "comment", "--comment", externalFilterComment,
					"-m", "addrtype", "--dst-type", "LOCAL", "-m", protocol, "-p", protocol, "--dport", np, "-j", externalFilterTarget)
			}
		}
		// Capture healthCheckNodePorts.
		if sp.hcNodePort != 0 {
			filterRules.write("-A", kubeNodePortsChain, "-m", "comment", "--comment", fmt.Sprintf(`"%s health check node port"`, name),
				"-m", "tcp", "-p", "tcp", "--dport", itoa(sp.hcNodePort), "-j", "ACCEPT")
		}

		// Internal traffic.
		if hasInternalEndpoints {
			args := []string{"-m", "comment", "--comment", fmt.Sprintf(`"%s cluster IP"`, name),
				"-m", protocol, "-p", protocol, "-d", clusterIP, "--dport", port}
			if cfg.MasqueradeAll {
				natRules.write("-A", internalTrafficChain, args, "-j", kubeMarkMasqChain)
			} else if detectLocal {
				natRules.write("-A", internalTrafficChain, args, ifNotLocal, "-j", kubeMarkMasqChain)
			}
		}
		// External traffic.
		if usesExternalTrafficChain {
			natChains.write(chainLine(externalTrafficChain))
			if !sp.externalLocal {
				natRules.write("-A", externalTrafficChain, "-m", "comment", "--comment",
					fmt.Sprintf(`"masquerade traffic for %s external destinations"`, name), "-j", kubeMarkMasqChain)
			} else {
				if detectLocal {
					natRules.write("-A", externalTrafficChain, "-m", "comment", "--comment",
						fmt.Sprintf(`"pod traffic for %s external destinations"`, name), ifLocal, "-j", clusterPolicyChain)
				}
				natRules.write("-A", externalTrafficChain, "-m", "comment", "--comment",
					fmt.Sprintf(`"masquerade LOCAL traffic for %s external destinations"`, name),
					"-m", "addrtype", "--src-type", "LOCAL", "-j", kubeMarkMasqChain)
				natRules.write("-A", externalTrafficChain, "-m", "comment", "--comment",
					fmt.Sprintf(`"route LOCAL traffic for %s external destinations"`, name),
					"-m", "addrtype", "--src-type", "LOCAL", "-j", clusterPolicyChain)
			}
			if hasExternalEndpoints {
				natRules.write("-A", externalTrafficChain, "-j", externalPolicyChain)
			}
		}
		// Firewall chain.
		if usesFWChain {
			natChains.write(chainLine(fwChain))
			args := []string{"-A", fwChain, "-m", "comment", "--comment", fmt.Sprintf(`"%s loadbalancer IP"`, name)}
			allowFromNode := false
			for _, cidr := range sp.sourceRanges {
				natRules.write(args, "-s", cidr.String(), "-j", externalTrafficChain)
				if nodeIP.IsValid() && cidr.Contains(nodeIP) {
					allowFromNode = true
				}
			}
			if allowFromNode {
				for _, lbip := range sp.lbVIPs {
					natRules.write(args, "-s", lbip.String(), "-j", externalTrafficChain)
				}
			}
			natRules.write("-A", fwChain, "-m", "comment", "--comment",
				fmt.Sprintf(`"other traffic to %s will be dropped by KUBE-PROXY-FIREWALL"`, name))
		}
		if usesClusterPolicyChain {
			natChains.write(chainLine(clusterPolicyChain))
			writeServiceToEndpointRules(&natRules, sp, clusterPolicyChain, clusterEndpoints, serviceComment)
		}
		if usesLocalPolicyChain {
			natChains.write(chainLine(localPolicyChain))
			writeServiceToEndpointRules(&natRules, sp, localPolicyChain, localEndpoints, serviceComment)
		}
		// Endpoint chains.
		for _, ep := range reachable {
			epChain := ServicePortEndpointChain(name, protocol, ep.str)
			natChains.write(chainLine(epChain))
			args := serviceComment([]string{"-A", epChain}, name)
			natRules.write(args, "-s", ep.ipString(), "-j", kubeMarkMasqChain)
			if sp.affinity {
				args = append(args, "-m", "recent", "--name", epChain, "--set")
			}
			args = append(args, "-m", protocol, "-p", protocol, "-j", "DNAT", "--to-destination", ep.str)
			natRules.write(args)
		}
	}

	// The tail call to KUBE-NODEPORTS.
	tail := `"kubernetes service nodeports; NOTE: this must be the last rule in this chain"`
	if len(cfg.NodePortAddresses) == 0 {
		dest := []string{"-m", "addrtype", "--dst-type", "LOCAL"}
		if !localhostNodePorts {
			dest = append(dest, "!", "-d", "127.0.0.0/8")
		}
		natRules.write("-A", kubeServicesChain, "-m", "comment", "--comment", tail, dest, "-j", kubeNodePortsChain)
	} else {
		for _, ip := range nodePortIPs(cfg) {
			if ip.IsLoopback() && !localhostNodePorts {
				continue
			}
			natRules.write("-A", kubeServicesChain, "-m", "comment", "--comment", tail, "-d", ip.String(), "-j", kubeNodePortsChain)
		}
	}

	if !cfg.ConntrackTCPBeLiberal {
		rule := []string{"-A", kubeForwardChain, "-m", "conntrack", "--ctstate", "INVALID"}
		if nfacct {
			rule = append(rule, "-m", "nfacct", "--nfacct-name", nfacctCTStateInvalidDropped)
		}
		filterRules.write(rule, "-j", "DROP")
	}
	filterRules.write("-A", kubeForwardChain, "-m", "comment", "--comment", `"kubernetes forwarding rules"`,
		"-m", "mark", "--mark", mark+"/"+mark, "-j", "ACCEPT")
	filterRules.write("-A", kubeForwardChain, "-m", "comment", "--comment", `"kubernetes forwarding conntrack rule"`,
		"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")

	r.FilterChains, r.FilterRules, r.NATChains, r.NATRules = filterChains, filterRules, natChains, natRules
	return r, nil
}

// nodePortIPs is NodePortAddresses.GetNodeIPs over the node's addresses
// (plus 127.0.0.1, which every node has): the addresses inside
// --nodeport-addresses.
func nodePortIPs(cfg Config) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, a := range append(append([]netip.Addr(nil), cfg.NodeIPs...), netip.MustParseAddr("127.0.0.1")) {
		if !a.Is4() || seen[a] {
			continue
		}
		for _, p := range cfg.NodePortAddresses {
			if p.Contains(a) {
				out = append(out, a)
				seen[a] = true
				break
			}
		}
	}
	return out
}

// writeServiceToEndpointRules is upstream's: session affinity rules first,
// then the load-balancing rules (1/(n-i) for all but the last endpoint).
func writeServiceToEndpointRules(natRules *lines, sp *servicePort, svcChain string, endpoints []*endpoint, comment func([]string, string) []string) {
	if sp.affinity {
		for _, ep := range endpoints {
			epChain := ServicePortEndpointChain(sp.name, sp.proto, ep.str)
			args := comment([]string{"-A", svcChain}, fmt.Sprintf(`"%s -> %s"`, sp.name, ep.str))
			args = append(args, "-m", "recent", "--name", epChain, "--rcheck", "--seconds", itoa(sp.stickySeconds), "--reap", "-j", epChain)
			natRules.write(args)
		}
	}
	n := len(endpoints)
	for i, ep := range endpoints {
		epChain := ServicePortEndpointChain(sp.name, sp.proto, ep.str)
		args := comment([]string{"-A", svcChain}, fmt.Sprintf(`"%s -> %s"`, sp.name, ep.str))
		if i < n-1 {
			args = append(args, "-m", "statistic", "--mode", "random", "--probability", computeProbability(n-i))
		}
		natRules.write(args, "-j", epChain)
	}
}

// Install applies kube-proxy's iptables-mode state to a namespace's
// netfilter, in the order kube-proxy does on its first full sync:
//
//  1. the KUBE-PROXY-CANARY chains (iptables.Monitor) in mangle, nat and
//     filter;
//  2. for each jump rule: the target chain (EnsureChain), then the rule,
//     checked with iptables -C and inserted at position 1 when missing
//     (EnsureRule(Prepend)) — so kube-proxy's jumps come before whatever
//     other agents (flanneld's FLANNEL-POSTRTG, …) appended to the builtin
//     chains, and re-installing adds nothing;
//  3. the nfacct objects;
//  4. iptables-restore --noflush of Rules.Restore(), to which Install adds
//     what upstream adds from iptables-save: a ":CHAIN" and "-X CHAIN" for
//     every KUBE-SVC/SVL/EXT/FW/SEP chain of the nat table no longer used.
//
// Finally the user chains of mangle, nat and filter are sorted by name, as
// iptables-legacy (libiptc) keeps them; netfilter's Save prints them so
// (builtin chains first, then user chains alphabetically, each table's
// rules chain by chain in that order) as iptables-legacy-save and
// iptables-nft-save ≥ 1.8.5 do.
func Install(nf *netfilter.Netfilter, r Rules) error {
	if err := ensureCommon(nf, r.Canary, r.Jumps, r.NFAcct); err != nil {
		return err
	}
	active := map[string]bool{}
	for _, l := range r.NATChains {
		active[strings.Fields(l[1:])[0]] = true
	}
	natChains := append([]string(nil), r.NATChains...)
	var stale []string
	for name := range nf.Table("nat").Chains {
		if isServiceChainName(name) && !active[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	natRules := make([]string, 0, len(r.NATRules)+len(stale))
	tail := len(r.NATRules)
	for i, l := range r.NATRules {
		if strings.HasPrefix(l, `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports;`) {
			tail = i
			break
		}
	}
	natRules = append(natRules, r.NATRules[:tail]...)
	for _, c := range stale {
		natChains = append(natChains, chainLine(c))
		natRules = append(natRules, "-X "+c)
	}
	natRules = append(natRules, r.NATRules[tail:]...)
	if err := nf.RestoreNoFlush(restoreText(r.FilterChains, r.FilterRules, natChains, natRules)); err != nil {
		return fmt.Errorf("kube-proxy: iptables-restore: %w", err)
	}
	for _, t := range []string{"mangle", "nat", "filter"} {
		nf.SortUserChains(t)
	}
	return nil
}

// ensureCommon does steps 1–3 of Install.
func ensureCommon(nf *netfilter.Netfilter, canary []TableChain, jumps []JumpRule, acct []string) error {
	for _, c := range canary {
		if err := nf.NewChain(c.Table, c.Chain); err != nil {
			return fmt.Errorf("kube-proxy: %w", err)
		}
	}
	for _, j := range jumps {
		if err := nf.NewChain(j.Table, j.Target); err != nil {
			return fmt.Errorf("kube-proxy: %w", err)
		}
		ok, err := nf.Check(j.Table, j.Line())
		if err != nil {
			return fmt.Errorf("kube-proxy: %w", err)
		}
		if !ok {
			if err := nf.Insert(j.Table, "-I "+j.Chain+" 1 "+j.Spec); err != nil {
				return fmt.Errorf("kube-proxy: %w", err)
			}
		}
	}
	for _, a := range acct {
		if err := nf.NFAcctAdd(a, true); err != nil {
			return fmt.Errorf("kube-proxy: %w", err)
		}
	}
	return nil
}
