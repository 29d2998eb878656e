package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// caseDir copies flannel-vxlan.yaml and networkpolicy.yaml with its
// manifest into a temporary directory, with a file, a symbolic link and
// a hard link to the scenario, and an old capture.
func caseDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cp := func(from, to string) {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, to), b, 0o644))
	}
	cp(vxlan, "vxlan.yaml")
	cp("../../scenarios/networkpolicy.yaml", "np.yaml")
	cp("../../scenarios/manifests/networkpolicy-xyz.yaml", "manifests/networkpolicy-xyz.yaml")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "afile"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.pcapng"), []byte("\n\r\r\nold capture"), 0o600))
	require.NoError(t, os.Symlink("vxlan.yaml", filepath.Join(dir, "link.yaml")))
	require.NoError(t, os.Link(filepath.Join(dir, "vxlan.yaml"), filepath.Join(dir, "hard.yaml")))
	require.NoError(t, os.Symlink("old.pcapng", filepath.Join(dir, "old-link.pcapng")))
	return dir
}

// tempFiles lists the leftover temporary files of a directory.
func tempFiles(t *testing.T, dir string) []string {
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	require.NoError(t, err)
	return m
}

func TestRunPcapPreflight(t *testing.T) {
	tests := []struct {
		name     string
		scenario string // in the case dir
		pcap     string // {dir} is the case dir
		extra    []string
		code     int
		first    string // a substring of the first stderr line
		old      string // the content old.pcapng must keep ("" : not checked)
	}{
		{name: "the scenario itself", scenario: "vxlan.yaml", pcap: "{dir}/vxlan.yaml", code: 2, first: "netsim run: --pcap {dir}/vxlan.yaml: is the scenario file {dir}/vxlan.yaml: an output never overwrites an input"},
		{name: "the scenario through ..", scenario: "vxlan.yaml", pcap: "{dir}/manifests/../vxlan.yaml", code: 2, first: "is the scenario file"},
		{name: "a symbolic link to the scenario", scenario: "vxlan.yaml", pcap: "{dir}/link.yaml", code: 2, first: "is the scenario file {dir}/vxlan.yaml"},
		{name: "a hard link to the scenario", scenario: "vxlan.yaml", pcap: "{dir}/hard.yaml", code: 2, first: "is the scenario file"},
		{name: "the scenario run through its symbolic link", scenario: "link.yaml", pcap: "{dir}/vxlan.yaml", code: 2, first: "is the scenario file {dir}/link.yaml"},
		{name: "a manifest", scenario: "np.yaml", pcap: "{dir}/manifests/networkpolicy-xyz.yaml", code: 2, first: "is the manifest {dir}/manifests/networkpolicy-xyz.yaml, which the scenario reads"},
		{name: "a directory", scenario: "vxlan.yaml", pcap: "{dir}/manifests", code: 2, first: "--pcap {dir}/manifests: is a directory"},
		{name: "under a file", scenario: "vxlan.yaml", pcap: "{dir}/afile/x.pcapng", code: 2, first: "{dir}/afile is not a directory"},
		{name: "in a missing directory", scenario: "vxlan.yaml", pcap: "{dir}/nodir/x.pcapng", code: 2, first: "its directory {dir}/nodir: no such file or directory"},
		{name: "an empty path", scenario: "vxlan.yaml", pcap: "", code: 2, first: "--pcap : an empty path"},
		{name: "no space left", scenario: "vxlan.yaml", pcap: "/dev/full", code: 2, first: "netsim run: --pcap /dev/full: writing the pcapng header: write /dev/full: no space left on device"},
		{name: "a run that fails keeps the old file", scenario: "vxlan.yaml", pcap: "{dir}/old.pcapng", extra: []string{"--flow", "nosuch"}, code: 2, first: "no flow named", old: "\n\r\r\nold capture"},
		{name: "a file that is not a capture", scenario: "vxlan.yaml", pcap: "{dir}/afile", code: 2, first: "--pcap {dir}/afile: exists and is not a capture (it does not start with a pcapng or pcap header): netsim overwrites only captures; remove it, choose another name, or add --force"},
		{name: "a file that is not a capture, with --force", scenario: "vxlan.yaml", pcap: "{dir}/afile", extra: []string{"--force"}, code: 0},
		{name: "/dev/null", scenario: "vxlan.yaml", pcap: "/dev/null", code: 0},
		{name: "a new file", scenario: "vxlan.yaml", pcap: "{dir}/new.pcapng", code: 0},
		{name: "replaces an old file", scenario: "vxlan.yaml", pcap: "{dir}/old.pcapng", code: 0},
		{name: "replaces the file a symbolic link points to", scenario: "vxlan.yaml", pcap: "{dir}/old-link.pcapng", code: 0},
		{name: "a file under /dev/shm is replaced, not appended to", scenario: "vxlan.yaml", pcap: "{shm}", code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := caseDir(t)
			shm := ""
			if tt.pcap == "{shm}" {
				if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
					t.Skip("no /dev/shm")
				}
				f, err := os.CreateTemp("/dev/shm", "netsim-test-*.pcapng")
				require.NoError(t, err)
				_, err = f.WriteString("\n\r\r\nold capture")
				require.NoError(t, err)
				require.NoError(t, f.Close())
				shm = f.Name()
				t.Cleanup(func() { os.Remove(shm) })
			}
			sub := func(s string) string { return strings.NewReplacer("{dir}", dir, "{shm}", shm).Replace(s) }
			scen := filepath.Join(dir, tt.scenario)
			before, err := os.ReadFile(scen)
			require.NoError(t, err)
			manifest, err := os.ReadFile(filepath.Join(dir, "manifests/networkpolicy-xyz.yaml"))
			require.NoError(t, err)
			args := append([]string{"run", scen, "--summary", "--pcap", sub(tt.pcap)}, tt.extra...)
			code, stdout, stderr := netsim(t, args...)
			assert.Equal(t, tt.code, code, stderr)
			if tt.code == 2 {
				first, _, _ := strings.Cut(stderr, "\n")
				assert.Contains(t, first, sub(tt.first))
				assert.Empty(t, stdout, "nothing printed before the outputs are known good")
			}
			after, err := os.ReadFile(scen)
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "the scenario is untouched")
			m, err := os.ReadFile(filepath.Join(dir, "manifests/networkpolicy-xyz.yaml"))
			require.NoError(t, err)
			assert.Equal(t, string(manifest), string(m), "the manifest is untouched")
			assert.Empty(t, tempFiles(t, dir), "temporary files left")
			if tt.old != "" {
				b, err := os.ReadFile(filepath.Join(dir, "old.pcapng"))
				require.NoError(t, err)
				assert.Equal(t, tt.old, string(b))
			}
			if tt.code == 0 && (strings.HasPrefix(tt.pcap, "{dir}") || tt.pcap == "{shm}") {
				p := sub(tt.pcap)
				b, err := os.ReadFile(p)
				require.NoError(t, err)
				assert.Equal(t, []byte{0x0a, 0x0d, 0x0d, 0x0a}, b[:4], "a pcapng section header")
				assert.Contains(t, stderr, "open it with: tshark -r "+p)
				st, err := os.Lstat(p)
				require.NoError(t, err)
				if strings.Contains(tt.pcap, "link") {
					assert.Equal(t, os.ModeSymlink, st.Mode()&os.ModeSymlink, "the link stays a link")
				}
				if strings.Contains(tt.pcap, "old") {
					st, err := os.Stat(p)
					require.NoError(t, err)
					assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the old file's mode is kept")
				}
			}
			if tt.pcap == "/dev/null" {
				assert.Contains(t, stderr, "to /dev/null")
				assert.NotContains(t, stderr, "open it with")
			}
		})
	}
}

func TestRunPcapFIFO(t *testing.T) {
	dir := caseDir(t)
	fifo := filepath.Join(dir, "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))

	t.Run("nothing reads it", func(t *testing.T) {
		code, stdout, stderr := netsim(t, "run", filepath.Join(dir, "vxlan.yaml"), "--summary", "--pcap", fifo)
		assert.Equal(t, 2, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "--pcap "+fifo+": is a FIFO that nothing reads")
	})
	t.Run("a reader", func(t *testing.T) {
		r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		require.NoError(t, err)
		defer r.Close()
		got := make(chan int, 1)
		go func() {
			var n int
			buf := make([]byte, 1<<16)
			for {
				k, err := r.Read(buf)
				n += k
				switch {
				case errors.Is(err, io.EOF) && n == 0:
					time.Sleep(time.Millisecond) // no writer yet
				case err != nil:
					got <- n
					return
				}
			}
		}()
		code, _, stderr := netsim(t, "run", filepath.Join(dir, "vxlan.yaml"), "--summary", "--pcap", fifo)
		assert.Equal(t, 0, code, stderr)
		assert.Positive(t, <-got, "bytes through the FIFO")
		st, err := os.Lstat(fifo)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeNamedPipe, "the FIFO is still a FIFO")
	})
}

// TestRunPcapWriteErrorDuringTheRun: a reader that goes away after the
// header makes the next write fail (EPIPE): the run stops with exit 2
// naming the flag and the error.
func TestRunPcapWriteErrorDuringTheRun(t *testing.T) {
	dir := caseDir(t)
	fifo := filepath.Join(dir, "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	require.NoError(t, err)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
				break // the header came: go away
			}
			time.Sleep(time.Millisecond)
		}
		r.Close()
	}()
	// ~2 MB of frames: far more than the pipe and the buffers hold.
	bulk := writeScenario(t, "bulk.yaml", strings.Replace(small("delivered"), "  - {name: b, node: node-2}",
		"  - {name: b, node: node-2, ports: [{port: 80, protocol: TCP}]}", 1)+
		"  - {name: bulk, from: pod/a, to: pod/b, protocol: tcp, port: 80, size: 65000, count: 2, expect: delivered}\n")
	code, stdout, stderr := netsim(t, "run", bulk, "--summary", "--pcap", fifo)
	assert.Equal(t, 2, code, stderr)
	assert.NotContains(t, stdout, "flows met", "the run stopped at the error")
	first, _, _ := strings.Cut(stderr, "\n")
	assert.Regexp(t, `^netsim run: --pcap `+regexp.QuoteMeta(fifo)+`: pcapng: .*broken pipe$`, first)
	assert.NotContains(t, stderr, "wrote ")
}

func TestRunPcapReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores the mode bits of a directory: the unwritable case is TestRunPcapPreflight's \"under a file\"")
	}
	dir := caseDir(t)
	ro := filepath.Join(dir, "ro")
	require.NoError(t, os.Mkdir(ro, 0o555))
	code, stdout, stderr := netsim(t, "run", filepath.Join(dir, "vxlan.yaml"), "--summary", "--pcap", filepath.Join(ro, "x.pcapng"))
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "permission denied")
}
