package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"netsim/internal/prose"
	"netsim/sim"
	"netsim/sim/emulate"
	"netsim/sim/kernelverify"
	"netsim/topology"
	"netsim/topology/kernel"
)

// kernelPrefix is the namespace prefix of `netsim kernel up` for s.
// The dot cannot occur in a scenario name (lowercase letters, digits and
// '-'), so the prefix of "a" never matches the namespaces of "a-b".
func kernelPrefix(s *topology.Scenario) string { return "nsk-" + s.Name + "." }

func cmdKernel(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("kernel", stdout, stderr)
	out := fs.StringP("output", "o", "text", "verify's output format: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "netsim kernel: %v\n", err)
		return exitBadInput
	}
	if fs.NArg() != 2 || !map[string]bool{"up": true, "down": true, "verify": true}[fs.Arg(0)] {
		fmt.Fprintf(stderr, "netsim kernel: expected up, down or verify and one scenario FILE (netsim kernel up|down|verify FILE)\n")
		return exitBadInput
	}
	if *out != "text" && *out != "json" {
		fmt.Fprintf(stderr, "netsim kernel: -o %q: expected text or json\n", *out)
		return exitBadInput
	}
	verb, file := fs.Arg(0), fs.Arg(1)
	s, err := topology.LoadWith(file, loadOptions)
	if err != nil {
		return badInput(stderr, err)
	}
	if err := emulate.CheckPrivileges(); err != nil {
		fmt.Fprintf(stderr, "netsim kernel %s: %v\n", verb, err)
		return exitBadInput
	}
	prefix := kernelPrefix(s)
	switch verb {
	case "down":
		left, err := emulate.Leftovers(prefix)
		if err != nil {
			fmt.Fprintf(stderr, "netsim kernel down: %v\n", err)
			return exitUnmet
		}
		n := kernel.New("")
		for _, ns := range left {
			if err := n.DeleteNS(ns); err != nil {
				fmt.Fprintf(stderr, "netsim kernel down: %v\n", err)
				return exitUnmet
			}
		}
		fmt.Fprintf(stdout, "removed %d namespaces of %q\n", len(left), s.Name)
		return exitOK
	case "up":
		if left, _ := emulate.Leftovers(prefix); len(left) > 0 {
			fmt.Fprintf(stderr, "netsim kernel up: %q is already up (%d namespaces %s*): `netsim kernel down %s` first\n", s.Name, len(left), prefix, file)
			return exitBadInput
		}
		if err := kernel.Supported(prefix + "probe-"); err != nil {
			fmt.Fprintf(stderr, "netsim kernel up: %v\n", err)
			return exitBadInput
		}
		r, err := sim.NewRunner(s)
		if err != nil {
			return badInput(stderr, err)
		}
		n, err := kernel.Realise(r.World, prefix)
		if err != nil {
			fmt.Fprintf(stderr, "netsim kernel up: %q: %v\n", s.Name, err)
			return exitBadInput
		}
		names := make([]string, 0, len(n.NS))
		for k := range n.NS {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(stdout, "built %q from kernel devices (%d commands): %d namespaces, plus %sunderlay or %svrouter for the underlay\n\n", s.Name, len(n.Log), len(names), prefix, prefix)
		for _, k := range names {
			fmt.Fprintf(stdout, "  %-32s %s\n", k, n.NS[k])
		}
		fmt.Fprintf(stdout, "\nenter one with `ip netns exec NAMESPACE sh`; remove them all with `netsim kernel down %s`\n", file)
		return exitOK
	}
	// verify: a private prefix, removed at the end, also on a signal.
	vprefix := fmt.Sprintf("nskv%d.", os.Getpid())
	if err := kernel.Supported(vprefix + "probe-"); err != nil {
		fmt.Fprintf(stderr, "netsim kernel verify: %v\n", err)
		return exitBadInput
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	stopping := make(chan struct{})
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		close(stopping)
		// The build may still be making namespaces (an `ip netns add`
		// in flight): delete until none has been seen for two checks.
		n := kernel.New("")
		for quiet, tries := 0, 0; quiet < 2 && tries < 50; tries++ {
			left, _ := emulate.Leftovers(vprefix)
			if len(left) == 0 {
				quiet++
			} else {
				quiet = 0
			}
			for _, ns := range left {
				n.DeleteNS(ns)
			}
			time.Sleep(50 * time.Millisecond)
		}
		code := 130
		if sn, ok := sig.(syscall.Signal); ok {
			code = 128 + int(sn)
		}
		os.Exit(code)
	}()
	rep, err := kernelverify.Verify(s, vprefix)
	select {
	case <-stopping:
		// Interrupted: the handler removes the namespaces and exits with
		// 128+signal; what the cut-short build says is not a result.
		select {}
	default:
	}
	if err != nil {
		var probs topology.Problems
		if errors.As(err, &probs) {
			return badInput(stderr, err)
		}
		fmt.Fprintf(stderr, "netsim kernel verify: %v\n", err)
		return exitUnmet
	}
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		writeVerify(stdout, rep)
	}
	if rep.Disagreements() > 0 {
		return exitUnmet
	}
	return exitOK
}

func writeVerify(w io.Writer, rep *kernelverify.Report) {
	fmt.Fprintf(w, "scenario %s (%s): the simulator against the same topology built from kernel devices\n", rep.Scenario, rep.File)
	if rep.Skipped != "" {
		fmt.Fprintf(w, "skipped: %s\n", rep.Skipped)
		return
	}
	fw := len("FLOW")
	for _, r := range rep.Rows {
		fw = max(fw, len(r.Flow))
	}
	fmt.Fprintf(w, "\n  %-*s %-28s %-30s %-15s %-15s %s\n", fw, "FLOW", "SIMULATOR", "KERNEL", "SIM SOURCE", "KERNEL SOURCE", "")
	ran, agree := 0, 0
	for _, r := range rep.Rows {
		if r.Skipped != "" {
			fmt.Fprintf(w, "  %-*s skipped: %s\n", fw, r.Flow, r.Skipped)
			continue
		}
		ran++
		mark := "DISAGREE"
		if r.Agree {
			mark, agree = "agree", agree+1
		}
		fmt.Fprintf(w, "  %-*s %-28s %-30s %-15s %-15s %s\n", fw, r.Flow, verdictCell(r.Sim, r.SimWhy), verdictCell(r.Kernel, r.KernelWhy), dash(r.SimSource), dash(r.KernelSource), mark)
		if r.Note != "" {
			fmt.Fprintf(w, "  %-*s   %s\n", fw, "", r.Note)
		}
	}
	fmt.Fprintf(w, "\n%s compared: %d agree, %d disagree; %d skipped\n", prose.Count(ran, "flow"), agree, ran-agree, len(rep.Rows)-ran)
}

func verdictCell(v, why string) string {
	if why == "" || v == "delivered" {
		return v
	}
	return v + " (" + why + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
