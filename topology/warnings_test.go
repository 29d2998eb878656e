package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link/linktest"
)

const policyManifest = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service: {name: web, port: {number: 80}}
`

// TestNotEnforcedWarnings: every NetworkPolicy and Ingress is loaded with a
// warning located at the object in its manifest (or in the scenario for an
// inline one) that says it is not enforced and why; an SLB annotation
// accepted but not modelled is a warning at the annotation.
func TestNotEnforcedWarnings(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(policyManifest), 0o644))
	src := fmt.Sprintf(buildBase, "vxlan") + `manifests: [policy.yaml]
resources:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: inline, namespace: shop}
    spec: {podSelector: {}}
  - apiVersion: v1
    kind: Service
    metadata:
      name: web
      annotations:
        service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec: slb.s2.small
    spec:
      type: LoadBalancer
      selector: {app: web}
      ports: [{port: 80}]
`
	file := filepath.Join(dir, "scenario.yaml")
	require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
	s, err := Load(file)
	require.NoError(t, err)
	w, err := Build(s, linktest.New())
	require.NoError(t, err)

	inlineLine, _ := posOf(t, src, "- apiVersion: networking.k8s.io/v1>>apiVersion")
	specLine, specCol := posOf(t, src, "alibaba-cloud-loadbalancer-spec>>slb.s2.small")
	tests := []struct {
		file       string
		line, col  int
		path, text string
	}{
		{file, specLine, specCol, "resources[1].metadata.annotations.service.beta.kubernetes.io/alibaba-cloud-loadbalancer-spec", `Service default/web: accepted but not modelled: netsim's SLB does not model what "spec" configures`},
		{manifest, 1, 1, "", "NetworkPolicy default/deny-all: loaded, not enforced by flannel/vxlan: flannel does not implement NetworkPolicy (ACK: choose Terway)"},
		{file, inlineLine, 5, "resources[0]", "NetworkPolicy shop/inline: loaded, not enforced by flannel/vxlan: flannel does not implement NetworkPolicy (ACK: choose Terway)"},
		{manifest, 9, 1, "", "Ingress default/web: loaded, not enforced: an Ingress is served by an ingress controller"},
	}
	require.Len(t, w.Warnings, len(tests), "%v", w.Warnings)
	for i, tt := range tests {
		got := w.Warnings[i]
		assert.Equal(t, tt.file, got.File, "warning %d: %s", i, got)
		assert.Equal(t, tt.line, got.Line, "warning %d: %s", i, got)
		assert.Equal(t, tt.col, got.Column, "warning %d: %s", i, got)
		assert.Equal(t, tt.path, got.Path, "warning %d: %s", i, got)
		assert.Contains(t, got.Msg, tt.text, "warning %d", i)
	}
	assert.Contains(t, w.Warnings[1].Msg, "so traffic this policy would deny is delivered")
	assert.Contains(t, w.Warnings[3].Msg, "shop.example.com", "the rules it would route")
	assert.Contains(t, w.Warnings[3].Msg, "which netsim does not model yet")
}
