package topology

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
	"netsim/dataplane/netstack"
	"netsim/dataplane/vpc"
)

// actionBase is buildBase (alivpc) with a Deployment of three replicas
// behind a Service; tests append a flows: section.
var actionBase = fmt.Sprintf(buildBase, "alivpc") + `resources:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: default}
    spec:
      replicas: 3
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080}]}]
  - apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: default}
    spec:
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: http}]
`

// ping is a flow item that keeps a flows: list valid around actions.
const ping = "  - {name: ping, from: pod/web-1, to: pod/shop/api-1}\n"

func applyAll(t *testing.T, w *World) []*ActionOutcome {
	t.Helper()
	var out []*ActionOutcome
	for i := range w.Scenario.Flows {
		f := &w.Scenario.Flows[i]
		if f.Action == "" {
			continue
		}
		o, err := w.Apply(f)
		require.NoError(t, err, "flows[%d] (%s)", i, f.Action)
		out = append(out, o)
	}
	return out
}

func routeStrings(st *netstack.Stack) []string {
	var out []string
	for _, r := range st.Routes.All() {
		out = append(out, r.String())
	}
	return out
}

func TestActionsApplied(t *testing.T) {
	tests := []struct {
		name  string
		items string
		// check looks at the world after every action was applied.
		check func(t *testing.T, w *World, out []*ActionOutcome)
		// state holds lines netsim show prints afterwards.
		state []string
	}{
		{
			name:  "delete then re-add a VPC route entry",
			items: "  - {action: delete-vpc-route, node: node-2}\n  - {name: restore, action: add-vpc-route, destination: 172.20.1.0/24, nextHop: node-2}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				assert.Equal(t, "vpc route delete 172.20.1.0/24 next hop node-2 ("+vpc.InstanceID("node-2")+"), entry "+vpc.ID("rte", "172.20.1.0/24"), out[0].Text)
				assert.Contains(t, out[1].Text, "vpc route add 172.20.1.0/24 next hop node-2 ("+vpc.InstanceID("node-2")+")")
				assert.Contains(t, out[1].Command, "aliyun vpc CreateRouteEntry --RouteTableId "+w.VPC.RouteTableID+" --DestinationCidrBlock 172.20.1.0/24 --NextHopType Instance --NextHopId i-")
				assert.Equal(t, 2, w.VPC.CustomRoutes())
				assert.Empty(t, w.VPC.Deleted(), "a re-created entry is no longer deleted")
				var ids []string
				for _, e := range w.VPC.Routes() {
					if e.Destination.String() == "172.20.1.0/24" {
						ids = append(ids, e.ID)
					}
				}
				require.Len(t, ids, 1)
				assert.NotEqual(t, vpc.ID("rte", "172.20.1.0/24"), ids[0], "a re-created entry has a new ID")
			},
			state: []string{"172.20.1.0/24 → ECS instance node-2 (rte-"},
		},
		{
			name:  "delete a VPC route entry: show marks it",
			items: "  - {action: delete-vpc-route, destination: 172.20.0.0/24}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				assert.Equal(t, 1, w.VPC.CustomRoutes())
				require.Len(t, w.VPC.Deleted(), 1)
				assert.Equal(t, "172.20.0.0/24", w.VPC.Deleted()[0].Destination.String())
			},
			state: []string{"172.20.0.0/24 → ECS instance node-1 (" + vpc.ID("rte", "172.20.0.0/24") + ", custom) [flannel ali-vpc route for node-1] — DELETED"},
		},
		{
			name:  "link down then up on a node",
			items: "  - {action: link-down, node: node-1, device: cni0}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				st := w.Node("node-1").Stack
				assert.False(t, st.Iface("cni0").Dev.Up())
				assert.Equal(t, "ip link set cni0 down on node-1", out[0].Text)
				assert.Equal(t, []string{"route flushed: 172.20.0.0/24 dev cni0 proto kernel scope link src 172.20.0.1"}, out[0].Output)
				assert.NotContains(t, routeStrings(st), "172.20.0.0/24 dev cni0 proto kernel scope link src 172.20.0.1")
				o, err := w.Apply(&Flow{Action: "link-up", ActionSpec: ActionSpec{Node: "node-1", Device: "cni0"}})
				require.NoError(t, err)
				assert.True(t, st.Iface("cni0").Dev.Up())
				assert.Equal(t, []string{"route back: 172.20.0.0/24 dev cni0 proto kernel scope link src 172.20.0.1"}, o.Output)
				assert.Contains(t, routeStrings(st), "172.20.0.0/24 dev cni0 proto kernel scope link src 172.20.0.1")
			},
		},
		{
			name:  "link down in a pod",
			items: "  - {action: link-down, pod: shop/api-1, device: eth0}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				assert.False(t, w.Pod("shop/api-1").Stack.Iface("eth0").Dev.Up())
				assert.Equal(t, "ip link set eth0 down on shop/api-1", out[0].Text)
			},
			state: []string{"# flushed (dev eth0 down): default via 172.20.1.1 dev eth0 linkdown"},
		},
		{
			name: "delete then add a node route",
			items: "  - {action: delete-node-route, node: node-1, route: default}\n" +
				"  - {action: add-node-route, node: node-1, route: 172.20.1.0/24 via 192.168.0.253 dev eth0 metric 10}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				st := w.Node("node-1").Stack
				assert.Equal(t, "ip route del default via 192.168.0.253 dev eth0 on node-1", out[0].Text)
				assert.Equal(t, "ip route add 172.20.1.0/24 via 192.168.0.253 dev eth0 metric 10 on node-1", out[1].Text)
				assert.NotContains(t, routeStrings(st), "default via 192.168.0.253 dev eth0")
				assert.Contains(t, routeStrings(st), "172.20.1.0/24 via 192.168.0.253 dev eth0 metric 10")
				require.Len(t, w.DeletedRoutes(st), 1)
				// Adding the deleted route back clears the mark.
				_, err := w.Apply(&Flow{Action: "add-node-route", ActionSpec: ActionSpec{Node: "node-1", Route: "default via 192.168.0.253"}})
				require.NoError(t, err)
				assert.Contains(t, routeStrings(st), "default via 192.168.0.253 dev eth0")
				assert.Empty(t, w.DeletedRoutes(st))
			},
		},
		{
			name: "rules and a table: add, then delete",
			items: "  - {action: add-node-route, node: node-1, route: default via 192.168.0.253 dev eth0 onlink table 1003}\n" +
				"  - {action: add-node-rule, node: node-1, rule: from 172.20.0.2 lookup 1003 priority 2048}\n" +
				"  - {action: add-node-rule, node: node-1, rule: to 172.20.0.2 lookup main pref 512}\n" +
				"  - {action: add-node-rule, node: node-1, rule: fwmark 0x10/0x10 blackhole}\n" +
				"  - {action: delete-node-rule, node: node-1, rule: priority 512}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				st := w.Node("node-1").Stack
				assert.Equal(t, "ip route add default via 192.168.0.253 dev eth0 onlink table 1003 on node-1", out[0].Text)
				assert.Equal(t, "ip rule add 2048: from 172.20.0.2 lookup 1003 on node-1", out[1].Text)
				assert.Equal(t, "ip rule add 511: from all fwmark 0x10/0x10 blackhole on node-1", out[3].Text)
				assert.Equal(t, []string{"deleted: 512: from all to 172.20.0.2 lookup main"}, out[4].Output)
				var rules []string
				for _, r := range st.Rules() {
					rules = append(rules, r.String())
				}
				// No priority: one below the rule after local (fib_default_rule_pref).
				assert.Equal(t, []string{"0:\tfrom all lookup local", "511:\tfrom all fwmark 0x10/0x10 blackhole",
					"2048:\tfrom 172.20.0.2 lookup 1003", "32766:\tfrom all lookup main", "32767:\tfrom all lookup default"}, rules)
				assert.Equal(t, 1, st.Table(1003).Len())
				_, err := w.Apply(&Flow{Action: "delete-node-rule", ActionSpec: ActionSpec{Node: "node-1", Rule: "priority 512"}})
				require.Error(t, err)
				assert.Contains(t, err.Error(), "No such file or directory")
				_, err = w.Apply(&Flow{Action: "delete-node-route", ActionSpec: ActionSpec{Node: "node-1", Route: "default table 1003"}})
				require.NoError(t, err)
				assert.Zero(t, st.Table(1003).Len())
			},
			state: []string{"$ ip rule", "2048:\tfrom 172.20.0.2 lookup 1003", "$ ip route show table all"},
		},
		{
			name:  "delete a node route: show marks it",
			items: "  - {action: delete-node-route, pod: web-1, route: 172.20.0.0/16 via 172.20.0.1}\n",
			state: []string{"# deleted (ip route del): 172.20.0.0/16 via 172.20.0.1 dev eth0"},
		},
		{
			name:  "show the pod CIDR",
			items: "  - {action: show-pod-cidr, node: node-2}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				assert.Equal(t, "kubectl get node node-2 -o jsonpath='{.spec.podCIDR}'", out[0].Command)
				assert.Equal(t, []string{w.Node("node-2").PodCIDR.String()}, out[0].Output)
				assert.Equal(t, "the pod CIDR of node node-2 is 172.20.1.0/24", out[0].Text)
			},
		},
		{
			name:  "list the VPC route table",
			items: "  - {action: delete-vpc-route, node: node-2}\n  - {action: show-vpc-routes}\n",
			check: func(t *testing.T, w *World, out []*ActionOutcome) {
				assert.Equal(t, VPCRouteLines(w.VPC), out[1].Output)
				assert.Len(t, out[1].Output, 4)
				assert.Contains(t, out[1].Output[1], "172.20.1.0/24 → ECS instance node-2")
				assert.True(t, strings.HasSuffix(out[1].Output[1], " — DELETED"), out[1].Output[1])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustBuild(t, fmt.Sprintf(buildBase, "alivpc")+"flows:\n"+ping+tt.items)
			out := applyAll(t, w)
			if tt.check != nil {
				tt.check(t, w, out)
			}
			var b bytes.Buffer
			require.NoError(t, WriteState(&b, w, ""))
			for _, s := range tt.state {
				assert.Contains(t, b.String(), s)
			}
		})
	}
}

func TestActionsEndpoints(t *testing.T) {
	tests := []struct {
		name  string
		items string
		// left are the web pods left, eps the Service's endpoints after.
		left []string
		eps  string
	}{
		{name: "delete one pod", items: "  - {action: delete-pod, pod: WEB0}\n", left: []string{"WEB1", "WEB2"}},
		{name: "scale down to one", items: "  - {action: scale, deployment: web, replicas: 1}\n", left: []string{"ALONE"}},
		{name: "scale to zero", items: "  - {action: scale, deployment: default/web, replicas: 0}\n", eps: "<none>"},
		{name: "scale to the same count", items: "  - {action: scale, deployment: web, replicas: 3}\n", left: []string{"WEB0", "WEB1", "WEB2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, actionBase+"flows:\n"+ping)
			var web []string
			for _, p := range s.Objects.Pods {
				web = append(web, p.Name)
			}
			require.Len(t, web, 3)
			// Three replicas on two nodes: the ReplicaSet controller
			// deletes the colocated ones first, keeping the one alone.
			nodes := map[string][]string{}
			for _, p := range s.Objects.Pods {
				nodes[p.Node] = append(nodes[p.Node], p.Name)
			}
			require.Len(t, nodes, 2)
			alone := ""
			for _, names := range nodes {
				if len(names) == 1 {
					alone = names[0]
				}
			}
			r := strings.NewReplacer("WEB0", web[0], "WEB1", web[1], "WEB2", web[2], "ALONE", alone)
			w := mustBuild(t, actionBase+"flows:\n"+ping+r.Replace(tt.items))
			svc := w.Service("default", "web")
			require.NotNil(t, svc)
			require.Len(t, svc.Endpoints["http"], 3)
			out := applyAll(t, w)
			var left []string
			for _, p := range w.Pods {
				if slices.Contains(web, p.Name) {
					left = append(left, p.Name)
				}
			}
			var want []string
			for _, l := range tt.left {
				want = append(want, r.Replace(l))
			}
			assert.Equal(t, want, left)
			if tt.eps == "" {
				var ips []string
				for _, n := range want {
					ips = append(ips, netip.AddrPortFrom(w.Pod(n).IP, 8080).String())
				}
				tt.eps = strings.Join(ips, ",")
			}
			assert.Equal(t, tt.eps, endpointText(svc.Endpoints["http"]))
			var st bytes.Buffer
			require.NoError(t, WriteState(&st, w, ""))
			for _, p := range w.DeletedPods() {
				assert.Contains(t, st.String(), "### pod "+p.Ref()+" — deleted by an action (was "+p.IP.String()+" on "+p.Node.Name+")")
			}
			if len(want) < 3 {
				assert.Contains(t, out[0].Output, fmt.Sprintf("endpoints of Service default/web 80/TCP (http): %s → %s", allEndpoints(t, w, web), tt.eps))
				assert.Contains(t, out[0].Output, "kube-proxy (iptables mode) resynced on node-1, node-2")
				// kube-proxy's rules now name only the endpoints left.
				rules := w.Nodes[0].Filter.Save(false)
				for _, p := range w.DeletedPods() {
					assert.NotContains(t, rules, p.IP.String()+":8080", "deleted pod %s still in the rules", p.Name)
				}
				for _, n := range want {
					assert.Contains(t, rules, w.Pod(n).IP.String()+":8080")
				}
			} else {
				assert.Contains(t, out[0].Text, "already 3 replicas, nothing changes")
			}
		})
	}
}

// allEndpoints is the Service's endpoint text before any deletion.
func allEndpoints(t *testing.T, w *World, web []string) string {
	var ips []string
	for _, n := range web {
		p := w.Pod(n)
		if p == nil {
			for _, d := range w.DeletedPods() {
				if d.Name == n {
					p = d
				}
			}
		}
		require.NotNil(t, p, n)
		ips = append(ips, netip.AddrPortFrom(p.IP, 8080).String())
	}
	return strings.Join(ips, ",")
}

func TestActionProblemsAreLocated(t *testing.T) {
	tests := []struct {
		name  string
		base  string
		items string
		at    string // text whose position the problem has ("LINE>>COL")
		path  string
		parts []string
	}{
		{name: "unknown action", items: "  - {action: delete-route, node: node-2}\n", at: "delete-route",
			path: "flows[1].action", parts: []string{`unknown action "delete-route"`, `did you mean "delete-vpc-route"?`}},
		{name: "missing field", items: "  - {action: link-down, node: node-1}\n", at: "{action: link-down",
			path: "flows[1].device", parts: []string{"required: the interface"}},
		{name: "node that does not exist", items: "  - {action: delete-vpc-route, node: node-9}\n", at: "node-9",
			path: "flows[1].node", parts: []string{`node "node-9" does not exist`, `did you mean "node-1"?`}},
		{name: "field the action does not take", items: "  - {action: show-pod-cidr, node: node-1, device: eth0}\n", at: "{action: show-pod-cidr>>eth0",
			path: "flows[1].device", parts: []string{`device is not used by action "show-pod-cidr" (it takes node)`}},
		{name: "flow field on an action", items: "  - {action: show-vpc-routes, from: pod/web-1}\n", at: "{action: show-vpc-routes>>pod/web-1",
			path: "flows[1].from", parts: []string{"from is a field of flows"}},
		{name: "action field on a flow", items: "  - {name: p2, from: pod/web-1, to: node/node-2, device: eth0}\n", at: "{name: p2>>eth0",
			path: "flows[1].device", parts: []string{"device is a field of actions"}},
		{name: "unknown key", items: "  - {action: link-down, node: node-1, dev: eth0}\n", at: "dev: eth0",
			path: "flows[1]", parts: []string{`unknown field "dev"`}},
		{name: "bad route syntax", items: "  - {action: add-node-route, node: node-1, route: 172.20.9.0/24 gw 1.2.3.4}\n", at: "172.20.9.0/24 gw",
			path: "flows[1].route", parts: []string{`unknown word "gw"`}},
		{name: "route with host bits", items: "  - {action: delete-node-route, node: node-1, route: 172.20.1.1/24}\n", at: "172.20.1.1/24",
			path: "flows[1].route", parts: []string{"host bits set", "did you mean 172.20.1.0/24?"}},
		{name: "duplicate name", items: "  - {name: ping, action: show-vpc-routes}\n", at: "{name: ping, action>>ping",
			path: "flows[1].name", parts: []string{`name "ping" is already used by flows[0]`}},
		{name: "vpc action on l2", base: strings.Replace(fmt.Sprintf(buildBase, "host-gw"), "  cidr: 192.168.0.0/16\n", "  cidr: 192.168.0.0/16\n  underlay: l2\n", 1),
			items: "  - {action: show-vpc-routes}\n", at: "show-vpc-routes",
			path: "flows[1].action", parts: []string{`needs underlay "vpc"`}},
		{name: "scale a Deployment that does not exist", base: actionBase, items: "  - {action: scale, deployment: wbe, replicas: 1}\n", at: "wbe",
			path: "flows[1].deployment", parts: []string{`Deployment "default/wbe" does not exist`, `did you mean "default/web"?`}},
		{name: "scale without replicas", base: actionBase, items: "  - {action: scale, deployment: web}\n", at: "{action: scale",
			path: "flows[1].replicas", parts: []string{"required: the new number of replicas"}},
		{name: "flow to a deleted pod", items: "  - {name: gone, action: delete-pod, pod: shop/api-1}\n" + "  - {name: p2, from: pod/web-1, to: pod/shop/api-1}\n",
			at: "{name: p2>>pod/shop/api-1", path: "flows[2].to", parts: []string{"pod shop/api-1 was deleted by flows[1] (action delete-pod)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tt.base
			if base == "" {
				base = fmt.Sprintf(buildBase, "alivpc")
			}
			src := base + "flows:\n" + strings.Replace(ping, "to: pod/shop/api-1", "to: node/node-2", 1) + tt.items
			_, err := Parse("build.yaml", []byte(src))
			require.Error(t, err, "scenario:\n%s", src)
			var probs Problems
			require.True(t, errors.As(err, &probs))
			p := findProblem(probs, tt.path)
			require.NotNil(t, p, "no problem at %s in:\n%v", tt.path, err)
			line, col := posOf(t, src, tt.at)
			assert.Equal(t, line, p.Line, "line of %s", p)
			assert.Equal(t, col, p.Column, "column of %s", p)
			for _, part := range tt.parts {
				assert.Contains(t, p.Msg, part)
			}
		})
	}
}

func findProblem(ps Problems, path string) *Problem {
	for i := range ps {
		if ps[i].Path == path {
			return &ps[i]
		}
	}
	return nil
}

// TestActionBuildProblemsAreLocated: what only the world knows — an entry
// that is not there to delete, one that is there already, a device or
// route the namespace lacks — is found by Build, which plays the actions
// on a scratch world, and located at the action's field.
func TestActionBuildProblemsAreLocated(t *testing.T) {
	tests := []struct {
		name  string
		items string
		at    string
		path  string
		parts []string
	}{
		{name: "delete an entry that does not exist", items: "  - {action: delete-vpc-route, destination: 172.20.9.0/24}\n", at: "172.20.9.0/24",
			path: "flows[1].destination", parts: []string{"no route entry for 172.20.9.0/24", "(route entries: 172.20.0.0/24, 172.20.1.0/24, 192.168.0.0/24, 192.168.1.0/24)"}},
		{name: "delete the same entry twice", items: "  - {action: delete-vpc-route, node: node-2}\n  - {name: again, action: delete-vpc-route, node: node-2}\n", at: "{name: again>>node-2",
			path: "flows[2].node", parts: []string{"no route entry for 172.20.1.0/24", "was already deleted"}},
		{name: "add an entry that exists", items: "  - {action: add-vpc-route, node: node-2}\n", at: "{action: add-vpc-route>>node-2",
			path: "flows[1].node", parts: []string{"InvalidCIDRBlock.Duplicate: the route entry already exists", "172.20.1.0/24 → ECS instance node-2"}},
		{name: "add an entry over a vSwitch's", items: "  - {action: add-vpc-route, destination: 192.168.1.0/24, nextHop: ecs-db}\n", at: "{action: add-vpc-route>>192.168.1.0/24",
			path: "flows[1].destination", parts: []string{"InvalidCIDRBlock.Duplicate", "system route of vSwitch vsw-b"}},
		{name: "delete a system entry", items: "  - {action: delete-vpc-route, destination: 192.168.0.0/24}\n", at: "{action: delete-vpc-route>>192.168.0.0/24",
			path: "flows[1].destination", parts: []string{"is a system route entry and cannot be deleted"}},
		{name: "a device that does not exist", items: "  - {action: link-up, node: ecs-db, device: eth1}\n", at: "eth1",
			path: "flows[1].device", parts: []string{`ecs-db has no device "eth1" (devices: [lo eth0])`, `did you mean "eth0"?`}},
		{name: "delete a node route that does not exist", items: "  - {action: delete-node-route, node: node-1, route: 172.20.1.0/24 dev flannel.1}\n", at: "172.20.1.0/24 dev",
			path: "flows[1].route", parts: []string{"RTNETLINK answers: No such process"}},
		{name: "add a node route that exists", items: "  - {action: add-node-route, node: node-1, route: default via 192.168.0.253 dev eth0}\n", at: "default via",
			path: "flows[1].route", parts: []string{"RTNETLINK answers: File exists"}},
		{name: "add a node route on a missing device", items: "  - {action: add-node-route, pod: web-1, route: 10.0.0.0/8 dev eth1}\n", at: "10.0.0.0/8",
			path: "flows[1].route", parts: []string{`Cannot find device "eth1"`}},
		{name: "add a node route with an unreachable gateway", items: "  - {action: add-node-route, node: node-1, route: 10.0.0.0/8 via 10.9.9.9 dev eth0}\n", at: "10.0.0.0/8",
			path: "flows[1].route", parts: []string{"Network is unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf(buildBase, "alivpc") + "flows:\n" + ping + tt.items
			probs := buildProblems(t, src)
			p := findProblem(probs, tt.path)
			require.NotNil(t, p, "no problem at %s in:\n%v", tt.path, probs)
			line, col := posOf(t, src, tt.at)
			assert.Equal(t, line, p.Line, "line of %s", p)
			assert.Equal(t, col, p.Column, "column of %s", p)
			for _, part := range tt.parts {
				assert.Contains(t, p.Msg, part)
			}
		})
	}
}

func TestFailuresAreActions(t *testing.T) {
	// failures: and an action item before the first flow do the same.
	a := mustBuild(t, fmt.Sprintf(buildBase, "alivpc")+"failures:\n  - {type: delete-vpc-route, node: node-2}\n")
	b := mustBuild(t, fmt.Sprintf(buildBase, "alivpc")+"flows:\n  - {action: delete-vpc-route, node: node-2}\n"+ping)
	applyAll(t, b)
	assert.Equal(t, VPCRouteLines(a.VPC), VPCRouteLines(b.VPC))
	assert.Equal(t, "failure: deleted VPC route entry 172.20.1.0/24 → node-2 ("+vpc.ID("rte", "172.20.1.0/24")+")", a.Notes[len(a.Notes)-1])
}

func TestApplyThrough(t *testing.T) {
	src := fmt.Sprintf(buildBase, "alivpc") + "flows:\n" + ping +
		"  - {name: cut, action: delete-vpc-route, node: node-2}\n  - {name: p2, from: pod/web-1, to: node/node-2}\n  - {name: fix, action: add-vpc-route, node: node-2}\n"
	var ov bytes.Buffer
	WriteOverview(&ov, mustBuild(t, src))
	assert.Contains(t, ov.String(), "  action cut (flows[1]): delete-vpc-route node node-2\n  action fix (flows[3]): add-vpc-route node node-2\n", "validate lists the actions")

	tests := []struct {
		after   string
		deleted int
		actions int
		err     string
	}{
		{after: "ping", deleted: 0, actions: 0},
		{after: "cut", deleted: 1, actions: 1},
		{after: "p2", deleted: 1, actions: 1},
		{after: "fix", deleted: 0, actions: 2},
		{after: "fxi", err: `no flow or action named "fxi"`},
	}
	for _, tt := range tests {
		t.Run(tt.after, func(t *testing.T) {
			w, err := Build(mustParse(t, src), linktest.New())
			require.NoError(t, err)
			out, err := w.ApplyThrough(tt.after)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Contains(t, err.Error(), `did you mean "fix"?`)
				return
			}
			require.NoError(t, err)
			assert.Len(t, out, tt.actions)
			assert.Len(t, w.VPC.Deleted(), tt.deleted)
		})
	}
}

func TestParseRuleSpec(t *testing.T) {
	tests := []struct {
		in   string
		want string // the rule as ip rule show prints it
		err  string
	}{
		{in: "from 10.0.1.5 lookup 1003 priority 2048", want: "2048:\tfrom 10.0.1.5 lookup 1003"},
		{in: "from all to 10.0.1.0/24 table main pref 512", want: "512:\tfrom all to 10.0.1.0/24 lookup main"},
		{in: "iif eth0 oif eth1 fwmark 0x4000/0x4000 lookup 7 preference 9", want: "9:\tfrom all fwmark 0x4000/0x4000 iif eth0 oif eth1 lookup 7"},
		{in: "from 10.1.0.0/16 unreachable priority 5", want: "5:\tfrom 10.1.0.0/16 unreachable"},
		{in: "", err: "empty rule"},
		{in: "from", err: "from needs a prefix"},
		{in: "from 10.0.1.1/24", err: "host bits set"},
		{in: "from fe80::1", err: "not an IPv4"},
		{in: "fwmark x", err: "is not MARK or MARK/MASK"},
		{in: "priority -1", err: "is not a number"},
		{in: "lookup 0", err: "expected main, local, default or a number"},
		{in: "lookup 5 blackhole", err: "either looks up a table"},
		{in: "from 10.0.1.5 goto 5", err: `unknown word "goto"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRuleSpec(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Rule.String())
		})
	}
}

func TestParseRouteSpec(t *testing.T) {
	tests := []struct {
		in   string
		want RouteSpec
		err  string
	}{
		{in: "172.20.2.0/24 via 172.20.2.0 dev flannel.1 onlink", want: RouteSpec{Dst: netip.MustParsePrefix("172.20.2.0/24"), Gw: netip.MustParseAddr("172.20.2.0"), Dev: "flannel.1", Onlink: true}},
		{in: "default via 192.168.0.253", want: RouteSpec{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: netip.MustParseAddr("192.168.0.253")}},
		{in: "10.1.2.3", want: RouteSpec{Dst: netip.MustParsePrefix("10.1.2.3/32")}},
		{in: "blackhole 10.0.0.0/8 metric 5", want: RouteSpec{Dst: netip.MustParsePrefix("10.0.0.0/8"), Type: netstack.RouteBlackhole, HasType: true, Metric: 5, HasMetric: true}},
		{in: "10.0.0.0/8 dev eth0 src 10.0.0.1 mtu lock 1400", want: RouteSpec{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "eth0", Src: netip.MustParseAddr("10.0.0.1"), MTU: 1400}},
		{in: "", err: "empty route"},
		{in: "unreachable", err: "a destination must follow"},
		{in: "10.0.0.0/33", err: "is not an IPv4 prefix"},
		{in: "10.0.0.1/8", err: "host bits set"},
		{in: "10.0.0.0/8 via", err: "via needs a gateway address"},
		{in: "10.0.0.0/8 via fe80::1", err: "is not an IPv4 address"},
		{in: "10.0.0.0/8 metric x", err: "is not a number"},
		{in: "10.0.0.0/8 table 5", want: RouteSpec{Dst: netip.MustParsePrefix("10.0.0.0/8"), Table: 5}},
		{in: "default via 10.0.0.253 dev eth1 onlink table main", want: RouteSpec{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: netip.MustParseAddr("10.0.0.253"), Dev: "eth1", Onlink: true, Table: netstack.TableMain}},
		{in: "10.0.0.0/8 table 0", err: "expected main, local, default or a number"},
		{in: "10.0.0.0/8 table x", err: "expected main, local, default or a number"},
		{in: "10.0.0.0/8 gw 1.2.3.4", err: `unknown word "gw"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRouteSpec(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
