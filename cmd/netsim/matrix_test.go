package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	universe    = "../../testdata/matrix/universe.yaml"
	denials     = "../../testdata/matrix/denials.yaml"
	flvsTerway  = "../../scenarios/flannel-vs-terway.yaml"
	goldenCLIMx = "../../testdata/golden/matrix"
)

// golden compares got with testdata/golden/matrix/NAME; -update rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenCLIMx, name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./cmd/netsim -run 'TestMatrixCLI|TestDiffCLI' -update")
	assert.Equal(t, string(want), got, "%s differs; if intended run go test ./cmd/netsim -run 'TestMatrixCLI|TestDiffCLI' -update and review the diff", path)
}

func TestMatrixCLI(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string // stdout golden file ("" none)
		stderr string // substring of stderr
	}{
		{name: "universe tcp", args: []string{"matrix", universe}, golden: "cli-universe.txt"},
		{name: "denials ingress view", args: []string{"matrix", denials, "--view", "ingress", "--port", "81", "--protocol", "tcp,udp", "--namespaces", "x,y"}, golden: "cli-denials-ingress.txt"},
		{name: "denials listed", args: []string{"matrix", denials, "--port", "81", "--namespaces", "x", "--protocol", "udp,tcp", "--denied"}, golden: "cli-denials-listed.txt"},
		{name: "denials extra columns", args: []string{"matrix", denials, "--port", "80", "--service", "x/web", "--external", "ecs/ecs-db,192.168.0.11"}, golden: "cli-denials-extra.txt"},
		{name: "bad view", args: []string{"matrix", denials, "--view", "both"}, code: 2, stderr: `netsim matrix: --view "both": expected combined, ingress, egress, all`},
		{name: "bad port", args: []string{"matrix", denials, "--port", "70000"}, code: 2, stderr: "netsim matrix: --port: port 70000: expected 1-65535"},
		{name: "port not a number", args: []string{"matrix", denials, "--port", "http"}, code: 2, stderr: `invalid argument "http" for "--port" flag`},
		{name: "bad protocol", args: []string{"matrix", denials, "--protocol", "icmp"}, code: 2, stderr: `netsim matrix: --protocol: protocol "icmp": expected tcp, udp or sctp`},
		{name: "sctp", args: []string{"matrix", denials, "--protocol", "sctp"}, code: 2, stderr: "SCTP is not modelled yet"},
		{name: "bad namespace", args: []string{"matrix", denials, "--namespaces", "z"}, code: 2, stderr: `denials.yaml: matrix: namespace "z" has no pods (namespaces with pods: x, y)`},
		{name: "bad output", args: []string{"matrix", denials, "-o", "yaml"}, code: 2, stderr: `netsim matrix: -o "yaml": expected text or json`},
		{name: "no file", args: []string{"matrix"}, code: 2, stderr: "missing the scenario FILE"},
		{name: "missing file", args: []string{"matrix", "nope.yaml"}, code: 2, stderr: "nope.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := netsim(t, tt.args...)
			assert.Equal(t, tt.code, code, "stderr: %s", errOut)
			if tt.stderr != "" {
				assert.Contains(t, errOut, tt.stderr)
			}
			if tt.golden != "" {
				golden(t, tt.golden, out)
			}
		})
	}
}

func TestMatrixCLIJSON(t *testing.T) {
	code, out, errOut := netsim(t, "matrix", denials, "-o", "json", "--protocol", "tcp,udp")
	require.Equal(t, 0, code, errOut)
	var m struct {
		Schema  int      `json:"schema"`
		Pods    []string `json:"pods"`
		Ports   []int    `json:"ports"`
		Actions []string `json:"actions"`
		Cells   []struct {
			From, To, Protocol, Reason string
			Port                       int
			Allowed, Self              bool
		} `json:"cells"`
		Summary struct {
			Probes, Allowed, Denied, Self int
			ByReason                      map[string]int `json:"by_reason"`
		} `json:"summary"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, 1, m.Schema)
	assert.Equal(t, []string{"x/a", "x/b", "y/a", "y/b"}, m.Pods)
	assert.Equal(t, []int{80, 81}, m.Ports)
	assert.Equal(t, []string{"y-b-down"}, m.Actions)
	assert.Len(t, m.Cells, 4*4*2*2)
	assert.Equal(t, 48, m.Summary.Probes)
	assert.Equal(t, 16, m.Summary.Self)
	assert.Equal(t, m.Summary.Probes, m.Summary.Allowed+m.Summary.Denied)
	assert.Equal(t, 2, m.Summary.ByReason["conn-refused"], "x/a and y/a -> x/b TCP/81 (x/b serves TCP 80 only; y/b cannot send at all)")
	for _, c := range m.Cells {
		if c.From == "x/a" && c.To == "x/b" && c.Port == 81 && c.Protocol == "tcp" {
			assert.False(t, c.Allowed)
			assert.Equal(t, "conn-refused", c.Reason)
		}
	}
}

func TestDiffCLI(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
		stderr string
	}{
		{name: "flannel vs terway", args: []string{"diff", alivpc, flvsTerway}, code: 1, golden: "cli-diff-flannel-terway.txt"},
		{name: "same scenario", args: []string{"diff", denials, denials, "--matrix"}, code: 0, golden: "cli-diff-same.txt"},
		{name: "matrix cells", args: []string{"diff", universe, denials, "--matrix", "--namespaces", "x", "--port", "81"}, code: 1, golden: "cli-diff-matrix.txt"},
		{name: "one file", args: []string{"diff", denials}, code: 2, stderr: "netsim diff: expected two scenario files A.yaml B.yaml, got 1 argument(s)"},
		{name: "matrix option without --matrix", args: []string{"diff", denials, universe, "--port", "80"}, code: 2, stderr: "netsim diff: --port is a matrix option: add --matrix"},
		{name: "bad output", args: []string{"diff", denials, universe, "-o", "csv"}, code: 2, stderr: `-o "csv": expected text or json`},
		{name: "bad file", args: []string{"diff", denials, "nope.yaml"}, code: 2, stderr: "nope.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := netsim(t, tt.args...)
			assert.Equal(t, tt.code, code, "stderr: %s", errOut)
			if tt.stderr != "" {
				assert.Contains(t, errOut, tt.stderr)
			}
			if tt.golden != "" {
				golden(t, tt.golden, out)
			}
		})
	}
}

func TestDiffCLIJSON(t *testing.T) {
	code, out, errOut := netsim(t, "diff", alivpc, flvsTerway, "-o", "json")
	require.Equal(t, 1, code, errOut)
	var d struct {
		Same  bool `json:"same"`
		Flows []struct {
			Name   string `json:"name"`
			OnlyIn string `json:"only_in"`
			Fields []struct{ Field, A, B string }
		} `json:"flows"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	assert.False(t, d.Same)
	byName := map[string][]struct{ Field, A, B string }{}
	only := map[string]string{}
	for _, f := range d.Flows {
		byName[f.Name] = f.Fields
		only[f.Name] = f.OnlyIn
	}
	require.Contains(t, byName, "pod-to-pod-route-entry-deleted")
	v := byName["pod-to-pod-route-entry-deleted"][0]
	assert.Equal(t, "verdict", v.Field)
	assert.Equal(t, "dropped (vpc-no-route)", v.A)
	assert.Equal(t, "delivered", v.B)
	assert.Equal(t, "b", only["pod-to-service"])
}
