package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"netsim/dataplane/trace"
	"netsim/sim"
	"netsim/topology/hint"
)

// defaultWidth is the width of a report that does not go to a terminal.
const defaultWidth = 120

// levelFlows is the level that prints no trace, only one line a flow
// (--summary).
const levelFlows = "flows"

// textOptions checks the text-report flags and turns them into options;
// flowsOnly is --summary or --level flows. A non-empty msg is a usage error.
func textOptions(widthSet bool, width int, level string, summary bool, hide []string, stdout io.Writer) (o sim.TextOptions, flowsOnly bool, msg string) {
	switch {
	case !widthSet:
		o.Width = terminalWidth(stdout)
	case width == 0:
	case width < trace.MinWidth:
		return o, false, fmt.Sprintf("--width %d: expected 0 (no wrapping) or at least %d columns", width, trace.MinWidth)
	default:
		o.Width = width
	}
	levels := []string{string(trace.LevelDetailed), string(trace.LevelSummary), string(trace.LevelMinimal), levelFlows}
	switch l, ok := trace.ParseLevel(level); {
	case level == levelFlows:
		flowsOnly = true
	case !ok:
		return o, false, fmt.Sprintf("--level %q: expected one of %s%s", level, strings.Join(levels, ", "), hint.DidYouMean(level, levels))
	default:
		o.Level = l
	}
	if summary {
		if level != string(trace.LevelDetailed) && level != levelFlows {
			return o, false, fmt.Sprintf("--summary is --level flows: it cannot be combined with --level %s", level)
		}
		flowsOnly = true
	}
	kinds := trace.SortedKinds(trace.Kinds())
	for _, k := range hide {
		kind, ok := trace.ParseKind(strings.TrimSpace(k))
		if !ok {
			return o, false, fmt.Sprintf("--hide %q: not a hop kind%s; the kinds are %s", k, hint.DidYouMean(k, kinds), strings.Join(kinds, ", "))
		}
		o.Filter.Hide = append(o.Filter.Hide, kind)
	}
	return o, flowsOnly, ""
}

// terminalWidth is the width of the terminal stdout is (its window size,
// else $COLUMNS), never below trace.MinWidth; defaultWidth when stdout is
// not a terminal.
func terminalWidth(stdout io.Writer) int {
	f, ok := stdout.(*os.File)
	if !ok {
		return defaultWidth
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return defaultWidth // not a terminal
	}
	cols := int(ws.Col)
	if cols == 0 {
		cols, _ = strconv.Atoi(os.Getenv("COLUMNS"))
	}
	if cols <= 0 {
		return defaultWidth
	}
	return max(cols, trace.MinWidth)
}

// nodeName resolves --node to the name hops carry: a node, instance or pod
// namespace ("node-1", "ecs-db", "default/web-1"; "pod/…", "node/…" and
// "ecs/…" accepted, a pod without namespace taken from "default"), "vpc",
// "l2", an SLB ("slb NAME") or "internet". Unknown names get a usage error
// with a suggestion.
func nodeName(r *sim.Runner, name string) (string, string) {
	var names []string
	for _, st := range r.World.Stacks() {
		names = append(names, st.Name)
	}
	if r.World.VPC != nil {
		names = append(names, "vpc")
		for _, lb := range r.World.VPC.SLBs() {
			names = append(names, "slb "+lb.Name)
		}
	}
	if r.World.L2 != nil {
		names = append(names, "l2")
	}
	want := name
	for _, p := range []string{"pod/", "node/", "ecs/"} {
		want = strings.TrimPrefix(want, p)
	}
	for _, n := range names {
		if n == want || n == "default/"+want {
			return n, ""
		}
	}
	sort.Strings(names)
	return "", fmt.Sprintf("%q: no such namespace%s (namespaces: %s)", name, hint.DidYouMean(want, names), strings.Join(names, ", "))
}
