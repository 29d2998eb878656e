package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsageErrors checks the usage errors found before a command runs:
// each is exit 2, nothing on stdout, and one first line that says what
// is wrong.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		first string // the first line of stderr
	}{
		{"unknown command, two letters", []string{"rn", vxlan}, `netsim: unknown command "rn" (did you mean "run"?)`},
		{"unknown command, typo", []string{"valdiate", vxlan}, `netsim: unknown command "valdiate" (did you mean "validate"?)`},
		{"unknown command, nothing close", []string{"frobnicate"}, `netsim: unknown command "frobnicate"`},
		{"a flag before the command", []string{"--pcap", "x", "run"}, `netsim: "--pcap" is a flag of netsim emulate and netsim run, but the command comes first: netsim COMMAND [flags]`},
		{"--pcap twice", []string{"run", vxlan, "--pcap", "a.pcapng", "--pcap", "b.pcapng"}, "netsim run: --pcap is given twice (--pcap a.pcapng, then --pcap b.pcapng): give it once"},
		{"--pcap twice with =", []string{"run", "--pcap=a", vxlan, "--pcap=b"}, "netsim run: --pcap is given twice (--pcap a, then --pcap b): give it once"},
		{"-o twice", []string{"run", vxlan, "-o", "json", "-o", "text"}, "netsim run: --output is given twice (-o json, then -o text): give it once"},
		{"-o and --output", []string{"run", vxlan, "-ojson", "--output", "text"}, "netsim run: --output is given twice (-o json, then --output text): give it once"},
		{"a boolean twice", []string{"run", vxlan, "--summary", "--summary"}, "netsim run: --summary is given twice (--summary, then --summary): give it once"},
		{"--width twice", []string{"run", vxlan, "--width", "80", "--width=100"}, "netsim run: --width is given twice (--width 80, then --width 100): give it once"},
		{"--node twice on show", []string{"show", vxlan, "--node", "node-1", "--node", "node-2"}, "netsim show: --node is given twice"},
		{"--matrix twice on diff", []string{"diff", vxlan, vxlan, "--matrix", "--matrix"}, "netsim diff: --matrix is given twice"},
		{"--pcap given to validate", []string{"validate", vxlan, "--pcap", "y.pcapng"}, `netsim validate: --pcap is a flag of netsim run and netsim emulate, not of netsim validate (run "netsim validate --help" for its flags)`},
		{"--flow given to matrix", []string{"matrix", vxlan, "--flow", "f"}, "netsim matrix: --flow is a flag of netsim run and netsim conntrack, not of netsim matrix"},
		{"a flag of many commands", []string{"version", "--node", "x"}, "netsim version: --node is a flag of netsim run, netsim conntrack, netsim iptables-save and 2 more commands, not of netsim version"},
		{"-t given to run", []string{"run", vxlan, "-t", "nat"}, "netsim run: -t is a flag of netsim iptables-save, not of netsim run"},
		{"--width given to version", []string{"version", "--width", "80"}, "netsim version: --width is a flag of netsim run and netsim emulate, not of netsim version"},
		{"unknown flag, did you mean", []string{"run", vxlan, "--pcapp", "x"}, `netsim run: unknown flag: --pcapp (did you mean "--pcap"?) (run "netsim run --help" for its flags)`},
		{"unknown flag, did you mean with =", []string{"run", vxlan, "--levle=summary"}, `netsim run: unknown flag: --levle (did you mean "--level"?)`},
		{"unknown shorthand", []string{"run", vxlan, "-x"}, `netsim run: unknown flag: -x (run "netsim run --help" for its flags)`},
		{"--width not a number", []string{"run", vxlan, "--width", "abc"}, `netsim run: invalid argument "abc" for "--width" flag: expected a whole number`},
		{"--width out of range", []string{"run", vxlan, "--width=99999999999999999999"}, `netsim run: invalid argument "99999999999999999999" for "--width" flag: expected a whole number (it is out of range: at most 9223372036854775807)`},
		{"--port not a number", []string{"matrix", vxlan, "--port", "80,x"}, `netsim matrix: invalid argument "80,x" for "--port" flag: expected whole numbers separated by commas, e.g. 80,443; "x" is not one`},
		{"a boolean with a bad value", []string{"run", vxlan, "--summary=maybe"}, `netsim run: invalid argument "maybe" for "--summary" flag: expected true or false (or the flag alone for true)`},
		{"a boolean shorthand with a bad value", []string{"iptables-save", vxlan, "--node", "node-1", "-c=yes"}, `netsim iptables-save: invalid argument "yes" for "-c" flag: expected true or false`},
		{"a boolean shorthand twice", []string{"iptables-save", vxlan, "--node", "node-1", "-c=false", "-c"}, "netsim iptables-save: --counters is given twice (-c=false, then -c): give it once"},
		{"--width below the minimum", []string{"run", vxlan, "--width", "5"}, "netsim run: --width 5: expected 0 (no wrapping) or at least 40 columns"},
		{"--width negative", []string{"run", vxlan, "--width=-80"}, "netsim run: --width -80: expected 0 (no wrapping) or at least 40 columns"},
		{"--width one below", []string{"run", vxlan, "--width", "39"}, "netsim run: --width 39: expected 0 (no wrapping) or at least 40 columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := netsim(t, tt.args...)
			assert.Equal(t, exitBadInput, code, stderr)
			assert.Empty(t, stdout)
			first, _, _ := strings.Cut(stderr, "\n")
			assert.True(t, strings.HasPrefix(first, tt.first), "first line:\n%s\nwant:\n%s", first, tt.first)
		})
	}
}

// TestUsageAccepted checks what the flag scan must let through.
func TestUsageAccepted(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"--hide repeats", []string{"run", vxlan, "--hide", "arp", "--hide", "fdb", "--summary"}},
		{"a value that looks like a flag", []string{"run", vxlan, "--flow", "pod-to-ecs", "--node", "node-1"}},
		{"--width 0 and the minimum", []string{"run", vxlan, "--width", "40", "--level", "minimal"}},
		{"after --", []string{"validate", "--", vxlan}},
		{"--help", []string{"run", "--help"}},
		{"a boolean shorthand with a value", []string{"iptables-save", vxlan, "--node", "node-1", "-c=true"}},
		{"-o with its value attached", []string{"run", vxlan, "-ojson", "--flow", "pod-to-ecs"}},
		{"-h", []string{"validate", "-h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := netsim(t, tt.args...)
			assert.NotEqual(t, exitBadInput, code, stderr)
		})
	}
}

// TestManyReplicasOneLine checks that a Deployment whose pods do not fit
// on the nodes is one line of stderr, however many pods it has (the
// hostile-input table checks only the first line).
func TestManyReplicasOneLine(t *testing.T) {
	for _, replicas := range []int{100000, 2147483647, 10000, 600} {
		t.Run(fmt.Sprint(replicas), func(t *testing.T) {
			dir := t.TempDir()
			scenario := strings.Replace(small("delivered"), "flows:", "manifests: [web.yaml]\nflows:", 1)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(scenario), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx}]}
`, replicas)), 0o644))
			code, stdout, stderr := netsim(t, "run", filepath.Join(dir, "s.yaml"))
			assert.Equal(t, exitBadInput, code)
			assert.Empty(t, stdout)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			require.Len(t, lines, 2, "one problem and the count line:\n%s", stderr)
			assert.Contains(t, lines[0], filepath.Join(dir, "web.yaml")+":5:13: spec.replicas: Deployment default/web: ")
			assert.Equal(t, "netsim: 1 problem(s); nothing was run", lines[1])
		})
	}
}
