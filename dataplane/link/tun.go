package link

import (
	"fmt"

	"netsim/dataplane/packet"
	"netsim/dataplane/trace"
)

// TUN device design notes (drivers/net/tun.c with the flags flanneld's
// udp backend opens it with, IFF_TUN|IFF_NO_PI):
//
//   - A TUN carries bare IP packets: no Ethernet header, no ARP
//     (`link/none`, flags POINTOPOINT,NOARP), and with IFF_NO_PI no
//     4-byte packet-information header either — read(2) on the fd returns
//     the IPv4 header first, and write(2) takes one.
//   - Transmitting on the device (tun_net_xmit) queues the packet for the
//     process holding /dev/net/tun open; a read returns it. With no
//     process attached the packet is dropped (tx_dropped).
//   - A write (tun_get_user) injects the packet as if it had been
//     received on the device (netif_rx): it goes through the namespace's
//     PREROUTING and routing like any incoming packet.
//   - In netsim the reader is a Go value called synchronously (the
//     userspace process's read loop collapsed into a call), so the packet
//     keeps its buffer: the two copies the real process makes (kernel →
//     user on read, user → kernel on sendto/write) are not copies here.

// TUNReader is the process that holds a TUN device's /dev/net/tun file
// descriptor open and reads the packets the kernel sends through it.
type TUNReader interface {
	// ReadTUN takes one packet (pkt at its IPv4 header) that the
	// namespace transmitted on the device; it owns pkt.
	ReadTUN(pkt *packet.Buffer)
}

// TUN is a tun device opened with IFF_TUN|IFF_NO_PI.
type TUN struct {
	// Dev is the device (e.g. flannel0): RawIP, kind "tun".
	Dev    *Device
	reader TUNReader
}

// NewTUN creates a TUN device named name in namespace ns. Nothing reads it
// until Attach.
func NewTUN(env *Env, ns, name string, mtu int) *TUN {
	t := &TUN{}
	t.Dev = NewDevice(env, ns, name, "tun", RawIP, mtu, packet.MAC{}, t)
	return t
}

// Attach makes r the process reading the device (open + TUNSETIFF).
func (t *TUN) Attach(r TUNReader) { t.reader = r }

// Reader returns the attached process, or nil.
func (t *TUN) Reader() TUNReader { return t.reader }

// Xmit is tun_net_xmit: hand the packet to the reading process.
func (t *TUN) Xmit(d *Device, pkt *packet.Buffer) {
	if t.reader == nil {
		d.Stats.TxDropped++
		d.env.Drop(pkt, d.NS, d.Name, trace.ReasonLinkDown,
			fmt.Sprintf("no process has /dev/net/tun open for %s: tun_net_xmit drops the packet", d.Name))
		return
	}
	// The packet leaves the kernel for userspace: its conntrack entry and
	// mark stay behind, as the bytes the process reads carry neither.
	pkt.Scrub()
	pkt.InIf = 0
	t.reader.ReadTUN(pkt)
}

// Write is write(2) on the TUN fd (tun_get_user → netif_rx): pkt, at its
// IPv4 header, arrives on the device as a received packet.
func (t *TUN) Write(pkt *packet.Buffer) {
	pkt.Scrub()
	t.Dev.Input(pkt)
}
