package topology

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/vpc"
)

// lbService is a LoadBalancer Service web-NAME on port PORT with the given
// annotations and spec lines (YAML, already indented).
func lbService(name string, port int, annotations, spec string) string {
	s := fmt.Sprintf(`  - apiVersion: v1
    kind: Service
    metadata:
      name: %s
`, name)
	if annotations != "" {
		s += "      annotations:\n" + annotations
	}
	s += fmt.Sprintf(`    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: %d}]
`, port)
	return s + spec
}

func lbScenario(services ...string) string {
	return fmt.Sprintf(buildBase, "vxlan") + "resources:\n" + strings.Join(services, "")
}

const (
	intranet = "        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type: intranet\n"
	internet = "        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type: internet\n"
)

func lbID(id string) string {
	return "        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id: " + id + "\n"
}

func slbOf(t *testing.T, w *World, ref string) *vpc.SLB {
	t.Helper()
	for _, lb := range w.VPC.SLBs() {
		for _, s := range strings.Split(lb.Service, ", ") {
			if s == ref {
				return lb
			}
		}
	}
	t.Fatalf("no SLB for %s", ref)
	return nil
}

// TestLoadBalancerAddress: spec.loadBalancerIP and the CCM's ip annotation
// set the CLB's address, checked against its address type.
func TestLoadBalancerAddress(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		addr      string // the SLB's address, or
		addrType  string
		wantErr   string // a located problem containing this,
		errAt     string // at the line holding this
		errPath   string
		otherSLBs int
	}{
		{name: "intranet, requested in a node vSwitch",
			src:  lbScenario(lbService("web", 80, intranet, "      loadBalancerIP: 192.168.1.200\n")),
			addr: "192.168.1.200", addrType: "intranet"},
		{name: "intranet, from the ip annotation",
			src:  lbScenario(lbService("web", 80, intranet+"        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-ip: 192.168.0.77\n", "")),
			addr: "192.168.0.77", addrType: "intranet"},
		{name: "intranet, allocated: after the API server and its SLB",
			src:  lbScenario(lbService("web", 80, intranet, "")),
			addr: "192.168.0.3", addrType: "intranet"},
		{name: "internet, requested public address",
			src:  lbScenario(lbService("web", 80, internet, "      loadBalancerIP: 47.100.20.30\n")),
			addr: "47.100.20.30", addrType: "internet"},
		{name: "internet, allocated",
			src:  lbScenario(lbService("web", 80, "", "")),
			addr: "198.51.100.10", addrType: "internet"},
		{name: "intranet in the vSwitch vswitch-id names (by name)",
			src:  lbScenario(lbService("web", 80, intranet+"        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-vswitch-id: vsw-b\n", "")),
			addr: "192.168.1.1", addrType: "intranet"},
		{name: "intranet in the vSwitch vswitch-id names (by ID), requested address",
			src:  lbScenario(lbService("web", 80, intranet+"        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-vswitch-id: "+vpc.ID("vsw", "vsw-b")+"\n", "      loadBalancerIP: 192.168.1.201\n")),
			addr: "192.168.1.201", addrType: "intranet"},
		{name: "vswitch-id names no vSwitch",
			src:     lbScenario(lbService("web", 80, intranet+"        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-vswitch-id: vsw-c\n", "")),
			wantErr: `no vSwitch "vsw-c" in the VPC: its vSwitches are ` + vpc.ID("vsw", "vsw-a") + " (vsw-a), " + vpc.ID("vsw", "vsw-b") + " (vsw-b)",
			errAt:   "vswitch-id:>>vsw-c", errPath: "resources[0].metadata.annotations.service.beta.kubernetes.io/alibaba-cloud-loadbalancer-vswitch-id"},
		{name: "requested address outside the vSwitch vswitch-id names",
			src:     lbScenario(lbService("web", 80, intranet+"        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-vswitch-id: vsw-b\n", "      loadBalancerIP: 192.168.0.201\n")),
			wantErr: "192.168.0.201 is not in vSwitch " + vpc.ID("vsw", "vsw-b") + " (vsw-b, 192.168.1.0/24)",
			errAt:   "loadBalancerIP:", errPath: "resources[0].spec.loadBalancerIP"},
		{name: "intranet outside every node vSwitch",
			src:     lbScenario(lbService("web", 80, intranet, "      loadBalancerIP: 192.168.7.10\n")),
			wantErr: "192.168.7.10 is not in a node vSwitch (vsw-a 192.168.0.0/24, vsw-b 192.168.1.0/24), but the CLB is internal-facing",
			errAt:   "loadBalancerIP:", errPath: "resources[0].spec.loadBalancerIP"},
		{name: "intranet on a node's address",
			src:     lbScenario(lbService("web", 80, intranet, "      loadBalancerIP: 192.168.0.10\n")),
			wantErr: "192.168.0.10 is already in use in vSwitch vsw-a (ECS instance node-1)",
			errAt:   "loadBalancerIP:", errPath: "resources[0].spec.loadBalancerIP"},
		{name: "intranet on the API server SLB's address",
			src:     lbScenario(lbService("web", 80, intranet, "      loadBalancerIP: 192.168.0.2\n")),
			wantErr: "192.168.0.2 is already in use in vSwitch vsw-a (SLB " + vpc.ID("lb", "kube-apiserver"),
			errAt:   "loadBalancerIP:", errPath: "resources[0].spec.loadBalancerIP"},
		{name: "intranet on a reserved address",
			src:     lbScenario(lbService("web", 80, intranet, "      loadBalancerIP: 192.168.1.253\n")),
			wantErr: "192.168.1.253 is reserved in vSwitch vsw-b",
			errAt:   "loadBalancerIP:", errPath: "resources[0].spec.loadBalancerIP"},
		{name: "private address for the default internet type",
			src:     lbScenario(lbService("web", 80, "", "      loadBalancerIP: 192.168.0.200\n")),
			wantErr: "192.168.0.200 is not a public address, but the CLB is internet-facing (the default address type internet): for an address in a vSwitch annotate service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type: intranet",
			errAt:   "loadBalancerIP:", errPath: "resources[0].spec.loadBalancerIP"},
		{name: "the ip annotation against spec.loadBalancerIP",
			src:     lbScenario(lbService("web", 80, intranet+"        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-ip: 192.168.0.77\n", "      loadBalancerIP: 192.168.0.78\n")),
			wantErr: "192.168.0.77 differs from spec.loadBalancerIP 192.168.0.78",
			errAt:   "alibaba-cloud-loadbalancer-ip:", errPath: "resources[0].metadata.annotations.service.beta.kubernetes.io/alibaba-cloud-loadbalancer-ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr != "" {
				s, err := Parse("build.yaml", []byte(tt.src))
				if err == nil {
					_, err = Build(s, nopSched{})
				}
				var probs Problems
				require.ErrorAs(t, err, &probs)
				require.Len(t, probs, 1, "%v", err)
				assert.Contains(t, probs[0].Msg, tt.wantErr)
				assert.Equal(t, tt.errPath, probs[0].Path)
				line, _ := posOf(t, tt.src, tt.errAt)
				assert.Equal(t, line, probs[0].Line, probs[0].String())
				return
			}
			w := mustBuild(t, tt.src)
			lb := slbOf(t, w, "default/web")
			assert.Equal(t, tt.addr, lb.Address.String())
			assert.Equal(t, tt.addrType, lb.AddressType)
			assert.Equal(t, tt.addr, w.Service("default", "web").LoadBalancerIPs[0].String(), "status.loadBalancer.ingress")
		})
	}
}

// TestLoadBalancerID: the loadbalancer-id annotation reuses an existing CLB
// by its ID — one instance for the Services that name it, on different
// ports, at an address derived from the ID unless one is requested.
func TestLoadBalancerID(t *testing.T) {
	t.Run("reused by two Services", func(t *testing.T) {
		src := lbScenario(lbService("web", 80, lbID("lb-bp1shared01"), ""), lbService("api", 8080, lbID("lb-bp1shared01"), ""))
		w := mustBuild(t, src)
		lb := slbOf(t, w, "default/web")
		assert.Same(t, lb, slbOf(t, w, "default/api"), "one instance")
		assert.Equal(t, "lb-bp1shared01", lb.ID)
		assert.Equal(t, "internet", lb.AddressType)
		assert.True(t, slbPublicRange.Contains(lb.Address), lb.Address)
		var ports []uint16
		for _, l := range lb.Listeners() {
			ports = append(ports, l.Port)
		}
		assert.Equal(t, []uint16{80, 8080}, ports)
		assert.Equal(t, lb.Address, w.Service("default", "api").LoadBalancerIPs[0])

		again := mustBuild(t, src)
		assert.Equal(t, lb.Address, slbOf(t, again, "default/web").Address, "the derived address is stable")
		other := mustBuild(t, strings.ReplaceAll(src, "lb-bp1shared01", "lb-bp1other999"))
		assert.NotEqual(t, lb.Address, slbOf(t, other, "default/web").Address, "and depends on the ID")
	})
	t.Run("intranet by its private address", func(t *testing.T) {
		w := mustBuild(t, lbScenario(lbService("web", 80, lbID("lb-bp1intra"), "      loadBalancerIP: 192.168.1.99\n")))
		lb := slbOf(t, w, "default/web")
		assert.Equal(t, "lb-bp1intra", lb.ID)
		assert.Equal(t, "intranet", lb.AddressType, "a reused CLB with a private address is internal-facing")
		assert.Equal(t, "192.168.1.99", lb.Address.String())
	})
	t.Run("intranet, derived address in the node vSwitch", func(t *testing.T) {
		w := mustBuild(t, lbScenario(lbService("web", 80, intranet+lbID("lb-bp1intra"), "")))
		lb := slbOf(t, w, "default/web")
		assert.Equal(t, "intranet", lb.AddressType)
		assert.True(t, w.VPC.VSwitches()[0].CIDR.Contains(lb.Address), lb.Address)
	})
	t.Run("a listener port taken", func(t *testing.T) {
		src := lbScenario(lbService("web", 80, lbID("lb-bp1shared01"), ""), lbService("api", 80, lbID("lb-bp1shared01"), ""))
		probs := buildProblems(t, src)
		require.Len(t, probs, 1)
		assert.Contains(t, probs[0].Msg, "listener TCP:80 of the reused CLB lb-bp1shared01 already serves Service default/web")
		assert.Equal(t, "resources[1].spec.ports[0].port", probs[0].Path)
	})
	t.Run("another address type", func(t *testing.T) {
		src := lbScenario(lbService("web", 80, lbID("lb-bp1shared01"), ""), lbService("api", 81, intranet+lbID("lb-bp1shared01"), ""))
		probs := buildProblems(t, src)
		require.Len(t, probs, 1)
		assert.Contains(t, probs[0].Msg, "the reused CLB lb-bp1shared01 is internet (Service default/web uses it), not intranet")
		assert.Equal(t, "resources[1].metadata.annotations.service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type", probs[0].Path)
	})
	t.Run("force-override-listeners", func(t *testing.T) {
		w := mustBuild(t, lbScenario(lbService("web", 80, lbID("lb-bp1force")+"        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners: \"true\"\n", "")))
		assert.True(t, strings.Contains(strings.Join(w.Notes, "\n"), "reusing the existing CLB lb-bp1force (loadbalancer-id) for default/web at "), w.Notes)
		assert.Contains(t, strings.Join(w.Notes, "\n"), "force-override-listeners: the CCM rewrites its listeners")
	})
}
