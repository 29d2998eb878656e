package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchModelGolden compares `netsim bench model` with
// testdata/bench-model.golden (-update rewrites it).
func TestBenchModelGolden(t *testing.T) {
	code, stdout, stderr := netsim(t, "bench", "model")
	require.Equal(t, exitOK, code, stderr)
	golden := filepath.Join("testdata", "bench-model.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(stdout), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), stdout)
	assert.Contains(t, stdout, "not measurements", "the output says its figures are modelled")
}

func TestBenchModelJSON(t *testing.T) {
	code, stdout, stderr := netsim(t, "bench", "model", "-o", "json")
	require.Equal(t, exitOK, code, stderr)
	var got struct {
		Figures string `json:"figures"`
		Modes   []struct {
			Mode     string `json:"mode"`
			Overhead int    `json:"overhead_bytes"`
			Wire     []struct {
				Payload int `json:"payload"`
				Frame   int `json:"frame_bytes"`
			} `json:"wire"`
		} `json:"modes"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Equal(t, "modelled", got.Figures)
	require.Len(t, got.Modes, 10)
	assert.Equal(t, "flannel vxlan", got.Modes[0].Mode)
	assert.Equal(t, 50, got.Modes[0].Overhead)
	assert.Equal(t, 64+42+50, got.Modes[0].Wire[0].Frame)
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"bench"}, "expected model"},
		{[]string{"bench", "kernel"}, "expected model"},
		{[]string{"bench", "model", "extra"}, "expected model"},
		{[]string{"bench", "model", "-o", "yaml"}, `-o "yaml": expected text or json`},
	}
	for _, tt := range tests {
		code, _, stderr := netsim(t, tt.args...)
		assert.Equal(t, exitBadInput, code, tt.args)
		assert.Contains(t, stderr, tt.msg, tt.args)
	}
}
