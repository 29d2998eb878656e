package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden runs benchtable on captured `go test` output (testdata/*.txt:
// the dataplane and gofloor benchmarks with GOMAXPROCS=1 -count 2; the
// out/bench.txt of a `make bench`, five rounds with the floor before and
// after the paths; TestMemoryIsFlatInExchanges -v) and compares the
// tables with the golden files.
func TestGolden(t *testing.T) {
	tests := []struct {
		name, input, golden string
		args                []string
	}{
		{name: "speed", input: "bench.txt", golden: "bench.golden"},
		{name: "make bench rounds", input: "rounds.txt", golden: "rounds.golden"},
		{name: "memory", input: "memory.txt", golden: "memory.golden", args: []string{"--memory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.Open(filepath.Join("testdata", tt.input))
			require.NoError(t, err)
			defer in.Close()
			var out, errOut bytes.Buffer
			require.Equal(t, 0, run(tt.args, in, &out, &errOut), errOut.String())
			golden := filepath.Join("testdata", tt.golden)
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())
		})
	}
}

// TestSpeedFigures checks the arithmetic on a small input: medians of the
// runs, Mpps from ns, both ratios from the same input.
func TestSpeedFigures(t *testing.T) {
	in := `goos: linux
BenchmarkPodToPod/cross-node-host-gw   1000  1000 ns/op  1000000 pkts/s  0 B/op  0 allocs/op
BenchmarkPodToPod/cross-node-host-gw   1000  1200 ns/op  1000000 pkts/s  0 B/op  0 allocs/op
BenchmarkPodToPod/cross-node-host-gw   1000   900 ns/op  1000000 pkts/s  0 B/op  0 allocs/op
BenchmarkPodToPod/cross-node-vxlan     1000  3000 ns/op  0 B/op  2 allocs/op
BenchmarkPath8Hop/inner64              1000   200 ns/op  0 B/op  0 allocs/op
BenchmarkPath8Hop/inner64              1000   300 ns/op  0 B/op  0 allocs/op
`
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(nil, strings.NewReader(in), &out, &errOut), errOut.String())
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "/") {
			rows[f[0]] = f
		}
	}
	// path, [role,] ns, spread, Mpps, × floor, × host-gw, allocs
	assert.Equal(t, []string{"PodToPod/cross-node-host-gw", "(host-gw)", "1000.0", "±15%", "1.00", "4.00", "1.00", "0"}, rows["PodToPod/cross-node-host-gw"])
	assert.Equal(t, []string{"PodToPod/cross-node-vxlan", "3000.0", "±0%", "0.33", "12.00", "3.00", "2"}, rows["PodToPod/cross-node-vxlan"])
	assert.Equal(t, []string{"Path8Hop/inner64", "(floor)", "250.0", "±20%", "4.00", "1.00", "0.25", "0"}, rows["Path8Hop/inner64"])
	assert.Contains(t, out.String(), "medians of 1/2/3 runs each")
	assert.Contains(t, out.String(), "ratios of the medians")
}

// TestPerRoundRatios: with the same number of runs of every benchmark (the
// rounds of make bench), a ratio is the median of the ratios of round k's
// results, so a slow round (here the third, twice as slow throughout)
// does not skew it.
func TestPerRoundRatios(t *testing.T) {
	in := `BenchmarkPath8Hop/inner64  1000  100 ns/op
BenchmarkPodToPod/cross-node-host-gw  1000  1000 ns/op
BenchmarkPodToPod/cross-node-vxlan  1000  3000 ns/op
BenchmarkPath8Hop/inner64  1000  120 ns/op
BenchmarkPodToPod/cross-node-host-gw  1000  1100 ns/op
BenchmarkPodToPod/cross-node-vxlan  1000  2200 ns/op
BenchmarkPath8Hop/inner64  1000  200 ns/op
BenchmarkPodToPod/cross-node-host-gw  1000  2000 ns/op
BenchmarkPodToPod/cross-node-vxlan  1000  5000 ns/op
`
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(nil, strings.NewReader(in), &out, &errOut), errOut.String())
	var vxlan []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "PodToPod/cross-node-vxlan" {
			vxlan = f
		}
	}
	// ns medians 3000; × floor: 30, 18.33, 25 → 25 (ratio of medians: 25);
	// × host-gw: 3, 2, 2.5 → 2.5 (ratio of medians: 3000/1100 = 2.73).
	assert.Equal(t, []string{"PodToPod/cross-node-vxlan", "3000.0", "±47%", "0.33", "25.00", "2.50", "-"}, vxlan)
	assert.Contains(t, out.String(), "the medians of the per-round ratios (3 rounds)")
}

// TestBracketedFloor: the floor run twice a round (before and after the
// paths) counts as the mean of the two in that round's ratios.
func TestBracketedFloor(t *testing.T) {
	in := `BenchmarkPath8Hop/inner64  1000  100 ns/op
BenchmarkPodToPod/cross-node-host-gw  1000  1000 ns/op
BenchmarkPath8Hop/inner64  1000  300 ns/op
BenchmarkPath8Hop/inner64  1000  100 ns/op
BenchmarkPodToPod/cross-node-host-gw  1000  1200 ns/op
BenchmarkPath8Hop/inner64  1000  100 ns/op
`
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(nil, strings.NewReader(in), &out, &errOut), errOut.String())
	var hostgw []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "PodToPod/cross-node-host-gw" {
			hostgw = f
		}
	}
	// Round 1: 1000 / mean(100, 300) = 5; round 2: 1200 / 100 = 12; median 8.5.
	assert.Equal(t, []string{"PodToPod/cross-node-host-gw", "(host-gw)", "1100.0", "±9%", "0.91", "8.50", "1.00", "-"}, hostgw)
	assert.Contains(t, out.String(), "medians of 2/4 runs each")
	assert.Contains(t, out.String(), "(2 rounds)")
}

// TestProcsSuffix: with --procs 2 the -2 go test appends is removed, and a
// name's own trailing -1 is kept.
func TestProcsSuffix(t *testing.T) {
	in := `BenchmarkPodToPod/cross-node-host-gw-2  1000  1000 ns/op
BenchmarkFelixPodToPod/felix-same-node-2  1000  500 ns/op
BenchmarkPath8Hop/inner64-2  1000  100 ns/op
`
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"--procs", "2"}, strings.NewReader(in), &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "GOMAXPROCS=2")
	assert.Contains(t, out.String(), "FelixPodToPod/felix-same-node ")
	assert.NotContains(t, out.String(), "-2 ")
}

// TestErrors: what benchtable refuses, with exit 1 (bad input) or 2
// (usage).
func TestErrors(t *testing.T) {
	const floor = "BenchmarkPath8Hop/inner64  1000  100 ns/op\n"
	const hostgw = "BenchmarkPodToPod/cross-node-host-gw  1000  1000 ns/op\n"
	tests := []struct {
		name, in string
		args     []string
		code     int
		msg      string
	}{
		{name: "empty", in: "PASS\n", code: 1, msg: "no benchmark results"},
		{name: "no floor", in: hostgw, code: 1, msg: "floor benchmark Path8Hop/inner64 is not in the input"},
		{name: "no host-gw", in: floor, code: 1, msg: "host-gw benchmark PodToPod/cross-node-host-gw is not in the input"},
		{name: "no ns/op", in: floor + hostgw + "BenchmarkX  10  5 allocs/op\n", code: 1, msg: "BenchmarkX has no ns/op"},
		{name: "bad value", in: floor + "BenchmarkX  10  fast ns/op\n", code: 1, msg: `value "fast" of ns/op`},
		{name: "memory without figures", in: floor, args: []string{"--memory"}, code: 1, msg: "no TestMemoryIsFlatInExchanges figures"},
		{name: "argument", in: floor + hostgw, args: []string{"out.txt"}, code: 2, msg: "unexpected argument"},
		{name: "unknown flag", in: floor + hostgw, args: []string{"--bogus"}, code: 2, msg: "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			assert.Equal(t, tt.code, run(tt.args, strings.NewReader(tt.in), &out, &errOut))
			assert.Contains(t, errOut.String(), tt.msg)
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1000, 10, 10}, 10},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		assert.Equal(t, tt.want, median(tt.in))
		assert.Equal(t, in, tt.in, "median must not reorder its input")
	}
}
