// Command benchtable turns `go test -bench` output into the tables `make
// bench` and `make bench-memory` print.
//
// Speed (the default): read the output of the dataplane path benchmarks and
// the gofloor floor, run in one `go test` invocation with GOMAXPROCS=1 and
// -count N, and print one row per benchmark: ns/packet and allocations a
// packet (medians of the N runs), Mpps/core, and the ratios of its ns/packet
// to the floor's and to host-gw's, all from the same input:
//
//	GOMAXPROCS=1 go test ./dataplane ./internal/gofloor -run '^$' \
//	    -bench 'PodToPod|Path8Hop' -benchmem -count 5 | go run ./cmd/benchtable
//
// Memory (-memory): read the -v output of sim's TestMemoryIsFlatInExchanges
// and print, per case, the heap after GC for n and k×n exchanges and
// whether the test found it flat.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"netsim/internal/columns"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("benchtable", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	floor := fs.String("floor", "Path8Hop/inner64", "the benchmark the floor ratio divides by (name without the Benchmark prefix)")
	hostgw := fs.String("hostgw", "PodToPod/cross-node-host-gw", "the benchmark the host-gw ratio divides by")
	procs := fs.Int("procs", 1, "GOMAXPROCS of the run: go test appends -N to benchmark names when N > 1, and that suffix is removed")
	memory := fs.Bool("memory", false, "read TestMemoryIsFlatInExchanges -v output and print the memory table")
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		fmt.Fprintf(stderr, "benchtable: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "benchtable: unexpected argument %q (the benchmark output is read from stdin)\n", fs.Arg(0))
		return 2
	}
	var err error
	if *memory {
		err = memoryTable(stdin, stdout)
	} else {
		err = speedTable(stdin, stdout, *floor, *hostgw, *procs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchtable: %v\n", err)
		return 1
	}
	return 0
}

// result is every run of one benchmark.
type result struct {
	name   string
	ns     []float64
	allocs []float64
}

// parseBench reads `go test -bench` lines ("BenchmarkX/y  N  123 ns/op  0
// allocs/op ...") in order of first appearance. procs > 1 strips the -procs
// suffix go test adds to names.
func parseBench(r io.Reader, procs int) ([]*result, error) {
	var out []*result
	byName := map[string]*result{}
	suffix := ""
	if procs > 1 {
		suffix = "-" + strconv.Itoa(procs)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a "BenchmarkX" line that is not a result (a log line)
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if suffix != "" {
			name = strings.TrimSuffix(name, suffix)
		}
		res := byName[name]
		if res == nil {
			res = &result{name: name}
			byName[name] = res
			out = append(out, res)
		}
		haveNS := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: value %q of %s: %w", line, f[0], f[i], f[i+1], err)
			}
			switch f[i+1] {
			case "ns/op":
				res.ns = append(res.ns, v)
				haveNS = true
			case "allocs/op":
				res.allocs = append(res.allocs, v)
			}
		}
		if !haveNS {
			return nil, fmt.Errorf("line %d: %s has no ns/op", line, f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the benchmark output: %w", err)
	}
	return out, nil
}

// median of a non-empty slice (the mean of the middle two for an even count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// speedTable prints the path table.
func speedTable(r io.Reader, w io.Writer, floorName, hostgwName string, procs int) error {
	results, err := parseBench(r, procs)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	find := func(name string) *result {
		for _, res := range results {
			if res.name == name {
				return res
			}
		}
		return nil
	}
	floor, hostgw := find(floorName), find(hostgwName)
	if floor == nil {
		return fmt.Errorf("the floor benchmark %s is not in the input (run ./internal/gofloor with -bench Path8Hop)", floorName)
	}
	if hostgw == nil {
		return fmt.Errorf("the host-gw benchmark %s is not in the input", hostgwName)
	}
	runs := map[int]bool{}
	for _, res := range results {
		runs[len(res.ns)] = true
	}
	// rounds are the per-round values of res when the input is rounds of
	// make bench: every benchmark ran R times, or 2R times (the floor,
	// run before and after the paths of each round: the mean of the two
	// brackets the round). nil otherwise.
	minRuns := len(floor.ns)
	for _, res := range results {
		minRuns = min(minRuns, len(res.ns))
	}
	rounds := func(res *result) []float64 {
		switch len(res.ns) {
		case minRuns:
			return res.ns
		case 2 * minRuns:
			v := make([]float64, minRuns)
			for k := range v {
				v[k] = (res.ns[2*k] + res.ns[2*k+1]) / 2
			}
			return v
		}
		return nil
	}
	perRound := true
	for _, res := range results {
		perRound = perRound && rounds(res) != nil
	}
	// ratio is the median of the per-round ratios (a change of the
	// machine's speed between rounds cancels out), or without rounds the
	// ratio of the medians.
	ratio := func(res, ref *result) float64 {
		if !perRound {
			return median(res.ns) / median(ref.ns)
		}
		a, b := rounds(res), rounds(ref)
		r := make([]float64, len(a))
		for i := range a {
			r[i] = a[i] / b[i]
		}
		return median(r)
	}
	rows := [][]string{{"path", "ns/packet", "spread", "Mpps/core", "× floor", "× host-gw", "allocs/packet"}}
	for _, res := range results {
		ns := median(res.ns)
		allocs := "-"
		if len(res.allocs) > 0 {
			allocs = strconv.FormatFloat(median(res.allocs), 'f', -1, 64)
		}
		name := res.name
		switch res {
		case floor:
			name += " (floor)"
		case hostgw:
			name += " (host-gw)"
		}
		lo, hi := slices.Min(res.ns), slices.Max(res.ns)
		rows = append(rows, []string{
			name,
			strconv.FormatFloat(ns, 'f', 1, 64),
			fmt.Sprintf("±%.0f%%", 50*(hi-lo)/ns),
			strconv.FormatFloat(1e3/ns, 'f', 2, 64),
			strconv.FormatFloat(ratio(res, floor), 'f', 2, 64),
			strconv.FormatFloat(ratio(res, hostgw), 'f', 2, 64),
			allocs,
		})
	}
	counts := make([]string, 0, len(runs))
	for n := range runs {
		counts = append(counts, strconv.Itoa(n))
	}
	slices.Sort(counts)
	how := fmt.Sprintf("the medians of the per-round ratios (%d rounds)", minRuns)
	if !perRound {
		how = "ratios of the medians"
	}
	fmt.Fprintf(w, "Simulator speed, measured: GOMAXPROCS=%d, medians of %s runs each, ratios from the same run.\n", procs, strings.Join(counts, "/"))
	fmt.Fprintf(w, "× floor and × host-gw are ns/packet over the floor's (%s, a bare 8-hop Go forwarder) and over host-gw's,\n", floorName)
	fmt.Fprintf(w, "%s; spread is half the min–max range of ns/packet over the median.\n\n", how)
	columns.Write(w, rows, 0)
	return nil
}

// memLine is TestMemoryIsFlatInExchanges' log line.
var memLine = regexp.MustCompile(`^\s*memory_test\.go:\d+: (.+): count (\d+): heap ([0-9.]+) MiB; count (\d+): heap ([0-9.]+) MiB \(×([0-9.]+)\)$`)

// memVerdict is a subtest's PASS or FAIL line.
var memVerdict = regexp.MustCompile(`^\s*--- (PASS|FAIL): TestMemoryIsFlatInExchanges/(\S+)`)

// memoryTable prints the memory table.
func memoryTable(r io.Reader, w io.Writer) error {
	type row struct{ name, n, heapN, m, heapM, ratio string }
	var rows []row
	verdict := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := memLine.FindStringSubmatch(sc.Text()); m != nil {
			rows = append(rows, row{m[1], m[2], m[3], m[4], m[5], m[6]})
		}
		if m := memVerdict.FindStringSubmatch(sc.Text()); m != nil {
			verdict[m[2]] = m[1]
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the test output: %w", err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("no TestMemoryIsFlatInExchanges figures in the input (run it with -v)")
	}
	fmt.Fprintln(w, "Memory for long runs, measured: heap in use after GC with the world alive, a flow of n and k×n exchanges")
	fmt.Fprintln(w, "(no trace kept, report streamed); flat means within the test's slack (conntrack and TIME-WAIT state until it times out).")
	fmt.Fprintln(w)
	tab := [][]string{{"case", "exchanges", "heap MiB", "exchanges", "heap MiB", "ratio", "flat"}}
	for _, x := range rows {
		v := verdict[strings.ReplaceAll(x.name, " ", "_")]
		switch v {
		case "PASS":
			v = "yes"
		case "FAIL":
			v = "NO"
		default:
			v = "?"
		}
		tab = append(tab, []string{x.name, x.n, x.heapN, x.m, x.heapM, "×" + x.ratio, v})
	}
	columns.Write(w, tab, 0)
	return nil
}
