package topology

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrintableEscapesTerminalControls(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, tabs\tand → arrows", "plain text, tabs\tand → arrows"},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"title\x1b]0;pwned\a", `title\x1b]0;pwned\x07`},
		{"line\nbreak", `line\x0abreak`},
		{"c1\u009bcsi", `c1\x9bcsi`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"bad \xff byte", `bad \xff byte`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Printable(tt.in), "%q", tt.in)
	}
}

func TestScenarioStringsMustBePrintable(t *testing.T) {
	tests := []struct{ field, value, want string }{
		{"name", `"a\e]0;pwned\a"`, `flows[0].name: the text holds the control character \x1b at offset 1`},
		{"description", `"d\u202e"`, `flows[0].description: the text holds the control character \u202e at offset 1`},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			text := strings.Replace(smallScenario, "{name: a-to-b,", fmt.Sprintf("{%s: %s, name: x,", tt.field, tt.value), 1)
			if tt.field == "name" {
				text = strings.Replace(smallScenario, "{name: a-to-b,", fmt.Sprintf("{name: %s,", tt.value), 1)
			}
			_, err := Parse("s.yaml", []byte(text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\x1b")
		})
	}
	// A description may span lines.
	_, err := Parse("s.yaml", []byte(strings.Replace(smallScenario, "{name: a-to-b,", `{description: "two\nlines", name: a-to-b,`, 1)))
	assert.NoError(t, err)
}

func TestTwentyDigitsAreTooLargeNotAFraction(t *testing.T) {
	_, err := Parse("s.yaml", []byte(strings.Replace(smallScenario, "expect: delivered}", "expect: delivered, count: 99999999999999999999}", 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flows[0].count: expected an integer, got 99999999999999999999 (too large for an integer)")
}

func TestTheStopLineIsPrintedPastTheListedProblems(t *testing.T) {
	var ps Problems
	for i := range MaxListed + 5 {
		ps = append(ps, Problem{File: "s.yaml", Line: i + 1, Column: 1, Path: fmt.Sprintf("x%d", i), Msg: fmt.Sprintf("problem %d", i)})
	}
	ps = append(ps, Problem{File: "s.yaml", Line: 500, Msg: "more than 10000 problems: " + StoppedChecking})
	lines := strings.Split(ps.Error(), "\n")
	require.Len(t, lines, MaxListed+2)
	assert.Equal(t, "... and 6 more problems (only the first 100 are listed)", lines[MaxListed])
	assert.Equal(t, "s.yaml:500: more than 10000 problems: netsim stopped checking here", lines[MaxListed+1])
}

const smallScenario = `name: small
vpc:
  cidr: 192.168.0.0/16
  vswitches:
    - {name: vsw-a, zone: z1, cidr: 192.168.0.0/24}
nodes:
  - {name: node-1, vswitch: vsw-a}
  - {name: node-2, vswitch: vsw-a}
cluster:
  podCIDR: 172.20.0.0/16
  serviceCIDR: 172.21.0.0/20
  cni: {mode: flannel, flannel: {backend: vxlan}}
pods:
  - {name: a, node: node-1}
  - {name: b, node: node-2}
flows:
  - {name: a-to-b, from: pod/a, to: pod/b, expect: delivered}
`
