package cni_test

import (
	"net/netip"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/cni"
	_ "netsim/dataplane/cni/flannel" // registers "flannel"
)

func TestMACFromIP(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"172.20.0.1", "0a:58:ac:14:00:01"},
		{"172.20.1.2", "0a:58:ac:14:01:02"},
		{"10.244.255.254", "0a:58:0a:f4:ff:fe"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, cni.MACFromIP(netip.MustParseAddr(tt.ip)).String())
	}
}

func TestLocalMAC(t *testing.T) {
	names := []string{"vtep/node-1", "vtep/node-2", "veth0123abcd", ""}
	seen := map[string]bool{}
	for _, n := range names {
		m := cni.LocalMAC(n)
		assert.Equal(t, byte(0x02), m[0]&0x03, "%s: locally administered unicast", m)
		assert.Equal(t, m, cni.LocalMAC(n), "stable")
		assert.False(t, seen[m.String()], "distinct")
		seen[m.String()] = true
	}
}

func TestVethName(t *testing.T) {
	re := regexp.MustCompile(`^veth[0-9a-f]{8}$`)
	a := cni.VethName("default", "web-1")
	assert.Regexp(t, re, a)
	assert.LessOrEqual(t, len(a), 15, "fits IFNAMSIZ")
	assert.Equal(t, a, cni.VethName("default", "web-1"))
	assert.NotEqual(t, a, cni.VethName("shop", "web-1"))
	assert.NotEqual(t, a, cni.VethName("default", "web-2"))
}

func TestNth(t *testing.T) {
	tests := []struct {
		p    string
		n    int
		want string
	}{
		{"172.20.1.0/24", 0, "172.20.1.0"},
		{"172.20.1.0/24", 1, "172.20.1.1"},
		{"172.20.1.0/24", 254, "172.20.1.254"},
		{"172.20.1.0/24", 256, "172.20.2.0"},
		{"10.0.0.0/8", 1 << 16, "10.1.0.0"},
		{"172.20.1.77/24", 2, "172.20.1.2"},
	}
	for _, tt := range tests {
		assert.Equal(t, netip.MustParseAddr(tt.want), cni.Nth(netip.MustParsePrefix(tt.p), tt.n), "%s + %d", tt.p, tt.n)
	}
}

func TestRegistry(t *testing.T) {
	assert.Contains(t, cni.Names(), "flannel")
	_, err := cni.New("calico", &cni.Cluster{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cni: unknown mode "calico" (registered: [`)
	assert.Contains(t, err.Error(), "flannel")
	assert.Panics(t, func() { cni.Register("flannel", nil) }, "a mode registered twice")
}
