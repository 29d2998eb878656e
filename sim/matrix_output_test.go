package sim_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
)

// TestMatrixJSONStreamed: the streamed JSON of a matrix is byte for byte
// what encoding/json writes for the whole value (indented, HTML escaping
// off), whatever the strings hold.
func TestMatrixJSONStreamed(t *testing.T) {
	m, err := sim.RunMatrix(loadMatrixScenario(t, "denials"), sim.MatrixOptions{Protocols: []string{"tcp", "udp"}, Services: []string{"x/web"}, External: []string{"ecs/ecs-db"}})
	require.NoError(t, err)
	odd := []string{
		`quote " and backslash \`, "tab\tnewline\nreturn\r", "bell \a backspace \b formfeed \f nul \x00",
		"html <b>&amp;</b>", "em dash — and é", "invalid \xff\xfe utf-8", "line separator \u2028 paragraph \u2029",
		"emoji 🙂", "",
	}
	for i := range m.Cells {
		c := &m.Cells[i]
		if i%3 == 0 {
			c.Detail = odd[i%len(odd)]
			c.Where = odd[(i+1)%len(odd)]
			c.Policy = odd[(i+2)%len(odd)]
		}
	}
	tests := []struct {
		name string
		m    *sim.Matrix
	}{
		{"cells with odd strings", m},
		{"no cells", &sim.Matrix{Schema: 1, Scenario: "empty", Pods: []string{}, Ports: []int{80}, Protocols: []string{"tcp"}}},
		{"nil cells", &sim.Matrix{Schema: 1, Scenario: "nil"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			require.NoError(t, enc.Encode(struct {
				*sim.Matrix
				Summary sim.MatrixCounts `json:"summary"`
			}{tt.m, tt.m.Counts(0, "")}))
			var got bytes.Buffer
			require.NoError(t, sim.WriteMatrixJSON(&got, tt.m))
			assert.Equal(t, want.String(), got.String())
		})
	}
}

// TestMatrixCellLookup: Cell finds every cell by arithmetic when the cells
// are in the order the matrix probes them, and by a map when they are not
// (a matrix put together otherwise).
func TestMatrixCellLookup(t *testing.T) {
	m, err := sim.RunMatrix(loadMatrixScenario(t, "denials"), sim.MatrixOptions{Protocols: []string{"tcp", "udp"}, Services: []string{"x/web"}})
	require.NoError(t, err)
	cells := append([]sim.MatrixCell(nil), m.Cells...)
	shuffled := *m
	shuffled.Cells = append([]sim.MatrixCell(nil), m.Cells...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled.Cells), func(i, j int) {
		shuffled.Cells[i], shuffled.Cells[j] = shuffled.Cells[j], shuffled.Cells[i]
	})
	for _, mm := range []*sim.Matrix{m, &shuffled} {
		for _, want := range cells {
			got, ok := mm.Cell(want.From, want.To, want.Port, want.Protocol)
			require.True(t, ok, "%s -> %s %s/%d", want.From, want.To, want.Protocol, want.Port)
			require.Equal(t, want, got)
		}
		got, ok := mm.Cell("x/a", "x/b", 80, "TCP")
		assert.True(t, ok, "the protocol in any case")
		assert.Equal(t, "tcp", got.Protocol)
		for _, miss := range []struct {
			from, to, proto string
			port            int
		}{{"x/a", "x/b", "tcp", 82}, {"x/a", "x/b", "sctp", 80}, {"q/a", "x/b", "tcp", 80}, {"x/a", "q/b", "tcp", 80}} {
			_, ok := mm.Cell(miss.from, miss.to, miss.port, miss.proto)
			assert.False(t, ok, "%+v", miss)
		}
	}
}
