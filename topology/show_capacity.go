package topology

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"netsim/topology/ack"
)

// writeInstance prints what the cloud knows of an ECS host (on a vpc
// underlay), after its
// namespace's tables: the instance type with its ENI figures and their
// source, for a node the pod capacity each CNI mode derives from them (and
// which one this cluster uses), and the ENIs attached to it in the VPC.
func writeInstance(w io.Writer, wd *World, h *Host, node bool) {
	t := h.InstanceType
	if t.Name == "" || wd.VPC == nil {
		return // a world built without instance types, or on premises (l2)
	}
	s := wd.Scenario
	fmt.Fprintf(w, "$ aliyun ecs DescribeInstanceTypes --InstanceTypes '[\"%s\"]'  # modelled: the figures netsim uses%s\n", t.Name, defaultNote(s, h))
	fmt.Fprintf(w, "%s %s  %s %s  %s %s  %s %s\n",
		ack.FieldENIs, figure(t, ack.FieldENIs, strconv.Itoa(t.ENIs)),
		ack.FieldIPv4PerENI, figure(t, ack.FieldIPv4PerENI, strconv.Itoa(t.IPv4PerENI)),
		ack.FieldTotalENIs, figure(t, ack.FieldTotalENIs, totalText(t)),
		ack.FieldTrunkSupported, figure(t, ack.FieldTrunkSupported, strconv.FormatBool(t.TrunkSupported)))
	fmt.Fprintf(w, "source: %s\n", t.Source)
	if u := t.UnverifiedText(); u != "" {
		fmt.Fprintf(w, "%s (marked ?: no public source confirmed them; override them under instanceTypes:)\n", u)
	}
	if node {
		writeCapacity(w, s, t)
	}
	writeInstanceENIs(w, wd, h)
}

// writeCapacity prints a node's pod limit under each mode, the formula
// with the figures, the rule ACK applies to join, and marks the mode the
// cluster's CNI uses.
func writeCapacity(w io.Writer, s *Scenario, t ack.InstanceType) {
	mask := s.Cluster.NodeCIDRMask
	used := ""
	if usesInstanceCapacity(s) {
		used = string(terwayENIMode(s))
	} else if s.Cluster.CNI.Mode == "flannel" {
		used = "flannel"
	}
	mark := func(mode string) string {
		if mode == used {
			return "  ← this cluster"
		}
		return ""
	}
	join := func(m ack.ENIMode) string {
		if ok, _ := t.CanJoin(m); ok {
			return ""
		}
		if m == ack.ExclusiveENI {
			return fmt.Sprintf(" — cannot join: ACK requires more than %d ENIs", ack.MinExclusiveENIs)
		}
		return fmt.Sprintf(" — cannot join: ACK requires more than %d", ack.MinPods)
	}
	fmt.Fprintln(w, "max pods (Terway: terway pkg/aliyun/client/limit.go; ACK \"Adjust the maximum number of pods per node\"):")
	fmt.Fprintf(w, "  terway shared ENI     %s%s%s\n", t.Formula(ack.SharedENI), join(ack.SharedENI), mark(string(ack.SharedENI)))
	fmt.Fprintf(w, "  terway exclusive ENI  %s%s%s\n", t.Formula(ack.ExclusiveENI), join(ack.ExclusiveENI), mark(string(ack.ExclusiveENI)))
	switch {
	case t.TotalENIs == 0:
		fmt.Fprintf(w, "  terway trunk ENI      unknown: %s not sourced\n", ack.FieldTotalENIs)
	case !t.TrunkSupported:
		fmt.Fprintf(w, "  terway trunk ENI      0: %s false\n", ack.FieldTrunkSupported)
	default:
		fmt.Fprintf(w, "  terway trunk ENI      %s %d − %s %d = %d (maximum %s %d − 2 = %d)\n",
			ack.FieldTotalENIs, t.TotalENIs, ack.FieldENIs, t.ENIs, t.TrunkPods(), ack.FieldTotalENIs, t.TotalENIs, t.MaximumTrunkPods())
	}
	fmt.Fprintf(w, "  flannel               node CIDR /%d: %s (terraform alicloud_cs_managed_kubernetes node_cidr_mask)%s\n", mask, ack.FlannelFormula(mask), mark("flannel"))
}

// writeInstanceENIs lists the ENIs the VPC has attached to the host, as
// DescribeNetworkInterfaces (or the ECS console) shows them: ID, type,
// device (and the pod it was moved into), MAC, vSwitch and zone, private
// IPs, the primary ENI first.
func writeInstanceENIs(w io.Writer, wd *World, h *Host) {
	type row struct {
		primary bool
		dev     string
		line    string
	}
	var rows []row
	for _, e := range wd.VPC.ENIs() {
		if e.Instance != h.Name || e.Internet {
			continue
		}
		kind, where := "Secondary", "-"
		if e == h.ENI {
			kind = "Primary"
		}
		if e.Dev != nil {
			where = e.Dev.Name
			if e.Dev.NS != h.Name {
				where += " in pod " + e.Dev.NS
			}
		}
		ips := []string{e.Primary.String() + " (primary)"}
		for _, a := range e.Secondary {
			ips = append(ips, a.String())
		}
		sw := "-"
		if e.VSwitch != nil {
			sw = fmt.Sprintf("%s (%s)", e.VSwitch.Name, e.VSwitch.Zone)
		}
		rows = append(rows, row{kind == "Primary", where, fmt.Sprintf("%s  %-9s %-10s %s  %s  %s", e.ID, kind, where, e.MAC, sw, strings.Join(ips, " "))})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].primary != rows[j].primary {
			return rows[i].primary
		}
		return devLess(rows[i].dev, rows[j].dev)
	})
	fmt.Fprintf(w, "$ aliyun ecs DescribeNetworkInterfaces --InstanceId %s  # modelled: %d of %s ENIs (EniQuantity)\n", h.Name, len(rows), enisOf(h.InstanceType))
	for _, r := range rows {
		fmt.Fprintln(w, r.line)
	}
}

// devLess orders eth0, eth1, …, eth10 numerically.
func devLess(a, b string) bool {
	na, ea := strconv.Atoi(strings.TrimPrefix(a, "eth"))
	nb, eb := strconv.Atoi(strings.TrimPrefix(b, "eth"))
	if ea == nil && eb == nil {
		return na < nb
	}
	return a < b
}

// enisOf is the type's EniQuantity as text ("?" without a type).
func enisOf(t ack.InstanceType) string {
	if t.Name == "" {
		return "?"
	}
	return strconv.Itoa(t.ENIs)
}

// figure marks a value as unverified with a "?".
func figure(t ack.InstanceType, field, v string) string {
	if !t.Verified(field) {
		return v + "?"
	}
	return v
}

func totalText(t ack.InstanceType) string {
	if t.TotalENIs == 0 {
		return "unknown"
	}
	return strconv.Itoa(t.TotalENIs)
}

// defaultNote says when a host's type is the default one.
func defaultNote(s *Scenario, h *Host) string {
	if n := s.NodeByName(h.Name); n != nil && n.InstanceType == "" {
		return " (the default type: the node names none)"
	}
	if in := s.InstanceByName(h.Name); in != nil && in.InstanceType == "" {
		return " (the default type: the instance names none)"
	}
	return ""
}
