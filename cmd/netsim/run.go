package main

import (
	"errors"
	"fmt"
	"io"

	"netsim/dataplane/pcap"
	"netsim/sim"
	"netsim/topology"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stdout, stderr)
	flow := fs.String("flow", "", "run only the flow with this `NAME`")
	out := fs.StringP("output", "o", "text", "output format: text or json")
	summary := fs.Bool("summary", false, "one line a flow, no traces (the same as --level flows)")
	level := fs.String("level", "detailed", "trace `LEVEL`: detailed (every hop), summary (a line per namespace crossed), minimal (the path), flows (no trace: one line a flow)")
	hide := fs.StringSlice("hide", nil, "leave these hop `KINDS` out of the text trace, e.g. arp,neigh,fdb,ct (arp: every hop of ARP packets)")
	node := fs.String("node", "", "print only the hops in the namespace `NAME` (node-1, default/web-1, vpc)")
	pcapFile := fs.String("pcap", "", "write every captured frame to this pcapng `FILE`")
	force := fs.Bool("force", false, "let --pcap overwrite an existing file that is not a capture")
	traceAll := fs.Bool("trace-all", false, "trace every exchange of a flow, not only the first")
	slow := fs.Bool("slow-path", false, "turn the fast path's caches off: every packet walks every chain (the output is the same; for checking that)")
	width := fs.Int("width", 0, "wrap every line at `N` columns (0: no wrapping; default: the terminal's width, else 120)")
	file, code := parse(fs, args, stderr)
	if code >= 0 {
		return code
	}
	if *out != "text" && *out != "json" {
		fmt.Fprintf(stderr, "netsim run: -o %q: expected text or json\n", *out)
		return exitBadInput
	}
	topts, flowsOnly, msg := textOptions(fs.Changed("width"), *width, *level, *summary, *hide, stdout)
	if msg != "" {
		fmt.Fprintf(stderr, "netsim run: %s\n", msg)
		return exitBadInput
	}
	r, code := loadWorld(file, stderr)
	if r == nil {
		return code
	}
	r.World.Env.SlowPath = *slow
	if msg := traceAllSize(r.World.Scenario, *flow); *traceAll && msg != "" {
		fmt.Fprintf(stderr, "netsim run: %s\n", msg)
		return exitBadInput
	}
	if *node != "" {
		name, msg := nodeName(r, *node)
		if msg != "" {
			fmt.Fprintf(stderr, "netsim run: --node %s\n", msg)
			return exitBadInput
		}
		topts.Filter.Node = name
	}
	// Outputs are opened and checked before the run: nothing is printed
	// when one cannot be written, and none is an input of the run.
	var sink *pcap.Sink
	var pcapOut *outFile
	if fs.Changed("pcap") {
		o, err := openOutput("--pcap", *pcapFile, r.World.Scenario.InputFiles(), *force)
		if err != nil {
			fmt.Fprintf(stderr, "netsim run: %v\n", err)
			return exitBadInput
		}
		defer o.abort()
		pcapOut = o
		sink, err = pcap.NewStreamSink(o.f, r.Loop.Now, r.Rec)
		if err != nil {
			fmt.Fprintf(stderr, "netsim run: %v\n", &outputError{flag: "--pcap", path: *pcapFile, err: err})
			return exitBadInput
		}
		r.World.Env.Capture = sink
	}
	// The report is written flow by flow and each flow's hops dropped once
	// written: memory does not grow with the traces of earlier flows.
	var jst *sim.JSONStream
	var tst *sim.TextStream
	switch {
	case *out == "json":
		jst = sim.NewJSONStream(stdout)
	case flowsOnly:
	default:
		tst = sim.NewTextStream(stdout, topts)
	}
	onFlow := func(res *sim.Result, fr *sim.FlowResult) error {
		if tst != nil {
			tst.Flow(res, fr)
		}
		if jst != nil {
			if err := jst.Flow(res, fr); err != nil {
				return &outputError{flag: "-o", path: "json", err: err}
			}
		}
		fr.DropTrace()
		if err := sink.Err(); err != nil {
			return &outputError{flag: "--pcap", path: *pcapFile, err: err}
		}
		return nil
	}
	// A traced exchange is written as it ends (a JSON flow's hops wait in a
	// temporary file for its verdict): --trace-all keeps no hop in memory.
	onExchange := func(res *sim.Result, fr *sim.FlowResult, x sim.ExchangeTrace) error {
		if tst != nil {
			tst.Exchange(res, fr, x)
		}
		if jst != nil {
			if err := jst.Exchange(res, fr, x); err != nil {
				return &outputError{flag: "-o", path: "json", err: err}
			}
		}
		return nil
	}
	opts := sim.Options{Flow: *flow, Trace: !flowsOnly || *out == "json" || sink != nil, TraceAll: *traceAll, OnFlow: onFlow, OnExchange: onExchange}
	if jst != nil {
		defer jst.Abort()
	}
	res, err := r.Run(opts)
	if err != nil {
		var oe *outputError
		if errors.As(err, &oe) {
			fmt.Fprintf(stderr, "netsim run: %v\n", oe)
			return exitBadInput
		}
		return badInput(stderr, err)
	}
	switch {
	case jst != nil:
		if err := jst.Close(res); err != nil {
			fmt.Fprintf(stderr, "netsim run: -o json: %v\n", err)
			return exitBadInput
		}
	case flowsOnly:
		sim.WriteSummaryWidth(stdout, res, topts.Width)
	default:
		tst.Close(res)
	}
	if sink != nil {
		err := sink.Flush()
		if err != nil {
			err = &outputError{flag: "--pcap", path: *pcapFile, err: err}
		} else {
			err = pcapOut.commit()
		}
		if err != nil {
			fmt.Fprintf(stderr, "netsim run: %v\n", err)
			return exitBadInput
		}
		fmt.Fprintf(stderr, "wrote %d frames on %d interfaces to %s\n", sink.Len(), len(sink.Interfaces()), *pcapFile)
		if pcapOut.tmp != "" { // not a device or a FIFO: a file to open afterwards
			pcapHints(r, *pcapFile, stderr)
		}
	}
	if !res.AllMet() {
		return exitUnmet
	}
	return exitOK
}

// pcapHints says how to open the capture with tshark and wireshark.
func pcapHints(r *sim.Runner, file string, stderr io.Writer) {
	sctp := ""
	for _, f := range r.World.Scenario.Flows {
		if f.Protocol == "sctp" {
			sctp = ` -o "sctp.checksum:CRC 32c"` // tshark checks SCTP's CRC32c only when asked
			break
		}
	}
	fmt.Fprintf(stderr, "open it with: tshark -r %s%s -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE%s\n", file, vxlanHint(r), sctp)
	decode := "  (Decode As… UDP port → VXLAN for the tunnel port)"
	if f := r.World.Scenario.Cluster.CNI.Flannel; f != nil && f.Backend == "udp" {
		decode = "  (Decode As… UDP port → IPv4 for flannel's udp port)"
	} else if len(r.World.Env.VXLANPorts) == 0 {
		decode = "" // IPIP (IP protocol 4) and plain routing need no Decode As
	}
	fmt.Fprintf(stderr, "         or: wireshark %s%s\n", file, decode)
}

func vxlanHint(r *sim.Runner) string {
	s := ""
	for _, p := range r.World.Env.VXLANPorts {
		s += fmt.Sprintf(" -d udp.port==%d,vxlan", p)
	}
	// flannel udp: the payload is a bare IP packet (no dissector of its own).
	if f := r.World.Scenario.Cluster.CNI.Flannel; f != nil && f.Backend == "udp" && f.Port != nil {
		s += fmt.Sprintf(" -d udp.port==%d,ip", *f.Port)
	}
	return s
}

// badInput prints a load/build error and returns exit code 2.
func badInput(stderr io.Writer, err error) int {
	var probs topology.Problems
	if errors.As(err, &probs) {
		fmt.Fprintf(stderr, "%s\n", probs.Error())
		fmt.Fprintf(stderr, "netsim: %d problem(s); nothing was run\n", len(probs))
		return exitBadInput
	}
	fmt.Fprintf(stderr, "netsim: %s\n", topology.Printable(err.Error()))
	return exitBadInput
}
