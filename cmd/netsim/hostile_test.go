package main

// The hostile-input table: every directory under testdata/hostile is one
// broken or hostile input, run through the real CLI in a subprocess with a
// time and a memory bound. Each case's case.yaml says what to run and what
// must come out:
//
//	what: a line saying what the case is
//	args: [run, "{case}/scenario.yaml", "--pcap", "{tmp}/out.pcapng"]
//	exit: 2                        # the exit code
//	first: '^scenario.yaml:3:5: '  # a Go regexp the first line of stderr matches
//	stdout: 'regexp'               # optional: must match somewhere in stdout
//	not: 'regexp'                  # optional: must match nowhere in stdout or stderr
//	maxLines: 3                    # optional: stderr has at most this many lines
//	seconds: 10                    # optional wall-time bound (default 20)
//	rssMiB: 400                    # optional peak RSS bound (default 400)
//	setup: ["fifo {case}/pipe.yaml"]  # optional, run in order before netsim
//	unchanged: ["{case}/scenario.yaml"] # files byte-identical after the run
//
// {case} is a fresh copy of the case directory, which is also the working
// directory (so messages name files relative to it); {tmp} is an empty
// temporary directory. Setup steps: "fifo PATH", "socket PATH",
// "symlink TARGET PATH", "big PATH SIZE" (a file of SIZE bytes, e.g. 17MiB,
// of "a: b" lines), "write PATH PATTERN N" (the Go-quoted PATTERN N times,
// each {i} in it replaced by the repetition's index 0…N−1),
// "append PATH PATTERN N" (the same, added to the end), "chmod MODE PATH".

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

// hostileCase is one case.yaml.
type hostileCase struct {
	What      string   `yaml:"what"`
	Args      []string `yaml:"args"`
	Exit      int      `yaml:"exit"`
	First     string   `yaml:"first"`
	Stdout    string   `yaml:"stdout"`
	Not       string   `yaml:"not"`
	MaxLines  int      `yaml:"maxLines"`
	Seconds   float64  `yaml:"seconds"`
	RSSMiB    int      `yaml:"rssMiB"`
	Setup     []string `yaml:"setup"`
	Unchanged []string `yaml:"unchanged"`
}

// hostileMainEnv makes the test binary act as netsim (see TestMain).
const hostileMainEnv = "NETSIM_HOSTILE_MAIN"

// hostileHWMEnv names a file the test binary acting as netsim writes its
// own peak resident set to (VmHWM, KiB) before it exits. The rusage of a
// child is not that: Go starts children with a vfork-style clone sharing
// the parent's memory until exec, and Linux records that memory's
// high-water mark in the child's maxrss at exec, so a test process that
// had grown to 100 MiB made every child look 100 MiB big.
const hostileHWMEnv = "NETSIM_HOSTILE_HWM"

func TestMain(m *testing.M) {
	if os.Getenv(hostileMainEnv) == "1" {
		code := run(os.Args[1:], os.Stdout, os.Stderr)
		if f := os.Getenv(hostileHWMEnv); f != "" {
			if kib := statusKiB("/proc/self/status", "VmHWM:"); kib > 0 {
				_ = os.WriteFile(f, []byte(strconv.FormatInt(kib, 10)), 0o644)
			}
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestHostileInputs(t *testing.T) {
	dirs, err := filepath.Glob("testdata/hostile/*/case.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "no cases under testdata/hostile")
	self, err := os.Executable()
	require.NoError(t, err)
	for _, file := range dirs {
		src := filepath.Dir(file)
		t.Run(filepath.Base(src), func(t *testing.T) {
			c := readHostileCase(t, file)
			dir := filepath.Join(t.TempDir(), filepath.Base(src))
			require.NoError(t, os.CopyFS(dir, os.DirFS(src)))
			tmp := t.TempDir()
			expand := strings.NewReplacer("{case}", dir, "{tmp}", tmp).Replace
			for _, step := range c.Setup {
				hostileSetup(t, expand(step))
			}
			before := map[string][]byte{}
			for _, f := range c.Unchanged {
				b, err := os.ReadFile(expand(f))
				require.NoError(t, err, "unchanged: %s", f)
				before[expand(f)] = b
			}
			args := make([]string, len(c.Args))
			for i, a := range c.Args {
				args[i] = expand(a)
			}
			res := runBounded(t, self, dir, args, c)
			for f, b := range before {
				after, err := os.ReadFile(f)
				if assert.NoError(t, err, "%s was removed", f) {
					assert.True(t, bytes.Equal(b, after), "%s was changed", f)
				}
			}
			stderr := strings.ReplaceAll(res.stderr, dir+"/", "")
			stdout := strings.ReplaceAll(res.stdout, dir+"/", "")
			first, _, _ := strings.Cut(stderr, "\n")
			assert.Equal(t, c.Exit, res.code, "exit code; stderr:\n%s", head(stderr, 20))
			if c.First != "" {
				assert.Regexp(t, c.First, first, "first line of stderr:\n%s", head(stderr, 20))
			}
			if c.Stdout != "" {
				assert.Regexp(t, c.Stdout, stdout, "stdout")
			}
			if c.Not != "" {
				re := regexp.MustCompile(c.Not)
				assert.False(t, re.MatchString(stdout) || re.MatchString(stderr), "output matches %q:\n%s", c.Not, head(stderr, 20))
			}
			if c.MaxLines > 0 {
				assert.LessOrEqual(t, strings.Count(strings.TrimRight(stderr, "\n"), "\n")+1, c.MaxLines, "stderr lines:\n%s", head(stderr, 20))
			}
			t.Logf("%s: exit %d in %.2fs, peak RSS %d MiB", c.What, res.code, res.wall.Seconds(), res.rssKiB/1024)
		})
	}
}

func readHostileCase(t *testing.T, file string) hostileCase {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c hostileCase
	require.NoError(t, dec.Decode(&c), file)
	require.NotEmpty(t, c.Args, "%s: args", file)
	require.NotEmpty(t, c.What, "%s: what", file)
	if c.Seconds == 0 {
		c.Seconds = 20
	}
	if c.RSSMiB == 0 {
		c.RSSMiB = 400
	}
	if c.First != "" {
		_, err := regexp.Compile(c.First)
		require.NoError(t, err, "%s: first", file)
	}
	return c
}

type boundedResult struct {
	code           int
	stdout, stderr string
	wall           time.Duration
	rssKiB         int64
}

// runBounded runs netsim (this test binary in netsim mode) in dir, killing
// it past the case's time or memory bound, which fails the test.
func runBounded(t *testing.T, self, dir string, args []string, c hostileCase) boundedResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.Seconds*float64(time.Second)))
	defer cancel()
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Dir = dir
	hwm := filepath.Join(t.TempDir(), "vmhwm")
	cmd.Env = append(os.Environ(), hostileMainEnv+"=1", hostileHWMEnv+"="+hwm, "COLUMNS=120")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitedBuffer{b: &o, max: 4 << 20}, &limitedBuffer{b: &e, max: 4 << 20}
	start := time.Now()
	require.NoError(t, cmd.Start())
	// Watch the resident set while it runs: kill it as soon as it is over.
	overRSS := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if kib := vmRSSKiB(cmd.Process.Pid); kib > int64(c.RSSMiB)*1024 {
					overRSS <- kib
					_ = cmd.Process.Kill()
					return
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	res := boundedResult{stdout: o.String(), stderr: e.String(), wall: time.Since(start)}
	if b, err := os.ReadFile(hwm); err == nil {
		res.rssKiB, _ = strconv.ParseInt(string(b), 10, 64)
	} else if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.rssKiB = ru.Maxrss // it did not get to write its own (killed, crashed)
	}
	select {
	case kib := <-overRSS:
		t.Fatalf("%s: resident memory reached %d MiB, over the bound of %d MiB", c.What, kib/1024, c.RSSMiB)
	default:
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: still running after %.0fs (killed); stderr:\n%s", c.What, c.Seconds, head(res.stderr, 10))
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		require.NoError(t, err)
	}
	if res.code < 0 {
		t.Fatalf("%s: killed by a signal: %v; stderr:\n%s", c.What, err, head(res.stderr, 20))
	}
	if strings.Contains(res.stderr, "panic:") || strings.Contains(res.stderr, "goroutine ") {
		t.Fatalf("%s: panicked:\n%s", c.What, head(res.stderr, 30))
	}
	assert.LessOrEqual(t, res.rssKiB, int64(c.RSSMiB)*1024, "peak RSS")
	return res
}

// vmRSSKiB reads a process's resident set from /proc (0 when unknown).
func vmRSSKiB(pid int) int64 {
	return statusKiB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

// statusKiB reads one "Key:  N kB" line of a /proc status file (0 when
// unknown).
func statusKiB(file, key string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func head(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}

var sizeRE = regexp.MustCompile(`^(\d+)(KiB|MiB|GiB)?$`)

// hostileSetup runs one setup step.
func hostileSetup(t *testing.T, step string) {
	t.Helper()
	f := strings.Fields(step)
	require.NotEmpty(t, f, "empty setup step")
	arg := func(i int) string {
		require.Greater(t, len(f), i, "setup %q: missing argument %d", step, i)
		return f[i]
	}
	switch f[0] {
	case "fifo":
		require.NoError(t, syscall.Mkfifo(arg(1), 0o644))
	case "socket":
		// A unix socket path; the listener lives until the test ends.
		l, err := net.Listen("unix", arg(1))
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
	case "symlink":
		require.NoError(t, os.Symlink(arg(1), arg(2)))
	case "big":
		m := sizeRE.FindStringSubmatch(arg(2))
		require.NotNil(t, m, "setup %q: size such as 17MiB", step)
		n, _ := strconv.ParseInt(m[1], 10, 64)
		n <<= map[string]int{"": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
		line := []byte("a: b\n")
		buf := bytes.Repeat(line, int(n)/len(line)+1)[:n]
		require.NoError(t, os.WriteFile(arg(1), buf, 0o644))
	case "write", "append":
		// write PATH "PATTERN" N: the pattern may hold spaces, so it is
		// the Go-quoted string between the path and the count; append
		// adds it to the end of the file.
		rest := strings.TrimSpace(strings.TrimPrefix(step, f[0]))
		path, rest, _ := strings.Cut(rest, " ")
		i := strings.LastIndexByte(rest, ' ')
		require.Greater(t, i, 0, "setup %q: write PATH PATTERN N", step)
		pat, err := strconv.Unquote(strings.TrimSpace(rest[:i]))
		require.NoError(t, err, "setup %q: the pattern is a Go-quoted string", step)
		n, err := strconv.Atoi(rest[i+1:])
		require.NoError(t, err, "setup %q: count", step)
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if f[0] == "append" {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		out, err := os.OpenFile(path, flag, 0o644)
		require.NoError(t, err)
		data := bytes.Repeat([]byte(pat), n)
		if strings.Contains(pat, "{i}") {
			// {i} in the pattern is the repetition's index, 0 to N−1
			// (unique names: 10,000 node pools).
			var buf bytes.Buffer
			for j := range n {
				buf.WriteString(strings.ReplaceAll(pat, "{i}", strconv.Itoa(j)))
			}
			data = buf.Bytes()
		}
		_, err = out.Write(data)
		require.NoError(t, err)
		require.NoError(t, out.Close())
	case "chmod":
		mode, err := strconv.ParseUint(arg(1), 8, 32)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(arg(2), fs.FileMode(mode)))
	default:
		t.Fatalf("setup %q: unknown step %q", step, f[0])
	}
}
