package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"

	"netsim/internal/columns"
	"netsim/sim/encapcost"
)

// cmdBench is `netsim bench model`: each CNI mode's modelled
// encapsulation cost, derived from traced runs of the simulator.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", stdout, stderr)
	out := fs.StringP("output", "o", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "netsim bench: %v\n", err)
		return exitBadInput
	}
	if fs.NArg() != 1 || fs.Arg(0) != "model" {
		fmt.Fprintf(stderr, "netsim bench: expected model (netsim bench model [-o text|json])\n")
		return exitBadInput
	}
	if *out != "text" && *out != "json" {
		fmt.Fprintf(stderr, "netsim bench: -o %q: expected text or json\n", *out)
		return exitBadInput
	}
	var costs []encapcost.Cost
	for _, m := range encapcost.Modes() {
		c, err := encapcost.Measure(m)
		if err != nil {
			fmt.Fprintf(stderr, "netsim bench model: %v\n", err)
			return exitUnmet
		}
		costs = append(costs, c)
	}
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Figures string           `json:"figures"`
			Modes   []encapcost.Cost `json:"modes"`
		}{"modelled", costs}); err != nil {
			fmt.Fprintf(stderr, "netsim bench model: %v\n", err)
			return exitUnmet
		}
		return exitOK
	}
	writeModel(stdout, costs)
	return exitOK
}

// writeModel prints the two model tables: bytes on the wire, per-packet
// work.
func writeModel(w io.Writer, costs []encapcost.Cost) {
	fmt.Fprintln(w, "Modelled encapsulation cost per CNI mode: figures of the simulator's model, not measurements.")
	fmt.Fprintln(w, "Derived, not written by hand: the pod MTU from the built world, frame sizes from a capture and the")
	fmt.Fprintln(w, "work from the trace of one UDP datagram from pod a (node-1) to pod b (node-2) after an exchange")
	fmt.Fprintln(w, "(neighbours resolved, conntrack ESTABLISHED), request direction only.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Bytes on the wire per payload byte: the underlay's Ethernet frame (14-byte header included; no")
	fmt.Fprintln(w, "preamble, FCS or inter-frame gap) over the UDP payload; max is the largest payload the pod MTU")
	fmt.Fprintln(w, "lets through unfragmented.")
	fmt.Fprintln(w)
	head := []string{"mode", "pod MTU", "+headers"}
	for _, n := range encapcost.Payloads {
		head = append(head, strconv.Itoa(n)+" B")
	}
	head = append(head, "max B", "at max")
	rows := [][]string{head}
	for _, c := range costs {
		r := []string{c.Mode, strconv.Itoa(c.PodMTU), strconv.Itoa(c.Overhead)}
		for _, x := range c.Wire[:len(c.Wire)-1] {
			r = append(r, strconv.FormatFloat(x.PerByte(), 'f', 3, 64))
		}
		last := c.Wire[len(c.Wire)-1]
		r = append(r, strconv.Itoa(last.Payload), strconv.FormatFloat(last.PerByte(), 'f', 3, 64))
		rows = append(rows, r)
	}
	columns.Write(w, rows, 0)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per-packet work of that datagram: namespaces entered (the VPC or L2 fabric counts as one), device")
	fmt.Fprintln(w, "transmissions, kernel route lookups, VPC/L2 fabric lookups, neighbour and FDB lookups, netfilter")
	fmt.Fprintln(w, "hooks in which a rule matched and the rules that matched, conntrack lookups, encapsulations,")
	fmt.Fprintln(w, "decapsulations and userspace steps (flanneld).")
	fmt.Fprintln(w)
	rows = [][]string{{"mode", "netns", "tx", "routes", "fabric", "neigh", "fdb", "nf hooks", "rules", "conntrack", "encap", "decap", "userspace"}}
	for _, c := range costs {
		k := c.Work
		r := []string{c.Mode}
		for _, n := range []int{k.Namespaces, k.Transmits, k.Routes, k.Fabric, k.Neighbours, k.FDB, k.Hooks, k.Rules, k.Conntrack, k.Encaps, k.Decaps, k.Userspace} {
			r = append(r, strconv.Itoa(n))
		}
		rows = append(rows, r)
	}
	columns.Write(w, rows, 0)
}
