package main

import (
	"errors"
	"fmt"
	"io"
	"os"

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
	traceAll := fs.Bool("trace-all", false, "trace every exchange of a flow, not only the first")
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
	var sink *pcap.Sink
	if *pcapFile != "" {
		sink = pcap.NewSink(r.Loop.Now, r.Rec)
		r.World.Env.Capture = sink
	}
	opts := sim.Options{Flow: *flow, Trace: !flowsOnly || *out == "json" || sink != nil, TraceAll: *traceAll}
	res, err := r.Run(opts)
	if err != nil {
		return badInput(stderr, err)
	}
	switch {
	case *out == "json":
		if err := sim.WriteJSON(stdout, res); err != nil {
			fmt.Fprintf(stderr, "netsim run: %v\n", err)
			return exitBadInput
		}
	case flowsOnly:
		sim.WriteSummaryWidth(stdout, res, topts.Width)
	default:
		sim.WriteTextOptions(stdout, res, topts)
	}
	if sink != nil {
		if err := writePcap(*pcapFile, sink); err != nil {
			fmt.Fprintf(stderr, "netsim run: %v\n", err)
			return exitBadInput
		}
		fmt.Fprintf(stderr, "wrote %d frames on %d interfaces to %s\n", sink.Len(), len(sink.Interfaces()), *pcapFile)
		sctp := ""
		for _, f := range r.World.Scenario.Flows {
			if f.Protocol == "sctp" {
				sctp = ` -o "sctp.checksum:CRC 32c"` // tshark checks SCTP's CRC32c only when asked
				break
			}
		}
		fmt.Fprintf(stderr, "open it with: tshark -r %s%s -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE%s\n", *pcapFile, vxlanHint(r), sctp)
		decode := "  (Decode As… UDP port → VXLAN for the tunnel port)"
		if f := r.World.Scenario.Cluster.CNI.Flannel; f != nil && f.Backend == "udp" {
			decode = "  (Decode As… UDP port → IPv4 for flannel's udp port)"
		} else if len(r.World.Env.VXLANPorts) == 0 {
			decode = "" // IPIP (IP protocol 4) and plain routing need no Decode As
		}
		fmt.Fprintf(stderr, "         or: wireshark %s%s\n", *pcapFile, decode)
	}
	if !res.AllMet() {
		return exitUnmet
	}
	return exitOK
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

func writePcap(path string, sink *pcap.Sink) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("pcap %s: %w", path, err)
	}
	if err := sink.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("pcap %s: %w", path, err)
	}
	return f.Close()
}

// badInput prints a load/build error and returns exit code 2.
func badInput(stderr io.Writer, err error) int {
	var probs topology.Problems
	if errors.As(err, &probs) {
		fmt.Fprintf(stderr, "%s\n", probs.Error())
		fmt.Fprintf(stderr, "netsim: %d problem(s); nothing was run\n", len(probs))
		return exitBadInput
	}
	fmt.Fprintf(stderr, "netsim: %v\n", err)
	return exitBadInput
}
