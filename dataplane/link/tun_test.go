package link_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"netsim/dataplane/link"
	"netsim/dataplane/link/linktest"
	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

type tunReader struct{ got []*packet.Buffer }

func (r *tunReader) ReadTUN(pkt *packet.Buffer) { r.got = append(r.got, pkt) }

type rxRecorder struct{ got []*packet.Buffer }

func (r *rxRecorder) Receive(_ *link.Device, pkt *packet.Buffer) { r.got = append(r.got, pkt) }

func tunPacket(env *link.Env) *packet.Buffer {
	p := env.Pool.Get(64)
	b := p.Append(packet.IPv4HeaderLen + 8)
	packet.IPv4(b).SetHeader(packet.IPv4Fields{TotalLen: len(b), TTL: 64, Protocol: packet.ProtoICMP,
		Src: netip.MustParseAddr("10.244.1.2"), Dst: netip.MustParseAddr("10.244.2.3")})
	return p
}

func TestTUN(t *testing.T) {
	tests := []struct {
		name     string
		reader   bool
		wantRead int
		wantDrop trace.Reason
	}{
		{name: "a reader gets the packet, raw IP", reader: true, wantRead: 1},
		{name: "no process has the fd open", reader: false, wantDrop: trace.ReasonLinkDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := linktest.NewEnv()
			env.Trace = &trace.Recorder{}
			tun := link.NewTUN(env, "node-1", "flannel0", 1472)
			assert.Equal(t, link.RawIP, tun.Dev.Type)
			assert.Equal(t, "tun", tun.Dev.Kind)
			assert.Equal(t, 1472, tun.Dev.MTU)
			r := &tunReader{}
			if tt.reader {
				tun.Attach(r)
				assert.Same(t, r, tun.Reader())
			}
			p := tunPacket(env)
			p.Mark = 0x4000
			p.CT = "entry"
			tun.Dev.Transmit(p)
			require.Len(t, r.got, tt.wantRead)
			if tt.wantRead > 0 {
				got := r.got[0]
				assert.Equal(t, uint8(0x45), got.Bytes()[0], "the read starts at the IPv4 header: no PI header, no Ethernet")
				assert.Zero(t, got.Mark, "the mark stays in the kernel")
				assert.Nil(t, got.CT, "so does the conntrack entry")
				assert.Equal(t, uint64(1), tun.Dev.Stats.TxPackets)
				got.Free()
			} else {
				drops := env.Trace.DropList()
				require.Len(t, drops, 1)
				assert.Equal(t, tt.wantDrop, drops[0].Reason)
				assert.Contains(t, drops[0].Detail, "/dev/net/tun")
				assert.Equal(t, uint64(1), tun.Dev.Stats.TxDropped)
			}
			assert.Zero(t, env.Pool.Out, "every buffer back in the pool")
		})
	}
}

func TestTUNWriteArrivesAsReceived(t *testing.T) {
	env, _ := linktest.NewEnv()
	tun := link.NewTUN(env, "node-1", "flannel0", 1472)
	rx := &rxRecorder{}
	tun.Dev.SetReceiver(rx)
	p := tunPacket(env)
	p.Mark = 7
	tun.Write(p)
	require.Len(t, rx.got, 1)
	assert.Same(t, p, rx.got[0])
	assert.Zero(t, p.Mark, "a packet written by userspace carries no mark")
	assert.Equal(t, uint64(1), tun.Dev.Stats.RxPackets)
	p.Free()
}
