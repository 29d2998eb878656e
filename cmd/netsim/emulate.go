package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"netsim/dataplane/link"
	"netsim/dataplane/pcap"
	"netsim/dataplane/trace"
	"netsim/sim"
	"netsim/sim/emulate"
	"netsim/topology"
)

func cmdEmulate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("emulate", stdout, stderr)
	pods := fs.StringSlice("pods", nil, "emulate only these pods (`a,b,…`: NAME or NAMESPACE/NAME); the others stay simulated")
	noHosts := fs.Bool("no-hosts", false, "leave the ECS instances and the internet client simulated")
	noEcho := fs.Bool("no-echo", false, "start no echo server on the endpoints' declared ports (run your own programs there)")
	pcapFile := fs.String("pcap", "", "write every frame crossing a simulated device to this pcapng `FILE` (written until the end)")
	force := fs.Bool("force", false, "let --pcap overwrite an existing file")
	traceOn := fs.Bool("trace", false, "print the hops of every live packet as it is forwarded")
	level := fs.String("level", "summary", "trace `LEVEL` with --trace: detailed, summary or minimal")
	width := fs.Int("width", 0, "wrap trace lines at `N` columns (0: no wrapping)")
	duration := fs.Duration("duration", 0, "stop after this long (e.g. 30s; 0: until Ctrl-C or SIGTERM)")
	cleanup := fs.Bool("cleanup", false, "remove the namespaces and lock left by a crashed emulation of FILE, then exit")
	file, code := parse(fs, args, stderr)
	if code >= 0 {
		return code
	}
	s, err := topology.LoadWith(file, loadOptions)
	if err != nil {
		return badInput(stderr, err)
	}
	prefix := emulate.PrefixFor(s)
	if err := emulate.CheckPrivileges(); err != nil {
		fmt.Fprintf(stderr, "netsim emulate: %v\n", err)
		return exitBadInput
	}
	if *cleanup {
		gone, err := emulate.Cleanup("", prefix)
		if err != nil {
			fmt.Fprintf(stderr, "netsim emulate --cleanup: %v\n", err)
			return exitUnmet
		}
		if len(gone) == 0 {
			fmt.Fprintf(stdout, "nothing left by an emulation of %q (no namespace %s*)\n", s.Name, prefix)
		} else {
			fmt.Fprintf(stdout, "removed %d namespaces of an earlier emulation of %q: %s\n", len(gone), s.Name, strings.Join(gone, " "))
		}
		return exitOK
	}
	lv, ok := map[string]trace.Level{"detailed": trace.LevelDetailed, "summary": trace.LevelSummary, "minimal": trace.LevelMinimal}[*level]
	if !ok {
		fmt.Fprintf(stderr, "netsim emulate: --level %q: expected detailed, summary or minimal\n", *level)
		return exitBadInput
	}
	var pf *os.File
	if *pcapFile != "" {
		if _, err := os.Stat(*pcapFile); err == nil && !*force {
			fmt.Fprintf(stderr, "netsim emulate: --pcap %s: the file exists (--force overwrites it)\n", *pcapFile)
			return exitBadInput
		}
		for _, in := range s.InputFiles() {
			if sameFile(in, *pcapFile) {
				fmt.Fprintf(stderr, "netsim emulate: --pcap %s: is an input of the scenario\n", *pcapFile)
				return exitBadInput
			}
		}
		pf, err = os.Create(*pcapFile)
		if err != nil {
			fmt.Fprintf(stderr, "netsim emulate: --pcap: %v\n", err)
			return exitBadInput
		}
		defer pf.Close()
	}
	// Signals are caught before anything is made, so that no exit path
	// skips the cleanup.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var sink *pcap.Sink
	var out sync.Mutex
	opts := emulate.Options{Pods: *pods, NoHosts: *noHosts, Echo: !*noEcho}
	if pf != nil {
		opts.Capture = func(r *sim.Runner) (link.Capturer, error) {
			// Wall-clock timestamps (Epoch plus the time since it), so that
			// the capture lines up with tcpdump run inside the pods.
			wall := func() time.Duration { return time.Since(pcap.Epoch) }
			var err error
			sink, err = pcap.NewStreamSink(pf, wall, r.Rec)
			if err != nil {
				return nil, fmt.Errorf("--pcap %s: %w", *pcapFile, err)
			}
			return sink, nil
		}
	}
	if *traceOn {
		opts.OnHops = func(hops []trace.Hop) {
			out.Lock()
			defer out.Unlock()
			trace.WriteLevel(stdout, hops, 0, lv, *width)
		}
	}
	e, err := emulate.Start(s, opts)
	if err != nil {
		var probs topology.Problems
		if errors.As(err, &probs) {
			return badInput(stderr, err)
		}
		fmt.Fprintf(stderr, "netsim emulate: %v\n", topology.Printable(err.Error()))
		return exitBadInput
	}
	out.Lock()
	writeEndpoints(stdout, e, file)
	out.Unlock()
	var timeout <-chan time.Time
	if *duration > 0 {
		timeout = time.After(*duration)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	why := ""
wait:
	for {
		select {
		case sig := <-sigs:
			why = "got " + sig.String()
			break wait
		case <-timeout:
			why = fmt.Sprintf("ran for %s", *duration)
			break wait
		case <-tick.C:
			if err := e.Err(); err != nil {
				why = err.Error()
				break wait
			}
		}
	}
	st := e.Stats()
	cerr := e.Close()
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(stdout, "\n%s: stopped; %d frames read from the pods' TAPs\n", why, st.Frames)
	writeDrops(stdout, st.Drops)
	code = exitOK
	if sink != nil {
		if err := sink.Flush(); err != nil {
			fmt.Fprintf(stderr, "netsim emulate: --pcap %s: %v\n", *pcapFile, err)
			code = exitUnmet
		} else {
			fmt.Fprintf(stdout, "wrote %d frames on %d interfaces to %s\n", sink.Len(), len(sink.Interfaces()), *pcapFile)
		}
	}
	if cerr != nil {
		fmt.Fprintf(stderr, "netsim emulate: cleanup: %v (run `netsim emulate --cleanup %s`)\n", cerr, file)
		return exitUnmet
	}
	fmt.Fprintf(stdout, "removed %d namespaces\n", len(e.Endpoints))
	return code
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func writeEndpoints(w io.Writer, e *emulate.Emulator, file string) {
	s := e.Runner.World.Scenario
	fmt.Fprintf(w, "emulating %q in real time (%s): %d namespaces, each with a TAP eth0; nodes, bridges, tunnels, the VPC, kube-proxy, SLB and policies are simulated\n\n",
		s.Name, e.Runner.World.CNI.Name(), len(e.Endpoints))
	serves := map[*emulate.Endpoint][]string{}
	for _, sv := range e.Served {
		serves[sv.Endpoint] = append(serves[sv.Endpoint], fmt.Sprintf("%s/%d", sv.Proto, sv.Port))
	}
	width, nsWidth := len("ENDPOINT"), len("NAMESPACE")
	for _, ep := range e.Endpoints {
		width, nsWidth = max(width, len(ep.Ref)), max(nsWidth, len(ep.NS))
	}
	fmt.Fprintf(w, "  %-*s %-15s %-5s %-*s %s\n", width, "ENDPOINT", "ADDRESS", "MTU", nsWidth, "NAMESPACE", "ECHO SERVERS")
	for _, ep := range e.Endpoints {
		echo := strings.Join(serves[ep], " ")
		if echo == "" {
			echo = "-"
		}
		fmt.Fprintf(w, "  %-*s %-15s %-5d %-*s %s\n", width, ep.Ref, ep.IP, ep.Dev.MTU, nsWidth, ep.NS, echo)
	}
	for _, n := range e.NotServed {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if len(e.Served) > 0 {
		fmt.Fprintf(w, "\nthe echo servers answer on the ports each pod declares, as in netsim run: HTTP requests get a 200 saying who answered and which client address it saw, other TCP and UDP bytes come back (--no-echo: none)\n")
	}
	if len(e.Endpoints) > 1 {
		a, b := e.Endpoints[0], e.Endpoints[1]
		fmt.Fprintf(w, "\ntry, in another terminal:\n  netsim exec %s %s -- ping -c 3 %s\n  ip netns exec %s sh\n", file, strings.TrimPrefix(a.Ref, "pod/"), b.IP, a.NS)
	}
	fmt.Fprintf(w, "\nCtrl-C (or SIGTERM) stops the emulation and removes every namespace.\n")
}

func writeDrops(w io.Writer, drops map[string]uint64) {
	if len(drops) == 0 {
		fmt.Fprintf(w, "no frame was dropped\n")
		return
	}
	keys := make([]string, 0, len(drops))
	for k := range drops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "dropped, by reason:\n")
	for _, k := range keys {
		fmt.Fprintf(w, "  %-28s %d\n", k, drops[k])
	}
}

func cmdExec(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("exec", stdout, stderr)
	fs.SetInterspersed(false)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "netsim exec: %v\n", err)
		return exitBadInput
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	// FILE POD -- COMMAND…: the "--" keeps the command's own flags from
	// being read as netsim's.
	if len(rest) >= 3 && rest[2] == "--" {
		rest = append(rest[:2:2], rest[3:]...)
	}
	if len(rest) < 3 {
		fmt.Fprintf(stderr, "netsim exec: expected FILE POD -- COMMAND [ARGS…], e.g. netsim exec scenarios/flannel-vxlan.yaml web-1 -- ping -c 3 172.20.1.2\n")
		return exitBadInput
	}
	file, who, argv := rest[0], rest[1], rest[2:]
	s, err := topology.LoadWith(file, loadOptions)
	if err != nil {
		return badInput(stderr, err)
	}
	prefix := emulate.PrefixFor(s)
	if emulate.Running("", prefix) == 0 {
		fmt.Fprintf(stderr, "netsim exec: scenario %q is not being emulated: start `netsim emulate %s` first (in another terminal)\n", s.Name, file)
		return exitBadInput
	}
	var ns string
	for _, c := range emulate.NSName(prefix, who) {
		if _, err := os.Stat("/run/netns/" + c); err == nil {
			ns = c
			break
		}
	}
	if ns == "" {
		left, _ := emulate.Leftovers(prefix)
		var names []string
		for _, l := range left {
			names = append(names, strings.TrimPrefix(l, prefix))
		}
		fmt.Fprintf(stderr, "netsim exec: %q is not an emulated endpoint of %q (emulated: %s)\n", who, s.Name, strings.Join(names, ", "))
		return exitBadInput
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "netsim exec: %v\n", err)
		return exitBadInput
	}
	err = execIn(ns, path, argv)
	fmt.Fprintf(stderr, "netsim exec: %v\n", err)
	return exitBadInput
}

// execIn enters the network namespace ns on a locked OS thread and
// replaces the process with path: execve runs on the calling thread, so
// the program starts in the namespace (the other threads end with the
// old image). It returns only on failure.
func execIn(ns, path string, argv []string) error {
	runtime.LockOSThread()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	f.Close()
	return fmt.Errorf("exec %s: %w", path, syscall.Exec(path, argv, os.Environ()))
}
