package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGenCommand checks netsim gen: what it writes validates and runs,
// stdout and -o FILE agree, an existing file is kept without --force,
// and bad arguments are usage errors.
func TestGenCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gen.yaml")
	code, stdout, stderr := netsim(t, "gen", "--cni", "terway", "--nodes", "3", "--pods", "4", "-o", file)
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stdout)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	code, stdout, _ = netsim(t, "gen", "--cni", "terway", "--nodes", "3", "--pods", "4")
	require.Equal(t, exitOK, code)
	assert.Equal(t, string(data), stdout, "stdout and -o write the same scenario")

	code, stdout, stderr = netsim(t, "run", "--level", "flows", file)
	assert.Equal(t, exitOK, code, stdout+stderr)
	assert.Contains(t, stdout, "5 of 5 flows met their expectation")

	code, _, stderr = netsim(t, "gen", "--cni", "terway", "--nodes", "2", "--pods", "2", "-o", file)
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, stderr, "exists: remove it, choose another name, or add --force")
	after, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, data, after, "the file is kept")
	code, _, stderr = netsim(t, "gen", "--cni", "terway", "--nodes", "2", "--pods", "2", "-o", file, "--force")
	assert.Equal(t, exitOK, code, stderr)

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"gen", "--cni", "weave", "--nodes", "2", "--pods", "2"}, `unknown CNI "weave"`},
		{[]string{"gen", "--nodes", "2", "--pods", "2"}, "--cni, --nodes and --pods are required"},
		{[]string{"gen", "--cni", "terway", "--nodes", "1", "--pods", "2"}, "1 nodes: want 2 to 15000"},
		{[]string{"gen", "--cni", "terway", "--nodes", "2", "--pods", "2", "extra"}, "takes no arguments"},
	} {
		code, stdout, stderr := netsim(t, tt.args...)
		assert.Equal(t, exitBadInput, code, strings.Join(tt.args, " "))
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, tt.want)
	}
}
