package sim_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/sim"
	"netsim/topology"
)

// TestStreamsWriteTheSameBytes: the JSON and text reports written flow by
// flow from Options.OnFlow, or exchange by exchange from
// Options.OnExchange, with each flow's hops dropped once written, are byte
// for byte the documents WriteJSON and WriteTextOptions write from the
// whole result (the goldens), with the first or every exchange traced.
func TestStreamsWriteTheSameBytes(t *testing.T) {
	for _, f := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		for _, mode := range []struct {
			name               string
			traceAll, exchange bool
			spill              bool // the hops go to a temporary file at once
		}{{"by flow", false, false, false}, {"by exchange", false, true, false}, {"every exchange", true, true, false}, {"every exchange through a file", true, true, true}} {
			t.Run(name+"/"+mode.name, func(t *testing.T) {
				run := func(opts sim.Options) (*sim.Runner, *sim.Result) {
					s, err := topology.Load(f)
					require.NoError(t, err)
					r, err := sim.NewRunner(s)
					require.NoError(t, err)
					opts.Trace, opts.TraceAll = true, mode.traceAll
					res, err := r.Run(opts)
					require.NoError(t, err)
					return r, res
				}
				_, whole := run(sim.Options{})
				var wantJS, wantTxt bytes.Buffer
				require.NoError(t, sim.WriteJSON(&wantJS, whole))
				sim.WriteTextOptions(&wantTxt, whole, sim.TextOptions{Width: 120})

				if mode.spill {
					old := *sim.SpillAt
					*sim.SpillAt = 0
					defer func() { *sim.SpillAt = old }()
				}
				var js, txt bytes.Buffer
				jst, tst := sim.NewJSONStream(&js), sim.NewTextStream(&txt, sim.TextOptions{Width: 120})
				opts := sim.Options{OnFlow: func(res *sim.Result, fr *sim.FlowResult) error {
					tst.Flow(res, fr)
					err := jst.Flow(res, fr)
					fr.DropTrace()
					return err
				}}
				if mode.exchange {
					opts.OnExchange = func(res *sim.Result, fr *sim.FlowResult, x sim.ExchangeTrace) error {
						tst.Exchange(res, fr, x)
						return jst.Exchange(res, fr, x)
					}
				}
				_, res := run(opts)
				require.NoError(t, jst.Close(res))
				tst.Close(res)
				for _, fr := range res.Flows {
					assert.Nil(t, fr.Hops, "flow %s keeps its hops", fr.Name)
				}
				assert.Equal(t, wantJS.String(), js.String())
				assert.Equal(t, wantTxt.String(), txt.String())
			})
		}
	}
}

// TestOnFlowErrorStopsTheRun: an error of the callback (a full disk)
// ends the run at that flow.
func TestOnFlowErrorStopsTheRun(t *testing.T) {
	s, err := topology.Load("../scenarios/flannel-vxlan.yaml")
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	boom := errors.New("boom")
	calls := 0
	_, err = r.Run(sim.Options{OnFlow: func(*sim.Result, *sim.FlowResult) error { calls++; return boom }})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, calls)
}

// TestJSONStreamWithoutFlows: a result with no flow closes as WriteJSON
// writes it.
func TestJSONStreamWithoutFlows(t *testing.T) {
	res := &sim.Result{Schema: sim.SchemaVersion, Scenario: "x", Notes: []string{`a "flows": null note`}}
	var want, got bytes.Buffer
	require.NoError(t, sim.WriteJSON(&want, res))
	require.NoError(t, sim.NewJSONStream(&got).Close(res))
	assert.Equal(t, want.String(), got.String())
}
