package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

const webService = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"

func laughs(key string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n", key)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// TestDecodeHostile: bombs, non-text, stray items, floats, BOMs and
// syntax errors in manifests are located errors; nothing is echoed.
func TestDecodeHostile(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // the errors; nil: decodes
	}{
		{"alias bomb", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n" + laughs("x", 9),
			[]string{"m.yaml:10:47: x.l5[7]: document 1: the document expands to more than 1000000 YAML nodes through aliases (billion-laughs protection): the alias *l4 here takes it past the limit; write the values out or share fewer of them"}},
		{"bomb in a later document", webService + "---\n" + laughs("x", 9),
			[]string{"m.yaml:14:47: x.l5[7]: document 2: the document expands to more than 1000000 YAML nodes through aliases (billion-laughs protection): the alias *l4 here takes it past the limit; write the values out or share fewer of them"}},
		{"cycle", "apiVersion: v1\nkind: Service\nmetadata: &m {name: *m}\n",
			[]string{"m.yaml:3:21: metadata.name: document 1: the alias *m refers to a value that contains it: it expands without end (alias cycle)"}},
		{"BOM", "\ufeff" + webService, nil},
		{"passwd", "root:x:0:0:root:/root:/bin/bash\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n",
			[]string{`m.yaml:1:1: document 1: a Kubernetes object is a mapping with apiVersion, kind, metadata and spec; got text that YAML reads as one string (no "key: value" lines)`}},
		{"binary", "apiVersion: v1\n\x00\x01\x02", []string{"m.yaml:2:1: not a text file: byte 0x00 (a control character) at line 2, column 1: a manifest is UTF-8 YAML text"}},
		{"stray item and float port", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports:\n    -\n    - {port: 8080.7}\n",
			[]string{
				"m.yaml:7:6: spec.ports[0]: Service default/web: an empty list item: remove the stray '-' or give it a value",
				"m.yaml:8:14: spec.ports[1].port: Service default/web: expected an integer, got 8080.7",
			}},
		{"replicas 2.5", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2.5\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: nginx}]}\n",
			[]string{"m.yaml:5:13: spec.replicas: Deployment default/web: expected an integer, got 2.5"}},
		{"syntax error in a later document", webService + "---\napiVersion: v1\nkind: [Service\n",
			[]string{"m.yaml:9:7: invalid YAML: did not find expected ',' or ']'"}},
		{"error positions after many documents", strings.Repeat("---\n# nothing\n", 1000) + "apiVersion: v1\nkind: Servce\n",
			[]string{`m.yaml:2002:7: kind: Servce default/(no name): kind "Servce" is not supported: netsim accepts Pod, Deployment, Service, Endpoints, EndpointSlice, NetworkPolicy, Ingress and Namespace (did you mean "Service"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(twoNodes)
			d.Decode("m.yaml", []byte(tt.src))
			_, errs := d.Objects()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestDecodeManyDocumentsIsLinear: 100,000 "---" lines are split and
// decoded without padding each document to its line (that was quadratic:
// some 5e9 newlines here).
func TestDecodeManyDocumentsIsLinear(t *testing.T) {
	src := strings.Repeat("---\n# c\n", 100_000) + webService
	chunks := splitDocuments([]byte(src))
	total := 0
	for _, c := range chunks {
		total += len(c.text)
	}
	assert.LessOrEqual(t, total, len(src), "the documents' texts together are the file")
	d := NewDecoder(twoNodes)
	d.Decode("m.yaml", []byte(src))
	objs, errs := d.Objects()
	require.Empty(t, errs)
	require.Len(t, objs.Services, 1)
	assert.Equal(t, 200_001, objs.Services[0].Source.Line)
}

// TestDecodeNodeBombAndLines: an inline object is measured too, and the
// scenario's text is split into lines once for all its objects.
func TestDecodeNodeBombAndLines(t *testing.T) {
	src := "resources:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: a}\n    spec: {ports: [{port: 80}]}\n" +
		"  - apiVersion: v1\n    kind: Service\n    metadata: {name: b}\n    spec:\n      ports: [{port: 80, prot: x}]\n" +
		"  - apiVersion: v1\n    kind: Service\n    metadata: {name: c}\n" + strings.ReplaceAll(laughs("    x", 9), "\n  l", "\n      l")
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(src), &doc))
	items := doc.Content[0].Content[1]
	d := NewDecoder(twoNodes)
	data := []byte(src)
	for i, n := range items.Content {
		d.DecodeNode("s.yaml", data, n, indexPath("resources", i))
	}
	assert.Len(t, d.srcLines, strings.Count(src, "\n")+1)
	_, errs := d.Objects()
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		`s.yaml:10:26: resources[1].spec.ports[0].prot: Service default/b: unknown field "prot" (did you mean "protocol"?)`,
		"s.yaml:20:51: resources[2].x.l5[7]: the document expands to more than 1000000 YAML nodes through aliases (billion-laughs protection): the alias *l4 here takes it past the limit; write the values out or share fewer of them",
	}, got)
}

func TestDecodeFileChecks(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("a: b\n", 17<<20/5)), 0o644))
	d := NewDecoder(twoNodes)
	d.DecodeFile(big)
	d.DecodeFile(dir)
	d.DecodeFile("/dev/zero")
	_, errs := d.Objects()
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		big + ": too large (17.0 MiB): a manifest file is at most 16 MiB (16777216 bytes)",
		dir + ": not a regular file but a directory: a manifest is a YAML file",
		"/dev/zero: not a regular file but a character device: a manifest is a YAML file",
	}, got)
}
