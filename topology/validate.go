package topology

import (
	"netsim/internal/prose"

	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"netsim/dataplane/trace"
	"netsim/topology/ackplan"
	"netsim/topology/hint"
	"netsim/topology/k8s"
)

// CNIModes lists the CNI modes a scenario may name in cluster.cni.mode.
// Add a mode here (and its options block to CNI) to make it loadable.
var CNIModes = []string{"calico", "flannel", "terway"}

// The limits and defaults Validate applies. Where a number is an Alibaba
// Cloud or ACK rule, the comment at the check says where it comes from.
const (
	defaultSeed       = 1
	defaultMTU        = 1500
	minMTU            = 576  // the IPv4 minimum datagram every host must accept (RFC 791)
	maxMTU            = 9000 // jumbo frames
	defaultLatency    = 50 * time.Microsecond
	maxLatency        = time.Second
	defaultRouteQuota = ackplan.DefaultRouteQuota // 200 custom entries per route table by default
	defaultNodeMask   = ackplan.DefaultNodeMask
	defaultNamespace  = "default"
	defaultProtocol   = "icmp"
	defaultSize       = 56 // ping's default payload
	defaultCount      = 1
	maxCount          = 100000
	maxUDPPayload     = 65507 // 65535 - 20 (IPv4) - 8 (UDP or ICMP header)
	maxTCPPayload     = 65495 // 65535 - 20 (IPv4) - 20 (TCP)
	// maxSCTPPayload is one SCTP message that fits Linux's initial
	// congestion window (min(4·MTU, max(2·MTU, 4380)) = 4380 bytes for
	// MTU 1500), so all its DATA chunks leave at once: netstack's SCTP
	// has no congestion or flow control.
	maxSCTPPayload   = 4096
	defaultBackend   = "vxlan"
	defaultVNI       = 1
	maxVNI           = 1<<24 - 1
	defaultVXLANPort = 8472 // flannel's default (Linux's historic VXLAN port)
	defaultUDPPort   = 8285 // flannel udp backend's default (udp_amd64.go defaultPort)
	defaultProxyMode = "iptables"
	defaultScheduler = "rr" // kube-proxy's --ipvs-scheduler default
	defaultInternet  = "internet"
	// defaultInternetIP is in TEST-NET-3 (RFC 5737), documentation space.
	defaultInternetIP = "203.0.113.10"

	// The address-range limits of Alibaba Cloud and ACK are the planning
	// rules' (package ackplan, each with its source).
	minNodeMask = ackplan.MinNodeMask
	maxNodeMask = ackplan.MaxNodeMask
)

// cloudReserved is 100.64.0.0/10, which Alibaba Cloud reserves for cloud
// services (see ackplan.CloudReserved).
var cloudReserved = ackplan.CloudReserved

var (
	flannelBackends = []string{"vxlan", "host-gw", "udp", "alivpc"}
	underlays       = []string{"vpc", "l2"}
	failureTypes    = []string{"delete-vpc-route", "link-down"}
	protocols       = []string{"icmp", "udp", "tcp", "sctp"}
	verdicts        = []string{"delivered", "dropped"}
	proxyModes      = []string{"iptables", "ipvs"}
	// ipvsSchedulers are the schedulers netsim's IPVS model implements
	// (round robin, least connection, source hashing).
	ipvsSchedulers = []string{"rr", "lc", "sh"}
)

var (
	scenarioNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelNameRE    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

// Validate applies the defaults to s and checks it, returning every problem
// found (nil when there is none). The problems carry field paths but no
// file positions; Parse adds those. Validate checks what can be checked
// without building the world: addresses that Build allocates are checked
// at Build time.
func (s *Scenario) Validate() Problems {
	v := s.validate()
	probs := v.probs
	for _, f := range v.result.Findings() {
		if f.Severity == ackplan.Error {
			probs = append(probs, Problem{Path: f.Path, Msg: ruleMsg(f)})
		}
	}
	return probs
}

// validate is Validate, keeping what each problem depends on.
func (s *Scenario) validate() *validator {
	v := &validator{s: s}
	v.applyDefaults()
	v.indexNames()
	v.checkName()
	v.checkVPC()
	v.checkCluster()
	v.checkCNIMTU()
	v.checkLimits()
	v.checkInstanceTypes()
	v.checkPlanSpec()
	v.checkPlan()
	v.checkHosts()
	v.checkTerwayPodIPs()
	v.checkPods()
	v.loadObjects()
	v.checkPodsPerNode()
	v.checkProxyRules()
	v.checkPolicyRules()
	v.checkInternet()
	v.checkNAT()
	v.checkFailures()
	v.checkFlows()
	v.checkWork()
	v.checkActionSequence()
	v.checkServices()
	return v
}

// validator carries what one Validate learned so far.
type validator struct {
	s     *Scenario
	probs Problems
	// deps[i] lists the paths problem i was judged from (e.g. a reference
	// to a node depends on "nodes"): when one of them is itself broken,
	// Parse drops the problem as a consequence.
	deps [][]string

	vpcCIDR       netip.Prefix // valid when IsValid
	podCIDR       netip.Prefix
	serviceCIDR   netip.Prefix
	vswitchCIDR   map[string]netip.Prefix // vSwitches with a valid CIDR
	vswitchIndex  map[string]int          // the index of each vSwitchCIDR entry
	vswitchNames  []string
	nodeNames     []string
	instanceNames []string
	nodes         map[string]*Node
	instances     map[string]*Instance
	nodePodCIDR   map[string]netip.Prefix // nodes with a valid explicit pod CIDR
	pods          map[string]bool         // "NS/NAME"
	podNames      []string
	// objectsBroken: some manifest object did not decode, so a Service
	// that cannot be found may be one of those.
	objectsBroken bool
	// terwayPodVSwitches: Terway's options were checked and name pod
	// vSwitches (the planning rules judge them).
	terwayPodVSwitches bool
	// typesNameless, typesBroken: instanceTypes entries that did not load
	// (a reference to them is not reported; see checkInstanceTypes).
	typesNameless bool
	typesBroken   map[string]bool
	// routeQuotaSet: vpc.routeQuota was written (before defaults).
	routeQuotaSet bool
	// plan is the scenario's plan and result the planning rules' outcome
	// (see checkPlan).
	plan   *ackplan.Plan
	result ackplan.Result
}

func (v *validator) add(path, msg string) {
	v.probs = append(v.probs, Problem{Path: path, Msg: msg})
	v.deps = append(v.deps, nil)
}

// addDep adds a problem that was judged from the fields at deps.
func (v *validator) addDep(deps []string, path, format string, args ...any) {
	v.addf(path, format, args...)
	v.deps[len(v.deps)-1] = deps
}

// What reference checks depend on.
var (
	depVSwitches = []string{"vpc.vswitches"}
	depNodes     = []string{"nodes"}
	depHosts     = []string{"nodes", "instances"}
	depPods      = []string{"pods"}
	depInstances = []string{"instances"}
)

func (v *validator) addf(path, format string, args ...any) {
	v.add(path, fmt.Sprintf(format, args...))
}

func (v *validator) applyDefaults() {
	s := v.s
	if s.Seed == 0 {
		s.Seed = defaultSeed
	}
	if s.VPC.Underlay == "" {
		s.VPC.Underlay = "vpc"
	}
	if s.VPC.MTU == 0 {
		s.VPC.MTU = defaultMTU
	}
	if s.VPC.Latency == nil {
		d := defaultLatency
		s.VPC.Latency = &d
	}
	v.routeQuotaSet = s.VPC.RouteQuota != 0
	if s.VPC.RouteQuota == 0 {
		s.VPC.RouteQuota = defaultRouteQuota
	}
	v.calicoDefaults()
	if s.Cluster.NodeCIDRMask == 0 {
		s.Cluster.NodeCIDRMask = defaultNodeMask
	}
	if s.Cluster.ProxyMode == "" {
		s.Cluster.ProxyMode = defaultProxyMode
	}
	if s.Cluster.ProxyMode == "ipvs" && s.Cluster.IPVSScheduler == "" {
		s.Cluster.IPVSScheduler = defaultScheduler
	}
	if in := s.Internet; in != nil {
		if in.Name == "" {
			in.Name = defaultInternet
		}
		if in.IP == "" {
			in.IP = defaultInternetIP
		}
	}
	v.terwayDefaults()
	if s.Cluster.CNI.Mode == "flannel" && s.Cluster.CNI.Flannel == nil {
		s.Cluster.CNI.Flannel = &Flannel{}
	}
	if f := s.Cluster.CNI.Flannel; f != nil {
		switch f.Backend {
		case "":
			f.Backend = defaultBackend
		case "ali-vpc":
			f.Backend = "alivpc"
		}
		if f.VNI == nil {
			f.VNI = ptr(defaultVNI)
		}
		if f.Port == nil {
			if f.Backend == "udp" {
				f.Port = ptr(defaultUDPPort)
			} else {
				f.Port = ptr(defaultVXLANPort)
			}
		}
		if f.IPMasq == nil {
			f.IPMasq = ptr(true)
		}
	}
	for i := range s.Pods {
		if s.Pods[i].Namespace == "" {
			s.Pods[i].Namespace = defaultNamespace
		}
	}
	for i := range s.Flows {
		f := &s.Flows[i]
		if f.Action != "" {
			continue // an action, not traffic: no flow defaults
		}
		if f.Protocol == "" {
			f.Protocol = defaultProtocol
		}
		if f.Size == nil {
			f.Size = ptr(defaultSize)
		}
		if f.Count == 0 {
			f.Count = defaultCount
		}
	}
}

func ptr[T any](v T) *T { return &v }

// indexNames collects the names other sections refer to, before checking.
func (v *validator) indexNames() {
	s := v.s
	v.nodes = make(map[string]*Node, len(s.Nodes))
	v.instances = map[string]*Instance{}
	v.pods = make(map[string]bool, len(s.Pods))
	v.podNames = make([]string, 0, len(s.Pods))
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Name != "" && v.nodes[n.Name] == nil {
			v.nodes[n.Name] = n
			v.nodeNames = append(v.nodeNames, n.Name)
		}
	}
	for i := range s.Instances {
		in := &s.Instances[i]
		if in.Name != "" && v.instances[in.Name] == nil {
			v.instances[in.Name] = in
			v.instanceNames = append(v.instanceNames, in.Name)
		}
	}
	for _, p := range s.Pods {
		key := p.Namespace + "/" + p.Name
		if p.Name != "" && !v.pods[key] {
			v.pods[key] = true
			v.podNames = append(v.podNames, key)
		}
	}
	for _, sw := range s.VPC.VSwitches {
		if sw.Name != "" && !slices.Contains(v.vswitchNames, sw.Name) {
			v.vswitchNames = append(v.vswitchNames, sw.Name)
		}
	}
}

func (v *validator) checkName() {
	switch name := v.s.Name; {
	case name == "":
		v.add("name", `required: a name of lowercase letters, digits and '-', e.g. "two-node-vxlan"`)
	case !scenarioNameRE.MatchString(name):
		v.addf("name", `%q is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. "two-node-vxlan"`, name)
	}
}

func (v *validator) checkVPC() {
	vpc := &v.s.VPC
	if vpc.CIDR == "" {
		v.add("vpc.cidr", "required: the VPC's IPv4 CIDR block, e.g. 192.168.0.0/16")
	} else if p, msg := parseCIDR4(vpc.CIDR); msg != "" {
		v.add("vpc.cidr", msg)
	} else {
		// Its range and mask are planning rules (vpc-cidr-private,
		// vpc-cidr-mask): checkPlan forgets it if one fails.
		v.vpcCIDR = p
	}

	if !slices.Contains(underlays, vpc.Underlay) {
		v.addf("vpc.underlay", `unknown underlay %q: expected "vpc" (Alibaba Cloud VPC, the default) or "l2" (one Ethernet segment)%s`, vpc.Underlay, hint.DidYouMean(vpc.Underlay, underlays))
	}
	if vpc.MTU < minMTU || vpc.MTU > maxMTU {
		v.addf("vpc.mtu", "%d is out of range: expected %d to %d (the default is %d)", vpc.MTU, minMTU, maxMTU, defaultMTU)
	}
	if vpc.RouteQuota < 0 {
		v.addf("vpc.routeQuota", "%d is out of range: expected a number of route entries greater than 0 (the default is %d)", vpc.RouteQuota, defaultRouteQuota)
	}
	if d := *vpc.Latency; d < 0 || d > maxLatency {
		v.addf("vpc.latency", "%s is out of range: expected 0 to %s (the default is %s)", d, maxLatency, defaultLatency)
	}
	v.checkVSwitches()
	v.checkRoutes()
}

func (v *validator) checkVSwitches() {
	vpc := &v.s.VPC
	v.vswitchCIDR = map[string]netip.Prefix{}
	v.vswitchIndex = map[string]int{}
	if len(vpc.VSwitches) == 0 {
		v.add("vpc.vswitches", "at least one vSwitch is required, e.g. {name: vsw-a, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}")
	}
	if vpc.Underlay == "l2" && len(vpc.VSwitches) > 1 {
		v.addf("vpc.vswitches", "an l2 underlay is one Ethernet segment: it takes exactly one vSwitch, got %d", len(vpc.VSwitches))
	}
	names := map[string]int{}
	for i, sw := range vpc.VSwitches {
		path := indexPath("vpc.vswitches", i)
		if sw.Name == "" {
			v.add(path+".name", "required: a name for the vSwitch, e.g. vsw-a")
		} else if j, dup := names[sw.Name]; dup {
			v.addf(path+".name", "vSwitch name %q is already used by vpc.vswitches[%d]", sw.Name, j)
		} else {
			names[sw.Name] = i
		}
		if sw.Zone == "" {
			v.add(path+".zone", "required: the zone of the vSwitch, e.g. cn-hangzhou-h")
		}
		if sw.CIDR == "" {
			v.add(path+".cidr", "required: the vSwitch's IPv4 CIDR block inside the VPC CIDR, e.g. 192.168.1.0/24")
			continue
		}
		p, msg := parseCIDR4(sw.CIDR)
		if msg != "" {
			v.add(path+".cidr", msg)
			continue
		}
		// Mask, inside the VPC, no overlap: planning rules (vswitch-mask,
		// vswitch-in-vpc, vswitch-overlap); checkPlan forgets a vSwitch
		// CIDR that fails one.
		if sw.Name != "" && names[sw.Name] == i {
			v.vswitchCIDR[sw.Name] = p
			v.vswitchIndex[sw.Name] = i
		}
	}
}

func (v *validator) checkRoutes() {
	vpc := &v.s.VPC
	if vpc.Underlay == "l2" && len(vpc.Routes) > 0 {
		v.add("vpc.routes", `an l2 underlay has no VPC route table: remove routes or use underlay "vpc"`)
		return
	}
	seen := map[netip.Prefix]int{}
	for i, r := range vpc.Routes {
		path := indexPath("vpc.routes", i)
		if r.Destination == "" {
			v.add(path+".destination", "required: the destination CIDR of the route entry, e.g. 172.20.1.0/24")
		} else if p, msg := parseCIDR4(r.Destination); msg != "" {
			v.add(path+".destination", msg)
		} else {
			// Where it may point is a planning rule (route-destination).
			if j, dup := seen[p]; dup {
				v.addf(path+".destination", "%s is already the destination of vpc.routes[%d]: destinations in a route table must be unique", p, j)
			} else {
				seen[p] = i
			}
		}
		switch {
		case r.NextHop == "":
			v.addf(path+".nextHop", "required: the node or instance that receives the traffic (%s)", v.hostList())
		case v.nodes[r.NextHop] == nil && v.instances[r.NextHop] == nil:
			v.addDep(depHosts, path+".nextHop", "%q is not a node or instance (%s)%s", r.NextHop, v.hostList(), hint.DidYouMean(r.NextHop, v.hostNames()))
		}
	}
}

func (v *validator) checkCluster() {
	c := &v.s.Cluster
	if c.CNI.Mode == "terway" {
		v.checkTerwayPodCIDR()
	} else if c.PodCIDR == "" {
		v.add("cluster.podCIDR", "required: the cluster pod network (flannel's Network), e.g. 172.20.0.0/16")
	} else if p, msg := parseCIDR4(c.PodCIDR); msg != "" {
		v.add("cluster.podCIDR", msg)
	} else {
		// Its range and overlaps are planning rules (pod-cidr-private,
		// pod-cidr-overlap): checkPlan forgets it if one fails.
		v.podCIDR = p
	}

	// The node CIDR mask (Flannel) and the Calico block size are a
	// planning rule (node-cidr-mask).

	if c.ServiceCIDR == "" {
		v.add("cluster.serviceCIDR", "required: the Service ClusterIP range, e.g. 172.21.0.0/20")
	} else if p, msg := parseCIDR4(c.ServiceCIDR); msg != "" {
		v.add("cluster.serviceCIDR", msg)
	} else {
		// Its range, mask and overlaps are planning rules
		// (service-cidr-*): checkPlan forgets it if one fails.
		v.serviceCIDR = p
	}
	v.checkCNI()
	v.checkProxy()
}

// checkProxy checks kube-proxy's mode and IPVS scheduler.
func (v *validator) checkProxy() {
	c := &v.s.Cluster
	if !slices.Contains(proxyModes, c.ProxyMode) {
		v.addf("cluster.proxyMode", `unknown proxy mode %q: expected "iptables" (the default) or "ipvs"%s`, c.ProxyMode, hint.DidYouMean(c.ProxyMode, proxyModes))
		return
	}
	switch {
	case c.IPVSScheduler == "":
	case c.ProxyMode != "ipvs":
		v.addf("cluster.ipvsScheduler", "ipvsScheduler is an option of proxyMode ipvs, but the proxy mode is %q", c.ProxyMode)
	case !slices.Contains(ipvsSchedulers, c.IPVSScheduler):
		v.addf("cluster.ipvsScheduler", `unknown IPVS scheduler %q: expected "rr" (round robin, the default), "lc" (least connection) or "sh" (source hashing)%s`, c.IPVSScheduler, hint.DidYouMean(c.IPVSScheduler, ipvsSchedulers))
	}
	seen := map[netip.Prefix]int{}
	for i, a := range c.NodePortAddresses {
		path := indexPath("cluster.nodePortAddresses", i)
		p, msg := parseCIDR4(a)
		if msg != "" {
			if a == "primary" {
				msg = `"primary" (the node's primary address, kube-proxy v1.29+) is not modelled: give the CIDR, e.g. the node's vSwitch CIDR`
			}
			v.add(path, msg)
			continue
		}
		if j, dup := seen[p]; dup {
			v.addf(path, "%s is already cluster.nodePortAddresses[%d]", p, j)
			continue
		}
		seen[p] = i
	}
}

func (v *validator) checkCNI() {
	cni := &v.s.Cluster.CNI
	known := slices.Contains(CNIModes, cni.Mode)
	switch {
	case cni.Mode == "":
		v.addf("cluster.cni.mode", "required: the CNI mode (known modes: %s)", strings.Join(CNIModes, ", "))
	case !known:
		v.addf("cluster.cni.mode", "unknown CNI mode %q (known modes: %s)%s", cni.Mode, strings.Join(CNIModes, ", "), hint.DidYouMean(cni.Mode, CNIModes))
	case cni.Mode != "flannel" && cni.Flannel != nil:
		v.addf("cluster.cni.flannel", "a flannel block needs mode \"flannel\", but the mode is %q", cni.Mode)
		return
	case cni.Mode != "terway" && cni.Terway != nil:
		v.addf("cluster.cni.terway", "a terway block needs mode \"terway\", but the mode is %q", cni.Mode)
		return
	case cni.Mode == "terway":
		v.checkCalico() // a calico block with mode terway
		v.checkTerway()
		return
	}
	v.checkCalico()
	f := cni.Flannel
	if f == nil {
		return
	}
	const p = "cluster.cni.flannel"
	if !slices.Contains(flannelBackends, f.Backend) {
		v.addf(p+".backend", `unknown flannel backend %q: expected "vxlan" (the default), "host-gw", "udp" or "alivpc" ("ali-vpc" is accepted too)%s`, f.Backend, hint.DidYouMean(f.Backend, append(slices.Clone(flannelBackends), "ali-vpc")))
	} else if f.DirectRouting && f.Backend != "vxlan" {
		v.addf(p+".directRouting", "directRouting is an option of the vxlan backend, but the backend is %q", f.Backend)
	}
	if *f.VNI < 1 || *f.VNI > maxVNI {
		v.addf(p+".vni", "%d is out of range: a VXLAN VNI is 1 to %d (the default is %d)", *f.VNI, maxVNI, defaultVNI)
	}
	if *f.Port < 1 || *f.Port > 65535 {
		def := defaultVXLANPort
		if f.Backend == "udp" {
			def = defaultUDPPort
		}
		v.addf(p+".port", "%d is out of range: a UDP port is 1 to 65535 (the default is %d)", *f.Port, def)
	}
	if f.MTU != 0 && (f.MTU < minMTU || f.MTU > maxMTU) {
		v.addf(p+".mtu", "%d is out of range: expected %d to %d, or leave it out to derive it from vpc.mtu", f.MTU, minMTU, maxMTU)
	}
}

// checkHosts checks nodes and instances: both are ECS instances in a vSwitch.
func (v *validator) checkHosts() {
	s := v.s
	if len(s.Nodes) == 0 && s.Plan == nil {
		v.add("nodes", "at least one node is required, e.g. {name: node-1, vswitch: vsw-a}")
	}
	names := map[string]string{}
	ips := map[netip.Addr]string{}
	podCIDRs := map[netip.Prefix]string{}
	v.nodePodCIDR = map[string]netip.Prefix{}
	for i, n := range s.Nodes {
		path := indexPath("nodes", i)
		v.checkHost(path, "node", n.Name, n.VSwitch, n.IP, names, ips)
		v.checkListenPorts(path+".ports", s.Nodes[i].Ports)
		v.checkSysctls(path+".sysctls", n.Sysctls)
		if n.PodCIDR == "" {
			continue
		}
		if s.Cluster.CNI.Mode == "terway" {
			v.addf(path+".podCIDR", "with Terway a node has no pod subnet: pods take addresses from the pod vSwitches of its zone (cluster.cni.terway.podVSwitches)")
			continue
		}
		p, msg := parseCIDR4(n.PodCIDR)
		switch {
		case msg != "":
			v.add(path+".podCIDR", msg)
		case v.podCIDR.IsValid() && !prefixContains(v.podCIDR, p):
			v.addf(path+".podCIDR", "%s is not inside cluster.podCIDR %s", p, v.podCIDR)
		case p.Bits() != s.Cluster.NodeCIDRMask && s.Cluster.CNI.Mode == "calico":
			v.addf(path+".podCIDR", "%s has mask /%d, but the Calico IPAM block size (cluster.cni.calico.blockSize) is /%d", p, p.Bits(), s.Cluster.NodeCIDRMask)
		case p.Bits() != s.Cluster.NodeCIDRMask:
			v.addf(path+".podCIDR", "%s has mask /%d, but cluster.nodeCIDRMask is /%d", p, p.Bits(), s.Cluster.NodeCIDRMask)
		case podCIDRs[p] != "":
			v.addf(path+".podCIDR", "%s is already the pod CIDR of %s", p, podCIDRs[p])
		default:
			podCIDRs[p] = path
			if n.Name != "" && v.nodePodCIDR[n.Name] == (netip.Prefix{}) {
				v.nodePodCIDR[n.Name] = p
			}
		}
	}
	for i, in := range s.Instances {
		v.checkHost(indexPath("instances", i), "instance", in.Name, in.VSwitch, in.IP, names, ips)
		v.checkListenPorts(indexPath("instances", i)+".ports", s.Instances[i].Ports)
		v.checkSysctls(indexPath("instances", i)+".sysctls", in.Sysctls)
	}
}

// checkSysctls checks a host's sysctls: known keys, values in range. The
// device of a conf.DEV key is checked when the host is built (devices come
// from the CNI).
func (v *validator) checkSysctls(path string, sys map[string]int) {
	keys := make([]string, 0, len(sys))
	for k := range sys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kp := joinPath(path, k)
		_, knob, msg := parseSysctl(k)
		if msg != "" {
			v.add(kp, msg)
			continue
		}
		max := 1
		if knob == "rp_filter" {
			max = 2
		}
		if val := sys[k]; val < 0 || val > max {
			what := "0 or 1"
			if max == 2 {
				what = "0 (off), 1 (strict) or 2 (loose)"
			}
			v.addf(kp, "%s = %d is out of range: expected %s", k, val, what)
		}
	}
}

// sysctlKnobs are the per-device IPv4 sysctls netsim models.
var sysctlKnobs = []string{"accept_local", "route_localnet", "rp_filter"}

// parseSysctl splits "net.ipv4.conf.SCOPE.KNOB" into SCOPE (all, default
// or a device name) and KNOB; msg says what is wrong otherwise.
func parseSysctl(key string) (scope, knob, msg string) {
	rest, ok := strings.CutPrefix(key, "net.ipv4.conf.")
	if !ok {
		return "", "", fmt.Sprintf("%q is not a modelled sysctl: expected net.ipv4.conf.{all,default,DEV}.{%s}", key, strings.Join(sysctlKnobs, ","))
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", "", fmt.Sprintf("%q names no device: expected net.ipv4.conf.{all,default,DEV}.KNOB", key)
	}
	scope, knob = rest[:i], rest[i+1:]
	if !slices.Contains(sysctlKnobs, knob) {
		return "", "", fmt.Sprintf("%q: %q is not a modelled setting (%s)%s", key, knob, strings.Join(sysctlKnobs, ", "), hint.DidYouMean(knob, sysctlKnobs))
	}
	return scope, knob, ""
}

func (v *validator) checkHost(path, kind, name, vsw, ip string, names map[string]string, ips map[netip.Addr]string) {
	switch {
	case name == "":
		v.addf(path+".name", "required: a name for the %s, e.g. %s-1", kind, kind)
	case len(name) > 253 || !dnsSubdomainRE.MatchString(name):
		v.addf(path+".name", "%q is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	case names[name] != "":
		v.addf(path+".name", "name %q is already used by %s: node and instance names must be unique", name, names[name])
	default:
		names[name] = path
	}
	sw, swOK := v.vswitchCIDR[vsw]
	switch {
	case vsw == "":
		v.addf(path+".vswitch", "required: the vSwitch the %s is in (%s)", kind, listOf("vSwitches", v.vswitchNames))
	case !slices.Contains(v.vswitchNames, vsw):
		v.addDep(depVSwitches, path+".vswitch", "vSwitch %q does not exist (%s)%s", vsw, listOf("vSwitches", v.vswitchNames), hint.DidYouMean(vsw, v.vswitchNames))
	}
	if ip == "" {
		return
	}
	a, msg := parseAddr4(ip)
	switch {
	case msg != "":
		v.add(path+".ip", msg)
	case swOK && !sw.Contains(a):
		v.addf(path+".ip", "%s is not inside vSwitch %q (%s)", a, vsw, sw)
	case swOK && isVSwitchReserved(sw, a):
		// CreateVSwitch: "The first IP address and last three IP addresses
		// of each vSwitch CIDR block are reserved. For example, if the CIDR
		// block of a vSwitch is 192.168.1.0/24, the IP addresses 192.168.1.0,
		// 192.168.1.253, 192.168.1.254, and 192.168.1.255 are reserved." —
		// https://alibabacloud.com/help/en/vpc/developer-reference/api-vpc-2016-04-28-createvswitch
		last := lastAddr(sw)
		v.addf(path+".ip", "%s is reserved by Alibaba Cloud: the first address (%s) and the last three (%s to %s) of vSwitch %q are not assignable",
			a, sw.Addr(), addrAdd(last, -2), last, vsw)
	case ips[a] != "":
		v.addf(path+".ip", "%s is already the address of %s", a, ips[a])
	default:
		ips[a] = path
	}
}

func (v *validator) checkPods() {
	seen := make(map[string]string, len(v.s.Pods))
	ips := map[netip.Addr]string{}
	for i, p := range v.s.Pods {
		path := indexPath("pods", i)
		switch {
		case p.Name == "":
			v.add(path+".name", "required: the pod's name, e.g. web-1")
		case !isDNSLabel(p.Name):
			v.addf(path+".name", "%q is not a valid pod name: %s", p.Name, dnsLabelRule)
		}
		if !isDNSLabel(p.Namespace) {
			v.addf(path+".namespace", "%q is not a valid namespace: %s", p.Namespace, dnsLabelRule)
		}
		if p.Name != "" {
			key := p.Namespace + "/" + p.Name
			if first, dup := seen[key]; dup {
				v.addf(path+".name", "pod %s is already defined at %s", key, first)
			} else {
				seen[key] = path
			}
		}
		switch {
		case p.Node == "":
			v.addf(path+".node", "required: the node the pod runs on (%s)", listOf("nodes", v.nodeNames))
		case v.nodes[p.Node] != nil:
		case v.instances[p.Node] != nil:
			v.addDep(depNodes, path+".node", "%q is an instance, not a node: pods run on nodes (%s)", p.Node, listOf("nodes", v.nodeNames))
		default:
			v.addDep(depNodes, path+".node", "node %q does not exist (%s)%s", p.Node, listOf("nodes", v.nodeNames), hint.DidYouMean(p.Node, v.nodeNames))
		}
		if p.IP != "" {
			v.checkPodIP(path+".ip", p, ips)
		}
		if p.MTU != 0 && (p.MTU < minMTU || p.MTU > maxMTU) {
			v.addf(path+".mtu", "%d is out of range: expected %d to %d", p.MTU, minMTU, maxMTU)
		}
		v.checkListenPorts(path+".ports", v.s.Pods[i].Ports)
		keys := make([]string, 0, len(p.Labels))
		for k := range p.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			lp := joinPath(path+".labels", k)
			if msg := checkLabelKey(k); msg != "" {
				v.addf(lp, "label key %q is not valid: %s", k, msg)
			}
			if msg := checkLabelValue(p.Labels[k]); msg != "" {
				v.addf(lp, "label value %q is not valid: %s", p.Labels[k], msg)
			}
		}
	}
}

func (v *validator) checkPodIP(path string, p Pod, ips map[netip.Addr]string) {
	a, msg := parseAddr4(p.IP)
	if msg != "" {
		v.add(path, msg)
		return
	}
	if first, dup := ips[a]; dup {
		v.addf(path, "%s is already the address of %s", a, first)
		return
	}
	ips[a] = parentPath(path)
	// Only checkable when the node's pod CIDR is given; otherwise Build
	// allocates it and checks there.
	cidr, ok := v.nodePodCIDR[p.Node]
	if !ok {
		return
	}
	if !cidr.Contains(a) {
		v.addf(path, "%s is not inside the pod CIDR %s of node %q", a, cidr, p.Node)
		return
	}
	if v.s.Cluster.CNI.Mode == "calico" {
		// calico-ipam hands out every address of a block, the first one
		// going to the node's tunnel device when the pool encapsulates.
		if v.s.calicoTunnelled() && a == cidr.Addr() {
			v.addf(path, "%s cannot be a pod address: it is the first address of node %q's block %s, which calico-node gives to the tunnel device", a, p.Node, cidr)
		}
		return
	}
	// The bridge CNI flannel delegates to takes the first host address as
	// the cni0 gateway; the network and broadcast addresses are not hosts.
	if gw := addrAdd(cidr.Addr(), 1); a == cidr.Addr() || a == gw || a == lastAddr(cidr) {
		v.addf(path, "%s cannot be a pod address: in node %q's pod CIDR %s, %s is the network address, %s the cni0 gateway and %s the broadcast address",
			a, p.Node, cidr, cidr.Addr(), gw, lastAddr(cidr))
	}
}

// loadObjects decodes the manifests and the inline resources (package
// k8s: strictly, with the Kubernetes types), expands Deployments over the
// nodes, and adds the manifest pods to the pods flows and failures may
// name. Scenario pods and manifest pods share one namespace/name space.
//
// At most MaxManifests files of MaxManifestBytes in all are read, each file
// once (the same file under two names is an error): one manifest of 16 MiB
// costs some 25 MB to decode, so 200 of them took 78 s and 5 GB.
func (v *validator) loadObjects() {
	s := v.s
	s.Objects = nil
	if len(s.Manifests) == 0 && len(s.Resources) == 0 {
		return
	}
	d := k8s.NewDecoder(k8s.Options{Nodes: v.nodeNames, Seed: s.Seed})
	dir := filepath.Dir(s.File)
	seen := map[string]int{}
	type readManifest struct {
		index int
		info  os.FileInfo
	}
	var read []readManifest
	var total int64
	for i, m := range s.Manifests {
		path := indexPath("manifests", i)
		if strings.TrimSpace(m) == "" {
			v.add(path, "required: a manifest file, relative to the scenario file's directory, e.g. app.yaml")
			continue
		}
		if j, dup := seen[m]; dup {
			v.addf(path, "%q is already listed as manifests[%d]", m, j)
			continue
		}
		seen[m] = i
		file := m
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, m)
		}
		if i == MaxManifests {
			v.addf(path, "more than %d manifests: netsim reads at most %d manifest files (put several objects in one file, separated by ---)", MaxManifests, MaxManifests)
			break
		}
		info, msg := s.checkManifest(dir, file)
		if msg != "" {
			v.add(path, msg)
			continue
		}
		if j := slices.IndexFunc(read, func(r readManifest) bool { return os.SameFile(r.info, info) }); j >= 0 {
			v.addf(path, "%q is the same file as manifests[%d] (%q)", m, read[j].index, s.Manifests[read[j].index])
			continue
		}
		if total += info.Size(); total > MaxManifestBytes {
			v.addf(path, "the manifests add up to more than %d MiB with this one: netsim reads at most %d MiB of manifests for one scenario", MaxManifestBytes>>20, MaxManifestBytes>>20)
			break
		}
		read = append(read, readManifest{i, info})
		s.inputs = append(s.inputs, file)
		d.DecodeFile(file)
	}
	for i, r := range s.Resources {
		if r.node == nil {
			v.add(indexPath("resources", i), "expected a Kubernetes object: a mapping with apiVersion, kind, metadata and spec; got nothing")
			continue
		}
		d.DecodeNode(s.File, s.src, r.node, indexPath("resources", i))
	}
	objs, errs := d.Objects()
	for _, e := range errs {
		v.addK8s(e)
	}
	s.Objects = objs
	v.objectsBroken = len(errs) > 0

	declared := make(map[string]string, len(s.Pods))
	ips := map[netip.Addr]string{}
	for i, p := range s.Pods {
		path := indexPath("pods", i)
		if _, dup := declared[p.Namespace+"/"+p.Name]; p.Name != "" && !dup {
			declared[p.Namespace+"/"+p.Name] = path
		}
		if a, err := netip.ParseAddr(p.IP); err == nil {
			ips[a] = path
		}
	}
	for _, p := range objs.Pods {
		key := p.Ref()
		if where, dup := declared[key]; dup {
			v.addK8s(p.Errorf("metadata.name", "a pod named %s is already declared at %s of the scenario: scenario pods and manifest pods share one namespace/name space", key, where))
			continue
		}
		if !v.pods[key] {
			v.pods[key] = true
			v.podNames = append(v.podNames, key)
		}
		if !p.IP.IsValid() {
			continue
		}
		if where, dup := ips[p.IP]; dup {
			v.addK8s(p.Errorf("status.podIP", "%s is already the address of %s", p.IP, where))
			continue
		}
		ips[p.IP] = "pod " + key
		if cidr, ok := v.nodePodCIDR[p.Node]; ok && !cidr.Contains(p.IP) {
			v.addK8s(p.Errorf("status.podIP", "%s is not inside the pod CIDR %s of node %q", p.IP, cidr, p.Node))
		}
	}
}

// addK8s adds a manifest problem: it comes located in its own file.
func (v *validator) addK8s(e k8s.Error) {
	v.probs = append(v.probs, k8sProblem(e))
	v.deps = append(v.deps, nil)
}

// checkInternet checks the Internet client.
func (v *validator) checkInternet() {
	in := v.s.Internet
	if in == nil {
		return
	}
	v.checkListenPorts("internet.ports", in.Ports)
	switch {
	case !isDNSLabel(in.Name):
		v.addf("internet.name", "%q is not a valid name: %s", in.Name, dnsLabelRule)
	case v.nodes[in.Name] != nil || v.instances[in.Name] != nil:
		v.addf("internet.name", "%q is already the name of a node or instance: the Internet client needs its own name", in.Name)
	}
	a, msg := parseAddr4(in.IP)
	if msg != "" {
		v.add("internet.ip", msg+" (the Internet client's public address, e.g. 203.0.113.10)")
		return
	}
	if why := notPublic(a); why != "" {
		v.addf("internet.ip", "%s is %s: the Internet client needs a public address, e.g. 203.0.113.10", a, why)
	}
}

// notPublic says why an IPv4 address cannot be an Internet host's, or "".
func notPublic(a netip.Addr) string {
	switch {
	case a.IsPrivate():
		return "a private address (RFC 1918)"
	case cloudReserved.Contains(a):
		return "in 100.64.0.0/10, shared address space (RFC 6598) that Alibaba Cloud uses for cloud services"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsUnspecified(), netip.MustParsePrefix("0.0.0.0/8").Contains(a):
		return `in 0.0.0.0/8 ("this network")`
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast():
		return "a multicast address"
	case netip.MustParsePrefix("240.0.0.0/4").Contains(a):
		return "in 240.0.0.0/4, reserved (or the broadcast address)"
	}
	return ""
}

// checkServices runs the Service allocators on the manifests, so that a
// requested ClusterIP outside the service CIDR or taken, or a node port
// collision, is reported before anything is built.
func (v *validator) checkServices() {
	if v.s.Objects == nil || !v.serviceCIDR.IsValid() {
		return
	}
	_, probs := ResolveServices(v.s.Objects, nil, v.serviceCIDR, v.s.Seed)
	for _, p := range probs {
		v.probs = append(v.probs, p)
		v.deps = append(v.deps, nil)
	}
}

func (v *validator) checkFailures() {
	for i, f := range v.s.Failures {
		path := indexPath("failures", i)
		switch f.Type {
		case "":
			v.addf(path+".type", "required: the failure type (known types: %s)", strings.Join(failureTypes, ", "))
		case "delete-vpc-route":
			v.unusedFailureFields(path, f, "destination", "node")
			if v.s.VPC.Underlay == "l2" {
				v.add(path+".type", `delete-vpc-route needs underlay "vpc": an l2 underlay has no VPC route table`)
			}
			switch {
			case f.Destination != "" && f.Node != "":
				v.add(path, "delete-vpc-route takes destination or node, not both")
			case f.Destination != "":
				if _, msg := parseCIDR4(f.Destination); msg != "" {
					v.add(path+".destination", msg)
				}
			case f.Node != "":
				if v.nodes[f.Node] == nil {
					v.addDep(depNodes, path+".node", "node %q does not exist (%s)%s", f.Node, listOf("nodes", v.nodeNames), hint.DidYouMean(f.Node, v.nodeNames))
				}
			default:
				v.add(path, "delete-vpc-route needs destination (the CIDR of the route entry to delete) or node (the node whose pod CIDR route to delete)")
			}
		case "link-down":
			v.unusedFailureFields(path, f, "device", "node", "pod")
			if f.Device == "" {
				v.add(path+".device", "required: the interface to set down, e.g. eth0 or flannel.1")
			}
			switch {
			case f.Node != "" && f.Pod != "":
				v.add(path, "link-down takes node or pod, not both")
			case f.Node != "":
				if v.nodes[f.Node] == nil && v.instances[f.Node] == nil {
					v.addDep(depHosts, path+".node", "%q is not a node or instance (%s)%s", f.Node, v.hostList(), hint.DidYouMean(f.Node, v.hostNames()))
				}
			case f.Pod != "":
				v.checkPodRef(path+".pod", f.Pod)
			default:
				v.add(path, "link-down needs node (a node or instance) or pod (NAME or NS/NAME) that owns the device")
			}
		default:
			v.addf(path+".type", "unknown failure type %q (known types: %s)%s", f.Type, strings.Join(failureTypes, ", "), hint.DidYouMean(f.Type, failureTypes))
		}
	}
}

// unusedFailureFields reports the fields of f that its type does not take.
func (v *validator) unusedFailureFields(path string, f Failure, allowed ...string) {
	fields := []struct{ name, value string }{
		{"destination", f.Destination}, {"node", f.Node}, {"pod", f.Pod}, {"device", f.Device},
	}
	for _, fl := range fields {
		if fl.value != "" && !slices.Contains(allowed, fl.name) {
			v.addf(path+"."+fl.name, "%s is not used by type %q (it takes %s)", fl.name, f.Type, strings.Join(allowed, ", "))
		}
	}
}

func (v *validator) checkPodRef(path, ref string) {
	ns, name, found := strings.Cut(ref, "/")
	if !found {
		ns, name = defaultNamespace, ref
	}
	if name == "" || ns == "" || strings.Contains(name, "/") {
		v.addf(path, "%q is not a pod reference: expected NAME or NAMESPACE/NAME", ref)
		return
	}
	if !v.pods[ns+"/"+name] {
		v.addDep(depPods, path, "pod %q does not exist (%s)%s", ns+"/"+name, listOf("pods", v.podNames), hint.DidYouMean(ns+"/"+name, v.podNames))
	}
}

func (v *validator) checkFlows() {
	names := map[string]string{}
	for i := range v.s.Flows {
		f := &v.s.Flows[i]
		path := indexPath("flows", i)
		if f.Action != "" {
			v.checkAction(path, f, names)
			continue
		}
		v.actionFieldsOnFlow(path, f)
		switch {
		case f.Name == "":
			v.add(path+".name", "required: a name for the flow, e.g. pod-to-pod")
		case names[f.Name] != "":
			v.addf(path+".name", "flow name %q is already used by %s", f.Name, names[f.Name])
		default:
			names[f.Name] = path
		}
		from, fromOK := v.checkEndpoint(path+".from", f.From, false)
		to, toOK := v.checkEndpoint(path+".to", f.To, true)
		if fromOK && toOK && from.String() == to.String() {
			v.addf(path+".to", "the flow goes from %s to itself: from and to must differ", from)
		}

		proto := f.Protocol
		if !slices.Contains(protocols, proto) {
			v.addf(path+".protocol", "unknown protocol %q: expected icmp (the default), udp, tcp or sctp%s", proto, hint.DidYouMean(proto, protocols))
		}
		switch proto {
		case "udp", "tcp", "sctp":
			if f.Port == 0 {
				v.addf(path+".port", "required for %s: the destination port, 1 to 65535", proto)
			} else if f.Port < 1 || f.Port > 65535 {
				v.addf(path+".port", "%d is out of range: a port is 1 to 65535", f.Port)
			} else if toOK && (to.Kind == EndpointService || to.Kind == EndpointSLB || to.Kind == EndpointDNS) {
				v.checkServicePort(path+".port", to, proto, f.Port)
			}
		case "icmp":
			if f.Port != 0 {
				v.add(path+".port", "icmp has no ports: remove port, or use protocol udp or tcp")
			}
		}
		maxSize := maxUDPPayload
		switch proto {
		case "tcp":
			maxSize = maxTCPPayload
		case "sctp":
			maxSize = maxSCTPPayload
		}
		if *f.Size < 0 || *f.Size > maxSize {
			v.addf(path+".size", "%d is out of range for %s: expected 0 to %d bytes of payload (the default is %d)", *f.Size, proto, maxSize, defaultSize)
		}
		if f.Count < 1 || f.Count > maxCount {
			v.addf(path+".count", "%d is out of range: expected 1 to %d (the default is %d)", f.Count, maxCount, defaultCount)
		}
		if f.Expect != nil {
			v.checkExpect(path+".expect", f.Expect)
		}
	}
}

// endpointForms lists the endpoint forms a flow's from (to false) or to
// takes, for messages: the Service forms when there are manifests, the
// Internet client when there is one.
func (v *validator) endpointForms(to bool) string {
	forms := []string{"pod/NAME", "pod/NAMESPACE/NAME", "node/NAME", "ecs/NAME"}
	if to && (v.s.Objects != nil || len(v.s.Nodes) > 0) {
		forms = append(forms, "svc/NAME", "svc/NAMESPACE/NAME", "slb/NAME", "slb/NAMESPACE/NAME", "dns:NAME.NAMESPACE.svc.cluster.local")
	}
	if v.s.Internet != nil {
		forms = append(forms, "internet")
	}
	if to {
		forms = append(forms, "an IPv4 address")
	}
	return strings.Join(forms[:len(forms)-1], ", ") + " or " + forms[len(forms)-1]
}

func (v *validator) checkEndpoint(path, s string, allowIP bool) (Endpoint, bool) {
	forms := v.endpointForms(allowIP)
	if s == "" {
		v.addf(path, "required: %s", forms)
		return Endpoint{}, false
	}
	ep, err := ParseEndpoint(s)
	if err != nil {
		hint := ""
		switch {
		case strings.HasPrefix(s, "dns:"):
			hint = " (a dns: endpoint is a Service's full name: dns:NAME.NAMESPACE.svc.cluster.local)"
		case !strings.Contains(s, "/"):
			switch {
			case v.pods[defaultNamespace+"/"+s]:
				hint = fmt.Sprintf(" (did you mean %q?)", "pod/"+s)
			case v.nodes[s] != nil:
				hint = fmt.Sprintf(" (did you mean %q?)", "node/"+s)
			case v.instances[s] != nil:
				hint = fmt.Sprintf(" (did you mean %q?)", "ecs/"+s)
			case allowIP && v.service(defaultNamespace, s) != nil:
				hint = fmt.Sprintf(" (did you mean %q?)", "svc/"+s)
			}
		}
		v.addf(path, "%q is not an endpoint: expected %s%s", s, forms, hint)
		return Endpoint{}, false
	}
	switch ep.Kind {
	case EndpointIP:
		if !allowIP {
			v.addf(path, "%q is an address: a flow starts at %s", s, forms)
			return ep, false
		}
		if !v.checkTargetAddr(path, ep.IP) {
			return ep, false
		}
	case EndpointInternet:
		if v.s.Internet == nil {
			v.addf(path, "there is no Internet client: add internet: {ip: %s} to the scenario", defaultInternetIP)
			return ep, false
		}
	case EndpointService, EndpointSLB, EndpointDNS:
		if !allowIP {
			v.addf(path, "%q is a Service: a flow starts at %s", s, forms)
			return ep, false
		}
		return ep, v.checkServiceEndpoint(path, ep)
	case EndpointPod:
		key := ep.Namespace + "/" + ep.Name
		if !v.pods[key] {
			v.addDep(depPods, path, "pod %q does not exist (%s)%s", key, listOf("pods", v.podNames), hint.DidYouMean(key, v.podNames))
			return ep, false
		}
	case EndpointNode:
		if v.nodes[ep.Name] == nil {
			if v.instances[ep.Name] != nil {
				v.addDep(depHosts, path, "%q is an instance, not a node: write %q", ep.Name, "ecs/"+ep.Name)
			} else {
				v.addDep(depNodes, path, "node %q does not exist (%s)%s", ep.Name, listOf("nodes", v.nodeNames), hint.DidYouMean(ep.Name, v.nodeNames))
			}
			return ep, false
		}
	case EndpointECS:
		if v.instances[ep.Name] == nil {
			if v.nodes[ep.Name] != nil {
				v.addDep(depHosts, path, "%q is a node, not an instance: write %q", ep.Name, "node/"+ep.Name)
			} else {
				v.addDep(depInstances, path, "instance %q does not exist (%s)%s", ep.Name, listOf("instances", v.instanceNames), hint.DidYouMean(ep.Name, v.instanceNames))
			}
			return ep, false
		}
	}
	return ep, true
}

// What Service endpoints depend on: the manifests and inline objects.
var depObjects = []string{"manifests", "resources"}

// checkServiceEndpoint checks that the Service of a svc/, slb/ or dns:
// endpoint exists and has what the form needs.
func (v *validator) checkServiceEndpoint(path string, ep Endpoint) bool {
	svc := v.service(ep.Namespace, ep.Name)
	if svc == nil && v.objectsBroken {
		return false // most likely one that did not decode: its problem is reported
	}
	if svc == nil {
		var names []string
		if len(v.s.Nodes) > 0 {
			names = append(names, "default/kubernetes")
		}
		if v.s.Objects != nil {
			for _, s := range v.s.Objects.Services {
				names = append(names, s.Ref())
			}
		}
		key := ep.Namespace + "/" + ep.Name
		v.addDep(depObjects, path, "Service %q does not exist (%s)%s", key, listOf("Services", names), hint.DidYouMean(key, names))
		return false
	}
	switch ep.Kind {
	case EndpointService:
		switch {
		case svc.Type == k8s.TypeExternalName:
			v.addf(path, "Service %s is of type ExternalName: it has no ClusterIP (it is a DNS alias of %s)", svc.Ref(), svc.ExternalName)
			return false
		case svc.Headless:
			v.addf(path, "Service %s is headless (clusterIP: None): it has no ClusterIP; write %q to reach its pods", svc.Ref(), "dns:"+svc.Name+"."+svc.Namespace+".svc.cluster.local")
			return false
		}
	case EndpointSLB:
		switch {
		case svc.Type != k8s.TypeLoadBalancer:
			v.addf(path, "Service %s is of type %s: slb/ needs a Service of type LoadBalancer", svc.Ref(), svc.Type)
			return false
		case svc.ACK.Kind == "":
			v.addf(path, "Service %s is handed to another load balancer controller (loadBalancerClass %q): ACK's cloud controller manager gives it no load balancer", svc.Ref(), svc.LoadBalancerClass)
			return false
		}
	case EndpointDNS:
		if svc.Type == k8s.TypeExternalName {
			v.addf(path, "Service %s is of type ExternalName: its name resolves outside the cluster (to %s), which netsim does not model", svc.Ref(), svc.ExternalName)
			return false
		}
	}
	return true
}

// checkServicePort checks that a udp/tcp flow to a Service uses one of
// its ports (a headless Service's pods answer on any port; a load
// balancer's address may be tried on any port — the SLB answers with no
// listener).
func (v *validator) checkServicePort(path string, ep Endpoint, proto string, port int) {
	svc := v.service(ep.Namespace, ep.Name)
	if svc == nil || (ep.Kind == EndpointDNS && svc.Headless) || ep.Kind == EndpointSLB {
		return
	}
	if svc.Port(port, strings.ToUpper(proto)) == nil {
		v.addf(path, "%d/%s is not a port of Service %s (its ports: %s)", port, strings.ToUpper(proto), svc.Ref(), portList(svc))
	}
}

func (v *validator) checkExpect(path string, e *Expect) {
	switch e.Verdict {
	case "delivered":
		if e.Reason != "" {
			v.add(path+".reason", "a delivered flow has no drop reason: remove reason, or expect dropped")
		}
		if e.SeenSource != "" {
			if _, msg := parseAddr4(e.SeenSource); msg != "" {
				v.add(path+".seenSource", msg+" (the source address the destination should see)")
			}
		}
	case "dropped":
		if e.Reason == "" {
			v.add(path, `"dropped" needs a reason: write expect: {verdict: dropped, reason: CODE} with a drop reason code, e.g. vpc-no-route`)
		} else if _, ok := trace.ParseReason(e.Reason); !ok {
			v.addf(path+".reason", "unknown drop reason %q%s", e.Reason, reasonHint(e.Reason))
		}
		if e.SeenSource != "" {
			v.add(path+".seenSource", "seenSource is checked only for delivered flows: remove it, or expect delivered")
		}
	case "":
		v.add(path+".verdict", `required: "delivered" or "dropped"`)
	default:
		if _, ok := trace.ParseReason(e.Verdict); ok {
			v.addf(path+".verdict", "%q is a drop reason, not a verdict: write expect: {verdict: dropped, reason: %s}", e.Verdict, e.Verdict)
		} else {
			v.addf(path+".verdict", `unknown verdict %q: expected "delivered" or "dropped"%s`, e.Verdict, hint.DidYouMean(e.Verdict, verdicts))
		}
	}
}

func reasonCodes() []string {
	var codes []string
	for _, r := range trace.Reasons() {
		codes = append(codes, r.Code())
	}
	return codes
}

// reasonHint lists the reason codes close to code, or all of them.
func reasonHint(code string) string {
	codes := reasonCodes()
	if close := hint.Suggest(code, codes); len(close) > 0 {
		return " (did you mean " + hint.QuoteOr(close) + "?)"
	}
	return " (known reasons: " + strings.Join(codes, ", ") + ")"
}

// hostNames lists the node and instance names.
func (v *validator) hostNames() []string {
	return append(slices.Clone(v.nodeNames), v.instanceNames...)
}

func (v *validator) hostList() string {
	return listOf("nodes and instances", v.hostNames())
}

// listOf formats "WHAT are: a, b, c" for messages, shortened when long.
var listOf = prose.ListOf

// EndpointKind says what an Endpoint names.
type EndpointKind int

// The endpoint kinds.
const (
	EndpointPod      EndpointKind = iota + 1 // pod/NAME or pod/NAMESPACE/NAME
	EndpointNode                             // node/NAME
	EndpointECS                              // ecs/NAME: an instance that is not a node
	EndpointIP                               // a bare IPv4 address (flow destinations only)
	EndpointService                          // svc/NAME or svc/NAMESPACE/NAME: the ClusterIP (destinations only)
	EndpointSLB                              // slb/NAME or slb/NAMESPACE/NAME: the load balancer address (destinations only)
	EndpointDNS                              // dns:NAME.NAMESPACE.svc.cluster.local, resolved at run time (destinations only)
	EndpointInternet                         // internet: the Internet client (sources only)
)

// Endpoint is a parsed flow endpoint.
type Endpoint struct {
	Kind EndpointKind
	// Namespace is the pod's or Service's namespace ("default" when not written).
	Namespace string
	// Name is the pod, node, instance or Service name.
	Name string
	// IP is the address of an EndpointIP.
	IP netip.Addr
}

// clusterDomain is the cluster's DNS domain (ACK's default, and
// Kubernetes').
const clusterDomain = "cluster.local"

// Host is the DNS name of a Service endpoint: NAME.NAMESPACE.svc.cluster.local.
func (e Endpoint) Host() string { return e.Name + "." + e.Namespace + ".svc." + clusterDomain }

// String returns the endpoint in canonical form: pod/NAMESPACE/NAME,
// node/NAME, ecs/NAME, the address, svc/NAMESPACE/NAME,
// slb/NAMESPACE/NAME, dns:NAME.NAMESPACE.svc.cluster.local or internet.
func (e Endpoint) String() string {
	switch e.Kind {
	case EndpointPod:
		return "pod/" + e.Namespace + "/" + e.Name
	case EndpointNode:
		return "node/" + e.Name
	case EndpointECS:
		return "ecs/" + e.Name
	case EndpointIP:
		return e.IP.String()
	case EndpointService:
		return "svc/" + e.Namespace + "/" + e.Name
	case EndpointSLB:
		return "slb/" + e.Namespace + "/" + e.Name
	case EndpointDNS:
		return "dns:" + e.Host()
	case EndpointInternet:
		return "internet"
	}
	return ""
}

// errBadEndpoint is wrapped by ParseEndpoint's errors.
var errBadEndpoint = errors.New("expected pod/NAME, pod/NAMESPACE/NAME, node/NAME, ecs/NAME, svc/NAME, svc/NAMESPACE/NAME, slb/NAME, slb/NAMESPACE/NAME, dns:NAME.NAMESPACE.svc.cluster.local, internet or an IPv4 address")

// ParseEndpoint parses a flow endpoint: "pod/NAME", "pod/NAMESPACE/NAME",
// "node/NAME", "ecs/NAME", an IPv4 address, "svc/NAME",
// "svc/NAMESPACE/NAME", "slb/NAME", "slb/NAMESPACE/NAME",
// "dns:NAME.NAMESPACE.svc.cluster.local" or "internet". It checks the form
// only, not that what it names exists, nor whether it may be a source or
// a destination.
func ParseEndpoint(s string) (Endpoint, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			return Endpoint{}, fmt.Errorf("endpoint %q: not an IPv4 address: %w", s, errBadEndpoint)
		}
		return Endpoint{Kind: EndpointIP, IP: a}, nil
	}
	if s == "internet" {
		return Endpoint{Kind: EndpointInternet}, nil
	}
	if host, ok := strings.CutPrefix(s, "dns:"); ok {
		labels := strings.Split(strings.TrimSuffix(host, "."), ".")
		if len(labels) == 5 && labels[0] != "" && labels[1] != "" && labels[2] == "svc" && labels[3]+"."+labels[4] == clusterDomain {
			return Endpoint{Kind: EndpointDNS, Namespace: labels[1], Name: labels[0]}, nil
		}
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", s, errBadEndpoint)
	}
	kind, rest, _ := strings.Cut(s, "/")
	parts := strings.Split(rest, "/")
	if slices.Contains(parts, "") {
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", s, errBadEndpoint)
	}
	named := map[string]EndpointKind{"pod": EndpointPod, "svc": EndpointService, "slb": EndpointSLB}
	switch k, ok := named[kind]; {
	case ok && len(parts) == 1:
		return Endpoint{Kind: k, Namespace: defaultNamespace, Name: parts[0]}, nil
	case ok && len(parts) == 2:
		return Endpoint{Kind: k, Namespace: parts[0], Name: parts[1]}, nil
	case kind == "node" && len(parts) == 1:
		return Endpoint{Kind: EndpointNode, Name: parts[0]}, nil
	case kind == "ecs" && len(parts) == 1:
		return Endpoint{Kind: EndpointECS, Name: parts[0]}, nil
	}
	return Endpoint{}, fmt.Errorf("endpoint %q: %w", s, errBadEndpoint)
}

// NodeByName returns the node with the given name, or nil.
func (s *Scenario) NodeByName(name string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

// InstanceByName returns the instance with the given name, or nil.
func (s *Scenario) InstanceByName(name string) *Instance {
	for i := range s.Instances {
		if s.Instances[i].Name == name {
			return &s.Instances[i]
		}
	}
	return nil
}

// PodByRef returns the pod named by ref, "NAME" (namespace "default") or
// "NAMESPACE/NAME", or nil. It expects defaults applied (see Validate).
func (s *Scenario) PodByRef(ref string) *Pod {
	ns, name, found := strings.Cut(ref, "/")
	if !found {
		ns, name = defaultNamespace, ref
	}
	for i := range s.Pods {
		if s.Pods[i].Namespace == ns && s.Pods[i].Name == name {
			return &s.Pods[i]
		}
	}
	return nil
}

// VSwitchByName returns the vSwitch with the given name, or nil.
func (s *Scenario) VSwitchByName(name string) *VSwitch {
	for i := range s.VPC.VSwitches {
		if s.VPC.VSwitches[i].Name == name {
			return &s.VPC.VSwitches[i]
		}
	}
	return nil
}

// parseCIDR4 parses an IPv4 CIDR in canonical form (host bits zero). On
// failure it returns a message saying what was expected.
func parseCIDR4(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Sprintf("%q is not an IPv4 CIDR (expected e.g. 192.168.1.0/24)", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Sprintf("%q is not in canonical form: the host bits must be zero (write %s)", s, m)
	}
	return p, ""
}

// parseAddr4 parses an IPv4 address; on failure it returns a message.
func parseAddr4(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Sprintf("%q is not an IPv4 address (expected e.g. 192.168.1.10)", s)
	}
	return a, ""
}

// prefixContains reports whether inner lies entirely inside outer.
func prefixContains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func addrUint32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uint32Addr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// addrAdd returns a+n (IPv4, wrapping).
func addrAdd(a netip.Addr, n int) netip.Addr {
	return uint32Addr(addrUint32(a) + uint32(int32(n)))
}

// lastAddr returns the last (broadcast) address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	return uint32Addr(addrUint32(p.Addr()) | (1<<(32-p.Bits()) - 1))
}

// isVSwitchReserved reports whether a is one of the four addresses Alibaba
// Cloud reserves in a vSwitch: the first and the last three.
func isVSwitchReserved(sw netip.Prefix, a netip.Addr) bool {
	u, first, last := addrUint32(a), addrUint32(sw.Addr()), addrUint32(lastAddr(sw))
	return u == first || u+3 > last
}

const dnsLabelRule = "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (a DNS-1123 label)"

func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }

// checkLabelKey checks a Kubernetes label key: an optional DNS subdomain
// prefix and '/', then a name. It returns what is wrong, or "".
func checkLabelKey(k string) string {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		prefix, name = "", k
	} else if prefix == "" || len(prefix) > 253 || !dnsSubdomainRE.MatchString(prefix) {
		return "the prefix before '/' must be a DNS subdomain such as example.com"
	}
	if len(name) > 63 || !labelNameRE.MatchString(name) {
		return "the name must be 1 to 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	}
	return ""
}

// checkLabelValue checks a Kubernetes label value; it returns what is
// wrong, or "".
func checkLabelValue(val string) string {
	if val == "" {
		return ""
	}
	if len(val) > 63 || !labelNameRE.MatchString(val) {
		return "a value is empty or at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	}
	return ""
}

// MaxManifests is the most manifest files one scenario lists.
const MaxManifests = 100

// MaxManifestBytes is the most bytes of manifest files one scenario reads,
// all its manifests together (each is also at most yamlbound.MaxFileBytes).
const MaxManifestBytes = 64 << 20
