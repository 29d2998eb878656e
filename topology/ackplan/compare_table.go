package ackplan

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteComparison prints c as one table: a row per aspect, a column per
// CNI, then what each column derived and the sources.
func WriteComparison(w io.Writer, c Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, cell func(col CompareColumn) string) {
		cells := []string{name}
		for _, col := range c.Columns {
			cells = append(cells, cell(col))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	pods := "not stated"
	if c.PodsPerNode > 0 {
		pods = sgNum(c.PodsPerNode)
	}
	fmt.Fprintf(w, "Compared: VPC %s, %s planned nodes, %s pods per node (the plan is %s)\n\n", c.VPC, sgNum(c.Nodes), pods, c.From)
	row("", func(col CompareColumn) string { return col.Title })
	row("pod addresses", func(col CompareColumn) string { return col.PodAddresses })
	row("rule check", func(col CompareColumn) string { return cmpRulesText(col) })
	row("pods per node", func(col CompareColumn) string { return cmpPodsText(col) })
	row("max nodes", func(col CompareColumn) string { return cmpNodesText(col) })
	row("route entries", func(col CompareColumn) string {
		return fmt.Sprintf("%s of %s", sgNum(col.RouteEntries), sgNum(col.RouteQuota))
	})
	row("encapsulation", func(col CompareColumn) string {
		if col.EncapOverhead == 0 {
			return fmt.Sprintf("none: pod MTU %d", col.PodMTU)
		}
		return fmt.Sprintf("%d bytes: pod MTU %d", col.EncapOverhead, col.PodMTU)
	})
	row("across nodes", func(col CompareColumn) string { return col.CrossNode })
	row("NetworkPolicy", func(col CompareColumn) string { return col.NetworkPolicyText })
	row("source IP leaving", func(col CompareColumn) string {
		return yesNo(col.SourceIPPreserved, "the pod's IP", "the node's IP (SNAT)")
	})
	row("pod IPs in VPC", func(col CompareColumn) string { return yesNo(col.PodIPsInVPC, "yes", "no") })
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	for _, col := range c.Columns {
		for _, d := range col.Derived {
			fmt.Fprintf(w, "%s: %s\n", col.Title, d)
		}
		if col.NoRoom != "" {
			fmt.Fprintf(w, "%s: no room for pod vSwitches: %s\n", col.Title, col.NoRoom)
		}
		if col.InstanceHint != "" {
			fmt.Fprintf(w, "%s: %s\n", col.Title, col.InstanceHint)
		}
	}
	_, err := fmt.Fprintf(w, "VXLAN overhead: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 = %d bytes (flannel pkg/backend/vxlan encapOverhead), from a %s-byte NIC MTU.\n"+
		"NetworkPolicy, source IP and pod addresses: ACK, %s.\n", cmpVXLANOverhead, sgNum(cmpNICMTU), cmpSourceACK)
	if err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	if slices.ContainsFunc(c.Columns, func(col CompareColumn) bool { return col.CNI == CNICalico }) {
		_, err = fmt.Fprintf(w, "Calico: not an ACK CNI option, no ACK node limit modelled; IPIP adds an outer IPv4 header, %d bytes (docs.tigera.io/calico/latest/networking/configuring/mtu); its default pool SNATs pod traffic leaving the pool (natOutgoing).\n", cmpIPIPOverhead)
	}
	if err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func cmpRulesText(col CompareColumn) string {
	if col.Errors == 0 && col.Warnings == 0 {
		return "passes"
	}
	var parts []string
	if col.Errors > 0 {
		parts = append(parts, sgPlural(col.Errors, "error"))
	}
	if col.Warnings > 0 {
		parts = append(parts, sgPlural(col.Warnings, "warning"))
	}
	return strings.Join(parts, ", ") + " (" + strings.Join(col.Rules, ", ") + ")"
}

func cmpPodsText(col CompareColumn) string {
	if col.PodsPerNodeSource == "" {
		return sgNum(col.PodsPerNode)
	}
	return fmt.Sprintf("%s (%s)", sgNum(col.PodsPerNode), col.PodsPerNodeSource)
}

func cmpNodesText(col CompareColumn) string {
	if col.Binding == "" {
		return sgNum(col.MaxNodes)
	}
	what := col.BindingWhat
	if what == "" {
		what = col.Binding
	}
	return fmt.Sprintf("%s (binds: %s)", sgNum(col.MaxNodes), what)
}
