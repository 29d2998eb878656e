package pcap_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/packet"
	"netsim/dataplane/pcap"
	"netsim/sim"
	"netsim/topology"
)

// tee captures every frame into two sinks.
type tee [2]link.Capturer

func (t tee) Capture(dev *link.Device, dir link.Dir, pkt *packet.Buffer) {
	t[0].Capture(dev, dir, pkt)
	t[1].Capture(dev, dir, pkt)
}

// capture runs a bundled scenario with a memory sink and a stream sink
// writing to a buffer side by side.
func capture(t *testing.T, file string) (mem *pcap.Sink, streamed *pcap.Sink, bytesOut []byte) {
	t.Helper()
	s, err := topology.Load(file)
	require.NoError(t, err)
	r, err := sim.NewRunner(s)
	require.NoError(t, err)
	var buf bytes.Buffer
	mem = pcap.NewSink(r.Loop.Now, r.Rec)
	streamed, err = pcap.NewStreamSink(&buf, r.Loop.Now, r.Rec)
	require.NoError(t, err)
	r.World.Env.Capture = tee{mem, streamed}
	_, err = r.Run(sim.Options{Trace: true})
	require.NoError(t, err)
	require.NoError(t, streamed.Flush())
	return mem, streamed, buf.Bytes()
}

// TestStreamedBytesEqualTheMemorySink: the frames written as they are
// captured make the same file as the in-memory sink, which pcapgo and
// tshark read back frame for frame.
func TestStreamedBytesEqualTheMemorySink(t *testing.T) {
	for _, file := range []string{"../../scenarios/flannel-vxlan.yaml", "../../scenarios/flannel-udp.yaml", "../../scenarios/calico-ipip.yaml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			mem, streamed, got := capture(t, file)
			var want bytes.Buffer
			require.NoError(t, mem.Write(&want))
			require.Positive(t, mem.Len())
			assert.Equal(t, mem.Len(), streamed.Len())
			assert.Equal(t, mem.Interfaces(), streamed.Interfaces())
			assert.True(t, bytes.Equal(want.Bytes(), got), "streamed bytes differ from the memory sink's")
			assert.NoError(t, streamed.Err())

			rd, err := pcapgo.NewNgReader(bytes.NewReader(got), pcapgo.NgReaderOptions{WantMixedLinkType: true})
			require.NoError(t, err)
			n := 0
			for {
				if _, _, err := rd.ReadPacketData(); err != nil {
					break
				}
				n++
			}
			assert.Equal(t, streamed.Len(), n, "pcapgo reads every frame")
			assert.Equal(t, len(streamed.Interfaces()), rd.NInterfaces())

			tshark, err := exec.LookPath("tshark")
			if err != nil {
				t.Skip("tshark is not installed")
			}
			path := filepath.Join(t.TempDir(), "c.pcapng")
			require.NoError(t, os.WriteFile(path, got, 0o644))
			out, err := exec.Command(tshark, "-r", path, "-n", "-T", "fields", "-e", "frame.interface_name").CombinedOutput()
			require.NoError(t, err, "%s", out)
			var names []string
			for _, l := range strings.Split(string(out), "\n") {
				if l != "" && !strings.HasPrefix(l, "Running as user") {
					names = append(names, l)
				}
			}
			assert.Len(t, names, streamed.Len(), "tshark reads every frame")
			seen := map[string]bool{}
			for _, n := range names {
				seen[n] = true
			}
			assert.Len(t, seen, len(streamed.Interfaces()), "tshark names every interface")
		})
	}
}

// failWriter accepts ok bytes, then fails every write.
type failWriter struct {
	ok  int
	err error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if w.ok >= len(p) {
		w.ok -= len(p)
		return len(p), nil
	}
	return 0, w.err
}

func frame(n int) *packet.Buffer {
	pl := packet.NewPool()
	b := pl.Get(n)
	copy(b.Append(n), bytes.Repeat([]byte{0xab}, n))
	return b
}

func TestStreamWriteErrorsSurface(t *testing.T) {
	clock := func() time.Duration { return time.Millisecond }
	dev := &link.Device{Name: "eth0", NS: "node-1", Type: link.Ether, MTU: 1500}
	tests := []struct {
		name    string
		ok      int // bytes the writer accepts
		frames  int
		atStart bool // the error comes from NewStreamSink
	}{
		{name: "no space for the section header", ok: 0, atStart: true},
		{name: "fails after the header", ok: 200, frames: 3000},
		{name: "fails after many frames", ok: 1 << 20, frames: 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &failWriter{ok: tt.ok, err: syscall.ENOSPC}
			s, err := pcap.NewStreamSink(w, clock, nil)
			if tt.atStart {
				require.Error(t, err)
				assert.ErrorIs(t, err, syscall.ENOSPC)
				assert.Contains(t, err.Error(), "no space left on device")
				return
			}
			require.NoError(t, err)
			for range tt.frames {
				s.Capture(dev, link.Out, frame(1000))
			}
			err = s.Flush()
			require.Error(t, err)
			assert.ErrorIs(t, err, syscall.ENOSPC)
			assert.True(t, errors.Is(s.Err(), syscall.ENOSPC))
			assert.Less(t, s.Len(), tt.frames, "capturing stops at the first error")
		})
	}
}
