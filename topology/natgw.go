package topology

import (
	"fmt"
	"io"
	"net/netip"
	"slices"

	"netsim/dataplane/vpc"
	"netsim/topology/hint"
)

// Internet egress in the scenario file: vpc.natGateways and vpc.eips.

// NATGateway is an enhanced Internet NAT gateway in the VPC. Creating it
// adds the route entry 0.0.0.0/0 → the gateway to the VPC route table.
type NATGateway struct {
	// Name names the gateway (its ID, ngw-…, is derived from it).
	Name string `yaml:"name"`
	// VSwitch is the vSwitch the gateway lives in; its private address
	// there is allocated like an instance's.
	VSwitch string `yaml:"vswitch"`
	// EIPs are the public addresses associated with the gateway.
	EIPs []string `yaml:"eips"`
	// SNAT is the gateway's SNAT table.
	SNAT []SNATEntry `yaml:"snat"`
}

// SNATEntry is one SNAT entry: exactly one of VSwitch, Instance and CIDR
// names the source, EIP is the address it is translated to.
type SNATEntry struct {
	// VSwitch: every address of the vSwitch's CIDR (SourceVSwitchId).
	VSwitch string `yaml:"vswitch"`
	// Instance: the ECS instance's (node's) primary private address.
	Instance string `yaml:"instance"`
	// CIDR: any source CIDR block (SourceCIDR).
	CIDR string `yaml:"cidr"`
	// EIP is one of the gateway's EIPs.
	EIP string `yaml:"eip"`
}

// EIP is an elastic IP address associated with an ECS instance (a node or
// an instance): a 1:1 NAT of its primary private address.
type EIP struct {
	IP string `yaml:"ip"`
	// Instance is the node or instance the EIP is associated with.
	Instance string `yaml:"instance"`
}

// checkNAT checks vpc.natGateways and vpc.eips.
func (v *validator) checkNAT() {
	s := v.s
	vp := &s.VPC
	if len(vp.NATGateways) == 0 && len(vp.EIPs) == 0 {
		return
	}
	if vp.Underlay == "l2" {
		field := "vpc.natGateways"
		if len(vp.NATGateways) == 0 {
			field = "vpc.eips"
		}
		v.add(field, `NAT gateways and EIPs need underlay "vpc": an l2 underlay has no Internet edge`)
		return
	}
	used := map[netip.Addr]string{}
	// eip checks one EIP address and returns it when valid.
	eip := func(path, text string) (netip.Addr, bool) {
		if text == "" {
			v.add(path, "required: a public IPv4 address, e.g. 192.0.2.10 (TEST-NET-1, RFC 5737)")
			return netip.Addr{}, false
		}
		a, msg := parseAddr4(text)
		switch {
		case msg != "":
			v.add(path, msg)
		case notPublic(a) != "":
			v.addf(path, "%s is %s: an EIP is a public address, e.g. 192.0.2.10", a, notPublic(a))
		case slbPublicRange.Contains(a):
			v.addf(path, "%s is in %s, where netsim places Internet-facing SLB addresses: use another range for EIPs, e.g. 192.0.2.0/24", a, slbPublicRange)
		case s.Internet != nil && s.Internet.IP == a.String():
			v.addf(path, "%s is the Internet client's address (internet.ip)", a)
		case used[a] != "":
			v.addf(path, "EIP %s is already used by %s: an EIP is associated with one resource", a, used[a])
		default:
			used[a] = path
			return a, true
		}
		return netip.Addr{}, false
	}
	host := func(path, name string) bool {
		switch {
		case name == "":
			v.addf(path, "required: the node or instance (%s)", v.hostList())
		case v.nodes[name] == nil && v.instances[name] == nil:
			v.addDep(depHosts, path, "%q is not a node or instance (%s)%s", name, v.hostList(), hint.DidYouMean(name, v.hostNames()))
		default:
			return true
		}
		return false
	}
	if len(vp.NATGateways) > 1 {
		v.addf(indexPath("vpc.natGateways", 1), "a second NAT gateway needs its own 0.0.0.0/0 route entry, and the VPC's system route table holds one: netsim models one NAT gateway per VPC")
	}
	for i, r := range vp.Routes {
		if p, msg := parseCIDR4(r.Destination); msg == "" && p.Bits() == 0 && len(vp.NATGateways) > 0 {
			v.addf(indexPath("vpc.routes", i)+".destination", "0.0.0.0/0 is the entry the NAT gateway %q adds to the route table: remove this route", vp.NATGateways[0].Name)
		}
	}
	names := map[string]string{}
	for i := range vp.NATGateways {
		g := &vp.NATGateways[i]
		path := indexPath("vpc.natGateways", i)
		switch {
		case g.Name == "":
			v.add(path+".name", "required: a name for the NAT gateway, e.g. ngw-1")
		case !isDNSLabel(g.Name):
			v.addf(path+".name", "%q is not a valid name: %s", g.Name, dnsLabelRule)
		case names[g.Name] != "":
			v.addf(path+".name", "NAT gateway name %q is already used by %s", g.Name, names[g.Name])
		default:
			names[g.Name] = path
		}
		switch {
		case g.VSwitch == "":
			v.addf(path+".vswitch", "required: the vSwitch the NAT gateway is in (%s)", listOf("vSwitches", v.vswitchNames))
		case !slices.Contains(v.vswitchNames, g.VSwitch):
			v.addDep(depVSwitches, path+".vswitch", "vSwitch %q does not exist (%s)%s", g.VSwitch, listOf("vSwitches", v.vswitchNames), hint.DidYouMean(g.VSwitch, v.vswitchNames))
		}
		own := map[netip.Addr]bool{}
		var ownList []string
		if len(g.EIPs) == 0 {
			v.add(path+".eips", "required: at least one EIP for the SNAT entries, e.g. [192.0.2.10]")
		}
		for j, text := range g.EIPs {
			if a, ok := eip(indexPath(path+".eips", j), text); ok {
				own[a] = true
				ownList = append(ownList, a.String())
			}
		}
		sources := map[string]string{}
		for j, e := range g.SNAT {
			ep := indexPath(path+".snat", j)
			set := 0
			for _, f := range []string{e.VSwitch, e.Instance, e.CIDR} {
				if f != "" {
					set++
				}
			}
			var key string
			switch {
			case set != 1:
				v.add(ep, "an SNAT entry names exactly one source: vswitch (a vSwitch), instance (a node or instance) or cidr (a CIDR block)")
			case e.VSwitch != "":
				key = "vSwitch " + e.VSwitch
				if !slices.Contains(v.vswitchNames, e.VSwitch) {
					v.addDep(depVSwitches, ep+".vswitch", "vSwitch %q does not exist (%s)%s", e.VSwitch, listOf("vSwitches", v.vswitchNames), hint.DidYouMean(e.VSwitch, v.vswitchNames))
				}
			case e.Instance != "":
				key = "instance " + e.Instance
				host(ep+".instance", e.Instance)
			default:
				p, msg := parseCIDR4(e.CIDR)
				if msg != "" {
					v.add(ep+".cidr", msg)
					break
				}
				key = "CIDR " + p.String()
				for name, sw := range v.vswitchCIDR {
					if sw == p {
						v.addf(ep+".cidr", "%s is the CIDR of vSwitch %q: write vswitch: %s", p, name, name)
					}
				}
			}
			if key != "" {
				if o := sources[key]; o != "" {
					v.addf(ep, "%s is already the source of %s: each vSwitch, instance or CIDR can be the source of one SNAT entry only", key, o)
				} else {
					sources[key] = ep
				}
			}
			switch a, msg := parseAddr4(e.EIP); {
			case e.EIP == "":
				v.addf(ep+".eip", "required: the EIP the source is translated to, one of the gateway's eips (%v)", ownList)
			case msg != "":
				v.add(ep+".eip", msg)
			case !own[a]:
				v.addf(ep+".eip", "%s is not one of the NAT gateway's eips (%v)", a, ownList)
			}
		}
	}
	byHost := map[string]string{}
	for i, e := range vp.EIPs {
		path := indexPath("vpc.eips", i)
		eip(path+".ip", e.IP)
		if host(path+".instance", e.Instance) {
			if o := byHost[e.Instance]; o != "" {
				v.addf(path+".instance", "%s already has the EIP of %s: an ECS instance's primary private address takes one EIP", e.Instance, o)
			} else {
				byHost[e.Instance] = path
			}
		}
	}
}

// natGateways creates the scenario's NAT gateways and EIPs.
func (b *builder) natGateways() {
	s, w := b.s, b.w
	if w.VPC == nil {
		return
	}
	for i, g := range s.VPC.NATGateways {
		path := indexPath("vpc.natGateways", i)
		sw := b.vsw[g.VSwitch]
		private := b.allocate(sw.CIDR)
		if !private.IsValid() {
			b.fail(path+".vswitch", "no free address left in vSwitch %s (%s) for NAT gateway %s", sw.Name, sw.CIDR, g.Name)
			continue
		}
		b.used.add(private)
		var eips []netip.Addr
		for _, e := range g.EIPs {
			eips = append(eips, netip.MustParseAddr(e))
		}
		ngw, err := w.VPC.AddNATGateway(g.Name, sw, private, eips, seedFor(s.Seed, "natgw/"+g.Name))
		if err != nil {
			b.fail(path, "%v", err)
			continue
		}
		for j, e := range g.SNAT {
			ep := indexPath(path+".snat", j)
			var err error
			eip := netip.MustParseAddr(e.EIP)
			switch {
			case e.VSwitch != "":
				_, err = ngw.AddSNATEntry(vpc.SNATVSwitch, e.VSwitch, b.vsw[e.VSwitch].CIDR, eip)
			case e.Instance != "":
				h := w.Host(e.Instance)
				_, err = ngw.AddSNATEntry(vpc.SNATInstance, e.Instance, netip.PrefixFrom(h.IP, 32), eip)
			default:
				_, err = ngw.AddSNATEntry(vpc.SNATCIDR, "", netip.MustParsePrefix(e.CIDR), eip)
			}
			if err != nil {
				b.fail(ep, "%v", err)
			}
		}
	}
	for i, e := range s.VPC.EIPs {
		if _, err := w.VPC.AssociateEIP(netip.MustParseAddr(e.IP), e.Instance); err != nil {
			b.fail(indexPath("vpc.eips", i), "%v", err)
		}
	}
}

// writeNAT prints the NAT gateways, their SNAT tables and the EIPs.
func writeNAT(w io.Writer, wd *World, indent string) {
	if wd.VPC == nil {
		return
	}
	for _, g := range wd.VPC.NATGateways() {
		fmt.Fprintf(w, "%sNAT gateway %s (%s, enhanced, Internet) in vSwitch %s at %s, SNAT table %s:\n", indent, g.Name, g.ID, g.VSwitch.Name, g.PrivateIP, g.SNATTableID)
		if len(g.SNATEntries()) == 0 {
			fmt.Fprintf(w, "%s  (no SNAT entries: nothing leaves through this gateway)\n", indent)
		}
		for _, e := range g.SNATEntries() {
			fmt.Fprintf(w, "%s  %s\n", indent, e)
		}
	}
	for _, e := range wd.VPC.EIPs() {
		fmt.Fprintf(w, "%s%s\n", indent, e)
	}
}

// eipHost is the node or instance an EIP is associated with, or nil.
func (w *World) eipHost(a netip.Addr) *Host {
	if w.VPC == nil {
		return nil
	}
	for _, e := range w.VPC.EIPs() {
		if e.Addr == a && e.Instance != "" {
			return w.Host(e.Instance)
		}
	}
	return nil
}
