// Command netsim builds a Kubernetes-on-ACK network from a scenario file and
// pushes real packets through it, showing every hop.
//
// This package is the CLI only: flags, subcommands and output; the work is
// in sim, topology and dataplane.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes.
const (
	exitOK       = 0
	exitUnmet    = 1
	exitBadInput = 2
)

type command struct {
	name, usage, short string
	run                func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "netsim run FILE [--flow NAME] [-o text|json] [--level detailed|summary|minimal|flows] [--summary] [--hide KINDS] [--node NAME] [--pcap FILE [--force]] [--trace-all] [--width N]", "build the scenario, send its flows, print hop-by-hop traces", cmdRun},
		{"validate", "netsim validate FILE", "check a scenario file and build it without sending traffic", cmdValidate},
		{"show", "netsim show FILE [--node NAME] [--after NAME]", "print each namespace's addresses, sysctls, routes, neighbours, FDBs, iptables and IPVS, and the VPC route table (--after: the state after the actions up to NAME)", cmdShow},
		{"iptables-save", "netsim iptables-save FILE --node NAME [-t TABLE] [-c]", "print a node's iptables as iptables-save does", cmdIPTablesSave},
		{"ipvsadm", "netsim ipvsadm FILE --node NAME", "print a node's IPVS table as ipvsadm -Ln does (proxyMode: ipvs)", cmdIPVSAdm},
		{"conntrack", "netsim conntrack FILE --node NAME [--flow NAME]", "run the flows, then print a node's conntrack table as conntrack -L does", cmdConntrack},
		{"matrix", "netsim matrix FILE [--port P,...] [--protocol tcp|udp|sctp,...] [--namespaces NS,...] [--service SVC,...] [--external ENDPOINT,...] [--view combined|ingress|egress|all] [--denied] [-o text|json]", "probe every pair of pods (rows sources, columns destinations) through the data plane and print the reachability grid", cmdMatrix},
		{"diff", "netsim diff A.yaml B.yaml [--matrix] [matrix flags] [-o text|json]", "run the flows of two scenarios (matched by name) and print what differs: verdicts, drop reasons, sources seen, paths (--matrix: the grid cells too)", cmdDiff},
		{"plan", "netsim plan FILE [-o text|json] [--compare] | netsim plan --rules [-o text|json] | netsim plan --suggest --vpc CIDR --nodes N --pods-per-node P --cni MODE [--zones Z,...] [--instance-type T] [--services S] [-o yaml|json]", "check an ACK network plan against every planning rule and report its capacity (--compare: Flannel vs Terway side by side; --rules: the rule table; --suggest: propose a valid plan)", cmdPlan},
		{"emulate", "netsim emulate FILE [--pods a,b,...] [--no-hosts] [--pcap FILE [--force]] [--trace [--level detailed|summary|minimal]] [--duration D] | netsim emulate --cleanup FILE", "run the scenario in real time: every pod a network namespace with a TAP eth0, the cluster between them simulated (root)", cmdEmulate},
		{"exec", "netsim exec FILE POD -- COMMAND [ARGS...]", "run a command in an emulated pod's network namespace (ping, curl, tcpdump, ip route get)", cmdExec},
		{"kernel", "netsim kernel up|down|verify FILE [-o text|json]", "build the scenario from real kernel devices in network namespaces (up, down), or compare every flow's verdict and source between the simulator and that build (verify; root)", cmdKernel},
		{"gen", "netsim gen --cni MODE --nodes N --pods P [-o FILE [--force]]", "write a generated scenario of N nodes × P pods for one CNI (flannel-vxlan, flannel-hostgw, flannel-alivpc, terway, calico-ipip, calico-bgp), for measuring scale", cmdGen},
		{"bench", "netsim bench model [-o text|json]", "print each CNI mode's modelled encapsulation cost: bytes on the wire per payload byte, per-packet work (derived from traced runs)", cmdBench},
		{"version", "netsim version", "print the version", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `netsim — packet-level simulator of Kubernetes container networking on Alibaba Cloud ACK

Usage:
  netsim COMMAND [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, `
Run "netsim COMMAND --help" for a command's flags.
Exit codes: 0 every flow met its expectation, 1 some did not, 2 bad input or usage
(diff: 0 the scenarios behave the same, 1 they differ, 2 bad input;
plan: 0 every rule passed, 1 some rule reported an error or a warning, or
--suggest found no valid plan, 2 bad input or usage).
`)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitBadInput
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "--version":
		return cmdVersion(nil, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if msg := checkFlags(c.name, args[1:]); msg != "" {
				fmt.Fprintf(stderr, "netsim %s: %s\n", c.name, msg)
				return exitBadInput
			}
			return c.run(args[1:], stdout, stderr)
		}
	}
	unknownCommand(stderr, args[0])
	return exitBadInput
}

// newFlags makes a flag set that prints the command's usage on --help.
func newFlags(name string, stdout, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	registerFlags(name, fs)
	var u string
	for _, c := range commands() {
		if c.name == name {
			u = c.usage + "\n\n" + c.short
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: %s\n", u)
		if fs.HasFlags() {
			fmt.Fprintf(stdout, "\nFlags:\n%s", fs.FlagUsages())
		}
	}
	if name != "version" {
		fs.BoolVar(&loadOptions.AllowOutside, "allow-outside", false, "read manifests outside the scenario file's directory")
	}
	return fs
}

// parse parses flags and wants exactly one FILE argument. It returns the
// exit code to stop with, or -1 to go on.
func parse(fs *pflag.FlagSet, args []string, stderr io.Writer) (string, int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return "", exitOK
		}
		fmt.Fprintf(stderr, "netsim %s: %v\n", fs.Name(), err)
		return "", exitBadInput
	}
	switch fs.NArg() {
	case 1:
	case 0:
		fmt.Fprintf(stderr, "netsim %s: missing the scenario FILE (run \"netsim %s --help\")\n", fs.Name(), fs.Name())
		return "", exitBadInput
	default:
		fmt.Fprintf(stderr, "netsim %s: expected one scenario FILE, got %d arguments (%s)\n", fs.Name(), fs.NArg(), strings.Join(fs.Args(), " "))
		return "", exitBadInput
	}
	return fs.Arg(0), -1
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", stdout, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "netsim version: %v\n", err)
		return exitBadInput
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "netsim version: takes no arguments, got %d (%s)\n", fs.NArg(), strings.Join(fs.Args(), " "))
		return exitBadInput
	}
	fmt.Fprintf(stdout, "netsim %s\n", version)
	return exitOK
}
