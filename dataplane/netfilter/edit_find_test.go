package netfilter

import (
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
