package ackplan

import (
	"fmt"
	"strings"
)

var routeRules = []Rule{
	{
		ID:    "route-destination",
		Title: "a custom route entry's destination is outside 100.64.0.0/10 and neither equals nor falls inside a vSwitch",
		// Error: CreateRouteEntry refuses it.
		Source: `https://help.aliyun.com/en/vpc/developer-reference/api-vpc-2016-04-28-createrouteentry — "The destination CIDR block of a custom route entry cannot be the same as a vSwitch CIDR block in the VPC. The destination CIDR block can contain a vSwitch CIDR block but cannot be contained by a vSwitch CIDR block." (the older CreateRouteEntries page says "cannot be the same as or overlap with"; the newer, more precise wording is followed); https://www.alibabacloud.com/help/ja/vpc/api-createrouteentries — "The destination CIDR block of a custom route entry cannot be 100.64.0.0/10 or its subnets"`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			for _, rt := range p.Routes {
				path := rt.Path + ".destination"
				d := rt.Destination
				if !d.IsValid() || !p.Valid(path) {
					continue
				}
				if Contains(CloudReserved, d) {
					r.Errorf(path, "%s is inside 100.64.0.0/10, which Alibaba Cloud reserves for cloud services: it cannot be a custom route destination", d)
					continue
				}
				for _, sw := range p.VSwitches {
					if !p.cidrOK(sw) {
						continue
					}
					if sw.CIDR == d {
						r.Errorf(path, "%s is the CIDR of vSwitch %q, which the VPC already routes (system route): a custom route may contain a vSwitch CIDR but not equal it or fall inside it", d, sw.Name)
						break
					}
					if Contains(sw.CIDR, d) {
						r.Errorf(path, "%s falls inside vSwitch %q (%s), which the VPC already routes (system route): a custom route may contain a vSwitch CIDR but not equal it or fall inside it", d, sw.Name, sw.CIDR)
						break
					}
				}
			}
		},
	},
	{
		ID:    "route-overlap",
		Title: "a custom route entry is not inside Flannel's pod CIDR and does not overlap the Service CIDR",
		// Warning: the VPC accepts both entries. Inside the pod CIDR ACK's
		// route controller deletes it; for ClusterIPs it sends traffic to
		// one node, where only that node's kube-proxy answers.
		Source: `kubernetes/cloud-provider-alibaba-cloud pkg/controller/route (ack-cni-facts §3.3) — the periodic sync "deletes entries inside --cluster-cidr that conflict with a node (contained in a node CIDR, or equal CIDR but other instance)", every --route-reconciliation-period (5m); ` + srcWorkWithFlannel + ` — "conflicting entries are deleted automatically"; ClusterIPs are virtual addresses of each node's kube-proxy`,
		Kinds:  []Severity{Warning},
		Check: func(p *Plan, r *Reporter) {
			for _, rt := range p.Routes {
				path := rt.Path + ".destination"
				d := rt.Destination
				if !d.IsValid() || !p.Valid(path) {
					continue
				}
				if pod := p.PodCIDR; p.FlannelAliVPC() && p.ok(pod) && Contains(pod.Prefix, d) {
					r.Warnf(path, "%s is inside the pod CIDR %s (the cluster CIDR): ACK's cloud-controller-manager deletes a custom entry there that conflicts with a node's pod subnet entry at its next sync (every 5 minutes), and its own per-node entries already route the pod CIDR; remove it or route a destination outside the pod CIDR", d, pod.Prefix)
				}
				if svc := p.ServiceCIDR; p.ok(svc) && svc.Prefix.Overlaps(d) {
					r.Warnf(path, "%s overlaps the Service CIDR %s: ClusterIPs exist only in each node's kube-proxy rules, so the VPC sends traffic for them to %s alone and nothing else answers; reach Services from outside the cluster through a LoadBalancer or NodePort Service", d, svc.Prefix, rt.NextHop)
				}
			}
		},
	},
	{
		ID:    "route-quota",
		Title: "the VPC route table's custom entries (one per Flannel node, the custom routes, one per declared range) fit its quota",
		// Warning above the quota: a quota request (up to 1,000) fixes it,
		// and until then nodes past it get no route entry (ACK's route
		// controller marks them NodeNetworkUnavailable, NoRouteCreated)
		// and netsim's build fails at the first entry over
		// (QuotaExceeded.RouteEntry). Error above 1,000, which no request
		// raises, and for a routeQuota above 1,000.
		Source: srcComparison + ` — "VPC route table entries: By default, 200 entries ... up to 1000 after applying", "One node corresponds to one entry"; https://help.aliyun.com/document_detail/447462.html — "集群中一个节点对应一条路由表项，VPC默认情况下仅支持200条路由表项，如果集群节点数目多于200个，请到配额平台提交申请" (one node, one entry; 200 by default; above 200 nodes, request more in Quota Center); ack-cni-facts §3.3`,
		Kinds:  []Severity{Error, Warning},
		Check: func(p *Plan, r *Reporter) {
			quota := p.RouteQuota
			if quota <= 0 {
				quota = DefaultRouteQuota
			}
			if p.RouteQuotaSet && quota > MaxRouteQuota {
				r.Errorf("vpc.routeQuota", "%s is more than a route table's quota can be: %d custom entries by default, up to %s on request (Quota Center)", thousands(quota), DefaultRouteQuota, thousands(MaxRouteQuota))
				return
			}
			// The entries in the order netsim's build adds them: the nodes'
			// (Flannel ali-vpc), the custom routes, then the declared ranges.
			type entry struct{ path, what string }
			var entries []entry
			var parts []string
			nodes := 0
			if p.FlannelAliVPC() {
				for _, pool := range p.Pools {
					for i := 0; i < pool.Nodes; i++ {
						entries = append(entries, entry{pool.nodesPath(), "node"})
					}
					nodes += pool.Nodes
				}
				if n := nodes + p.SurgeNodes; n > 0 {
					what := plural(nodes, "node", "nodes")
					if p.SurgeNodes > 0 {
						what += " + " + plural(p.SurgeNodes, "surge node", "surge nodes")
						for i := 0; i < p.SurgeNodes; i++ {
							entries = append(entries, entry{PathSurgeNodes, "surge"})
						}
					}
					parts = append(parts, what+" (one entry each)")
				}
			}
			for _, rt := range p.Routes {
				entries = append(entries, entry{rt.Path, "route"})
			}
			if n := len(p.Routes); n > 0 {
				parts = append(parts, plural(n, "custom route", "custom routes"))
			}
			for _, rg := range p.Ranges {
				entries = append(entries, entry{rg.Path, "range"})
			}
			if n := len(p.Ranges); n > 0 {
				parts = append(parts, plural(n, "declared range", "declared ranges")+" (one entry each, to the VPN gateway, Express Connect or peering connection)")
			}
			total := len(entries)
			if total <= quota {
				return
			}
			need := fmt.Sprintf("%s need %s route entries", strings.Join(parts, ", "), thousands(total))
			terway := ""
			if p.FlannelAliVPC() {
				terway = " or use Terway (no route entry per node)"
			}
			if total > MaxRouteQuota {
				fix := "use fewer custom routes or declared ranges"
				if p.FlannelAliVPC() {
					fix = "use Terway (no route entry per node), or split the nodes over clusters"
				}
				r.Errorf(entries[MaxRouteQuota].path, "%s, more than a route table holds even on request (%s): %s", need, thousands(MaxRouteQuota), fix)
				return
			}
			quotaText := fmt.Sprintf("the default quota is %d", DefaultRouteQuota)
			if p.RouteQuotaSet {
				quotaText = fmt.Sprintf("vpc.routeQuota is %s", thousands(quota))
			}
			r.Warnf(entries[quota].path, "%s but %s: request up to %s (Quota Center)%s; until then the entries past the quota are refused (QuotaExceeded.RouteEntry) and ACK's route controller marks their nodes NetworkUnavailable (NoRouteCreated)",
				need, quotaText, thousands(MaxRouteQuota), terway)
		},
	},
	{
		ID:    "range-overlap",
		Title: "a declared on-premises or peered range overlaps neither the VPC, a vSwitch, the pod CIDR nor the Service CIDR",
		// Error: an overlapping range cannot be routed (the VPC's system
		// routes and the cluster's own routes win), so pods could not
		// reach those hosts.
		Source: `ack-cni-facts §5 — ASM (plan-cidr-blocks-for-multiple-clusters-on-the-data-plane) refuses clusters with conflicting pod/Service/vSwitch CIDRs; ` + srcNetworkPlanning + ` — plan the VPC, pod and Service CIDRs not to overlap networks the VPC connects to (paraphrase, modelled): a system route (vSwitch) is more specific than a route to the VPN gateway or peering connection, and kube-proxy and the node routes take pod and Service addresses`,
		Kinds:  []Severity{Error},
		Check: func(p *Plan, r *Reporter) {
			// The offered blocks do not depend on the range: found once.
			fix, vpcFix, podFix, svcFix := p.vswitchFixer(), once(p.rangeVPCFix), once(p.podFix), once(p.serviceFix)
			for _, rg := range p.Ranges {
				path := rg.Path + ".cidr"
				c := rg.CIDR
				if !c.IsValid() || !p.Valid(path) {
					continue
				}
				cannot := "pods and nodes could not reach those hosts"
				if rg.Kind == PeeredVPC {
					cannot = "VPCs with overlapping CIDRs cannot be routed to each other"
				}
				hit := false
				if p.ok(p.VPC) && c.Overlaps(p.VPC.Prefix) {
					r.Errorf(path, "%s (%s) overlaps the VPC CIDR %s: the VPC routes those addresses itself, so %s; choose a VPC CIDR that avoids it%s", c, rg.what(), p.VPC.Prefix, cannot, vpcFix())
					hit = true
				}
				if !hit {
					for _, sw := range p.VSwitches {
						if p.cidrOK(sw) && c.Overlaps(sw.CIDR) {
							r.Errorf(path, "%s (%s) overlaps vSwitch %q (%s): the VPC routes those addresses itself (system route), so %s; choose vSwitches that avoid it%s", c, rg.what(), sw.Name, sw.CIDR, cannot, fix(sw, fmt.Sprintf("a free /%d in the VPC clear of it", sw.CIDR.Bits())))
							break
						}
					}
				}
				if pod := p.PodCIDR; p.CNI.Mode != "terway" && p.ok(pod) && c.Overlaps(pod.Prefix) {
					r.Errorf(path, "%s (%s) overlaps the pod CIDR %s: traffic from pods to those addresses stays in the cluster, so pods could not reach those hosts; choose a pod CIDR that avoids it (it cannot be changed after the cluster is created): %s", c, rg.what(), pod.Prefix, podFix())
				}
				if svc := p.ServiceCIDR; p.ok(svc) && c.Overlaps(svc.Prefix) {
					r.Errorf(path, "%s (%s) overlaps the Service CIDR %s: kube-proxy on every node takes traffic to those addresses, so pods could not reach those hosts; choose a Service CIDR that avoids it (it cannot be changed after the cluster is created): %s", c, rg.what(), svc.Prefix, svcFix())
				}
			}
		},
	},
}
