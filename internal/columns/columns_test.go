package columns

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		rows [][]string
		left []int
		want string
	}{
		{"first left, others right", [][]string{{"path", "ns"}, {"same-node", "344.5"}, {"vxlan", "1500.0"}}, []int{0},
			"path           ns\n---------  ------\nsame-node   344.5\nvxlan      1500.0\n"},
		{"last left by a negative index, runes counted", [][]string{{"mode", "× host-gw", "figures"}, {"vxlan", "0.87", "measured"}}, []int{0, -1},
			"mode   × host-gw  figures\n-----  ---------  --------\nvxlan       0.87  measured\n"},
		{"none", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			Write(&b, tt.rows, tt.left...)
			assert.Equal(t, tt.want, b.String())
		})
	}
}
