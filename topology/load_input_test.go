package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inputBase is a valid scenario the input tests add to.
const inputBase = `name: base
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: cn-hangzhou-h, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a, ip: 192.168.0.10}
  - {name: node-2, vswitch: vsw-a, ip: 192.168.0.11}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni:
    mode: flannel
    flannel: {backend: vxlan}
pods:
  - {name: a, node: node-1, ports: [{port: 80}]}
  - {name: b, node: node-2, ports: [{port: 80}]}
flows:
  - {name: ab, from: pod/a, to: pod/b, protocol: tcp, port: 80, expect: delivered}
`

func tenAliases(name string) string {
	return "[" + strings.TrimSuffix(strings.Repeat("*"+name+", ", 10), ", ") + "]"
}

func laughsAt(key string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n", key)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d %s\n", i, i, tenAliases(fmt.Sprintf("l%d", i-1)))
	}
	return b.String()
}

// TestParseHostileYAML: bombs, cycles, text that is not YAML, syntax
// errors at the end, stray list items and floats for integers give one
// located first problem, and never echo a file that is not YAML.
func TestParseHostileYAML(t *testing.T) {
	mergeBomb := "m0: &m0 {a: 1, b: 2}\n"
	for i := 1; i <= 10; i++ {
		mergeBomb += fmt.Sprintf("m%d: &m%d\n  <<: %s\n  k%d: 1\n", i, i, tenAliases(fmt.Sprintf("m%d", i-1)), i)
	}
	mergeBomb += "nodes:\n  - <<: *m10\n    name: x\n"
	tests := []struct {
		name, src string
		first     string // the first problem
		count     int    // how many problems (0: do not check)
	}{
		{"billion laughs", laughsAt("labels", 9) + inputBase,
			"x.yaml:7:47: labels.l5[7]: the document expands to more than 1000000 YAML nodes through aliases (billion-laughs protection): the alias *l4 here takes it past the limit; write the values out or share fewer of them", 1},
		{"merge keys", mergeBomb, "x.yaml:18:8: m6: the document expands to more than 1000000 YAML nodes through aliases", 1},
		{"inline resources", inputBase + "resources:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: web}\n    spec:\n" +
			strings.ReplaceAll(laughsAt("      x", 9), "\n  l", "\n        l"),
			"x.yaml:31:53: resources[0].spec.x.l5[7]: the document expands to more than 1000000 YAML nodes", 1},
		{"alias cycle", "name: &a [*a]\n", "x.yaml:1:11: name[0]: the alias *a refers to a value that contains it: it expands without end (alias cycle)", 1},
		{"cycle through a mapping", "name: x\nvpc: &v\n  cidr: *v\n", "x.yaml:3:9: vpc.cidr: the alias *v refers to a value that contains it", 1},
		{"passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
			`x.yaml:1:1: a scenario is a mapping with keys such as name, vpc, nodes and cluster; got text that YAML reads as one string (no "key: value" lines)`, 1},
		{"NUL byte", "name: x\nvpc:\n  cidr: ab\x00\n", "x.yaml:3:11: not a text file: byte 0x00 (a control character) at line 3, column 11: a scenario is UTF-8 YAML text", 1},
		{"latin-1", "name: caf\xe9\n", "x.yaml:1:10: not valid UTF-8: byte 0xe9 at line 1, column 10: a scenario is UTF-8 YAML text", 1},
		{"BOM", "\ufeff" + inputBase, "", 0},
		{"unclosed list at the end", "name: x\nflows: [a, b\n", "x.yaml:2:8: invalid YAML: did not find expected ',' or ']'", 1},
		{"unclosed list, blank lines after", "name: x\nflows: [a,\n\n\n", "x.yaml:2:8: invalid YAML: did not find expected node content", 1},
		{"unclosed list at the end of the file", "name: [\n", "x.yaml:1:7: invalid YAML: did not find expected node content", 1},
		{"unclosed list, no newline", "name: x\nflows: [a, b", "x.yaml:2:8: invalid YAML: did not find expected ',' or ']'", 1},
		{"unclosed mapping, last line", "name: x\nvpc:\n  cidr: {a: 1\n", "x.yaml:3:9: invalid YAML: did not find expected ',' or '}'", 1},
		{"tab", "name: x\nvpc:\n\tcidr: 1\n", "x.yaml:3:1: invalid YAML: found character that cannot start any token (this line is indented with a tab: YAML indentation must use spaces)", 1},
		{"null item then a later error", strings.Replace(inputBase, "flows:\n", "flows:\n  -\n", 1) +
			"  - {name: cd, from: pod/a, to: pod/zz, protocol: tcp, port: 80, expect: delivered}\n",
			"x.yaml:19:4: flows[0]: an empty list item: remove the stray '-' or give it a value", 2},
		{"float for an integer", strings.Replace(inputBase, "  podCIDR:", "  nodeCIDRMask: 24.5\n  podCIDR:", 1),
			"x.yaml:10:17: cluster.nodeCIDRMask: expected an integer, got 24.5 (a number with a fraction or an exponent)", 1},
		{"integral float", strings.Replace(inputBase, "port: 80, expect", "port: 80.0, expect", 1),
			"x.yaml:19:61: flows[0].port: expected an integer, got 80.0 (a number with a fraction or an exponent)", 1},
		{"wide mapping", "name: x\nlabels:\n" + strings.Repeat("  k: v\n", 10_001),
			"x.yaml:10003:3: labels: a mapping with more than 10000 keys", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("x.yaml", []byte(tt.src))
			if tt.first == "" {
				require.NoError(t, err)
				require.NotNil(t, s)
				return
			}
			var probs Problems
			require.ErrorAs(t, err, &probs)
			assert.Contains(t, probs[0].String(), tt.first)
			assert.True(t, strings.HasPrefix(probs[0].String(), tt.first), probs[0].String())
			if tt.count > 0 {
				assert.Len(t, probs, tt.count, err.Error())
			}
			assert.NotContains(t, err.Error(), "root:x:0")
		})
	}
}

// TestNullItemKeepsLaterPositions: after a stray '-' the strict decode's
// and Validate's indexes still name the file's items.
func TestNullItemKeepsLaterPositions(t *testing.T) {
	src := strings.Replace(inputBase, "flows:\n", "flows:\n  -\n", 1) +
		"  - {name: cd, from: pod/a, to: pod/zz, protocol: tcp, port: 80, expect: delivered}\n" +
		"  -\n  - {name: ef, from: pod/a, to: pod/b, protocol: tcp, port: 99999, expect: delivered}\n"
	_, err := Parse("x.yaml", []byte(src))
	var probs Problems
	require.ErrorAs(t, err, &probs)
	var got []string
	for _, p := range probs {
		got = append(got, fmt.Sprintf("%d:%d %s", p.Line, p.Column, p.Path))
	}
	assert.Equal(t, []string{"19:4 flows[0]", "21:33 flows[2].to", "22:4 flows[3]", "23:61 flows[4].port"}, got, err.Error())
}

// TestManyProblemsAreListedOnce: problems past MaxListed are counted, and
// collecting 100,000 of them stays fast (no per-problem scan of all).
func TestManyProblemsAreListedOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.Replace(inputBase, "flows:\n", "flows:\n", 1))
	for range 3_000 {
		b.WriteString("  - {name: f, from: pod/a, to: pod/b, protocol: tcp, port: 80.5, expect: delivered}\n")
	}
	_, err := Parse("x.yaml", []byte(b.String()))
	var probs Problems
	require.ErrorAs(t, err, &probs)
	assert.Greater(t, len(probs), 3_000)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, MaxListed+1)
	assert.Equal(t, fmt.Sprintf("... and %d more problems (only the first 100 are listed)", len(probs)-MaxListed), lines[MaxListed])
}

// TestLoadFiles: what is not a regular file, or is too large, is refused
// before it is read; manifests must stay in the scenario's tree.
func TestLoadFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "s")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(name, text string) string {
		p := filepath.Join(root, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
	write("s/in.yaml", "\ufeff"+svc)
	write("out.yaml", svc)
	require.NoError(t, os.Symlink("../out.yaml", filepath.Join(dir, "link.yaml")))
	big := write("s/big.yaml", strings.Repeat("a: b\n", 17<<20/5))

	tests := []struct {
		name, manifest string
		opts           LoadOptions
		want           string // "" loads
	}{
		{"inside, with a BOM", "in.yaml", LoadOptions{}, ""},
		{"dot-dot", "../out.yaml", LoadOptions{}, "manifests[0]: manifest " + filepath.Join(dir, "../out.yaml") + " is outside the scenario file's directory " + dir + " (after following symbolic links): netsim reads manifests only from that directory tree unless run with --allow-outside"},
		{"dot-dot allowed", "../out.yaml", LoadOptions{AllowOutside: true}, ""},
		{"absolute", filepath.Join(root, "out.yaml"), LoadOptions{}, "is outside the scenario file's directory"},
		{"symlink out", "link.yaml", LoadOptions{}, "manifest " + filepath.Join(dir, "link.yaml") + " is outside"},
		{"too large", "big.yaml", LoadOptions{}, "manifests[0]: manifest " + big + ": too large (17.0 MiB): a manifest file is at most 16 MiB (16777216 bytes)"},
		{"device", "/dev/zero", LoadOptions{AllowOutside: true}, "manifests[0]: manifest /dev/zero: not a regular file but a character device: a manifest is a YAML file"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scen := filepath.Join(dir, fmt.Sprintf("scen%d.yaml", i))
			require.NoError(t, os.WriteFile(scen, []byte(inputBase+"manifests: ["+tt.manifest+"]\n"), 0o644))
			s, err := LoadWith(scen, tt.opts)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Len(t, s.Objects.Services, 1)
				return
			}
			require.Error(t, err)
			assert.Contains(t, strings.Split(err.Error(), "\n")[0], scen+":20:13: ")
			assert.Contains(t, strings.Split(err.Error(), "\n")[0], tt.want)
		})
	}

	for _, tt := range []struct{ path, want string }{
		{"/dev/zero", "/dev/zero: not a regular file but a character device: a scenario is a YAML file"},
		{dir, dir + ": not a regular file but a directory: a scenario is a YAML file"},
		{big, big + ": too large (17.0 MiB): a scenario file is at most 16 MiB (16777216 bytes)"},
	} {
		_, err := Load(tt.path)
		assert.EqualError(t, err, tt.want)
	}
}

// TestLoadStopsAfterMaxProblems: 12,000 broken items give 10,000 problems
// and a note where checking stopped, not 12,000 (nor a decode of them).
func TestLoadStopsAfterMaxProblems(t *testing.T) {
	src := "name: x\npods:\n" + strings.Repeat("  - a\n", 12_000)
	_, err := Parse("x.yaml", []byte(src))
	var probs Problems
	require.ErrorAs(t, err, &probs)
	require.Len(t, probs, maxProblems+1)
	last := probs[len(probs)-1]
	assert.Equal(t, Problem{File: "x.yaml", Line: maxProblems + 3, Column: 5, Msg: "more than 10000 problems: netsim stopped checking here"}, last)
	assert.Equal(t, "x.yaml:3:5: pods[0]: expected a mapping, got \"a\"", probs[0].String())
}
