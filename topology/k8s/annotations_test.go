package k8s

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// annotated is a Service with the given annotation lines (key: value).
func annotated(typ string, lines ...string) string {
	s := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n"
	for _, l := range lines {
		s += "    " + l + "\n"
	}
	return s + fmt.Sprintf("spec:\n  type: %s\n  selector: {app: web}\n  ports: [{port: 80}]\n", typ)
}

// TestCCMAnnotations: an unknown key under the CCM's prefixes is a located
// error with a did-you-mean (a typo would silently give the default); a
// known key netsim does not model is accepted with a located warning.
func TestCCMAnnotations(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		err      string // the one error, or ""
		warnings []string
		line     int // of the error or the first warning
	}{
		{name: "typo of address-type",
			text: annotated("LoadBalancer", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-adress-type: intranet"),
			err:  `metadata.annotations.service.beta.kubernetes.io/alibaba-cloud-loadbalancer-adress-type: Service default/web: unknown annotation: ACK's cloud controller manager reads no "adress-type" under service.beta.kubernetes.io/alibaba-cloud-loadbalancer-, so it would ignore this key and apply its default, an internet-facing CLB with a public address (did you mean "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type"?)`,
			line: 6},
		{name: "typo with the legacy prefix",
			text: annotated("LoadBalancer", "service.beta.kubernetes.io/alicloud-loadbalancer-adress-type: intranet"),
			err:  `(did you mean "service.beta.kubernetes.io/alicloud-loadbalancer-address-type"?)`,
			line: 6},
		{name: "unknown on a ClusterIP Service too",
			text: annotated("ClusterIP", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-sepc: slb.s2.small"),
			err:  "unknown annotation",
			line: 6},
		{name: "known, not modelled",
			text:     annotated("LoadBalancer", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec: slb.s2.small", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-health-check-flag: \"on\""),
			warnings: []string{"spec", "health-check-flag"}, // in file order
			line:     6},
		{name: "known, not modelled, on a ClusterIP Service: no warning (the CCM ignores it)",
			text: annotated("ClusterIP", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec: slb.s2.small")},
		{name: "modelled keys: no warning",
			text: annotated("LoadBalancer", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type: intranet",
				"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id: lb-bp1abc",
				"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners: \"true\"",
				"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-ip: 192.168.0.9")},
		{name: "other prefixes are not checked",
			text: annotated("LoadBalancer", "service.beta.kubernetes.io/alibaba-cloud-other: x", "example.com/loadbalancer-adress: z")},
		{name: "a malformed CLB ID",
			text: annotated("LoadBalancer", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id: my-lb"),
			err:  `"my-lb" is not a CLB instance ID`,
			line: 6},
		{name: "force-override-listeners not a boolean",
			text: annotated("LoadBalancer", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id: lb-bp1abc", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners: yes please"),
			err:  `"yes please" is not a boolean`,
			line: 7},
		{name: "ip annotation not an address",
			text: annotated("LoadBalancer", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-ip: 192.168.0"),
			err:  `"192.168.0" is not an IPv4 address`,
			line: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := decodeText(t, tt.text)
			if tt.err != "" {
				require.Len(t, errs, 1, "%v", errs)
				assert.Contains(t, errs[0].Error(), tt.err)
				assert.Equal(t, tt.line, errs[0].Line)
				assert.Equal(t, "x.yaml", errs[0].File)
				return
			}
			require.Empty(t, errs)
			require.Len(t, objs.Warnings, len(tt.warnings), "%v", objs.Warnings)
			for i, w := range tt.warnings {
				assert.Contains(t, objs.Warnings[i].Path, AnnotationPrefix+w)
				assert.Contains(t, objs.Warnings[i].Msg, "accepted but not modelled")
			}
			if len(tt.warnings) > 0 {
				assert.Equal(t, tt.line, objs.Warnings[0].Line, objs.Warnings[0].Error())
			}
		})
	}
}

// TestCCMAnnotationValues: the modelled annotations set the ACK fields.
func TestCCMAnnotationValues(t *testing.T) {
	objs, errs := decodeText(t, annotated("LoadBalancer",
		"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id: lb-bp1abc",
		"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-force-override-listeners: \"true\"",
		"service.beta.kubernetes.io/alicloud-loadbalancer-ip: 192.168.0.9"))
	require.Empty(t, errs)
	a := objs.Services[0].ACK
	assert.Equal(t, "lb-bp1abc", a.LoadBalancerID)
	assert.True(t, a.ForceOverrideListeners)
	assert.Equal(t, netip.MustParseAddr("192.168.0.9"), a.Address)
	assert.Equal(t, "metadata.annotations.service.beta.kubernetes.io/alicloud-loadbalancer-ip", a.AddressPath)

	objs, errs = decodeText(t, strings.Replace(annotated("LoadBalancer", "x.example.com/a: b"), "  ports:", "  loadBalancerIP: 198.51.100.77\n  ports:", 1))
	require.Empty(t, errs)
	a = objs.Services[0].ACK
	assert.Equal(t, netip.MustParseAddr("198.51.100.77"), a.Address)
	assert.Equal(t, "spec.loadBalancerIP", a.AddressPath)
}

// TestCCMAnnotationKeys: the table holds the keys the CCM reads, each once.
func TestCCMAnnotationKeys(t *testing.T) {
	keys := CCMAnnotationKeys()
	for _, k := range []string{AnnotationAddressType, AnnotationLoadBalancerID, AnnotationIP, AnnotationForceOverride, AnnotationSpec, AnnotationVSwitchID, AnnotationScheduler, AnnotationIPVersion, AnnotationLoadBalancerType} {
		assert.Contains(t, keys, k)
	}
	assert.NotContains(t, keys, AnnotationBackendType, "backend-type has its own prefix")
}
