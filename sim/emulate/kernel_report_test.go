package emulate_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKernelReport checks the table of TestKernelModesReport without a
// kernel: medians of the runs, the median of the per-round ratios (not
// the ratio of the medians), every row marked measured, skips listed.
func TestKernelReport(t *testing.T) {
	modes := []*kernelMode{
		{name: "flannel host-gw",
			runs:   []figures{{tcpGbps: 2, udpKpps: 100}, {tcpGbps: 1, udpKpps: 50}, {tcpGbps: 4, udpKpps: 200}},
			ratios: []figures{{tcpGbps: 1, udpKpps: 1}, {tcpGbps: 1, udpKpps: 1}, {tcpGbps: 1, udpKpps: 1}}},
		{name: "flannel vxlan",
			runs:   []figures{{tcpGbps: 1, udpKpps: 80, udpLoss: 0.1}, {tcpGbps: 0.5, udpKpps: 40, udpLoss: 0.3}, {tcpGbps: 3, udpKpps: 100, udpLoss: 0.2}},
			ratios: []figures{{tcpGbps: 0.5, udpKpps: 0.8}, {tcpGbps: 0.5, udpKpps: 0.8}, {tcpGbps: 0.75, udpKpps: 0.5}}},
	}
	out := kernelReport(modes, []string{"flannel udp: not built: no flanneld"}, 3, 2)
	lines := strings.Split(out, "\n")
	row := func(name string) []string {
		for _, l := range lines {
			if strings.HasPrefix(l, name+" ") {
				return strings.Fields(strings.TrimPrefix(l, name))
			}
		}
		return nil
	}
	require.NotNil(t, row("flannel vxlan"), out)
	assert.Equal(t, []string{"80.0", "0.80", "1.000", "0.50", "0.20", "measured", "(kernel)"}, row("flannel vxlan"))
	assert.Equal(t, []string{"100.0", "1.00", "2.000", "1.00", "0.00", "measured", "(kernel)"}, row("flannel host-gw"))
	assert.Contains(t, out, "medians of 3 rounds of 2 s")
	assert.Contains(t, out, "skipped: flannel udp: not built: no flanneld")
	// The header's columns line up with the rule under it and the rows.
	assert.Equal(t, "mode             UDP kpps  × host-gw  TCP Gbit/s  × host-gw  UDP loss  figures", lines[3])
	assert.Equal(t, "---------------  --------  ---------  ----------  ---------  --------  -----------------", lines[4])
	assert.Equal(t, "flannel host-gw     100.0       1.00       2.000       1.00      0.00  measured (kernel)", lines[5])
}
