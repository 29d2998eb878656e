package topology

import (
	"fmt"
	"slices"
	"strings"

	"netsim/topology/hint"
)

// empty reports whether no action field is set.
func (a ActionSpec) empty() bool { return a == ActionSpec{} }

// actionFieldValues pairs each action field's YAML key with whether it is set.
func (a ActionSpec) set() map[string]bool {
	return map[string]bool{
		"destination": a.Destination != "", "nextHop": a.NextHop != "", "node": a.Node != "",
		"pod": a.Pod != "", "device": a.Device != "", "route": a.Route != "", "rule": a.Rule != "",
		"deployment": a.Deployment != "", "replicas": a.Replicas != nil,
	}
}

// actionFieldOrder is the order fields are reported in.
var actionFieldOrder = []string{"destination", "nextHop", "node", "pod", "device", "route", "rule", "deployment", "replicas"}

// actionFieldsOnFlow reports action fields on a flow (an item without action:).
func (v *validator) actionFieldsOnFlow(path string, f *Flow) {
	if f.ActionSpec.empty() {
		return
	}
	set := f.ActionSpec.set()
	for _, k := range actionFieldOrder {
		if set[k] {
			v.addf(path+"."+k, "%s is a field of actions, not of flows: add action: (one of %s), or remove %s", k, strings.Join(ActionKinds(), ", "), k)
		}
	}
}

// checkAction checks one action item of flows: (what can be checked
// without building the world; Build plays the actions on a scratch world
// for the rest).
func (v *validator) checkAction(path string, f *Flow, names map[string]string) {
	if f.Name != "" {
		if names[f.Name] != "" {
			v.addf(path+".name", "name %q is already used by %s", f.Name, names[f.Name])
		} else {
			names[f.Name] = path
		}
	}
	kinds := ActionKinds()
	// Flow fields on an action.
	flowFields := []struct {
		name string
		set  bool
	}{
		{"from", f.From != ""}, {"to", f.To != ""}, {"protocol", f.Protocol != ""}, {"port", f.Port != 0},
		{"size", f.Size != nil}, {"count", f.Count != 0}, {"df", f.DF != nil}, {"expect", f.Expect != nil},
	}
	for _, ff := range flowFields {
		if ff.set {
			v.addf(path+"."+ff.name, "%s is a field of flows: an action item (action: %s) sends no traffic; put the traffic in a flow of its own", ff.name, f.Action)
		}
	}
	k := findActionKind(f.Action)
	if k == nil {
		v.addf(path+".action", "unknown action %q (known actions: %s)%s", f.Action, strings.Join(kinds, ", "), hint.DidYouMean(f.Action, kinds))
		return
	}
	a := f.ActionSpec
	set := a.set()
	for _, name := range actionFieldOrder {
		if set[name] && !slices.Contains(k.fields, name) {
			takes := "no fields besides name and description"
			if len(k.fields) > 0 {
				takes = strings.Join(k.fields, ", ")
			}
			v.addf(path+"."+name, "%s is not used by action %q (it takes %s)", name, f.Action, takes)
		}
	}
	vpcOnly := func() {
		if v.s.VPC.Underlay == "l2" {
			v.addf(path+".action", `%s needs underlay "vpc": an l2 underlay has no VPC route table`, f.Action)
		}
	}
	switch f.Action {
	case "delete-vpc-route", "add-vpc-route":
		vpcOnly()
		switch {
		case a.Destination != "" && a.Node != "":
			v.addf(path, "%s takes destination or node, not both", f.Action)
		case a.Destination != "":
			if _, msg := parseCIDR4(a.Destination); msg != "" {
				v.add(path+".destination", msg)
			}
			if f.Action == "add-vpc-route" {
				switch {
				case a.NextHop == "":
					v.add(path+".nextHop", "required with destination: the ECS instance (a node or instance) the entry sends traffic to")
				case v.nodes[a.NextHop] == nil && v.instances[a.NextHop] == nil:
					v.addDep(depHosts, path+".nextHop", "%q is not a node or instance (%s)%s", a.NextHop, v.hostList(), hint.DidYouMean(a.NextHop, v.hostNames()))
				}
			}
		case a.Node != "":
			v.checkNodeRef(path+".node", a.Node)
			if a.NextHop != "" {
				v.add(path+".nextHop", "with node, the next hop is that node: remove nextHop, or give destination instead of node")
			}
		default:
			what := "delete"
			if f.Action == "add-vpc-route" {
				what = "add (with nextHop)"
			}
			v.addf(path, "%s needs destination (the CIDR of the route entry to %s) or node (the node whose pod CIDR entry is meant)", f.Action, what)
		}
	case "link-down", "link-up":
		if a.Device == "" {
			v.add(path+".device", "required: the interface, e.g. eth0 or flannel.1")
		}
		v.checkHostOrPod(path, f.Action, a)
	case "delete-node-route", "add-node-route":
		v.checkHostOrPod(path, f.Action, a)
		if a.Route == "" {
			v.add(path+".route", `required: the route as ip route writes it, e.g. "172.20.2.0/24 via 172.20.2.0 dev flannel.1 onlink"`)
		} else if _, err := ParseRouteSpec(a.Route); err != nil {
			v.add(path+".route", err.Error())
		}
	case "delete-node-rule", "add-node-rule":
		v.checkHostOrPod(path, f.Action, a)
		if a.Rule == "" {
			v.add(path+".rule", `required: the rule as ip rule takes it, e.g. "from 10.0.1.5 lookup 1003 priority 2048"`)
		} else if _, err := ParseRuleSpec(a.Rule); err != nil {
			v.add(path+".rule", err.Error())
		}
	case "delete-pod":
		if a.Pod == "" {
			v.add(path+".pod", "required: the pod to delete, NAME or NAMESPACE/NAME")
		} else {
			v.checkPodRef(path+".pod", a.Pod)
		}
	case "scale":
		switch {
		case a.Deployment == "":
			v.add(path+".deployment", "required: the Deployment to scale, NAME or NAMESPACE/NAME")
		default:
			v.checkDeploymentRef(path+".deployment", a.Deployment)
		}
		switch {
		case a.Replicas == nil:
			v.add(path+".replicas", "required: the new number of replicas (0 or more)")
		case *a.Replicas < 0:
			v.addf(path+".replicas", "%d is out of range: replicas is 0 or more", *a.Replicas)
		}
	case "show-pod-cidr":
		if a.Node == "" {
			v.add(path+".node", "required: the node whose pod CIDR to show")
		} else {
			v.checkNodeRef(path+".node", a.Node)
		}
	case "show-vpc-routes":
		vpcOnly()
	}
}

func (v *validator) checkNodeRef(path, name string) {
	if v.nodes[name] == nil {
		v.addDep(depNodes, path, "node %q does not exist (%s)%s", name, listOf("nodes", v.nodeNames), hint.DidYouMean(name, v.nodeNames))
	}
}

// checkHostOrPod checks the node-or-pod of a link or node-route action.
func (v *validator) checkHostOrPod(path, action string, a ActionSpec) {
	switch {
	case a.Node != "" && a.Pod != "":
		v.addf(path, "%s takes node or pod, not both", action)
	case a.Node != "":
		if v.nodes[a.Node] == nil && v.instances[a.Node] == nil {
			v.addDep(depHosts, path+".node", "%q is not a node or instance (%s)%s", a.Node, v.hostList(), hint.DidYouMean(a.Node, v.hostNames()))
		}
	case a.Pod != "":
		v.checkPodRef(path+".pod", a.Pod)
	default:
		v.addf(path, "%s needs node (a node or instance) or pod (NAME or NS/NAME) whose namespace it works in", action)
	}
}

func (v *validator) checkDeploymentRef(path, ref string) {
	ns, name, found := strings.Cut(ref, "/")
	if !found {
		ns, name = defaultNamespace, ref
	}
	var names []string
	if v.s.Objects != nil {
		for _, d := range v.s.Objects.Deployments {
			if d.Namespace == ns && d.Name == name {
				return
			}
			names = append(names, d.Namespace+"/"+d.Name)
		}
	}
	if v.objectsBroken {
		return
	}
	key := ns + "/" + name
	v.addDep(depObjects, path, "Deployment %q does not exist (%s)%s", key, listOf("Deployments", names), hint.DidYouMean(key, names))
}

// checkActionSequence follows the items in order: a pod deleted (by
// delete-pod or scale) cannot be the end of a later flow or the subject of
// a later action.
func (v *validator) checkActionSequence() {
	deleted := map[string]string{} // "NS/NAME" → the path of the deleting action
	podKey := func(ref string) string {
		if ns, name, ok := strings.Cut(ref, "/"); ok {
			return ns + "/" + name
		}
		return defaultNamespace + "/" + ref
	}
	for i := range v.s.Flows {
		f := &v.s.Flows[i]
		path := indexPath("flows", i)
		if f.Action == "" {
			for _, end := range []struct{ field, ref string }{{"from", f.From}, {"to", f.To}} {
				ep, err := ParseEndpoint(end.ref)
				if err != nil || ep.Kind != EndpointPod {
					continue
				}
				if by := deleted[ep.Namespace+"/"+ep.Name]; by != "" {
					v.addf(path+"."+end.field, "pod %s/%s was deleted by %s: nothing answers for it any more", ep.Namespace, ep.Name, by)
				}
			}
			continue
		}
		if f.Pod != "" {
			if by := deleted[podKey(f.Pod)]; by != "" {
				v.addf(path+".pod", "pod %s was already deleted by %s", podKey(f.Pod), by)
			}
		}
		switch f.Action {
		case "delete-pod":
			if f.Pod != "" {
				deleted[podKey(f.Pod)] = fmt.Sprintf("%s (action delete-pod)", path)
			}
		case "scale":
			// Which replicas go is decided at Build; every replica of the
			// Deployment may be the one.
		}
	}
}
