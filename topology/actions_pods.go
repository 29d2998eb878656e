package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"netsim/dataplane/ipvs"
	"netsim/dataplane/kubeproxy"
)

// deletePods removes pods as the API server and kubelet do when a pod is
// deleted: the pod's network goes (its veth is down, nothing answers for
// its address), its endpoints leave every Service, and kube-proxy on every
// node resyncs its rules.
func (w *World) deletePods(command string, refs []string) (*ActionOutcome, error) {
	var names []string
	for _, ref := range refs {
		p := w.Pod(ref)
		if p == nil {
			return nil, actionErrf("pod", "pod %q does not exist", ref)
		}
		if p.HostVeth != nil {
			p.HostVeth.SetUp(false)
		}
		for _, i := range p.Stack.Ifaces() {
			_ = p.Stack.SetLinkUp(i.Dev.Name, false)
		}
		w.Pods = slices.DeleteFunc(w.Pods, func(o *WiredPod) bool { return o == p })
		w.deletedPods = append(w.deletedPods, p)
		names = append(names, p.Ref())
	}
	out := &ActionOutcome{Text: fmt.Sprintf("%s: %s deleted", command, strings.Join(names, ", ")), Command: command}
	if !strings.HasPrefix(command, "kubectl scale") {
		out.Command = command + " " + strings.Join(refs, " ")
	}
	lines, err := w.resyncServices()
	if err != nil {
		return nil, err
	}
	// felix follows the pods too: the deleted pods leave the selector
	// ipsets, and their workload chains go.
	if err := w.syncPolicy(); err != nil {
		return nil, fmt.Errorf("felix resync: %w", err)
	}
	out.Output = lines
	return out, nil
}

// DeletedPods returns the pods deleted by actions.
func (w *World) DeletedPods() []*WiredPod { return w.deletedPods }

// scale scales a Deployment down: the ReplicaSet controller deletes the
// pods ranked first by its deletion order — not ready before ready, pods
// on nodes with more replicas of the set before the others, newer before
// older (here: later in the Deployment's expansion).
func (w *World) scale(a ActionSpec) (*ActionOutcome, error) {
	ns, name := defaultNamespace, a.Deployment
	if before, after, ok := strings.Cut(a.Deployment, "/"); ok {
		ns, name = before, after
	}
	owner := "Deployment " + ns + "/" + name
	if w.Scenario.Objects == nil {
		return nil, actionErrf("deployment", "Deployment %s/%s does not exist", ns, name)
	}
	type cand struct {
		p     *WiredPod
		ready bool
		order int
	}
	var live []cand
	perNode := map[string]int{}
	for i, mp := range w.Scenario.Objects.Pods {
		if mp.Owner != owner {
			continue
		}
		if p := w.Pod(mp.Namespace + "/" + mp.Name); p != nil {
			live = append(live, cand{p, mp.Ready, i})
			perNode[p.Node.Name]++
		}
	}
	if a.Replicas == nil {
		return nil, actionErrf("replicas", "required: the new replica count")
	}
	n := *a.Replicas
	cmd := fmt.Sprintf("kubectl scale deployment %s -n %s --replicas=%d", name, ns, n)
	switch {
	case n > len(live):
		return nil, actionErrf("replicas", "%s has %d replicas: scaling up to %d is not modelled (only scaling down removes endpoints)", owner, len(live), n)
	case n == len(live):
		return &ActionOutcome{Text: fmt.Sprintf("%s: already %d replicas, nothing changes", cmd, n), Command: cmd}, nil
	}
	slices.SortStableFunc(live, func(x, y cand) int {
		if x.ready != y.ready {
			if !x.ready {
				return -1
			}
			return 1
		}
		if d := perNode[y.p.Node.Name] - perNode[x.p.Node.Name]; d != 0 {
			return d
		}
		return y.order - x.order
	})
	var refs []string
	for _, c := range live[:len(live)-n] {
		refs = append(refs, c.p.Ref())
	}
	return w.deletePods(cmd, refs)
}

// resyncServices recomputes every Service's endpoints from the pods that
// remain (the EndpointSlice controller) and resyncs kube-proxy on every
// node, as its sync loop does after an EndpointSlice change.
func (w *World) resyncServices() ([]string, error) {
	s := w.Scenario
	if s.Objects == nil || len(w.Services) == 0 {
		return nil, nil
	}
	fresh, probs := ResolveServices(s.Objects, w.PodAddrs(), netip.MustParsePrefix(s.Cluster.ServiceCIDR), s.Seed)
	if len(probs) > 0 {
		return nil, probs
	}
	var out []string
	for _, svc := range w.Services {
		var nu *kubeproxy.Service
		for _, f := range fresh {
			if f.Namespace == svc.Namespace && f.Name == svc.Name {
				nu = f
			}
		}
		if nu == nil {
			continue
		}
		for _, p := range svc.Ports {
			was, now := endpointText(svc.Endpoints[p.Name]), endpointText(nu.Endpoints[p.Name])
			if was != now {
				port := strconv.Itoa(p.Port) + "/" + string(p.Protocol)
				if p.Name != "" {
					port += " (" + p.Name + ")"
				}
				out = append(out, fmt.Sprintf("endpoints of Service %s/%s %s: %s → %s", svc.Namespace, svc.Name, port, was, now))
			}
		}
		svc.Endpoints = nu.Endpoints
	}
	var synced []string
	rules := kubeproxy.NewRulesCache(w.Services)
	for _, h := range w.Nodes {
		if h.Filter == nil {
			continue
		}
		cfg := h.ProxyConfig
		if w.ProxyMode == "ipvs" {
			r, err := kubeproxy.IPVS(cfg, w.Services)
			if err == nil {
				err = kubeproxy.InstallIPVS(h.Filter, r)
			}
			if err != nil {
				return nil, fmt.Errorf("node %s: kube-proxy (ipvs) resync: %w", h.Name, err)
			}
			t := ipvs.NewTable()
			r.AddTo(t)
			if h.IPVS != nil {
				h.IPVS.Table = t
			}
		} else {
			r, err := rules.IPTables(cfg)
			if err == nil {
				err = kubeproxy.Install(h.Filter, r)
			}
			if err != nil {
				return nil, fmt.Errorf("node %s: kube-proxy resync: %w", h.Name, err)
			}
		}
		synced = append(synced, h.Name)
	}
	if len(synced) > 0 {
		out = append(out, fmt.Sprintf("kube-proxy (%s mode) resynced on %s", w.ProxyMode, strings.Join(synced, ", ")))
	}
	return out, nil
}

func endpointText(eps []kubeproxy.Endpoint) string {
	var parts []string
	for _, e := range eps {
		if e.Ready {
			parts = append(parts, netip.AddrPortFrom(e.IP, uint16(e.Port)).String())
		}
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, ",")
}
