package kubeproxy

import (
	"fmt"

	"netsim/dataplane/netfilter"
)

// Kubelet's own iptables (Kubernetes v1.32, pkg/kubelet/
// kubelet_network_linux.go syncIPTablesRules and initNetworkUtil). Since
// the IPTablesOwnershipCleanup gate went GA (v1.28) kubelet no longer
// writes KUBE-MARK-DROP, KUBE-MARK-MASQ or KUBE-POSTROUTING; what is left
// on every node, whatever kube-proxy's mode:
//
//   - the empty chain KUBE-IPTABLES-HINT in mangle (tells other components
//     whether iptables-legacy or iptables-nft is in use);
//   - KUBE-KUBELET-CANARY in mangle, nat and filter (iptables.Monitor's
//     canaries, to notice a flush);
//   - KUBE-FIREWALL in filter with the "block incoming localnet
//     connections" rule (the guard for route_localnet, issue 90259), and
//     jumps to it prepended to OUTPUT, then to INPUT.
//
// Kubelet starts before kube-proxy, and kube-proxy prepends its own jumps
// afterwards (its copy of the KUBE-FIREWALL jumps already exists and stays
// where it is), so on a real node "-A INPUT -j KUBE-FIREWALL" and
// "-A OUTPUT -j KUBE-FIREWALL" come after kube-proxy's jumps.

// Kubelet's chains.
const (
	kubeIPTablesHintChain = "KUBE-IPTABLES-HINT"
	kubeletCanaryChain    = "KUBE-KUBELET-CANARY"
)

// kubeletLocalnetRule is the rule as kubelet ensures it ("--dst"/"--src";
// the same rule in the kernel as kube-proxy's "-d"/"-s" copy).
const kubeletLocalnetRule = `-A ` + kubeletFirewallChain + ` -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`

// InstallKubelet programs what kubelet's syncIPTablesRules ensures for
// IPv4 on nf. It is idempotent, as kubelet's resync after a canary
// disappears is.
func InstallKubelet(nf *netfilter.Netfilter) error {
	if err := nf.NewChain("mangle", kubeIPTablesHintChain); err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	if err := nf.NewChain("filter", kubeletFirewallChain); err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	for _, chain := range []string{"OUTPUT", "INPUT"} {
		jump := "-A " + chain + " -j " + kubeletFirewallChain
		ok, err := nf.Check("filter", jump)
		if err != nil {
			return fmt.Errorf("kubelet: %w", err)
		}
		if !ok {
			if err := nf.Insert("filter", "-I "+chain+" 1 -j "+kubeletFirewallChain); err != nil {
				return fmt.Errorf("kubelet: %w", err)
			}
		}
	}
	ok, err := nf.Check("filter", kubeletLocalnetRule)
	if err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	if !ok {
		if err := nf.Append("filter", kubeletLocalnetRule); err != nil {
			return fmt.Errorf("kubelet: %w", err)
		}
	}
	for _, t := range []string{"mangle", "nat", "filter"} {
		if err := nf.NewChain(t, kubeletCanaryChain); err != nil {
			return fmt.Errorf("kubelet: %w", err)
		}
	}
	return nil
}
