package emulate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"netsim/sim/emulate"
	"netsim/topology"
)

// One scenario's namespaces never fall under another's prefix, even when
// one name starts the other (flannel-vxlan, flannel-vxlan-natgw): --cleanup
// of the first must not remove the second's.
func TestPrefixesDoNotOverlap(t *testing.T) {
	a := emulate.PrefixFor(&topology.Scenario{Name: "flannel-vxlan"})
	b := emulate.PrefixFor(&topology.Scenario{Name: "flannel-vxlan-natgw"})
	assert.Equal(t, "netsim-flannel-vxlan.", a)
	assert.False(t, strings.HasPrefix(b+"default-web-1", a))
	assert.Equal(t, []string{a + "default-web-1", a + "ecs-web-1"}, emulate.NSName(a, "web-1"))
	assert.Equal(t, []string{a + "internet"}, emulate.NSName(a, "internet"))
	assert.Equal(t, []string{a + "kube-system-dns"}, emulate.NSName(a, "pod/kube-system/dns"))
}
