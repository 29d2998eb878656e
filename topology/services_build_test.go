package topology

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
)

type nopSched struct{}

func (nopSched) Now() time.Duration                                                 { return 0 }
func (nopSched) Deliver(time.Duration, link.Receiver, *link.Device, *packet.Buffer) {}
func (nopSched) AfterFunc(time.Duration, func())                                    {}

const eniScenario = `name: eni
vpc:
  cidr: 192.168.0.0/16
  vswitches: [{name: vsw-a, zone: z, cidr: 192.168.0.0/24}]
nodes: [{name: node-1, vswitch: vsw-a}]
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel}
resources:
  - apiVersion: v1
    kind: Service
    metadata:
      name: web
      annotations:
        service.beta.kubernetes.io/backend-type: eni
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80}]
`

// TestENIBackendWithFlannelIsAnError: an eni backend type attaches pod
// addresses to the SLB, which Flannel's pod addresses cannot be.
func TestENIBackendWithFlannelIsAnError(t *testing.T) {
	s, err := Parse("eni.yaml", []byte(eniScenario))
	require.NoError(t, err)
	_, err = Build(s, nopSched{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "eni.yaml:")
	assert.Contains(t, err.Error(), "backend-type: eni")
	assert.Contains(t, err.Error(), "Terway")
}
