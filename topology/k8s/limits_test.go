package k8s

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func deploymentDoc(name string, replicas int64) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: c, image: nginx}]}
`, name, replicas, name, name)
}

// TestReplicasLimit checks that replicas over MaxPods are refused at
// spec.replicas before any pod is made, one Deployment or several.
func TestReplicasLimit(t *testing.T) {
	tests := []struct {
		name     string
		docs     []string
		wantErr  string
		wantPods int
	}{
		{"int32 max", []string{deploymentDoc("web", 2147483647)},
			"x.yaml:5:13: spec.replicas: Deployment default/web: 2,147,483,647 is out of range: netsim makes at most 20,000 pods from the manifests of a scenario", 0},
		{"one over", []string{deploymentDoc("web", MaxPods+1)}, "x.yaml:5:13: spec.replicas: Deployment default/web: 20,001 is out of range", 0},
		{"at the limit", []string{deploymentDoc("web", MaxPods)}, "", MaxPods},
		{"two that cross it", []string{deploymentDoc("a", 15000), deploymentDoc("b", 15000), deploymentDoc("c", 10)},
			"x.yaml:15:13: spec.replicas: Deployment default/b: 15,000 replicas bring the manifests to 30,000 pods, more than netsim's limit of 20,000 pods in a scenario", 15010},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := decodeText(t, strings.Join(tt.docs, "---\n"))
			if tt.wantErr == "" {
				assert.Empty(t, errs)
			} else {
				require.Len(t, errs, 1, errs.Error())
				assert.True(t, strings.HasPrefix(errs[0].Error(), tt.wantErr), errs[0].Error())
			}
			assert.Len(t, objs.Pods, tt.wantPods)
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 20000: "20,000", 2147483647: "2,147,483,647", -1234567: "-1,234,567"} {
		assert.Equal(t, want, thousands(n))
	}
}
