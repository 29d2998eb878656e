package topology

import (
	"fmt"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"netsim/dataplane/cni"
	"netsim/dataplane/ipvs"
	"netsim/dataplane/kubeproxy"
	"netsim/dataplane/link"
	"netsim/dataplane/netstack"
	"netsim/dataplane/vpc"
	"netsim/topology/k8s"
)

// slbPublicRange is where internet-facing SLB addresses come from in the
// model: TEST-NET-2 (RFC 5737), so no real address is ever used.
var slbPublicRange = netip.MustParsePrefix("198.51.100.0/24")

// services resolves the Services of the manifests, creates their SLBs,
// and installs kube-proxy on every node.
func (b *builder) services() {
	s, w := b.s, b.w
	w.ProxyMode = s.Cluster.ProxyMode
	if w.ProxyMode == "" {
		w.ProxyMode = "iptables"
	}
	b.internet()
	serviceCIDR := netip.MustParsePrefix(s.Cluster.ServiceCIDR)
	b.podAddrs = w.PodAddrs()
	svcs, probs := ResolveServices(s.Objects, b.podAddrs, serviceCIDR, s.Seed)
	b.probs = append(b.probs, probs...)
	if len(probs) > 0 {
		return
	}
	b.objectWarnings()
	if w.APIServer != nil {
		svcs = append([]*kubeproxy.Service{KubernetesService(serviceCIDR, w.APIServer.Endpoint)}, svcs...)
	}
	w.Services = svcs
	b.probs = append(b.probs, AssignLoadBalancerIPs(svcs, s.Objects, b.slb)...)
	if len(b.probs) > 0 {
		return
	}
	var npa []netip.Prefix
	for _, a := range s.Cluster.NodePortAddresses {
		npa = append(npa, netip.MustParsePrefix(a))
	}
	// Nodes that see the Services alike (no endpoint of theirs among
	// them, most nodes of a large cluster) share one rendering.
	rules := kubeproxy.NewRulesCache(svcs)
	var installs []proxyInstall
	for i, h := range w.Nodes {
		cfg := kubeproxy.Config{NodeName: h.Name, NodeIPs: nodeAddresses(h),
			ClusterCIDR: clusterPodCIDR(s), IPVSScheduler: s.Cluster.IPVSScheduler,
			NodePortAddresses: npa}
		path := fmt.Sprintf("nodes[%d]", i)
		h.ProxyConfig = cfg
		if w.ProxyMode == "ipvs" {
			r, err := kubeproxy.IPVS(cfg, svcs)
			if err == nil {
				err = kubeproxy.InstallIPVS(h.Filter, r)
			}
			if err != nil {
				b.fail(path, "kube-proxy (ipvs): %v", err)
				continue
			}
			dummy := link.NewDevice(w.Env, h.Name, kubeproxy.DummyDevice, "dummy", link.Ether, 1500, ECSMAC("kube-ipvs0/"+h.Name), nil)
			dummy.SetUp(false) // kube-ipvs0 stays down; its addresses are still local
			h.Stack.AddIface(dummy).NoARP = true
			for _, a := range r.Addresses {
				if err := h.Stack.AddAddr(kubeproxy.DummyDevice, a); err != nil {
					b.fail(path, "kube-proxy (ipvs): %v", err)
				}
			}
			t := ipvs.NewTable()
			r.AddTo(t)
			h.IPVS = ipvs.New(h.Stack, t)
			continue
		}
		r, err := rules.IPTables(cfg)
		installs = append(installs, proxyInstall{h: h, path: path, r: r, err: err})
	}
	// Each node's kube-proxy programs its own netfilter only (the rule
	// templates they share are read-only): the nodes are installed on
	// two cores, and the results taken in node order.
	eachParallel(len(installs), func(i int) {
		if in := &installs[i]; in.err == nil {
			in.err = kubeproxy.Install(in.h.Filter, in.r)
		}
	})
	for _, in := range installs {
		if in.err != nil {
			b.fail(in.path, "kube-proxy: %v", in.err)
		}
		if in.r.RouteLocalnet {
			// The iptables proxier sets conf.all.route_localnet=1 so that
			// NodePorts answer on 127.0.0.1 (KUBE-FIREWALL guards it).
			in.h.Stack.ConfAll.RouteLocalnet = true
		}
	}
}

// proxyInstall is one node's kube-proxy (iptables mode) for services.
type proxyInstall struct {
	h    *Host
	path string
	r    kubeproxy.Rules
	err  error
}

// eachParallel runs f(0) … f(n−1) on up to two goroutines (fewer when
// GOMAXPROCS is 1) and returns when all are done. f(i) must change only
// what belongs to i, so that the result is the same in any order.
func eachParallel(n int, f func(i int)) {
	workers := min(2, runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// slb creates the Alibaba Cloud CLB the cloud controller manager would
// create for a LoadBalancer Service and returns its address.
func (b *builder) slb(svc *kubeproxy.Service, spec *k8s.Service) ([]netip.Addr, error) {
	w := b.w
	if w.VPC == nil {
		return nil, fmt.Errorf("type LoadBalancer needs the Alibaba Cloud VPC underlay (vpc.underlay: vpc); an l2 underlay has no SLB")
	}
	if spec.ACK.Kind == "nlb" {
		return nil, fmt.Errorf("NLB load balancers are not modelled (only CLB, the default)")
	}
	backend := spec.ACK.BackendType
	if backend == "" {
		backend = "ecs"
	}
	if backend == "eni" && w.CNI != nil && !strings.HasPrefix(w.CNI.Name(), "terway") {
		return nil, fmt.Errorf("annotation service.beta.kubernetes.io/backend-type: eni attaches pod ENIs to the SLB, which needs pods with VPC addresses on ENIs (Terway); with %s the pod addresses %s are not VPC addresses — use backend type ecs", w.CNI.Name(), b.s.Cluster.PodCIDR)
	}
	lb, isNew, err := b.slbInstance(svc, spec)
	if err != nil {
		return nil, err
	}
	addr := lb.Address
	lb.ACL = svc.SourceRanges
	for _, p := range svc.Ports {
		l := &vpc.Listener{Proto: string(p.Protocol), Port: uint16(p.Port), BackendType: backend}
		if backend == "eni" {
			for _, e := range svc.Endpoints[p.Name] {
				if e.Ready {
					l.Backends = append(l.Backends, &vpc.Backend{Name: w.eniBackendName(e.IP), Addr: e.IP, Port: uint16(e.Port), Weight: 100})
				}
			}
		} else {
			local := map[string]int{}
			for _, e := range svc.Endpoints[p.Name] {
				if e.Ready {
					local[e.NodeName]++
				}
			}
			for _, h := range w.Nodes {
				weight := 100
				if svc.ExternalTrafficPolicy == "Local" {
					// The CCM weights nodes by their local pods and leaves
					// out nodes without any.
					weight = local[h.Name]
				}
				if weight == 0 {
					continue
				}
				l.Backends = append(l.Backends, &vpc.Backend{Name: h.Name, Addr: h.IP, Port: uint16(p.NodePort), Weight: weight})
			}
		}
		lb.AddListener(l)
	}
	if !isNew {
		return []netip.Addr{addr}, nil
	}
	if err := w.VPC.AddSLB(lb); err != nil {
		return nil, err
	}
	w.Notes = append(w.Notes, fmt.Sprintf("cloud controller manager: %s", lb))
	return []netip.Addr{addr}, nil
}

func cniNth(p netip.Prefix, n int) netip.Addr {
	if a := p.Masked().Addr(); a.Is4() && n >= 0 && uint64(v4(a))+uint64(n) <= 1<<32-1 {
		return cni.Nth(p, n) // the same address, without n steps
	}
	a := p.Masked().Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a
}

// v4 is an IPv4 address as a number.
func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// internet creates the client outside the VPC, when the scenario has one.
func (b *builder) internet() {
	s, w := b.s, b.w
	if s.Internet == nil {
		return
	}
	name := s.Internet.Name
	if name == "" {
		name = "internet"
	}
	ipText := s.Internet.IP
	if ipText == "" {
		ipText = "203.0.113.10"
	}
	ip := netip.MustParseAddr(ipText)
	if w.VPC == nil {
		b.fail("internet", "an internet client needs the Alibaba Cloud VPC underlay (vpc.underlay: vpc)")
		return
	}
	st := netstack.New(w.Env, name, seedFor(s.Seed, "internet/"+name))
	eth0 := link.NewDevice(w.Env, name, "eth0", "device", link.Ether, 1500, ECSMAC("internet/"+name), nil)
	nic := st.AddIface(eth0)
	if err := st.AddAddr("eth0", netip.PrefixFrom(ip, 24)); err != nil {
		b.fail("internet", "%v", err)
		return
	}
	eni, err := w.VPC.AttachInternet(name, eth0, ip)
	if err != nil {
		b.fail("internet.ip", "%v", err)
		return
	}
	if err := st.AddRoute(&netstack.Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: eni.VSwitch.Gateway, Dev: nic}); err != nil {
		b.fail("internet", "%v", err)
		return
	}
	w.Internet = &Host{Name: name, IP: ip, VSwitch: "internet", Stack: st, NIC: nic, ENI: eni}
}

// Service returns the Service ns/name, or nil.
func (w *World) Service(ns, name string) *kubeproxy.Service {
	for _, s := range w.Services {
		if s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}

// DNSAnswer is what the cluster DNS answers for a name.
type DNSAnswer struct {
	Name    string
	Records []netip.Addr
	// Text explains the answer for the trace.
	Text string
}

// ResolveDNS answers an A query the way CoreDNS's kubernetes plugin does:
// a Service name gives its ClusterIP; a headless Service gives the
// addresses of its ready endpoints (rotated per query by the loadbalance
// plugin, here by query number).
func (w *World) ResolveDNS(name string, query int) (DNSAnswer, error) {
	host := strings.TrimSuffix(name, ".")
	parts := strings.Split(host, ".")
	if len(parts) != 5 || parts[2] != "svc" || parts[3]+"."+parts[4] != clusterDomain {
		return DNSAnswer{}, fmt.Errorf("%s: NXDOMAIN (netsim's cluster DNS answers NAME.NAMESPACE.svc.%s)", name, clusterDomain)
	}
	svc := w.Service(parts[1], parts[0])
	if svc == nil {
		return DNSAnswer{}, fmt.Errorf("%s: NXDOMAIN (no Service %s/%s)", name, parts[1], parts[0])
	}
	a := DNSAnswer{Name: host}
	if !svc.Headless() {
		a.Records = []netip.Addr{svc.ClusterIP}
		a.Text = fmt.Sprintf("A %s (ClusterIP of Service %s/%s)", svc.ClusterIP, svc.Namespace, svc.Name)
		return a, nil
	}
	seen := map[netip.Addr]bool{}
	for _, eps := range svc.Endpoints {
		for _, e := range eps {
			if e.Ready && !seen[e.IP] {
				seen[e.IP] = true
				a.Records = append(a.Records, e.IP)
			}
		}
	}
	if len(a.Records) == 0 {
		return a, fmt.Errorf("%s: headless Service %s/%s has no ready endpoints: NXDOMAIN", name, svc.Namespace, svc.Name)
	}
	sort.Slice(a.Records, func(i, j int) bool { return a.Records[i].Less(a.Records[j]) })
	k := query % len(a.Records)
	a.Records = append(a.Records[k:], a.Records[:k]...)
	var txt []string
	for _, r := range a.Records {
		txt = append(txt, r.String())
	}
	a.Text = fmt.Sprintf("A %s (headless Service %s/%s: one record per ready endpoint, rotated)", strings.Join(txt, ", "), svc.Namespace, svc.Name)
	return a, nil
}

// nodeAddresses are the node's addresses kube-proxy sees when it lists
// them for NodePorts (GetNodeIPs over the local addresses): every address
// of every device but loopback and kube-ipvs0 — with flannel that includes
// cni0's and flannel.1's — the primary address first.
func nodeAddresses(h *Host) []netip.Addr {
	out := []netip.Addr{h.IP}
	for _, i := range h.Stack.Ifaces() {
		if i.Dev.Kind == "loopback" || i.Dev.Name == kubeproxy.DummyDevice {
			continue
		}
		for _, a := range i.Addrs {
			if ad := a.Prefix.Addr(); ad != h.IP && !ad.IsLoopback() {
				out = append(out, ad)
			}
		}
	}
	return out
}
