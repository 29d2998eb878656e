package kernelverify_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim/kernelverify"
	"netsim/topology"
	"netsim/topology/kernel"
)

func TestDisagreements(t *testing.T) {
	r := kernelverify.Report{Rows: []kernelverify.Row{
		{Flow: "a", Sim: "delivered", Kernel: "delivered", Agree: true},
		{Flow: "b", Sim: "delivered", Kernel: "dropped"},
		{Flow: "c", Skipped: "the SLB is not realised"},
	}}
	assert.Equal(t, 1, r.Disagreements())
}

// TestBundledScenarios runs `netsim kernel verify` on every bundled
// scenario: no flow the kernel build can carry may get another verdict or
// source there than in the simulator.
func TestBundledScenarios(t *testing.T) {
	prefix := fmt.Sprintf("nskt%d-", os.Getpid())
	if err := kernel.Supported(prefix + "probe-"); err != nil {
		t.Skipf("kernel build not possible here: %v", err)
	}
	if err := kernel.SupportedNetfilter(prefix + "nf-"); err != nil {
		t.Skipf("kernel build not possible here: %v", err)
	}
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	compared := 0
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "plan-") {
			continue // plan files: no nodes to build
		}
		s, err := topology.Load(f)
		require.NoError(t, err)
		if s.IsPlanFile() {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			rep, err := kernelverify.Verify(s, prefix)
			require.NoError(t, err)
			t.Cleanup(func() {
				left, _ := os.ReadDir("/run/netns")
				for _, e := range left {
					assert.False(t, strings.HasPrefix(e.Name(), prefix), "namespace %s left", e.Name())
				}
			})
			if rep.Skipped != "" {
				t.Skipf("not realised: %s", rep.Skipped)
			}
			for _, r := range rep.Rows {
				if r.Skipped != "" {
					continue
				}
				compared++
				assert.True(t, r.Agree, "%s: simulator %s (%s) source %q, kernel %s (%s) source %q", r.Flow, r.Sim, r.SimWhy, r.SimSource, r.Kernel, r.KernelWhy, r.KernelSource)
			}
		})
	}
	t.Logf("%d flows compared", compared)
}
