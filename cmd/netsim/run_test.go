package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the README's example traces from real runs")

// TestRunTextFlags covers --level, --hide, --node, --width and --summary:
// what they print, and the usage errors (exit 2, nothing on stdout).
func TestRunTextFlags(t *testing.T) {
	const flow = "pod-to-pod-cross-node"
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string
		notStdout []string
		stderr    []string
		maxLines  int
	}{
		{name: "default level is detailed", args: []string{"--flow", flow}, stdout: []string{"  -- packet #2, caused by #1", " arp ", " neigh "}},
		{name: "level summary", args: []string{"--flow", flow, "--level", "summary"}, maxLines: 40,
			stdout:    []string{"     node-1 cni0 → flannel.1 → eth0: route 172.20.1.0/24 via 172.20.1.0 dev flannel.1 onlink; VXLAN"},
			notStdout: []string{" arp ", "ARP who-has"}},
		{name: "level minimal", args: []string{"--flow", flow, "--level", "minimal", "--width", "0"}, maxLines: 12,
			stdout: []string{"   path:  default/web-1 eth0 → node-1 cni0 → flannel.1 → eth0 ⇒ vpc vsw-hangzhou-h ⇒ node-2 eth0 → flannel.1 → cni0 → veth5363eddf → default/api-1 eth0  delivered\n   reply: the same path back\n"}},
		{name: "level flows is --summary", args: []string{"--level", "flows"}, stdout: []string{"PASS  pod-to-pod-same-node"}, notStdout: []string{"== flow"}},
		{name: "--summary still works", args: []string{"--summary"}, stdout: []string{"PASS  pod-to-pod-same-node"}, notStdout: []string{"== flow"}},
		{name: "--summary with --level summary is a contradiction", args: []string{"--summary", "--level", "summary"}, code: 2,
			stderr: []string{"--summary is --level flows: it cannot be combined with --level summary"}},
		{name: "bad level", args: []string{"--level", "sumary"}, code: 2,
			stderr: []string{`--level "sumary": expected one of detailed, summary, minimal, flows (did you mean "summary"?)`}},
		{name: "hide arp, neigh, fdb, ct", args: []string{"--flow", flow, "--hide", "arp,neigh,fdb,ct"},
			stdout: []string{" route ", " encap ", " vpc "}, notStdout: []string{" arp ", " neigh ", " fdb ", " ct ", "ARP who-has"}},
		{name: "hide repeated", args: []string{"--flow", flow, "--hide", "arp", "--hide", "rule"},
			stdout: []string{" route "}, notStdout: []string{" arp ", " rule "}},
		{name: "bad hop kind", args: []string{"--hide", "arp,fbd"}, code: 2,
			stderr: []string{`--hide "fbd": not a hop kind (did you mean "fdb"?); the kinds are app, arp, ct, decap, deliver, dns, drop, encap, fdb, frag, icmp, local, nat, neigh, note, route, rule, rx, switch, ttl, tx, vpc`}},
		{name: "one namespace", args: []string{"--flow", flow, "--node", "node-2", "--width", "0"},
			stdout: []string{" node-2 flannel.1    decap "}, notStdout: []string{"#1  node-1", "#1  default/web-1", "#8  vpc"}},
		{name: "a pod by its short name", args: []string{"--flow", flow, "--node", "pod/api-1", "--width", "0"},
			stdout: []string{" default/api-1 eth0 deliver "}, notStdout: []string{"#1  node-2"}},
		{name: "unknown namespace", args: []string{"--node", "node-3"}, code: 2,
			stderr: []string{`--node "node-3": no such namespace (did you mean "node-1"?) (namespaces: default/api-1,`}},
		{name: "negative width", args: []string{"--width", "-5"}, code: 2, stderr: []string{"--width -5: expected 0 (no wrapping) or at least 40 columns"}},
		{name: "absurdly small width", args: []string{"--width", "10"}, code: 2, stderr: []string{"--width 10: expected 0 (no wrapping) or at least 40 columns"}},
		{name: "width not a number", args: []string{"--width", "wide"}, code: 2, stderr: []string{`invalid argument "wide" for "--width`}},
		{name: "width 0 does not wrap", args: []string{"--flow", flow, "--width", "0"},
			stdout: []string{"route table vtb-bg0n911n96ff10ecxneu: 192.168.1.11 (from node-1 eni-ork37sc035zoq1zfrsrf) ⇒ 192.168.1.0/24 → local (system route of vSwitch vsw-hangzhou-i); to node-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := netsim(t, append([]string{"run", vxlan}, tc.args...)...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			for _, s := range tc.stdout {
				assert.Contains(t, stdout, s)
			}
			for _, s := range tc.notStdout {
				assert.NotContains(t, stdout, s)
			}
			for _, s := range tc.stderr {
				assert.Contains(t, stderr, s)
			}
			if tc.code != 0 {
				assert.Empty(t, stdout, "nothing runs on a usage error")
			}
			if tc.maxLines > 0 {
				assert.LessOrEqual(t, strings.Count(stdout, "\n"), tc.maxLines, "%s", stdout)
			}
		})
	}
}

// TestRunWidths: the default width of a report that is not on a terminal is
// 120, and no line of any level exceeds the width asked for.
func TestRunWidths(t *testing.T) {
	_, def, _ := netsim(t, "run", vxlan)
	_, w120, _ := netsim(t, "run", vxlan, "--width", "120")
	assert.Equal(t, w120, def, "not a terminal: 120 columns")
	for _, level := range []string{"detailed", "summary", "minimal", "flows"} {
		for _, width := range []int{40, 80, 100, 160} {
			t.Run(fmt.Sprintf("%s/%d", level, width), func(t *testing.T) {
				code, stdout, stderr := netsim(t, "run", vxlan, "--level", level, "--width", fmt.Sprint(width))
				require.Equal(t, 0, code, stderr)
				for i, l := range strings.Split(stdout, "\n") {
					require.LessOrEqual(t, len([]rune(l)), width, "line %d: %q", i+1, l)
				}
			})
		}
	}
}

func TestTerminalWidth(t *testing.T) {
	var b bytes.Buffer
	assert.Equal(t, defaultWidth, terminalWidth(&b), "not a file")
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	t.Setenv("COLUMNS", "77")
	assert.Equal(t, defaultWidth, terminalWidth(f), "a file is not a terminal, whatever $COLUMNS says")
}

// exampleMarker opens a README block produced by a real run:
// <!-- example-trace: FILE flow NAME level LEVEL width N -->.
var exampleMarker = regexp.MustCompile(`(?s)<!-- example-trace: (\S+)((?: \w+ \S+)*) -->\n(.*?)<!-- /example-trace -->`)

// TestREADMEExampleTrace runs the command each example-trace marker of the
// README names and compares the block with its output; -update rewrites
// the blocks.
func TestREADMEExampleTrace(t *testing.T) {
	t.Chdir("../..")
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	matches := exampleMarker.FindAllSubmatchIndex(readme, -1)
	require.NotEmpty(t, matches, "README.md has no <!-- example-trace: … --> block")
	var out bytes.Buffer
	last := 0
	for _, m := range matches {
		file := string(readme[m[2]:m[3]])
		args := []string{"run", file}
		opts := strings.Fields(string(readme[m[4]:m[5]]))
		require.Zero(t, len(opts)%2, "marker options come in pairs: %q", opts)
		for i := 0; i < len(opts); i += 2 {
			args = append(args, "--"+opts[i], opts[i+1])
		}
		code, stdout, stderr := netsim(t, args...)
		require.Equal(t, 0, code, "%v: %s", args, stderr)
		want := "```\n" + stdout + "```\n"
		got := string(readme[m[6]:m[7]])
		if !*update {
			assert.Equal(t, want, got, "README example for %v is stale; run go test ./cmd/netsim -run TestREADMEExampleTrace -update", args)
		}
		out.Write(readme[last:m[6]])
		out.WriteString(want)
		last = m[7]
	}
	out.Write(readme[last:])
	if *update {
		require.NoError(t, os.WriteFile("README.md", out.Bytes(), 0o644))
	}
}

// TestTerminalWidthOfAPty opens a pseudo-terminal and checks that its
// window size is the default width, clamped to the minimum, with $COLUMNS
// when the window size is 0.
func TestTerminalWidthOfAPty(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	require.NoError(t, unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the pty's terminal: %v", err)
	}
	defer pts.Close()
	tests := []struct {
		cols    uint16
		columns string
		want    int
	}{
		{cols: 97, want: 97},
		{cols: 200, columns: "80", want: 200},
		{cols: 20, want: 40},
		{cols: 0, columns: "77", want: 77},
		{cols: 0, want: defaultWidth},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d cols, COLUMNS=%q", tc.cols, tc.columns), func(t *testing.T) {
			require.NoError(t, unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: tc.cols, Row: 24}))
			t.Setenv("COLUMNS", tc.columns)
			assert.Equal(t, tc.want, terminalWidth(pts))
		})
	}
}
