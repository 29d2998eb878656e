package gen_test

import (
	"io"
	"os"
	"testing"

	"netsim/sim"
	"netsim/topology"
)

func TestProfValidate(t *testing.T) {
	f := os.Getenv("NETSIM_PROF_FILE")
	if f == "" {
		t.Skip()
	}
	s, err := topology.LoadWith(f, topology.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sim.NewRunner(s)
	if err != nil {
		t.Fatal(err)
	}
	topology.WriteOverview(io.Discard, r.World)
}
