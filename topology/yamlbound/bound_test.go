package yamlbound

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

// laughs is a billion-laughs document: levels lists of ten aliases to
// the level below, under key.
func laughs(key string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n", key)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// merges is a "<<" amplification: each level merges the one below ten
// times.
func merges(levels int) string {
	var b strings.Builder
	b.WriteString("m0: &m0 {a: 1, b: 2}\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "m%d: &m%d\n  <<: [%s]\n  k%d: 1\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", "), i)
	}
	return b.String()
}

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(src), &doc))
	return &doc
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want *Excess // nil: within the limits
		msg  string  // substring of Msg
	}{
		{"plain", "a: 1\nb: [x, y]\n", nil, ""},
		{"aliases within the limit", laughs("x", 4), nil, ""},
		{"billion laughs", laughs("x", 9),
			&Excess{Line: 7, Column: 47, Path: "x.l5[7]"}, "more than 1000000 YAML nodes through aliases (billion-laughs protection): the alias *l4 here"},
		{"merge amplification", merges(10),
			&Excess{Line: 18, Column: 8, Path: "m6"}, "the alias *m5 here takes it past the limit"},
		{"alias cycle", "a: &a [1, *a]\n", &Excess{Line: 1, Column: 11, Path: "a[1]"}, "alias cycle"},
		{"cycle through a mapping", "a: &a\n  b: *a\n", &Excess{Line: 2, Column: 6, Path: "a.b"}, "alias cycle"},
		{"scalar bytes", "a: &a " + strings.Repeat("x", 1<<20) + "\nb: [" + strings.TrimSuffix(strings.Repeat("*a, ", 17), ", ") + "]\n",
			&Excess{Line: 2, Column: 61, Path: "b[14]"}, "more than 16777216 bytes of text"},
		{"wide mapping", "m:\n" + func() string {
			var b strings.Builder
			for i := range MaxMappingKeys + 5 {
				fmt.Fprintf(&b, "  k%d: v\n", i)
			}
			return b.String()
		}(), &Excess{Line: MaxMappingKeys + 2, Column: 3, Path: "m"}, "a mapping with more than 10000 keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(parse(t, tt.src))
			if tt.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, [3]any{tt.want.Line, tt.want.Column, tt.want.Path}, [3]any{got.Line, got.Column, got.Path}, got.Msg)
			assert.Contains(t, got.Msg, tt.msg)
		})
	}
}

// TestCheckWorkIsLinear: measuring a bomb visits each parsed node once,
// however large its expansion.
func TestCheckWorkIsLinear(t *testing.T) {
	for _, src := range []string{laughs("x", 9), merges(10), laughs("x", 30)} {
		doc := parse(t, src)
		c := &checker{memo: map[*yaml.Node]memoSize{}}
		total := c.size(doc)
		assert.Greater(t, total.nodes, int64(MaxNodes))
		all := &checker{memo: map[*yaml.Node]memoSize{}, all: true}
		assert.Equal(t, total, all.size(doc), "the same size with every node kept")
		parsed := 0
		var count func(n *yaml.Node)
		count = func(n *yaml.Node) {
			parsed++
			for _, ch := range n.Content {
				count(ch)
			}
		}
		count(doc)
		assert.Equal(t, parsed, c.measured, "one measurement per parsed node")
		assert.Equal(t, parsed, all.measured, "one measurement per parsed node, every node kept")
		assert.Equal(t, parsed, len(all.memo), "every node kept")
		assert.Less(t, len(c.memo), parsed, "only the shared nodes kept")
	}
}

func TestBudgetSharedByDocuments(t *testing.T) {
	b := NewBudget()
	half := parse(t, "a: &a ["+strings.TrimSuffix(strings.Repeat("x, ", 1000), ", ")+"]\nb: ["+strings.TrimSuffix(strings.Repeat("*a, ", 500), ", ")+"]\n")
	assert.Nil(t, b.Check(half), "about 500,000 nodes")
	e := b.Check(half)
	require.NotNil(t, e, "the second document takes the file past the limit")
	assert.Equal(t, "b[496]", e.Path)
}

func TestCheckText(t *testing.T) {
	tests := []struct {
		name, data string
		want       *TextProblem
	}{
		{"yaml", "a: b\n\tc: 'é'\r\n", nil},
		{"bom at the start", BOM + "a: b\n", nil},
		{"NUL", "a: b\nc: d\x00e\n", &TextProblem{2, 5, "not a text file: byte 0x00 (a control character) at line 2, column 5: a scenario is UTF-8 YAML text"}},
		{"escape", "\x1b[31m", &TextProblem{1, 1, "not a text file: byte 0x1b (a control character) at line 1, column 1: a scenario is UTF-8 YAML text"}},
		{"latin-1", "name: caf\xe9\n", &TextProblem{1, 10, "not valid UTF-8: byte 0xe9 at line 1, column 10: a scenario is UTF-8 YAML text"}},
		{"columns count characters", "a: ééé\x7f", &TextProblem{1, 7, "not a text file: byte 0x7f (a control character) at line 1, column 7: a scenario is UTF-8 YAML text"}},
		{"C1 control", "a: \u0085ok\u0090", &TextProblem{1, 7, "not a text file: character U+0090 (a control character) at line 1, column 7: a scenario is UTF-8 YAML text"}},
		{"too many marks", strings.Repeat("- a\n", MaxMarks) + "- a\n", &TextProblem{MaxMarks + 1, 1, "too many YAML items: more than 1500000 keys, values and list items (counted from the ':' ',' '-' '[' '{' that make them, up to here), the most a scenario may hold"}},
		{"separators and negative numbers are not items", strings.Repeat("---\nb: -1\n", MaxMarks/3), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, CheckText([]byte(tt.data), "scenario"))
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(regular, []byte("a: b\n"), 0o644))
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o644))
	fifo := filepath.Join(dir, "pipe.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })

	tests := []struct {
		path, want string
	}{
		{dir, "not a regular file but a directory: a scenario is a YAML file"},
		{fifo, "not a regular file but a named pipe (FIFO): a scenario is a YAML file"},
		{sock, "not a regular file but a socket: a scenario is a YAML file"},
		{"/dev/zero", "not a regular file but a character device: a scenario is a YAML file"},
		{big, "too large (16.0 MiB): a scenario file is at most 16 MiB (16777216 bytes)"},
		{filepath.Join(dir, "none.yaml"), "cannot read the scenario: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			data, err := ReadFile(tt.path, "scenario")
			assert.Nil(t, data)
			var fe *FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.want, fe.Msg)
		})
	}
	data, err := ReadFile(regular, "scenario")
	require.NoError(t, err)
	assert.Equal(t, "a: b\n", string(data))
}

func TestInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "scen")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	for _, f := range []string{filepath.Join(dir, "sub", "in.yaml"), filepath.Join(root, "out.yaml")} {
		require.NoError(t, os.WriteFile(f, nil, 0o644))
	}
	require.NoError(t, os.Symlink(filepath.Join(root, "out.yaml"), filepath.Join(dir, "escape.yaml")))
	require.NoError(t, os.Symlink("sub/in.yaml", filepath.Join(dir, "stay.yaml")))
	tests := []struct {
		file string
		want bool
	}{
		{filepath.Join(dir, "sub", "in.yaml"), true},
		{filepath.Join(dir, "stay.yaml"), true},
		{filepath.Join(dir, "sub", "..", "sub", "in.yaml"), true},
		{filepath.Join(dir, "..", "out.yaml"), false},
		{filepath.Join(root, "out.yaml"), false},
		{filepath.Join(dir, "escape.yaml"), false},
	}
	for _, tt := range tests {
		got, err := Inside(dir, tt.file)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, tt.file)
	}
}

func TestSyntaxColumn(t *testing.T) {
	tests := []struct {
		line, msg string
		want      int
	}{
		{"flows: [a, b", "did not find expected ',' or ']'", 8},
		{"  vpc: {cidr: 1", "did not find expected ',' or '}'", 8},
		{"vpc: a: b", "mapping values are not allowed in this context", 7},
		{"  name: @x", "found character that cannot start any token", 9},
		{"    key", "could not find expected ':'", 5},
		{"", "did not find expected node content", 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SyntaxColumn(tt.line, tt.msg), tt.line)
	}
}

func TestDescribeDoesNotEcho(t *testing.T) {
	doc := parse(t, "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
	got := Describe(doc.Content[0])
	assert.NotContains(t, got, "root")
	assert.Equal(t, `text that YAML reads as one string (no "key: value" lines)`, got)
	assert.Equal(t, "a list", Describe(parse(t, "[1]").Content[0]))
	assert.Equal(t, "a number", Describe(parse(t, "1.5").Content[0]))
}

func TestFlowDepthAt(t *testing.T) {
	line, col, ok := FlowDepthAt([]byte("a: 1\n# [[[[\nb: '[[[['\nc: "+strings.Repeat("[", 5)), 3)
	require.True(t, ok)
	assert.Equal(t, [2]int{4, 7}, [2]int{line, col})
	_, _, ok = FlowDepthAt([]byte("a: [[1], {b: [2]}]\n"), 3)
	assert.False(t, ok)
}

func TestUnclosedAt(t *testing.T) {
	line, col, ok := UnclosedAt([]byte("a: [1, {b: 2}]\nc: {d: '{', e: [\n# [\n"))
	require.True(t, ok)
	assert.Equal(t, [2]int{2, 16}, [2]int{line, col})
	_, _, ok = UnclosedAt([]byte("a: [1, {b: 2}]\n"))
	assert.False(t, ok)
}
