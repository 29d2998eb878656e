package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const planFile = `name: plan-cli
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-h, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: flannel
    flannel: {backend: alivpc}
plan:
  nodePools:
    - {name: pool-h, vswitch: vsw-h, nodes: NODES}
`

// TestValidatePlanFile: validate on a plan file (no nodes) says the
// rules passed, prints the rules' warnings and builds nothing; a rule
// error fails it, the rule named.
func TestValidatePlanFile(t *testing.T) {
	file := writeScenario(t, "plan.yaml", strings.Replace(planFile, "NODES", "20", 1))
	code, stdout, stderr := netsim(t, "validate", file)
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, file+": ok — plan plan-cli: the ")
	assert.Contains(t, stdout, "planning rules that apply to it passed (24 rules in all)\n")
	assert.Contains(t, stdout, "nothing was built: the file has no nodes (it is a plan file); `netsim plan "+file+"`")

	file = writeScenario(t, "plan.yaml", strings.Replace(planFile, "NODES", "220", 1))
	code, stdout, _ = netsim(t, "validate", file)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "; 1 warning)\n")
	assert.Contains(t, stdout, "  warning: "+file+":14:45: plan.nodePools[0].nodes: 220 nodes (one entry each) need 220 route entries but the default quota is 200: request up to 1,000 (Quota Center) or use Terway")
	assert.Contains(t, stdout, "[rule route-quota]\n")

	file = writeScenario(t, "plan.yaml", strings.Replace(planFile, "NODES", "300", 1))
	code, stdout, stderr = netsim(t, "validate", file)
	assert.Equal(t, exitBadInput, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, file+":5:48: vpc.vswitches[0].cidr: vSwitch \"vsw-h\" (192.168.0.0/24) has 252 usable addresses (256 minus the 4 Alibaba Cloud reserves), but 300 nodes are planned in it")
	assert.Contains(t, stderr, "[rule node-vswitch-addresses]\n")

	// run refuses a plan file: there is nothing to build.
	file = writeScenario(t, "plan.yaml", strings.Replace(planFile, "NODES", "20", 1))
	code, _, stderr = netsim(t, "run", file)
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, stderr, "has no nodes to build: check it with `netsim plan")
}
