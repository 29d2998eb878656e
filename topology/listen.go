package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"netsim/dataplane/netstack"
	"netsim/dataplane/packet"
	"netsim/topology/hint"
	"netsim/topology/k8s"
)

// Listeners are explicit, as on a real host: a namespace answers a TCP SYN
// or a UDP datagram only on a port some program has bound. Everything else
// gets what Linux sends when no socket is bound — a RST for TCP
// (tcp_v4_send_reset), an ICMP port unreachable for UDP (__udp4_lib_rcv) —
// and the flow is dropped with conn-refused or port-unreachable. ICMP echo
// is answered by the kernel itself, always.
//
// Who listens where:
//   - a manifest pod on its containers' ports (spec.containers[].ports);
//   - a scenario pod, node, instance or the Internet client on the ports
//     its scenario entry lists (ports:);
//   - every node also on what the node daemons netsim models bind on all
//     addresses: kubelet's API (10250/TCP, kubelet --port's default) and,
//     for a LoadBalancer Service with externalTrafficPolicy Local,
//     kube-proxy's health check node port (its service health server).
//
// SCTP ports get an SCTP echo listener like TCP's (netstack's minimal
// SCTP: association setup, one message echoed, SHUTDOWN).

// KubeletPort is the port kubelet serves its API on, on every address of
// the node (kubelet --port, default 10250).
const KubeletPort = 10250

// listenProtocols are the protocols a ports: entry takes.
var listenProtocols = []string{"TCP", "UDP", "SCTP"}

// checkListenPorts checks the ports: list at path and stores each
// protocol uppercase (TCP when left out).
func (v *validator) checkListenPorts(path string, ports []ListenPort) {
	names := map[string]string{}
	bound := map[string]string{}
	for i := range ports {
		p := &ports[i]
		pp := indexPath(path, i)
		okPort := true
		switch {
		case p.Port == 0:
			v.addf(pp+".port", "required: the port number, 1 to 65535, e.g. {port: 8080, protocol: TCP, name: http}")
			okPort = false
		case p.Port < 1 || p.Port > 65535:
			v.addf(pp+".port", "%d is out of range: a port is 1 to 65535", p.Port)
			okPort = false
		}
		okProto := true
		switch up := strings.ToUpper(p.Protocol); {
		case p.Protocol == "":
			p.Protocol = "TCP"
		case slices.Contains(listenProtocols, up) && (p.Protocol == up || p.Protocol == strings.ToLower(p.Protocol)):
			p.Protocol = up
		default:
			v.addf(pp+".protocol", "unknown protocol %q: expected TCP (the default), UDP or SCTP%s", p.Protocol, hint.DidYouMean(up, listenProtocols))
			okProto = false
		}
		if okPort && okProto {
			key := strconv.Itoa(p.Port) + "/" + p.Protocol
			if first, dup := bound[key]; dup {
				v.addf(pp+".port", "%s is already listed at %s: one socket per port and protocol", key, first)
			} else {
				bound[key] = pp
			}
		}
		if p.Name == "" {
			continue
		}
		if msgs := validation.IsValidPortName(p.Name); len(msgs) > 0 {
			v.addf(pp+".name", "%q is not a valid port name: an IANA_SVC_NAME %s", p.Name, strings.Join(msgs, "; "))
			continue
		}
		if first, dup := names[p.Name]; dup {
			v.addf(pp+".name", "%q is already the name of %s: port names must be unique", p.Name, first)
		} else {
			names[p.Name] = pp
		}
	}
}

// containerPorts turns a scenario entry's ports into container ports, as
// the endpoint controllers see a pod's.
func containerPorts(ports []ListenPort) []k8s.ContainerPort {
	var out []k8s.ContainerPort
	for _, p := range ports {
		proto := strings.ToUpper(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		out = append(out, k8s.ContainerPort{Name: p.Name, Port: p.Port, Protocol: proto})
	}
	return out
}

// listen binds an echo server on st for each port: TCP, UDP and SCTP. It
// records the ports for ListenPorts.
func (w *World) listen(st *netstack.Stack, ports []k8s.ContainerPort) {
	if w.listening == nil {
		w.listening = map[*netstack.Stack][]k8s.ContainerPort{}
	}
	for _, p := range ports {
		if !slices.ContainsFunc(w.listening[st], func(q k8s.ContainerPort) bool { return q.Port == p.Port && q.Protocol == p.Protocol }) {
			w.listening[st] = append(w.listening[st], p)
		}
	}
	for _, p := range ports {
		switch p.Protocol {
		case "UDP":
			st.ListenUDP(uint16(p.Port), true)
		case "SCTP":
			st.ListenSCTP(uint16(p.Port), true)
		case "TCP", "":
			st.ListenTCP(uint16(p.Port), true)
		}
	}
}

// podPorts returns the ports a wired pod's containers declare: a manifest
// pod's container ports, or a scenario pod's ports:.
func (w *World) podPorts(p *WiredPod) []k8s.ContainerPort {
	s := w.Scenario
	if s == nil {
		return nil
	}
	if mp := s.Objects.Pod(p.Namespace, p.Name); mp != nil {
		return mp.Ports()
	}
	if sp := w.scenarioPod(p.Namespace, p.Name); sp != nil {
		return containerPorts(sp.Ports)
	}
	return nil
}

// scenarioPod is the first of the scenario's own pods named
// namespace/name, or nil: the linear search's answer, from an index. An
// entry is used only when the pod at its position still has that name,
// and an absent name is trusted only while the scenario has the number
// of pods indexed; otherwise (an action changed the pods) the index is
// rebuilt.
func (w *World) scenarioPod(namespace, name string) *Pod {
	s := w.Scenario
	key := [2]string{namespace, name}
	if w.scenarioPods == nil || w.scenarioPodsN != len(s.Pods) {
		w.indexScenarioPods()
	}
	i, ok := w.scenarioPods[key]
	if !ok {
		return nil
	}
	if p := &s.Pods[i]; p.Namespace == namespace && p.Name == name {
		return p
	}
	w.indexScenarioPods()
	if i, ok := w.scenarioPods[key]; ok {
		return &s.Pods[i]
	}
	return nil
}

func (w *World) indexScenarioPods() {
	s := w.Scenario
	w.scenarioPods = make(map[[2]string]int, len(s.Pods))
	w.scenarioPodsN = len(s.Pods)
	for i := range s.Pods {
		k := [2]string{s.Pods[i].Namespace, s.Pods[i].Name}
		if _, dup := w.scenarioPods[k]; !dup {
			w.scenarioPods[k] = i
		}
	}
}

// listeners starts the programs of the world: the pods' container ports,
// the ports: of nodes, instances and the Internet client, and the node
// daemons (kubelet, kube-proxy's health check node ports).
func (b *builder) listeners() {
	s, w := b.s, b.w
	for _, p := range w.Pods {
		w.listen(p.Stack, w.podPorts(p))
	}
	for _, h := range w.Nodes {
		ports := []k8s.ContainerPort{{Name: "kubelet", Port: KubeletPort, Protocol: "TCP"}}
		for _, svc := range w.Services {
			if svc.HealthCheckNodePort != 0 {
				ports = append(ports, k8s.ContainerPort{Name: "health-check " + svc.Namespace + "/" + svc.Name, Port: svc.HealthCheckNodePort, Protocol: "TCP"})
			}
		}
		if n := s.NodeByName(h.Name); n != nil {
			ports = append(ports, containerPorts(n.Ports)...)
		}
		w.listen(h.Stack, ports)
	}
	for _, h := range w.Instances {
		if in := s.InstanceByName(h.Name); in != nil {
			w.listen(h.Stack, containerPorts(in.Ports))
		}
	}
	if w.Internet != nil && s.Internet != nil {
		w.listen(w.Internet.Stack, containerPorts(s.Internet.Ports))
	}
}

// ListenPorts describes what listens in namespace st, for the overview:
// "8080/TCP http, 53/UDP dns"; "" when nothing does.
func (w *World) ListenPorts(st *netstack.Stack) string {
	var parts []string
	for _, p := range w.listening[st] {
		t := strconv.Itoa(p.Port) + "/" + p.Protocol
		if p.Name != "" {
			t += " " + p.Name
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, ", ")
}

// warnDanglingTargetPorts warns, at the Service's port in its manifest,
// about every targetPort that a selected pod does not serve: a named
// targetPort that the pod's containers do not declare (the pod is then no
// endpoint of that port: with no other pod, kube-proxy REJECTs, no-endpoints)
// or a number the pod does not listen on (it is an endpoint, and the
// connection is refused by the pod). Services without a selector, and
// selectors matching no pod, are left to their own verdicts. pods are
// w.PodAddrs().
func (w *World) warnDanglingTargetPorts(pods []PodAddr) {
	if w.Scenario == nil || w.Scenario.Objects == nil {
		return
	}
	for _, s := range w.Scenario.Objects.Services {
		if s.Type == k8s.TypeExternalName || s.Selector == nil {
			continue
		}
		var selected []PodAddr
		for _, p := range pods {
			if p.Namespace == s.Namespace && p.IP.IsValid() && matches(s.Selector, p.Labels) {
				selected = append(selected, p)
			}
		}
		if len(selected) == 0 {
			continue
		}
		for j, sp := range s.Ports {
			var missing []PodAddr
			for _, p := range selected {
				if !servesTargetPort(sp, p.Ports) {
					missing = append(missing, p)
				}
			}
			if len(missing) > 0 {
				w.Warnings = append(w.Warnings, k8sProblem(s.Errorf(fmt.Sprintf("spec.ports[%d].targetPort", j), "%s",
					danglingText(sp, missing, len(selected)))))
			}
		}
	}
}

// servesTargetPort reports whether a pod with these container ports serves
// the Service port's targetPort: a name it declares with the port's
// protocol, or a number it listens on with that protocol.
func servesTargetPort(sp k8s.ServicePort, ports []k8s.ContainerPort) bool {
	for _, cp := range ports {
		if cp.Protocol != sp.Protocol {
			continue
		}
		if sp.TargetPort.Name != "" && cp.Name == sp.TargetPort.Name {
			return true
		}
		if sp.TargetPort.Name == "" && cp.Port == sp.TargetPort.Number {
			return true
		}
	}
	return false
}

// danglingText says which pods do not serve a targetPort and what that
// does, as Kubernetes behaves.
func danglingText(sp k8s.ServicePort, missing []PodAddr, selected int) string {
	var names, have, portNames []string
	for _, p := range missing {
		names = append(names, p.Namespace+"/"+p.Name)
		for _, cp := range p.Ports {
			t := strconv.Itoa(cp.Port) + "/" + cp.Protocol
			if cp.Name != "" {
				t += " " + cp.Name
				if cp.Protocol == sp.Protocol && !slices.Contains(portNames, cp.Name) {
					portNames = append(portNames, cp.Name)
				}
			}
			if !slices.Contains(have, t) {
				have = append(have, t)
			}
		}
	}
	who := "pod " + names[0]
	if len(names) > 1 {
		who = "pods " + strings.Join(names, ", ")
	}
	declared := "they declare no ports"
	if len(names) == 1 {
		declared = "it declares no ports"
	}
	if len(have) > 0 {
		declared = "declared: " + strings.Join(have, ", ")
	}
	port := fmt.Sprintf("port %d/%s", sp.Port, sp.Protocol)
	if sp.TargetPort.Name != "" {
		effect := fmt.Sprintf("only %d of the %d selected pods are endpoints of this port", selected-len(missing), selected)
		if len(missing) == selected {
			effect = "no selected pod is an endpoint of this port, so kube-proxy rejects connections to it (no-endpoints)"
		}
		return fmt.Sprintf("%s: targetPort %q names no %s container port of %s (%s): %s%s",
			port, sp.TargetPort.Name, sp.Protocol, who, declared, effect, hint.DidYouMean(sp.TargetPort.Name, portNames))
	}
	var effect string
	switch sp.Protocol {
	case "UDP":
		effect = "datagrams kube-proxy sends there get ICMP port unreachable (port-unreachable)"
	case "SCTP":
		effect = "associations kube-proxy sends there are refused with an ABORT (conn-refused)"
	default:
		effect = "connections kube-proxy sends there are refused with a RST (conn-refused)"
	}
	return fmt.Sprintf("%s: targetPort %d: nothing listens on %d/%s in %s (%s): %s",
		port, sp.TargetPort.Number, sp.TargetPort.Number, sp.Protocol, who, declared, effect)
}

// warnUnservedEndpoints warns, at the Service's port, about the explicit
// endpoints (Endpoints or EndpointSlice objects of a Service without a
// selector) that are addresses of a modelled namespace — a pod, node or
// instance — that does not listen on the endpoint's port.
func (w *World) warnUnservedEndpoints() {
	if w.Scenario == nil || w.Scenario.Objects == nil {
		return
	}
	for _, ks := range w.Services {
		s := w.Scenario.Objects.Service(ks.Namespace, ks.Name)
		if s == nil || s.Selector != nil {
			continue
		}
		for j, sp := range ks.Ports {
			proto := uint8(packet.ProtoTCP)
			switch sp.Protocol {
			case "UDP":
				proto = packet.ProtoUDP
			case "SCTP":
				proto = packet.ProtoSCTP
			case "TCP":
			default:
				continue
			}
			for _, e := range ks.Endpoints[sp.Name] {
				st, who := w.owner(e.IP)
				if st == nil || st.Listening(proto, uint16(e.Port)) {
					continue
				}
				effect := "connections to it are refused with a RST (conn-refused)"
				switch proto {
				case packet.ProtoUDP:
					effect = "datagrams to it get ICMP port unreachable (port-unreachable)"
				case packet.ProtoSCTP:
					effect = "associations to it are refused with an ABORT (conn-refused)"
				}
				listens := w.ListenPorts(st)
				if listens == "" {
					listens = "no port"
				}
				w.Warnings = append(w.Warnings, k8sProblem(s.Errorf(fmt.Sprintf("spec.ports[%d]", j),
					"port %d/%s: endpoint %s:%d is %s, which does not listen on %d/%s (it listens on %s): %s",
					sp.Port, sp.Protocol, e.IP, e.Port, who, e.Port, sp.Protocol, listens, effect)))
			}
		}
	}
}

// owner returns the namespace that owns address a, and names it.
func (w *World) owner(a netip.Addr) (*netstack.Stack, string) {
	if p := w.PodByIP(a); p != nil {
		return p.Stack, "pod " + p.Ref()
	}
	for _, h := range w.Nodes {
		if h.IP == a {
			return h.Stack, "node " + h.Name
		}
	}
	for _, h := range w.Instances {
		if h.IP == a {
			return h.Stack, "ECS instance " + h.Name
		}
	}
	return nil, ""
}
