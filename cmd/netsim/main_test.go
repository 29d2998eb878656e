package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	alivpc = "../../scenarios/flannel-alivpc.yaml"
	vxlan  = "../../scenarios/flannel-vxlan.yaml"
)

// netsim runs the CLI in-process.
func netsim(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// writeScenario writes a scenario into a temporary directory.
func writeScenario(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// small is a valid scenario; expect is the second flow's expectation.
func small(expect string) string {
	return `name: small
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
    - {name: vsw-b, zone: z2, cidr: 192.168.1.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-b}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel, flannel: {backend: vxlan}}
pods:
  - {name: a, node: node-1}
  - {name: b, node: node-2}
flows:
  - {name: a-to-b, from: pod/a, to: pod/b, expect: delivered}
  - {name: b-to-a, from: pod/b, to: pod/a, expect: ` + expect + `}
`
}

func TestExitCodes(t *testing.T) {
	bad := writeScenario(t, "bad.yaml", strings.Replace(small("delivered"), "podCIDR: 172.20.0.0/16", "podCidr: 172.20.0.0/16", 1))
	unmet := writeScenario(t, "unmet.yaml", small("{verdict: dropped, reason: vpc-no-route}"))
	met := writeScenario(t, "met.yaml", small("delivered"))
	buildErr := writeScenario(t, "build.yaml", small("delivered")+"failures:\n  - {type: link-down, node: node-1, device: flannel.7}\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		noStdout   bool
		stderrLine *regexp.Regexp
	}{
		{name: "bundled alivpc scenario meets every expectation", args: []string{"run", alivpc}, code: 0,
			stdout: []string{"scenario flannel-alivpc", "8 of 8 flows met their expectation"}},
		{name: "bundled vxlan scenario", args: []string{"run", vxlan}, code: 0, stdout: []string{"13 of 13 flows met their expectation"}},
		{name: "all met", args: []string{"run", met}, code: 0, stdout: []string{"2 of 2 flows met"}},
		{name: "an expectation not met", args: []string{"run", unmet}, code: 1,
			stdout: []string{"1 of 2 flows met their expectation", "expected dropped (vpc-no-route), got delivered"}},
		{name: "an expectation not met, summary", args: []string{"run", "--summary", unmet}, code: 1},
		{name: "an expectation not met, json", args: []string{"run", "-o", "json", unmet}, code: 1},
		{name: "bad file", args: []string{"run", bad}, code: 2, noStdout: true,
			stderr:     []string{`cluster: unknown field "podCidr" (did you mean "podCIDR"?)`, "nothing was run"},
			stderrLine: regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(bad) + `:11:3: cluster: unknown field "podCidr"`)},
		{name: "bad file, validate", args: []string{"validate", bad}, code: 2, noStdout: true,
			stderrLine: regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(bad) + `:11:3: `)},
		{name: "bad file, show", args: []string{"show", bad}, code: 2, noStdout: true,
			stderrLine: regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(bad) + `:11:3: `)},
		{name: "build-time problem", args: []string{"run", buildErr}, code: 2, noStdout: true,
			stderr:     []string{`node-1 has no device "flannel.7"`, "1 problem(s); nothing was run"},
			stderrLine: regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(buildErr) + `:\d+:\d+: failures\[0\]\.device: `)},
		{name: "missing file", args: []string{"run", missing}, code: 2, noStdout: true,
			stderr: []string{"missing.yaml", "no such file or directory"}},
		{name: "missing file, validate", args: []string{"validate", missing}, code: 2, noStdout: true, stderr: []string{"missing.yaml"}},
		{name: "missing file, show", args: []string{"show", missing}, code: 2, noStdout: true, stderr: []string{"missing.yaml"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, noStdout: true,
			stderr: []string{`netsim: unknown command "frobnicate"`, "Usage:", "validate"}},
		{name: "no command", args: nil, code: 2, noStdout: true, stderr: []string{"Usage:"}},
		{name: "bad -o value", args: []string{"run", "-o", "yaml", alivpc}, code: 2, noStdout: true,
			stderr: []string{`netsim run: -o "yaml": expected text or json`}},
		{name: "bad --output value", args: []string{"run", "--output=xml", alivpc}, code: 2, noStdout: true, stderr: []string{`"xml"`}},
		{name: "missing FILE, run", args: []string{"run"}, code: 2, noStdout: true, stderr: []string{"netsim run: missing the scenario FILE"}},
		{name: "missing FILE, validate", args: []string{"validate"}, code: 2, noStdout: true, stderr: []string{"netsim validate: missing the scenario FILE"}},
		{name: "missing FILE, show", args: []string{"show", "--node", "node-1"}, code: 2, noStdout: true, stderr: []string{"netsim show: missing the scenario FILE"}},
		{name: "two FILEs", args: []string{"run", alivpc, vxlan}, code: 2, noStdout: true, stderr: []string{"expected one scenario FILE, got 2 arguments"}},
		{name: "unknown flag", args: []string{"run", "--bogus", alivpc}, code: 2, noStdout: true, stderr: []string{"unknown flag: --bogus"}},
		{name: "flag without value", args: []string{"run", alivpc, "--flow"}, code: 2, noStdout: true, stderr: []string{"flag needs an argument"}},
		{name: "unknown flow", args: []string{"run", alivpc, "--flow", "nope"}, code: 2, noStdout: true,
			stderr: []string{`no flow named "nope" (flows: pod-to-pod-same-node, pod-to-pod-cross-node, pod-to-pod-cross-node-udp, node-to-remote-pod, pod-to-remote-node, pod-to-ecs, full-size-packet, pod-to-pod-route-entry-deleted)`}},
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"netsim " + version + "\n"}},
		{name: "--version", args: []string{"--version"}, code: 0, stdout: []string{"netsim " + version + "\n"}},
		{name: "version takes no arguments", args: []string{"version", "x"}, code: 2, noStdout: true, stderr: []string{"takes no arguments"}},
		{name: "validate", args: []string{"validate", alivpc}, code: 0,
			stdout: []string{alivpc + ": ok — scenario flannel-alivpc", "CNI flannel/alivpc, pod MTU 1500, underlay vpc", "note: failure: deleted VPC route entry 172.20.2.0/24 → node-3"}},
		{name: "validate does not check expectations", args: []string{"validate", unmet}, code: 0},
		{name: "show a node", args: []string{"show", alivpc, "--node", "node-1"}, code: 0,
			stdout: []string{"### node node-1\n", "$ ip route\ndefault via 192.168.0.253 dev eth0\n", "$ iptables-save\n"}},
		{name: "show a pod", args: []string{"show", "--node", "web-1", alivpc}, code: 0, stdout: []string{"### pod default/web-1\n"}},
		{name: "show everything", args: []string{"show", alivpc}, code: 0, stdout: []string{"### node node-3", "### ecs ecs-db", "### VPC vpc-ack route table"}},
		{name: "show an unknown node", args: []string{"show", alivpc, "--node", "nope"}, code: 2, noStdout: true,
			stderr: []string{`netsim show: no node, instance or pod named "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := netsim(t, tt.args...)
			assert.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			for _, s := range tt.stdout {
				assert.Contains(t, stdout, s)
			}
			for _, s := range tt.stderr {
				assert.Contains(t, stderr, s)
			}
			if tt.noStdout {
				assert.Empty(t, stdout, "nothing on stdout on a usage or input error")
			}
			if tt.stderrLine != nil {
				assert.Regexp(t, tt.stderrLine, stderr)
			}
			if tt.code == 0 && tt.args != nil && tt.args[0] != "version" {
				assert.Empty(t, stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:\n  netsim COMMAND [flags]", "run ", "validate ", "show ", "version ", "Exit codes: 0"}},
		{[]string{"-h"}, []string{"Usage:\n  netsim COMMAND [flags]"}},
		{[]string{"help"}, []string{"Usage:\n  netsim COMMAND [flags]"}},
		{[]string{"run", "--help"}, []string{"Usage: netsim run FILE", "--flow NAME", "-o, --output string", "--summary", "--pcap FILE", "--trace-all", "--width N", "--level LEVEL", "--hide KINDS", "--node NAME"}},
		{[]string{"run", "-h"}, []string{"Usage: netsim run FILE"}},
		{[]string{"run", alivpc, "--help"}, []string{"Usage: netsim run FILE"}},
		{[]string{"validate", "--help"}, []string{"Usage: netsim validate FILE", "check a scenario file"}},
		{[]string{"show", "--help"}, []string{"Usage: netsim show FILE [--node NAME] [--after NAME]", "--node NAME", "--after"}},
		{[]string{"version", "--help"}, []string{"Usage: netsim version", "print the version"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := netsim(t, tt.args...)
			assert.Equal(t, 0, code)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			assert.Empty(t, stderr, "help goes to stdout")
			assert.NotContains(t, stdout, "==", "nothing was run")
		})
	}
}

func TestRunOneFlow(t *testing.T) {
	code, stdout, _ := netsim(t, "run", alivpc, "--flow", "pod-to-pod-route-entry-deleted")
	require.Equal(t, 0, code)
	assert.Equal(t, 1, strings.Count(stdout, "\n== flow "), "one flow ran")
	assert.Contains(t, stdout, "== flow pod-to-pod-route-entry-deleted:")
	assert.Contains(t, stdout, "vpc-no-route")
	assert.Contains(t, stdout, "1 of 1 flows met their expectation")

	code, stdout, _ = netsim(t, "run", "--summary", "--flow=pod-to-ecs", alivpc)
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Regexp(t, `^PASS  pod-to-ecs  delivered`, lines[0])
}

func TestRunSummary(t *testing.T) {
	code, stdout, stderr := netsim(t, "run", "--summary", "--width", "0", alivpc)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 8+1, "one line per flow and the total")
	for _, l := range lines[:8] {
		assert.Regexp(t, `^PASS  \S+\s+(delivered|dropped)`, l)
	}
	assert.Contains(t, lines[2], "pod-to-pod-cross-node-udp")
	assert.Contains(t, lines[7], "dropped [vpc-no-route]")
	assert.Equal(t, "8 of 8 flows met their expectation", lines[8])
	assert.NotContains(t, stdout, "-- packet", "no traces")

	unmet := writeScenario(t, "unmet.yaml", small("{verdict: dropped, reason: vpc-no-route}"))
	code, stdout, _ = netsim(t, "run", "--summary", unmet)
	require.Equal(t, 1, code)
	lines = strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 3)
	assert.True(t, strings.HasPrefix(lines[0], "PASS"), lines[0])
	assert.False(t, strings.HasPrefix(lines[1], "PASS"), lines[1])
	assert.Equal(t, "1 of 2 flows met their expectation", lines[2])
}

func TestRunJSON(t *testing.T) {
	code, stdout, stderr := netsim(t, "run", "-o", "json", alivpc)
	require.Equal(t, 0, code, stderr)
	require.True(t, json.Valid([]byte(stdout)), "valid JSON")
	var doc struct {
		Schema   *int     `json:"schema"`
		Scenario string   `json:"scenario"`
		File     string   `json:"file"`
		CNI      string   `json:"cni"`
		Underlay string   `json:"underlay"`
		Notes    []string `json:"notes"`
		Flows    []struct {
			Name    string `json:"name"`
			Met     bool   `json:"met"`
			Verdict struct {
				Result, Reason string
			} `json:"verdict"`
			Hops []map[string]any `json:"hops"`
		} `json:"flows"`
	}
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(stdout), &raw))
	assert.Equal(t, "1", string(raw["schema"]), `"schema": 1`)
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	require.NotNil(t, doc.Schema)
	assert.Equal(t, 1, *doc.Schema)
	assert.Equal(t, "flannel-alivpc", doc.Scenario)
	assert.Equal(t, alivpc, doc.File)
	assert.Equal(t, "flannel/alivpc", doc.CNI)
	assert.Equal(t, "vpc", doc.Underlay)
	require.Len(t, doc.Flows, 8)
	for _, f := range doc.Flows {
		assert.True(t, f.Met, f.Name)
		assert.NotEmpty(t, f.Hops, "%s: JSON always carries the hops of the first exchange", f.Name)
	}
	assert.Equal(t, "dropped", doc.Flows[7].Verdict.Result)
	assert.Equal(t, "vpc-no-route", doc.Flows[7].Verdict.Reason)

	// --summary does not change the JSON.
	code2, stdout2, _ := netsim(t, "run", "-o", "json", "--summary", alivpc)
	assert.Equal(t, code, code2)
	assert.Equal(t, stdout, stdout2)
}

func TestRunPcap(t *testing.T) {
	tests := []struct {
		name, file string
		hint       string
		tunnelPort layers.UDPPort // the UDP port of the tunnel datagrams (0: none)
	}{
		{"vxlan", vxlan, " -d udp.port==8472,vxlan ", 8472},
		{"alivpc", alivpc, "", 0},
		{"udp", "../../scenarios/flannel-udp.yaml", " -d udp.port==8285,ip ", 8285},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.pcapng")
			code, stdout, stderr := netsim(t, "run", tt.file, "--summary", "--pcap", out)
			require.Equal(t, 0, code, stderr)
			assert.Regexp(t, `\b(\d+) of (\d+) flows met`, stdout)
			m := regexp.MustCompile(`\b(\d+) of (\d+) flows met`).FindStringSubmatch(stdout)
			require.Len(t, m, 3)
			assert.Equal(t, m[2], m[1], "every flow met its expectation")

			st, err := os.Stat(out)
			require.NoError(t, err)
			assert.Positive(t, st.Size())

			assert.Regexp(t, `(?m)^wrote \d+ frames on \d+ interfaces to `+regexp.QuoteMeta(out)+`$`, stderr)
			assert.Contains(t, stderr, "open it with: tshark -r "+out)
			assert.Contains(t, stderr, "-o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE")
			if tt.hint != "" {
				assert.Contains(t, stderr, "tshark -r "+out+tt.hint)
			} else {
				assert.NotContains(t, stderr, "-d udp.port", "no VXLAN port to decode")
			}

			f, err := os.Open(out)
			require.NoError(t, err)
			defer f.Close()
			r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
			require.NoError(t, err)
			var n int
			var tunnelSeen bool
			for {
				data, _, err := r.ReadPacketData()
				if err != nil {
					break
				}
				n++
				if r.LinkType() == layers.LinkTypeEthernet {
					p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
					if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && tt.tunnelPort != 0 && u.DstPort == tt.tunnelPort {
						tunnelSeen = true
					}
				}
			}
			assert.Positive(t, n, "packets in the capture")
			assert.Positive(t, r.NInterfaces())
			assert.Equal(t, tt.tunnelPort != 0, tunnelSeen, "tunnel datagrams in the capture")
		})
	}
}

func TestRunPcapUnwritable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "no-such-dir", "out.pcapng")
	code, _, stderr := netsim(t, "run", alivpc, "--summary", "--pcap", out)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "no-such-dir")
}

func TestRunIsDeterministic(t *testing.T) {
	_, a, _ := netsim(t, "run", vxlan, "--width", "0")
	_, b, _ := netsim(t, "run", vxlan, "--width", "0")
	assert.Equal(t, a, b)
	assert.Contains(t, a, "-- packet #1")
}

func TestBundledScenarios(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "plan-") {
			// A plan file (no nodes, pods or flows) has nothing to show
			// or run: TestPlanScenarios checks validate and plan on it.
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, stdout, stderr := netsim(t, "validate", f)
			assert.Equal(t, 0, code, stderr)
			assert.Contains(t, stdout, f+": ok — scenario ")
			code, stdout, stderr = netsim(t, "show", f, "--node", "node-1")
			assert.Equal(t, 0, code, stderr)
			assert.True(t, strings.HasPrefix(stdout, "### node node-1\n$ ip -br addr\n"), stdout)
			code, _, stderr = netsim(t, "run", "--summary", f)
			assert.Equal(t, 0, code, "every bundled flow meets its expectation: %s", stderr)
		})
	}
}
