package k8s

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"netsim/topology/hint"
)

// conv turns one decoded Kubernetes object into netsim's types: defaults
// applied as the API server's defaulting does (the decoder applies none),
// then validated as the API server validates what netsim models.
type conv struct {
	d      *Decoder
	src    Source
	object string
	errs   []Error
	// warns are things that decode and validate but that netsim does not
	// model (reported as located warnings).
	warns []Error
}

func (c *conv) errf(path, format string, args ...any) {
	c.errs = append(c.errs, c.src.errorf(c.object, path, format, args...))
}

func (c *conv) warnf(path, format string, args ...any) {
	c.warns = append(c.warns, c.src.errorf(c.object, path, format, args...))
}

// The ranges and defaults the API server applies.
const (
	minNodePort             = 30000 // --service-node-port-range default 30000-32767
	maxNodePort             = 32767
	defaultAffinitySeconds  = 10800 // v1.DefaultClientIPServiceAffinitySeconds
	maxAffinitySeconds      = 86400 // core.MaxClientIPServiceAffinitySeconds
	maxEndpointAddresses    = 100   // discovery/v1: endpoints[].addresses
	maxGeneratedNameBaseLen = 63 - 5
)

var (
	protocols       = []string{"TCP", "UDP", "SCTP"}
	serviceTypes    = []string{TypeClusterIP, TypeNodePort, TypeLoadBalancer, TypeExternalName}
	trafficPolicies = []string{"Cluster", "Local"}
)

type nameRule struct {
	check func(string) []string
}

var (
	subdomainName = nameRule{validation.IsDNS1123Subdomain}
	dns1035Name   = nameRule{validation.IsDNS1035Label}
)

// meta converts and checks metadata.
func (c *conv) meta(kind string, om *metav1.ObjectMeta, rule nameRule) Meta {
	m := Meta{Kind: kind, Namespace: om.Namespace, Name: om.Name, Labels: om.Labels, Annotations: om.Annotations, Source: c.src}
	if m.Namespace == "" {
		m.Namespace = defaultNamespace
	}
	switch {
	case om.Name == "" && om.GenerateName != "":
		c.errf("metadata.generateName", "generateName is not supported: netsim needs a fixed name to refer to the object, set metadata.name")
	case om.Name == "":
		c.errf("metadata.name", "required: the object's name, e.g. web")
	default:
		if msgs := rule.check(om.Name); len(msgs) > 0 {
			c.errf("metadata.name", "%q is not a valid name: %s", om.Name, strings.Join(msgs, "; "))
		}
	}
	if om.Namespace != "" {
		if msgs := validation.IsDNS1123Label(om.Namespace); len(msgs) > 0 {
			c.errf("metadata.namespace", "%q is not a valid namespace: %s", om.Namespace, strings.Join(msgs, "; "))
		}
	}
	c.labels("metadata.labels", om.Labels)
	for _, k := range slices.Sorted(maps.Keys(om.Annotations)) {
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			c.errf("metadata.annotations."+k, "annotation key %q is not valid: %s", k, strings.Join(msgs, "; "))
		}
	}
	return m
}

// labels checks a label map (keys and values).
func (c *conv) labels(path string, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			c.errf(path+"."+k, "label key %q is not valid: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := content.IsLabelValue(m[k]); len(msgs) > 0 {
			c.errf(path+"."+k, "label value %q is not valid: %s", m[k], strings.Join(msgs, "; "))
		}
	}
}

// selector checks a label selector and returns it as a labels.Selector
// (nil when invalid).
func (c *conv) selector(path string, ls *metav1.LabelSelector) labels.Selector {
	ok := true
	for _, k := range slices.Sorted(maps.Keys(ls.MatchLabels)) {
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			c.errf(path+".matchLabels."+k, "label key %q is not valid: %s", k, strings.Join(msgs, "; "))
			ok = false
		}
		if msgs := content.IsLabelValue(ls.MatchLabels[k]); len(msgs) > 0 {
			c.errf(path+".matchLabels."+k, "label value %q is not valid: %s", ls.MatchLabels[k], strings.Join(msgs, "; "))
			ok = false
		}
	}
	ops := []string{"In", "NotIn", "Exists", "DoesNotExist"}
	for i, r := range ls.MatchExpressions {
		p := indexPath(path+".matchExpressions", i)
		if msgs := content.IsLabelKey(r.Key); len(msgs) > 0 {
			c.errf(p+".key", "label key %q is not valid: %s", r.Key, strings.Join(msgs, "; "))
			ok = false
		}
		switch op := string(r.Operator); op {
		case "In", "NotIn":
			if len(r.Values) == 0 {
				c.errf(p+".values", "required: operator %s needs at least one value", op)
				ok = false
			}
		case "Exists", "DoesNotExist":
			if len(r.Values) > 0 {
				c.errf(p+".values", "operator %s takes no values: remove values", op)
				ok = false
			}
		default:
			c.errf(p+".operator", "unknown operator %q: expected %s%s", op, hint.QuoteOr(ops), hint.DidYouMean(op, ops))
			ok = false
		}
		for j, v := range r.Values {
			if msgs := content.IsLabelValue(v); len(msgs) > 0 {
				c.errf(indexPath(p+".values", j), "label value %q is not valid: %s", v, strings.Join(msgs, "; "))
				ok = false
			}
		}
	}
	if !ok {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		c.errf(path, "%v", err)
		return nil
	}
	return sel
}

// protocol defaults and checks a port protocol.
func (c *conv) protocol(path string, p corev1.Protocol) string {
	s := string(p)
	if s == "" {
		return "TCP"
	}
	if !slices.Contains(protocols, s) {
		c.errf(path, "unknown protocol %q: expected %s%s", s, hint.QuoteOr(protocols), hint.DidYouMean(s, protocols))
		return "TCP"
	}
	return s
}

// port checks a required port number.
func (c *conv) port(path string, n int, what string) {
	if n == 0 {
		c.errf(path, "required: the %s, 1 to 65535", what)
	} else if msgs := validation.IsValidPortNum(n); len(msgs) > 0 {
		c.errf(path, "%d is out of range: a port is 1 to 65535", n)
	}
}

// portName checks an IANA_SVC_NAME (container port names and named
// targetPorts).
func (c *conv) portName(path, name string) bool {
	msgs := validation.IsValidPortName(name)
	if len(msgs) == 0 {
		return true
	}
	hint := ""
	if _, err := strconv.Atoi(name); err == nil {
		hint = " (to give a number, write it without quotes)"
	}
	c.errf(path, "%q is not a valid port name: an IANA_SVC_NAME %s%s", name, strings.Join(msgs, "; "), hint)
	return false
}

// ipv4 parses an IPv4 address.
func (c *conv) ipv4(path, s, what string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		c.errf(path, "%q is not an IP address (expected %s)", s, what)
	case !a.Is4():
		c.errf(path, "%s is an IPv6 address: netsim models an IPv4 single-stack cluster", s)
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// podSpec is what netsim keeps of a pod spec.
type podSpec struct {
	containers []Container
	nodeName   string
}

func (c *conv) podSpec(path string, s *corev1.PodSpec) podSpec {
	var ps podSpec
	if len(s.Containers) == 0 {
		c.errf(path+".containers", "required: at least one container, e.g. [{name: web, image: nginx, ports: [{containerPort: 80}]}]")
	}
	names := map[string]string{}
	portNames := map[string]string{}
	for i, ct := range s.Containers {
		cp := indexPath(path+".containers", i)
		switch {
		case ct.Name == "":
			c.errf(cp+".name", "required: the container's name, e.g. web")
		case len(validation.IsDNS1123Label(ct.Name)) > 0:
			c.errf(cp+".name", "%q is not a valid container name: %s", ct.Name, strings.Join(validation.IsDNS1123Label(ct.Name), "; "))
		case names[ct.Name] != "":
			c.errf(cp+".name", "%q is already the name of %s: container names must be unique in a pod", ct.Name, names[ct.Name])
		default:
			names[ct.Name] = cp
		}
		if strings.TrimSpace(ct.Image) == "" {
			c.errf(cp+".image", "required: the container image, e.g. nginx:1.27")
		}
		out := Container{Name: ct.Name, Image: ct.Image}
		for j, p := range ct.Ports {
			pp := indexPath(cp+".ports", j)
			port := ContainerPort{Name: p.Name, Port: int(p.ContainerPort), Protocol: c.protocol(pp+".protocol", p.Protocol), HostPort: int(p.HostPort)}
			c.port(pp+".containerPort", port.Port, "port the container listens on")
			if p.HostPort != 0 {
				if msgs := validation.IsValidPortNum(int(p.HostPort)); len(msgs) > 0 {
					c.errf(pp+".hostPort", "%d is out of range: a port is 1 to 65535", p.HostPort)
				}
			}
			if p.Name != "" && c.portName(pp+".name", p.Name) {
				if first, dup := portNames[p.Name]; dup {
					c.errf(pp+".name", "%q is already the name of %s: port names must be unique in a pod", p.Name, first)
				} else {
					portNames[p.Name] = pp
				}
			}
			out.Ports = append(out.Ports, port)
		}
		ps.containers = append(ps.containers, out)
	}
	if s.HostNetwork {
		c.errf(path+".hostNetwork", "hostNetwork pods are not modelled: netsim gives every pod its own network namespace (remove hostNetwork)")
	}
	if s.NodeName != "" {
		nodes := c.d.opts.Nodes
		if len(nodes) > 0 && !slices.Contains(nodes, s.NodeName) {
			c.errf(path+".nodeName", "node %q does not exist (%s)%s", s.NodeName, listOf("nodes", nodes), hint.DidYouMean(s.NodeName, nodes))
		}
		ps.nodeName = s.NodeName
	}
	return ps
}

func (c *conv) pod(o *corev1.Pod) *Pod {
	p := &Pod{Meta: c.meta("Pod", &o.ObjectMeta, subdomainName), Ready: true}
	ps := c.podSpec("spec", &o.Spec)
	p.Node, p.Containers = ps.nodeName, ps.containers
	if o.Status.PodIP != "" {
		p.IP, _ = c.ipv4("status.podIP", o.Status.PodIP, "the pod's IPv4 address, e.g. 172.20.0.9")
	}
	for _, cond := range o.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionFalse {
			p.Ready = false
		}
	}
	return p
}

// template is a Deployment waiting to be expanded into pods.
type template struct {
	dep         *Deployment
	labels      map[string]string
	annotations map[string]string
	spec        podSpec
}

func (c *conv) deployment(o *appsv1.Deployment) *template {
	d := &Deployment{Meta: c.meta("Deployment", &o.ObjectMeta, subdomainName), Replicas: 1}
	if o.Spec.Replicas != nil {
		switch r := *o.Spec.Replicas; {
		case r < 0:
			c.errf("spec.replicas", "%d is out of range: replicas is 0 or more (the default is 1)", r)
		case r > MaxPods:
			// Refused before any pod is made: the pods would not fit in memory.
			c.errf("spec.replicas", "%s is out of range: netsim makes at most %s pods from the manifests of a scenario (a memory bound; the default is 1)", thousands(int64(r)), thousands(MaxPods))
			d.Replicas = 0
		default:
			d.Replicas = int(*o.Spec.Replicas)
		}
	}
	tl := o.Spec.Template.Labels
	c.labels("spec.template.metadata.labels", tl)
	switch sel := o.Spec.Selector; {
	case sel == nil:
		hint := ""
		if len(tl) > 0 {
			hint = fmt.Sprintf(", e.g. {matchLabels: %s}", formatLabels(tl))
		}
		c.errf("spec.selector", "required: apps/v1 Deployments need a selector that matches the pod template's labels%s", hint)
	case len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0:
		c.errf("spec.selector", "an empty selector is invalid for a Deployment: it would select every pod of the namespace (use matchLabels, e.g. {app: web})")
	default:
		if s := c.selector("spec.selector", sel); s != nil {
			d.Selector = s.String()
			if !s.Matches(labels.Set(tl)) {
				c.errf("spec.template.metadata.labels", "the template's labels %s do not match spec.selector (%s): a Deployment's selector must select the pods it creates", formatLabels(tl), s)
			}
		}
	}
	d.TemplateLabels = tl
	d.PodTemplateHash = podTemplateHash(&o.Spec.Template)
	ps := c.podSpec("spec.template.spec", &o.Spec.Template.Spec)
	return &template{dep: d, labels: tl, annotations: o.Spec.Template.Annotations, spec: ps}
}

func (c *conv) service(o *corev1.Service) *Service {
	sp := &o.Spec
	s := &Service{Meta: c.meta("Service", &o.ObjectMeta, dns1035Name), Type: string(sp.Type), PublishNotReadyAddresses: sp.PublishNotReadyAddresses}
	if sp.Selector != nil {
		s.Selector = sp.Selector
		c.labels("spec.selector", sp.Selector)
	}
	if s.Type == "" {
		s.Type = TypeClusterIP
	} else if !slices.Contains(serviceTypes, s.Type) {
		c.errf("spec.type", "unknown type %q: expected ClusterIP (the default), NodePort, LoadBalancer or ExternalName%s", s.Type, hint.DidYouMean(s.Type, serviceTypes))
		s.Type = TypeClusterIP
	}
	c.serviceClusterIP(s, sp)
	if s.Type == TypeExternalName {
		name := strings.TrimSuffix(sp.ExternalName, ".")
		if name == "" {
			c.errf("spec.externalName", "required for type ExternalName: the DNS name the Service is an alias of, e.g. db.example.com")
		} else if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			c.errf("spec.externalName", "%q is not a valid DNS name: %s", sp.ExternalName, strings.Join(msgs, "; "))
		}
		s.ExternalName = sp.ExternalName
	} else {
		s.IPFamilies, s.IPFamilyPolicy = []string{"IPv4"}, "SingleStack"
	}
	c.servicePorts(s, sp)

	// Session affinity; defaulting drops sessionAffinityConfig for None.
	switch sa := string(sp.SessionAffinity); sa {
	case "", "None":
		s.SessionAffinity = "None"
	case "ClientIP":
		s.SessionAffinity, s.AffinitySeconds = sa, defaultAffinitySeconds
		if cfg := sp.SessionAffinityConfig; cfg != nil && cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
			t := int(*cfg.ClientIP.TimeoutSeconds)
			if t < 1 || t > maxAffinitySeconds {
				c.errf("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "%d is out of range: 1 to %d seconds (the default is %d)", t, maxAffinitySeconds, defaultAffinitySeconds)
			} else {
				s.AffinitySeconds = t
			}
		}
	default:
		c.errf("spec.sessionAffinity", "unknown session affinity %q: expected \"None\" (the default) or \"ClientIP\"%s", sa, hint.DidYouMean(sa, []string{"None", "ClientIP"}))
		s.SessionAffinity = "None"
	}

	// Traffic policies: externalTrafficPolicy is for externally-accessible
	// Services, and defaults to Cluster there.
	external := s.Type == TypeNodePort || s.Type == TypeLoadBalancer || (s.Type == TypeClusterIP && len(sp.ExternalIPs) > 0)
	switch etp := string(sp.ExternalTrafficPolicy); {
	case etp != "" && !external:
		c.errf("spec.externalTrafficPolicy", "may only be set for externally-accessible Services (type NodePort or LoadBalancer, or with externalIPs), but type is %s", s.Type)
	case !external:
	case etp == "":
		s.ExternalTrafficPolicy = "Cluster"
	case etp == "Global":
		c.errf("spec.externalTrafficPolicy", `"Global" is the old name of "Cluster": write Cluster`)
	case !slices.Contains(trafficPolicies, etp):
		c.errf("spec.externalTrafficPolicy", "unknown policy %q: expected \"Cluster\" (the default) or \"Local\"%s", etp, hint.DidYouMean(etp, trafficPolicies))
	default:
		s.ExternalTrafficPolicy = etp
	}
	if s.Type != TypeExternalName {
		s.InternalTrafficPolicy = "Cluster"
		if itp := sp.InternalTrafficPolicy; itp != nil {
			if !slices.Contains(trafficPolicies, string(*itp)) {
				c.errf("spec.internalTrafficPolicy", "unknown policy %q: expected \"Cluster\" (the default) or \"Local\"%s", *itp, hint.DidYouMean(string(*itp), trafficPolicies))
			} else {
				s.InternalTrafficPolicy = string(*itp)
			}
		}
	}
	if hc := int(sp.HealthCheckNodePort); hc != 0 {
		switch {
		case !s.NeedsHealthCheck():
			c.errf("spec.healthCheckNodePort", "may only be set when type is LoadBalancer and externalTrafficPolicy is Local")
		case hc < minNodePort || hc > maxNodePort:
			c.errf("spec.healthCheckNodePort", "%d is out of range: a node port is %d to %d (the API server's --service-node-port-range); leave it out to have one allocated", hc, minNodePort, maxNodePort)
		default:
			s.HealthCheckNodePort = hc
		}
	}
	c.serviceLoadBalancer(s, sp)
	for i, ip := range sp.ExternalIPs {
		if a, ok := c.ipv4(indexPath("spec.externalIPs", i), ip, "an IPv4 address routed to the nodes, e.g. 192.168.0.100"); ok {
			s.ExternalIPs = append(s.ExternalIPs, a)
		}
	}
	c.ack(s)
	return s
}

func (c *conv) serviceClusterIP(s *Service, sp *corev1.ServiceSpec) {
	ip, path := sp.ClusterIP, "spec.clusterIP"
	if len(sp.ClusterIPs) > 1 {
		c.errf("spec.clusterIPs", "%d ClusterIPs need a dual-stack cluster: netsim models an IPv4 single-stack cluster", len(sp.ClusterIPs))
	}
	if len(sp.ClusterIPs) > 0 {
		switch {
		case ip == "":
			ip, path = sp.ClusterIPs[0], "spec.clusterIPs[0]"
		case sp.ClusterIPs[0] != ip:
			c.errf("spec.clusterIPs[0]", "%q must be spec.clusterIP (%q) when both are set", sp.ClusterIPs[0], ip)
		}
	}
	for i, f := range sp.IPFamilies {
		if f != corev1.IPv4Protocol {
			c.errf(indexPath("spec.ipFamilies", i), "%q: netsim models an IPv4 single-stack cluster (ipFamilies: [IPv4])", f)
		}
	}
	if p := sp.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack:
		case corev1.IPFamilyPolicyRequireDualStack:
			c.errf("spec.ipFamilyPolicy", "RequireDualStack needs a dual-stack cluster: netsim models an IPv4 single-stack cluster (use SingleStack or PreferDualStack)")
		default:
			opts := []string{"SingleStack", "PreferDualStack", "RequireDualStack"}
			c.errf("spec.ipFamilyPolicy", "unknown policy %q: expected %s%s", *p, hint.QuoteOr(opts), hint.DidYouMean(string(*p), opts))
		}
	}
	switch {
	case ip == "":
	case ip == corev1.ClusterIPNone:
		if s.Type != TypeClusterIP {
			c.errf(path, "\"None\" (a headless Service) needs type ClusterIP, but type is %s: a headless Service has no ClusterIP, so no node ports or load balancer", s.Type)
			return
		}
		s.Headless = true
	case s.Type == TypeExternalName:
		c.errf(path, "an ExternalName Service has no ClusterIP: remove clusterIP")
	default:
		s.ClusterIP, _ = c.ipv4(path, ip, `an IPv4 address inside the service CIDR such as 172.21.0.10, "None" for a headless Service, or nothing to have one allocated`)
	}
}

func (c *conv) servicePorts(s *Service, sp *corev1.ServiceSpec) {
	if len(sp.Ports) == 0 && !s.Headless && s.Type != TypeExternalName {
		c.errf("spec.ports", "required: at least one port, e.g. [{port: 80, targetPort: 8080}]")
	}
	names := map[string]int{}
	pairs := map[string]int{}
	nodePorts := map[string]int{}
	for i, p := range sp.Ports {
		pp := indexPath("spec.ports", i)
		port := ServicePort{Name: p.Name, Protocol: c.protocol(pp+".protocol", p.Protocol), Port: int(p.Port), NodePort: int(p.NodePort)}
		if p.AppProtocol != nil {
			port.AppProtocol = *p.AppProtocol
		}
		switch {
		case p.Name == "" && len(sp.Ports) > 1:
			c.errf(pp+".name", "required when a Service has more than one port: a name such as http (kube-proxy and the endpoints tell the ports apart by name)")
		case p.Name == "":
		case len(validation.IsDNS1123Label(p.Name)) > 0:
			c.errf(pp+".name", "%q is not a valid port name: %s", p.Name, strings.Join(validation.IsDNS1123Label(p.Name), "; "))
		default:
			if j, dup := names[p.Name]; dup {
				c.errf(pp+".name", "%q is already the name of spec.ports[%d]: port names must be unique", p.Name, j)
			} else {
				names[p.Name] = i
			}
		}
		c.port(pp+".port", port.Port, "port the Service listens on")
		key := strconv.Itoa(port.Port) + "/" + port.Protocol
		if j, dup := pairs[key]; dup && port.Port != 0 {
			c.errf(pp+".port", "%s is already spec.ports[%d]: a port and protocol may appear once", key, j)
		} else {
			pairs[key] = i
		}
		port.TargetPort = c.targetPort(pp+".targetPort", p.TargetPort, port.Port)
		if port.NodePort != 0 {
			switch {
			case s.Type != TypeNodePort && s.Type != TypeLoadBalancer:
				c.errf(pp+".nodePort", "may only be set when type is NodePort or LoadBalancer, but type is %s", s.Type)
				port.NodePort = 0
			case port.NodePort < minNodePort || port.NodePort > maxNodePort:
				c.errf(pp+".nodePort", "%d is out of range: a node port is %d to %d (the API server's --service-node-port-range); leave it out to have one allocated", port.NodePort, minNodePort, maxNodePort)
				port.NodePort = 0
			default:
				nk := strconv.Itoa(port.NodePort) + "/" + port.Protocol
				if j, dup := nodePorts[nk]; dup {
					c.errf(pp+".nodePort", "%d/%s is already the nodePort of spec.ports[%d]", port.NodePort, port.Protocol, j)
				} else {
					nodePorts[nk] = i
				}
			}
		}
		s.Ports = append(s.Ports, port)
	}
}

// targetPort defaults (to the port) and checks a targetPort.
func (c *conv) targetPort(path string, t intstr.IntOrString, port int) TargetPort {
	switch {
	case t.Type == intstr.Int && t.IntVal == 0, t.Type == intstr.String && t.StrVal == "":
		return TargetPort{Number: port}
	case t.Type == intstr.Int:
		if msgs := validation.IsValidPortNum(int(t.IntVal)); len(msgs) > 0 {
			c.errf(path, "%d is out of range: a targetPort is a port number, 1 to 65535, or a container port name", t.IntVal)
		}
		return TargetPort{Number: int(t.IntVal)}
	}
	c.portName(path, t.StrVal)
	return TargetPort{Name: t.StrVal}
}

func (c *conv) serviceLoadBalancer(s *Service, sp *corev1.ServiceSpec) {
	lb := s.Type == TypeLoadBalancer
	if sp.LoadBalancerIP != "" {
		if !lb {
			c.errf("spec.loadBalancerIP", "may only be used when type is LoadBalancer")
		} else {
			s.LoadBalancerIP, _ = c.ipv4("spec.loadBalancerIP", sp.LoadBalancerIP, "the load balancer's IPv4 address, e.g. 192.168.0.200")
		}
	}
	ranges, path := sp.LoadBalancerSourceRanges, "spec.loadBalancerSourceRanges"
	annotated := false
	if len(ranges) == 0 && strings.TrimSpace(s.Annotations[AnnotationSourceRanges]) != "" {
		ranges = strings.Split(s.Annotations[AnnotationSourceRanges], ",")
		path, annotated = "metadata.annotations."+AnnotationSourceRanges, true
	}
	if len(ranges) > 0 && !lb {
		c.errf(path, "may only be used when type is LoadBalancer")
		ranges = nil
	}
	for i, r := range ranges {
		rp := path
		if !annotated {
			rp = indexPath(path, i)
		}
		p, err := netip.ParsePrefix(strings.TrimSpace(r))
		switch {
		case err != nil:
			c.errf(rp, "%q is not a CIDR: loadBalancerSourceRanges are the client ranges allowed in, e.g. 203.0.113.0/24", strings.TrimSpace(r))
		case p.Addr().Is4():
			s.LoadBalancerSourceRanges = append(s.LoadBalancerSourceRanges, p.Masked())
		}
		// IPv6 ranges are valid but cannot match in an IPv4 cluster:
		// kube-proxy skips ranges of the other family.
	}
	if cls := sp.LoadBalancerClass; cls != nil {
		if !lb {
			c.errf("spec.loadBalancerClass", "may only be used when type is LoadBalancer")
		} else if msgs := content.IsLabelKey(*cls); len(msgs) > 0 {
			c.errf("spec.loadBalancerClass", "%q is not a valid class: %s", *cls, strings.Join(msgs, "; "))
		} else {
			s.LoadBalancerClass = *cls
		}
	}
	s.AllocateLoadBalancerNodePorts = lb
	if a := sp.AllocateLoadBalancerNodePorts; a != nil {
		if !lb {
			c.errf("spec.allocateLoadBalancerNodePorts", "may only be used when type is LoadBalancer")
		} else {
			s.AllocateLoadBalancerNodePorts = *a
		}
	}
}

// ack reads ACK's CCM annotations of a LoadBalancer Service.
func (c *conv) ack(s *Service) {
	if s.Type != TypeLoadBalancer {
		c.checkCCMAnnotations(s.Annotations, false)
		return
	}
	ann := s.Annotations
	a := ACKLoadBalancer{Kind: LBKindCLB, AddressType: AddressInternet, Spec: "slb.s1.small", IPVersion: "ipv4"}
	switch {
	case s.LoadBalancerClass == LoadBalancerClassNLB:
		a.Kind = LBKindNLB
	case s.LoadBalancerClass != "", ann[AnnotationClass] != "":
		a.Kind = "" // another controller's
	case ann[AnnotationLoadBalancerType] == "nlb":
		a.Kind = LBKindNLB
	}
	if v, key, ok := ackAnnotation(ann, AnnotationAddressType); ok {
		if v != AddressInternet && v != AddressIntranet {
			c.errf("metadata.annotations."+key, "%q is not an address type: the CCM takes %q (the default: a public address) or %q (an address in a vSwitch of the VPC); values are case-sensitive", v, AddressInternet, AddressIntranet)
		} else {
			a.AddressType = v
		}
	}
	if v, ok := ann[AnnotationBackendType]; ok {
		if v != BackendECS && v != BackendENI {
			c.errf("metadata.annotations."+AnnotationBackendType, "%q is not a backend type: the CCM takes %q (the nodes, through their node ports) or %q (the pods, directly)", v, BackendECS, BackendENI)
		} else {
			a.BackendType = v
		}
	}
	if v, key, ok := ackAnnotation(ann, AnnotationIPVersion); ok {
		switch v {
		case "ipv4":
		case "ipv6":
			c.errf("metadata.annotations."+key, "an IPv6 load balancer is not modelled: netsim models IPv4 (use ipv4, the default)")
		default:
			c.errf("metadata.annotations."+key, "%q is not an IP version: expected ipv4 (the default) or ipv6", v)
		}
	}
	if v, key, ok := ackAnnotation(ann, AnnotationLoadBalancerID); ok {
		if !validCLBID(v) {
			c.errf("metadata.annotations."+key, "%q is not a CLB instance ID: expected the ID of an existing CLB, lb- followed by lower-case letters and digits (e.g. lb-bp1qhmh3x7pbp6rtjvc0l)", v)
		} else {
			a.LoadBalancerID = v
		}
	}
	if v, key, ok := ackAnnotation(ann, AnnotationForceOverride); ok {
		switch v {
		case "true":
			a.ForceOverrideListeners = true
		case "false":
		default:
			c.errf("metadata.annotations."+key, "%q is not a boolean: the CCM takes \"true\" (overwrite the listeners of a reused CLB) or \"false\" (the default: keep them)", v)
		}
	}
	if s.LoadBalancerIP.IsValid() {
		a.Address, a.AddressPath = s.LoadBalancerIP, "spec.loadBalancerIP"
	}
	if v, key, ok := ackAnnotation(ann, AnnotationIP); ok {
		path := "metadata.annotations." + key
		ip, err := netip.ParseAddr(strings.TrimSpace(v))
		switch {
		case err != nil || !ip.Is4():
			c.errf(path, "%q is not an IPv4 address: the address the CLB is created with, e.g. 192.168.0.200 for an intranet CLB", v)
		case a.Address.IsValid() && a.Address != ip:
			c.errf(path, "%s differs from spec.loadBalancerIP %s: one load balancer has one address; set one of them", ip, a.Address)
		default:
			a.Address, a.AddressPath = ip, path
		}
	}
	if v, _, ok := ackAnnotation(ann, AnnotationSpec); ok {
		a.Spec = v
	}
	if v, key, ok := ackAnnotation(ann, AnnotationVSwitchID); ok {
		a.VSwitchID, a.VSwitchIDPath = strings.TrimSpace(v), "metadata.annotations."+key
	}
	if v, _, ok := ackAnnotation(ann, AnnotationScheduler); ok {
		a.Scheduler = v
	}
	if _, key, ok := ackAnnotation(ann, AnnotationAddressType); ok {
		a.AddressTypePath = "metadata.annotations." + key
	}
	s.ACK = a
	c.checkCCMAnnotations(ann, a.Kind != "")
}

// validCLBID reports an ID shaped like a CLB instance ID: "lb-" and lower
// case letters and digits.
func validCLBID(id string) bool {
	rest, ok := strings.CutPrefix(id, "lb-")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func (c *conv) endpoints(o *corev1.Endpoints) *Endpoints {
	e := &Endpoints{Meta: c.meta("Endpoints", &o.ObjectMeta, subdomainName)}
	e.Service = e.Name
	for i, ss := range o.Subsets {
		sp := indexPath("subsets", i)
		var sub EndpointSubset
		names := map[string]int{}
		for j, p := range ss.Ports {
			pp := indexPath(sp+".ports", j)
			port := EndpointPort{Name: p.Name, Port: int(p.Port), Protocol: c.protocol(pp+".protocol", p.Protocol)}
			switch {
			case p.Name == "" && len(ss.Ports) > 1:
				c.errf(pp+".name", "required when a subset has more than one port: the name of the Service port it serves")
			case p.Name == "":
			case len(validation.IsDNS1123Label(p.Name)) > 0:
				c.errf(pp+".name", "%q is not a valid port name: %s", p.Name, strings.Join(validation.IsDNS1123Label(p.Name), "; "))
			default:
				if k, dup := names[p.Name]; dup {
					c.errf(pp+".name", "%q is already the name of %s.ports[%d]", p.Name, sp, k)
				}
				names[p.Name] = j
			}
			c.port(pp+".port", port.Port, "port the endpoints listen on")
			sub.Ports = append(sub.Ports, port)
		}
		for j, a := range ss.Addresses {
			if addr, ok := c.endpointAddress(indexPath(sp+".addresses", j), a, e.Namespace); ok {
				addr.Ready, addr.Serving = true, true
				sub.Addresses = append(sub.Addresses, addr)
			}
		}
		for j, a := range ss.NotReadyAddresses {
			if addr, ok := c.endpointAddress(indexPath(sp+".notReadyAddresses", j), a, e.Namespace); ok {
				sub.Addresses = append(sub.Addresses, addr)
			}
		}
		e.Subsets = append(e.Subsets, sub)
	}
	return e
}

func (c *conv) endpointAddress(path string, a corev1.EndpointAddress, ns string) (EndpointAddress, bool) {
	if a.IP == "" {
		c.errf(path+".ip", "required: the endpoint's IPv4 address")
		return EndpointAddress{}, false
	}
	ip, ok := c.ipv4(path+".ip", a.IP, "the endpoint's IPv4 address, e.g. 192.168.1.20")
	if !ok || !c.endpointIP(path+".ip", ip) {
		return EndpointAddress{}, false
	}
	out := EndpointAddress{IP: ip}
	if a.NodeName != nil {
		out.NodeName = *a.NodeName
	}
	out.TargetPod = podRef(a.TargetRef, ns)
	return out, true
}

// endpointIP applies the API server's rule that endpoints are not
// special addresses (validateNonSpecialIP).
func (c *conv) endpointIP(path string, ip netip.Addr) bool {
	var why string
	switch {
	case ip.IsUnspecified():
		why = "the unspecified address"
	case ip.IsLoopback():
		why = "in the loopback range (127.0.0.0/8)"
	case ip.IsLinkLocalUnicast():
		why = "in the link-local range (169.254.0.0/16)"
	case ip.IsLinkLocalMulticast():
		why = "in the link-local multicast range (224.0.0.0/24)"
	default:
		return true
	}
	c.errf(path, "%s may not be an endpoint: it is %s", ip, why)
	return false
}

func podRef(r *corev1.ObjectReference, ns string) string {
	if r == nil || r.Kind != "Pod" || r.Name == "" {
		return ""
	}
	if r.Namespace != "" {
		ns = r.Namespace
	}
	return ns + "/" + r.Name
}

func (c *conv) endpointSlice(o *discoveryv1.EndpointSlice) *Endpoints {
	e := &Endpoints{Meta: c.meta("EndpointSlice", &o.ObjectMeta, subdomainName)}
	e.Service = e.Labels[discoveryv1.LabelServiceName]
	switch at := string(o.AddressType); at {
	case "IPv4":
	case "":
		c.errf("addressType", "required: IPv4")
	case "IPv6", "FQDN":
		c.errf("addressType", "%s slices are not modelled: netsim models an IPv4 cluster (addressType: IPv4)", at)
	default:
		opts := []string{"IPv4", "IPv6", "FQDN"}
		c.errf("addressType", "unknown address type %q: expected IPv4%s", at, hint.DidYouMean(at, opts))
	}
	var sub EndpointSubset
	names := map[string]int{}
	for j, p := range o.Ports {
		pp := indexPath("ports", j)
		port := EndpointPort{}
		if p.Name != nil {
			port.Name = *p.Name
		}
		var proto corev1.Protocol
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		port.Protocol = c.protocol(pp+".protocol", proto)
		if port.Name != "" {
			if msgs := validation.IsDNS1123Label(port.Name); len(msgs) > 0 {
				c.errf(pp+".name", "%q is not a valid port name: %s", port.Name, strings.Join(msgs, "; "))
			}
		}
		if k, dup := names[port.Name]; dup {
			c.errf(pp+".name", "%q is already the name of ports[%d]: port names must be unique in a slice", port.Name, k)
		}
		names[port.Name] = j
		if p.Port == nil {
			c.errf(pp+".port", "required: the port the endpoints listen on")
		} else {
			port.Port = int(*p.Port)
			c.port(pp+".port", port.Port, "port the endpoints listen on")
		}
		sub.Ports = append(sub.Ports, port)
	}
	for j, ep := range o.Endpoints {
		p := indexPath("endpoints", j)
		switch n := len(ep.Addresses); {
		case n == 0:
			c.errf(p+".addresses", "required: the endpoint's address (kube-proxy uses the first)")
			continue
		case n > maxEndpointAddresses:
			c.errf(p+".addresses", "%d addresses: at most %d", n, maxEndpointAddresses)
		}
		var addr EndpointAddress
		ok := true
		for k, a := range ep.Addresses {
			ip, good := c.ipv4(indexPath(p+".addresses", k), a, "the endpoint's IPv4 address, e.g. 192.168.1.20")
			if good {
				good = c.endpointIP(indexPath(p+".addresses", k), ip)
			}
			if k == 0 {
				addr.IP, ok = ip, good
			}
		}
		if !ok {
			continue
		}
		// EndpointConditions: ready unset means ready; serving unset means
		// ready's value; terminating unset means false.
		addr.Ready = ep.Conditions.Ready == nil || *ep.Conditions.Ready
		addr.Serving = addr.Ready
		if ep.Conditions.Serving != nil {
			addr.Serving = *ep.Conditions.Serving
		}
		addr.Terminating = ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
		if ep.NodeName != nil {
			addr.NodeName = *ep.NodeName
		}
		addr.TargetPod = podRef(ep.TargetRef, e.Namespace)
		sub.Addresses = append(sub.Addresses, addr)
	}
	e.Subsets = []EndpointSubset{sub}
	return e
}

func (c *conv) networkPolicy(o *networkingv1.NetworkPolicy) *NetworkPolicy {
	nerrs := len(c.errs)
	np := &NetworkPolicy{Meta: c.meta("NetworkPolicy", &o.ObjectMeta, subdomainName)}
	if sel := c.selector("spec.podSelector", &o.Spec.PodSelector); sel != nil {
		np.PodSelector = sel.String()
	}
	types := []string{"Ingress", "Egress"}
	for i, t := range o.Spec.PolicyTypes {
		if !slices.Contains(types, string(t)) {
			c.errf(indexPath("spec.policyTypes", i), "unknown policy type %q: expected \"Ingress\" or \"Egress\"%s", t, hint.DidYouMean(string(t), types))
			continue
		}
		np.PolicyTypes = append(np.PolicyTypes, string(t))
	}
	if len(o.Spec.PolicyTypes) == 0 {
		// The API server's defaulting: Ingress always, Egress when there
		// are egress rules.
		np.PolicyTypes = []string{"Ingress"}
		if len(o.Spec.Egress) > 0 {
			np.PolicyTypes = append(np.PolicyTypes, "Egress")
		}
	}
	for i, r := range o.Spec.Ingress {
		p := indexPath("spec.ingress", i)
		c.policyPorts(p+".ports", r.Ports)
		c.policyPeers(p+".from", r.From)
	}
	for i, r := range o.Spec.Egress {
		p := indexPath("spec.egress", i)
		c.policyPorts(p+".ports", r.Ports)
		c.policyPeers(p+".to", r.To)
	}
	sel := np.PodSelector
	if sel == "" {
		sel = "every pod"
	}
	np.Summary = fmt.Sprintf("selects %s; %s; %d ingress rule(s), %d egress rule(s)", sel, strings.Join(np.PolicyTypes, "+"), len(o.Spec.Ingress), len(o.Spec.Egress))
	np.Spec, _ = json.Marshal(o.Spec)
	if n := len(c.errs); n == nerrs {
		np.Policy = netpolPolicy(o, &np.Meta, np.PolicyTypes)
	}
	return np
}

func (c *conv) policyPorts(path string, ports []networkingv1.NetworkPolicyPort) {
	for i, p := range ports {
		pp := indexPath(path, i)
		var proto corev1.Protocol
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		c.protocol(pp+".protocol", proto)
		if p.Port == nil {
			if p.EndPort != nil {
				c.errf(pp+".endPort", "endPort needs port (the start of the range)")
			}
			continue
		}
		if p.Port.Type == intstr.String {
			c.portName(pp+".port", p.Port.StrVal)
			if p.EndPort != nil {
				c.errf(pp+".endPort", "endPort needs a numeric port, not a port name")
			}
			continue
		}
		c.port(pp+".port", int(p.Port.IntVal), "port")
		if p.EndPort != nil && *p.EndPort < p.Port.IntVal {
			c.errf(pp+".endPort", "%d is below port %d: the range is port to endPort", *p.EndPort, p.Port.IntVal)
		}
	}
}

func (c *conv) policyPeers(path string, peers []networkingv1.NetworkPolicyPeer) {
	for i, peer := range peers {
		pp := indexPath(path, i)
		if peer.PodSelector != nil {
			c.selector(pp+".podSelector", peer.PodSelector)
		}
		if peer.NamespaceSelector != nil {
			c.selector(pp+".namespaceSelector", peer.NamespaceSelector)
		}
		if b := peer.IPBlock; b != nil {
			if peer.PodSelector != nil || peer.NamespaceSelector != nil {
				c.errf(pp+".ipBlock", "ipBlock may not be combined with podSelector or namespaceSelector in one peer")
			}
			cidr, err := netip.ParsePrefix(b.CIDR)
			if err != nil {
				c.errf(pp+".ipBlock.cidr", "%q is not a CIDR (expected e.g. 10.0.0.0/8)", b.CIDR)
				continue
			}
			for j, ex := range b.Except {
				e, err := netip.ParsePrefix(ex)
				switch {
				case err != nil:
					c.errf(indexPath(pp+".ipBlock.except", j), "%q is not a CIDR (expected e.g. 10.1.0.0/16)", ex)
				case e.Bits() <= cidr.Bits() || !cidr.Contains(e.Addr()):
					c.errf(indexPath(pp+".ipBlock.except", j), "%s must be strictly inside the ipBlock's cidr %s", e, cidr)
				}
			}
		}
		if peer.PodSelector == nil && peer.NamespaceSelector == nil && peer.IPBlock == nil {
			c.errf(pp, "a peer needs podSelector, namespaceSelector or ipBlock")
		}
	}
}

func (c *conv) ingress(o *networkingv1.Ingress) *Ingress {
	in := &Ingress{Meta: c.meta("Ingress", &o.ObjectMeta, subdomainName)}
	if o.Spec.IngressClassName != nil {
		in.ClassName = *o.Spec.IngressClassName
	}
	if o.Spec.DefaultBackend == nil && len(o.Spec.Rules) == 0 {
		c.errf("spec", "either defaultBackend or rules must be specified")
	}
	if b := o.Spec.DefaultBackend; b != nil {
		if t := c.ingressBackend("spec.defaultBackend", b); t != "" {
			in.Backends = append(in.Backends, "default → "+t)
		}
	}
	pathTypes := []string{"Exact", "Prefix", "ImplementationSpecific"}
	for i, r := range o.Spec.Rules {
		rp := indexPath("spec.rules", i)
		if r.Host != "" {
			host := r.Host
			if strings.HasPrefix(host, "*.") {
				host = host[2:]
			}
			if msgs := validation.IsDNS1123Subdomain(host); len(msgs) > 0 {
				c.errf(rp+".host", "%q is not a valid host: %s", r.Host, strings.Join(msgs, "; "))
			}
		}
		if r.HTTP == nil {
			continue
		}
		if len(r.HTTP.Paths) == 0 {
			c.errf(rp+".http.paths", "required: at least one path")
		}
		for j, p := range r.HTTP.Paths {
			pp := indexPath(rp+".http.paths", j)
			switch {
			case p.PathType == nil:
				c.errf(pp+".pathType", "required: %s (networking.k8s.io/v1 has no default)", hint.QuoteOr(pathTypes))
			case !slices.Contains(pathTypes, string(*p.PathType)):
				c.errf(pp+".pathType", "unknown path type %q: expected %s%s", *p.PathType, hint.QuoteOr(pathTypes), hint.DidYouMean(string(*p.PathType), pathTypes))
			case *p.PathType != "ImplementationSpecific" && !strings.HasPrefix(p.Path, "/"):
				c.errf(pp+".path", "%q must be an absolute path starting with '/'", p.Path)
			}
			if t := c.ingressBackend(pp+".backend", &p.Backend); t != "" {
				in.Backends = append(in.Backends, r.Host+p.Path+" → "+t)
			}
		}
	}
	in.Summary = fmt.Sprintf("class %q; %d rule(s): %s", in.ClassName, len(o.Spec.Rules), strings.Join(in.Backends, ", "))
	in.Spec, _ = json.Marshal(o.Spec)
	return in
}

func (c *conv) ingressBackend(path string, b *networkingv1.IngressBackend) string {
	if b.Service == nil {
		if b.Resource == nil {
			c.errf(path, "required: service (a Service name and port) or resource")
		}
		return ""
	}
	s := b.Service
	if s.Name == "" {
		c.errf(path+".service.name", "required: the Service's name")
	} else if msgs := validation.IsDNS1035Label(s.Name); len(msgs) > 0 {
		c.errf(path+".service.name", "%q is not a valid Service name: %s", s.Name, strings.Join(msgs, "; "))
	}
	switch {
	case s.Port.Name != "" && s.Port.Number != 0:
		c.errf(path+".service.port", "set name or number, not both")
	case s.Port.Name != "":
		if msgs := validation.IsDNS1123Label(s.Port.Name); len(msgs) > 0 {
			c.errf(path+".service.port.name", "%q is not a valid port name: %s", s.Port.Name, strings.Join(msgs, "; "))
		}
		return s.Name + ":" + s.Port.Name
	case s.Port.Number != 0:
		c.port(path+".service.port.number", int(s.Port.Number), "Service port")
		return s.Name + ":" + strconv.Itoa(int(s.Port.Number))
	default:
		c.errf(path+".service.port", "required: the Service port's name or number")
	}
	return s.Name
}
