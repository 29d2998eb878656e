// Package fuzzguard holds what netsim's fuzz targets share: a per-input
// bound on wall time and on allocation, so that an input that makes a
// decoder hang or allocate without bound is reported as a failure of that
// input (Go's fuzzer only notices a hang after its own, much longer,
// timeout, and an out-of-memory kill loses the input), and a reader for
// the pending corpus: crashers whose fix belongs to another change, kept
// under testdata/fuzz-pending/ so that `go test` stays green until then.
package fuzzguard

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MaxInput is the largest fuzz input the targets pass on: a scenario or a
// manifest of 64 KiB is far larger than any real one, and capping the size
// keeps every input's work small enough to bound in time.
const MaxInput = 64 << 10

// Limits bound one input's work.
type Limits struct {
	// Time is the wall time one call may take.
	Time time.Duration
	// Alloc is the number of bytes one call may allocate in total (heap
	// allocations, freed or not). The count is the process's, read from
	// runtime/metrics, so it is approximate by what other goroutines
	// allocate meanwhile and by the small allocations the runtime has not
	// yet added up: a bound for runaway growth, not an exact budget.
	Alloc uint64
}

// Default is the bound of the loader and decoder targets: 2 s and 512 MiB
// per input of at most MaxInput bytes (a bundled scenario parses in a few
// milliseconds and a few MiB).
var Default = Limits{Time: 2 * time.Second, Alloc: 512 << 20}

// allocated is the total of heap bytes allocated by the process so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// fuzzWorker reports whether this process is one of the fuzzer's workers
// (go test -fuzz starts them with -test.fuzzworker).
func fuzzWorker() bool {
	fl := flag.Lookup("test.fuzzworker")
	return fl != nil && fl.Value.String() == "true"
}

// overrun ends the input that exceeded its bound. In a fuzz worker the
// worker exits (the coordinator does not show its output): the fuzzer then
// records the input as a crasher without trying to minimise it, which
// would re-run the hang many times and pile up stuck goroutines; go test
// on the recorded input then fails with the message. Under plain go test,
// t fails with every goroutine's stack (the stuck call's among them) and
// the stuck goroutine is left behind.
func overrun(t testing.TB, format string, args ...any) {
	t.Helper()
	buf := make([]byte, 1<<20)
	stacks := buf[:runtime.Stack(buf, true)]
	if fuzzWorker() {
		fmt.Fprintf(os.Stderr, "fuzzguard: "+format+"\n%s\n", append(args, stacks)...)
		os.Exit(3)
	}
	if len(stacks) > 32<<10 {
		stacks = stacks[:32<<10]
	}
	t.Fatalf("fuzzguard: "+format+"\n(re-run this input alone to see where it is stuck; goroutines now:)\n%s", append(args, stacks)...)
}

// Run calls f in a goroutine and fails t when f takes longer than l.Time
// or when the process's allocations grow by more than l.Alloc while f runs
// (see overrun). A panic in f is re-raised on t's goroutine with f's
// stack, so the fuzzer records the input. what names the call in the
// message ("Parse").
func Run(t testing.TB, l Limits, what string, f func()) {
	t.Helper()
	done := make(chan any, 1)
	start := allocated()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				buf := make([]byte, 64<<10)
				done <- fmt.Sprintf("%v\n%s", r, buf[:runtime.Stack(buf, false)])
				return
			}
			done <- nil
		}()
		f()
	}()
	timer := time.NewTimer(l.Time)
	defer timer.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			if r != nil {
				t.Fatalf("%s panicked: %v", what, r)
			}
			if d := allocated() - start; d > l.Alloc {
				overrun(t, "%s allocated %d MiB, more than the %d MiB bound", what, d>>20, l.Alloc>>20)
			}
			return
		case <-timer.C:
			overrun(t, "%s took more than %v", what, l.Time)
			return
		case <-tick.C:
			if d := allocated() - start; d > l.Alloc {
				overrun(t, "%s allocated %d MiB and counting, more than the %d MiB bound", what, d>>20, l.Alloc>>20)
				return
			}
		}
	}
}

// PendingEnv is the environment variable that makes RunPending run the
// pending corpus (NETSIM_FUZZ_PENDING=1 go test ./topology -run Pending).
const PendingEnv = "NETSIM_FUZZ_PENDING"

// Pending returns the inputs of testdata/fuzz-pending/<target>/, each
// file a corpus entry in Go's format ("go test fuzz v1" and one value per
// line), keyed by file name. Values are returned as their Go literals'
// decoded forms: []byte and string as []byte, integers as uint64, bools.
func Pending(t testing.TB, target string) map[string][]any {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz-pending", target)
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("read pending corpus: %v", err)
	}
	out := map[string][]any{}
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("read pending corpus: %v", err)
		}
		vals, err := parseCorpus(data)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Join(dir, e.Name()), err)
		}
		out[e.Name()] = vals
	}
	return out
}

// parseCorpus decodes a corpus file of the types netsim's targets take.
func parseCorpus(data []byte) ([]any, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	if !sc.Scan() || sc.Text() != "go test fuzz v1" {
		return nil, fmt.Errorf("not a Go fuzz corpus file (want the header %q)", "go test fuzz v1")
	}
	var vals []any
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		open := strings.IndexByte(line, '(')
		if open < 0 || !strings.HasSuffix(line, ")") {
			return nil, fmt.Errorf("corpus line %q: want type(value)", line)
		}
		typ, lit := line[:open], line[open+1:len(line)-1]
		switch typ {
		case "[]byte", "string":
			s, err := strconv.Unquote(lit)
			if err != nil {
				return nil, fmt.Errorf("corpus line %q: %w", line, err)
			}
			vals = append(vals, []byte(s))
		case "bool":
			b, err := strconv.ParseBool(lit)
			if err != nil {
				return nil, fmt.Errorf("corpus line %q: %w", line, err)
			}
			vals = append(vals, b)
		case "byte", "uint8", "uint16", "uint32", "uint64", "int", "int64":
			if strings.HasPrefix(lit, "'") {
				r, _, _, err := strconv.UnquoteChar(lit[1:len(lit)-1], '\'')
				if err != nil {
					return nil, fmt.Errorf("corpus line %q: %w", line, err)
				}
				vals = append(vals, uint64(r))
				continue
			}
			n, err := strconv.ParseInt(lit, 0, 64)
			if err != nil {
				return nil, fmt.Errorf("corpus line %q: %w", line, err)
			}
			vals = append(vals, uint64(n))
		default:
			return nil, fmt.Errorf("corpus line %q: type %s is not one netsim's targets take", line, typ)
		}
	}
	return vals, sc.Err()
}

// Files returns the contents of the files the glob patterns match, in
// order, for a fuzz target's seed corpus; no match at all fails the test.
func Files(t testing.TB, patterns ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, pat := range patterns {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatalf("seed files %q: %v", pat, err)
		}
		for _, p := range m {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("seed file: %v", err)
			}
			out = append(out, data)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no seed files match %q", patterns)
	}
	return out
}
