package kernel

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSysctlPathKeepsDotsOfDeviceNames(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":                  "net/ipv4/ip_forward",
		"net.ipv4.conf.all.route_localnet":     "net/ipv4/conf/all/route_localnet",
		"net.ipv4.conf.flannel.1.rp_filter":    "net/ipv4/conf/flannel.1/rp_filter",
		"net.ipv4.conf.veth1a2b3c4d.proxy_arp": "net/ipv4/conf/veth1a2b3c4d/proxy_arp",
	} {
		assert.Equal(t, want, sysctlPath(key), key)
	}
}
