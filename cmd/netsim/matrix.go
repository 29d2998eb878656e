package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"netsim/sim"
	"netsim/topology"
)

func cmdMatrix(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("matrix", stdout, stderr)
	ports := fs.IntSlice("port", nil, "destination `PORTS` to probe, comma-separated (default 80,81)")
	protos := fs.StringSlice("protocol", nil, "`PROTOCOLS` to probe: tcp, udp, sctp, comma-separated (default tcp)")
	namespaces := fs.StringSlice("namespaces", nil, "only the pods of these `NAMESPACES` (default: every namespace with pods)")
	services := fs.StringSlice("service", nil, "add a destination column per Service (`SVC`: NAME or NS/NAME, or all), probed at its ClusterIP")
	external := fs.StringSlice("external", nil, "add a destination column per `ENDPOINT` outside the pod network: ecs/NAME, node/NAME or an IPv4 address")
	view := fs.String("view", sim.ViewCombined, "`VIEW`: combined (every unanswered probe), ingress or egress (only what a policy of that direction denied), all")
	out := fs.StringP("output", "o", "text", "output format: text or json")
	sample := fs.Int("sample", 0, "probe only `N` pods, evenly spaced over the pods sorted by namespace/name (rows and pod columns); 0: every pod")
	denied := fs.Bool("denied", false, "after the grids, list every denied cell with its reason, where and why (text output)")
	file, code := parse(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if *out != "text" && *out != "json" {
		fmt.Fprintf(stderr, "netsim matrix: -o %q: expected text or json\n", *out)
		return exitBadInput
	}
	if !slices.Contains(sim.MatrixViews, *view) {
		fmt.Fprintf(stderr, "netsim matrix: --view %q: expected %s\n", *view, strings.Join(sim.MatrixViews, ", "))
		return exitBadInput
	}
	o, err := sim.MatrixOptions{Ports: *ports, Protocols: *protos, Namespaces: *namespaces, Services: *services, External: *external, Sample: *sample}.Normalize()
	if err != nil {
		flag := "--port"
		switch {
		case strings.HasPrefix(err.Error(), "protocol"):
			flag = "--protocol"
		case strings.HasPrefix(err.Error(), "sample"):
			flag = "--sample"
		}
		fmt.Fprintf(stderr, "netsim matrix: %s: %v\n", flag, err)
		return exitBadInput
	}
	s, err := topology.LoadWith(file, loadOptions)
	if err != nil {
		return badInput(stderr, err)
	}
	if msg := matrixSize(s, o); msg != "" {
		fmt.Fprintf(stderr, "netsim matrix: %s\n", msg)
		return exitBadInput
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(matrixMemoryLimit))
	}
	m, err := sim.RunMatrix(s, o)
	if err != nil {
		return badInput(stderr, err)
	}
	if *out == "json" {
		if err := sim.WriteMatrixJSON(stdout, m); err != nil {
			fmt.Fprintf(stderr, "netsim matrix: %v\n", err)
			return exitBadInput
		}
		return exitOK
	}
	sim.WriteMatrixText(stdout, m, *view)
	if *denied {
		sim.WriteMatrixDenied(stdout, m)
	}
	return exitOK
}
