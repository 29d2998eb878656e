package topology

import (
	"fmt"
	"io"
	"strings"

	"netsim/dataplane/cni/terway"
)

// writeTerwayOverview prints each node's Terway capacity and ENIs, and the
// Pending pods with their events.
func writeTerwayOverview(w io.Writer, wd *World) {
	m, ok := wd.CNI.(*terway.Mode)
	if ok {
		for _, h := range wd.Nodes {
			if h.CNI == nil {
				continue
			}
			l, maxPods := m.NodeLimits(h.CNI)
			var enis []string
			used := 0
			for _, e := range terway.ENIs(h.CNI) {
				used += len(e.Pods)
				if e.Pod != "" {
					enis = append(enis, fmt.Sprintf("%s in pod %s", e.ID, e.Pod))
					continue
				}
				enis = append(enis, fmt.Sprintf("%s %s (%s, %d of %d IPs)", e.Name, e.ID, e.VSwitch.Name, len(e.Pods), e.Slots))
			}
			if len(enis) == 0 {
				enis = []string{"none yet"}
			}
			fmt.Fprintf(w, "  terway %s: %s, %d ENIs × %d IPs: %d of %d pods (%s ENI); secondary ENIs: %s\n",
				h.Name, l.InstanceType, l.Adapters, l.IPv4PerAdapter, used, maxPods, m.Options().ENIMode, strings.Join(enis, "; "))
		}
	}
	for _, p := range wd.Pending {
		fmt.Fprintf(w, "  pod  %-20s Pending on %s: %s\n", p.Ref(), p.Node.Name, p.Event())
	}
}

// writeENIs lists an instance's ENIs as the ECS console (or
// DescribeNetworkInterfaces) shows them, for nodes with secondary ENIs.
func writeENIs(w io.Writer, wd *World, h *Host) {
	if wd.VPC == nil {
		return
	}
	var lines []string
	for _, e := range wd.VPC.ENIs() {
		if e.Instance != h.Name {
			continue
		}
		kind := "Secondary"
		if e == h.ENI {
			kind = "Primary"
		}
		ips := []string{e.Primary.String() + " (primary)"}
		for _, a := range e.Secondary {
			ips = append(ips, a.String())
		}
		where := e.Dev.Name
		if e.Dev.NS != h.Name {
			where += " in pod " + e.Dev.NS
		}
		lines = append(lines, fmt.Sprintf("%s  %-9s %-22s %s  %s (%s)  %s", e.ID, kind, where, e.MAC, e.VSwitch.Name, e.VSwitch.Zone, strings.Join(ips, " ")))
	}
	if len(lines) < 2 {
		return // only the primary ENI: nothing Terway-specific to show
	}
	fmt.Fprintf(w, "$ aliyun ecs DescribeNetworkInterfaces --InstanceId %s  # modelled: ID, type, device, MAC, vSwitch, private IPs\n", h.Name)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// nodePodsText is where a node's pod addresses come from: its pod CIDR,
// or with Terway the pod vSwitches of its zone.
func nodePodsText(wd *World, h *Host) string {
	if h.PodCIDR.IsValid() {
		return h.PodCIDR.String()
	}
	if m, ok := wd.CNI.(*terway.Mode); ok && wd.VPC != nil {
		var names []string
		for _, sw := range wd.VPC.VSwitches() {
			if sw.Name == h.VSwitch {
				for _, p := range m.Options().VSwitches[sw.Zone] {
					names = append(names, p.Name)
				}
			}
		}
		return "from ENIs in " + strings.Join(names, ", ")
	}
	return "none"
}
