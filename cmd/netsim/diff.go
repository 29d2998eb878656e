package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"netsim/sim"
	"netsim/topology"
)

// cmdDiff runs two scenarios and prints what differs. Exit status like
// diff(1): 0 the same, 1 different, 2 bad input.
func cmdDiff(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("diff", stdout, stderr)
	withMatrix := fs.Bool("matrix", false, "also compute both reachability matrices and print the cells that differ")
	ports := fs.IntSlice("port", nil, "with --matrix: destination `PORTS` to probe (default 80,81)")
	protos := fs.StringSlice("protocol", nil, "with --matrix: `PROTOCOLS` to probe: tcp, udp, sctp (default tcp)")
	namespaces := fs.StringSlice("namespaces", nil, "with --matrix: only the pods of these `NAMESPACES`")
	out := fs.StringP("output", "o", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "netsim diff: %v\n", err)
		return exitBadInput
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "netsim diff: expected two scenario files A.yaml B.yaml, got %d argument(s)%s (run \"netsim diff --help\")\n", fs.NArg(), argList(fs.Args()))
		return exitBadInput
	}
	if *out != "text" && *out != "json" {
		fmt.Fprintf(stderr, "netsim diff: -o %q: expected text or json\n", *out)
		return exitBadInput
	}
	if !*withMatrix {
		for _, f := range []string{"port", "protocol", "namespaces"} {
			if fs.Changed(f) {
				fmt.Fprintf(stderr, "netsim diff: --%s is a matrix option: add --matrix\n", f)
				return exitBadInput
			}
		}
	}
	o, err := sim.MatrixOptions{Ports: *ports, Protocols: *protos, Namespaces: *namespaces}.Normalize()
	if err != nil {
		flag := "--port"
		if strings.HasPrefix(err.Error(), "protocol") {
			flag = "--protocol"
		}
		fmt.Fprintf(stderr, "netsim diff: %s: %v\n", flag, err)
		return exitBadInput
	}
	var results [2]*sim.Result
	var matrices [2]*sim.Matrix
	for i, file := range fs.Args() {
		s, err := topology.LoadWith(file, loadOptions)
		if err != nil {
			return badInput(stderr, err)
		}
		r, err := sim.NewRunner(s)
		if err != nil {
			return badInput(stderr, err)
		}
		if results[i], err = r.Run(sim.Options{Trace: true}); err != nil {
			return badInput(stderr, err)
		}
		if *withMatrix {
			// A fresh world: the matrix must not see the flows' state.
			s, err := topology.LoadWith(file, loadOptions)
			if err != nil {
				return badInput(stderr, err)
			}
			if matrices[i], err = sim.RunMatrix(s, o); err != nil {
				return badInput(stderr, err)
			}
		}
	}
	d := sim.DiffResults(results[0], results[1])
	if *withMatrix {
		d.AddMatrices(matrices[0], matrices[1])
	}
	if *out == "json" {
		if err := sim.WriteDiffJSON(stdout, d); err != nil {
			fmt.Fprintf(stderr, "netsim diff: %v\n", err)
			return exitBadInput
		}
	} else {
		sim.WriteDiffText(stdout, d)
	}
	if !d.Same() {
		return exitUnmet
	}
	return exitOK
}

func argList(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return " (" + strings.Join(args, " ") + ")"
}
