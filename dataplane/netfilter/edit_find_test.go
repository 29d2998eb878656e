package netfilter

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// samePrinted is findRule's comparison: it must agree with comparing the
// printed rules, whatever pieces print them.
func TestSamePrintedIsStringEquality(t *testing.T) {
	parse := func(l string) *Rule {
		r, err := ParseRule(l)
		require.NoError(t, err, l)
		return r
	}
	tests := []struct {
		name string
		a, b *Rule
	}{
		{"same line", parse("-A INPUT -s 10.0.0.1/32 -j ACCEPT"), parse("-A INPUT -s 10.0.0.1/32 -j ACCEPT")},
		{"other chain", parse("-A INPUT -j ACCEPT"), parse("-A OUTPUT -j ACCEPT")},
		{"other target", parse("-A INPUT -j ACCEPT"), parse("-A INPUT -j DROP")},
		{"same length", parse("-A INPUT -s 10.0.0.1/32 -j ACCEPT"), parse("-A INPUT -s 10.0.0.2/32 -j ACCEPT")},
		{"canonical the same", parse(`-A INPUT -m comment --comment "a b" -j ACCEPT`), parse(`-A INPUT -m comment --comment "a b" -j ACCEPT`)},
		{"empty match pieces", &Rule{Chain: "X", matches: []string{"-m a", "", "-m b"}, target: "-j ACCEPT"},
			&Rule{Chain: "X", matches: []string{"-m a", "-m b"}, target: "-j ACCEPT"}},
		{"pieces split otherwise", &Rule{Chain: "X", basic: []string{"-s 1.2.3.4/32 -d 5.6.7.8/32"}},
			&Rule{Chain: "X", basic: []string{"-s 1.2.3.4/32", "-d 5.6.7.8/32"}}},
		{"no target", &Rule{Chain: "X", basic: []string{"-p tcp"}}, &Rule{Chain: "X", basic: []string{"-p udp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, len(tt.a.String()), tt.a.printedLen())
			assert.Equal(t, len(tt.b.String()), tt.b.printedLen())
			assert.Equal(t, tt.a.String() == tt.b.String(), samePrinted(tt.a, tt.b), "%s | %s", tt.a, tt.b)
		})
	}
}

// cmdLineFields is cmdLine as it was written first, splitting the whole
// line: the reference for cmdLine, which splits only its first words.
func cmdLineFields(line string, cmds ...string) (string, int, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", 0, fmt.Errorf("rule %q: expected %s CHAIN ...", line, cmds[0])
	}
	ok := false
	for _, c := range cmds {
		ok = ok || f[0] == c
	}
	if !ok {
		return "", 0, fmt.Errorf("rule %q: expected %s CHAIN ...", line, cmds[0])
	}
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), f[0]))
	rest = strings.TrimSpace(strings.TrimPrefix(rest, f[1]))
	num := 0
	if len(f) > 2 {
		if n, err := strconv.Atoi(f[2]); err == nil {
			if n < 1 {
				return "", 0, fmt.Errorf("rule %q: rule numbers start at 1", line)
			}
			num = n
			rest = strings.TrimSpace(strings.TrimPrefix(rest, f[2]))
		}
	}
	return "-A " + f[1] + " " + rest, num, nil
}

func TestCmdLineSplitsLikeFields(t *testing.T) {
	for _, line := range []string{
		"-I INPUT -j ACCEPT", "-I INPUT 3 -s 10.0.0.0/8 -j DROP", "  -I\tINPUT   2   -j ACCEPT  ",
		"-I INPUT", "-I INPUT 0 -j ACCEPT", "-I INPUT -1 -j ACCEPT", "-I", "", "   ", "-A INPUT -j ACCEPT",
		"-C KUBE-SERVICES -m comment --comment \"a  b\" -j X", "-I INPUT 7", "--insert FORWARD 1 -j ACCEPT",
		"-I\u00a0INPUT\u2003-j ACCEPT", "-D OUTPUT 2x -j ACCEPT",
	} {
		for _, cmds := range [][]string{{"-I", "--insert"}, {"-C", "--check", "-A", "--append"}, {"-D", "--delete"}} {
			wr, wn, werr := cmdLineFields(line, cmds...)
			gr, gn, gerr := cmdLine(line, cmds...)
			assert.Equal(t, [3]any{wr, wn, fmt.Sprint(werr)}, [3]any{gr, gn, fmt.Sprint(gerr)}, "%q %v", line, cmds)
		}
	}
}
