package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// PMTUDisc is a socket's IP_MTU_DISCOVER mode (ping -M).
type PMTUDisc int

// The modes, as Linux names them.
const (
	// PMTUWant is the default: DF on packets that fit the path MTU.
	PMTUWant PMTUDisc = iota
	// PMTUDo is ping -M do: DF always, EMSGSIZE when too large.
	PMTUDo
	// PMTUDont is ping -M dont: DF never.
	PMTUDont
)

func (m PMTUDisc) sockopt() int {
	switch m {
	case PMTUDo:
		return unix.IP_PMTUDISC_DO
	case PMTUDont:
		return unix.IP_PMTUDISC_DONT
	}
	return unix.IP_PMTUDISC_WANT
}

// IPutilsPayload fills b as iputils ping does: every byte is its offset,
// and the first 16 (when there is room) hold the send time as a struct
// timeval in host byte order.
func IPutilsPayload(b []byte, now time.Time) {
	for i := range b {
		b[i] = byte(i)
	}
	if len(b) >= 16 {
		binary.LittleEndian.PutUint64(b[0:8], uint64(now.Unix()))
		binary.LittleEndian.PutUint64(b[8:16], uint64(now.Nanosecond()/1000))
	}
}

// icmpChecksum is the Internet checksum of b.
func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// Ping sends one ICMP echo request from namespace ns the way iputils ping
// does as root (a raw ICMP socket, the iputils payload, the given ident
// and sequence) and waits for its reply. The result is "reply", "frag-needed
// mtu N", "icmp TYPE/CODE" for another error quoting the request,
// "msg-too-long" when sendto fails with EMSGSIZE, or "timeout".
func (n *Net) Ping(ns string, dst netip.Addr, id, seq uint16, size int, df PMTUDisc, timeout time.Duration) (string, error) {
	var res string
	err := n.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return fmt.Errorf("raw ICMP socket: %w", err)
		}
		defer unix.Close(fd)
		if df != PMTUWant {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, df.sockopt()); err != nil {
				return fmt.Errorf("IP_MTU_DISCOVER: %w", err)
			}
		}
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		msg := make([]byte, 8+size)
		msg[0] = 8 // echo request
		binary.BigEndian.PutUint16(msg[4:6], id)
		binary.BigEndian.PutUint16(msg[6:8], seq)
		IPutilsPayload(msg[8:], time.Now())
		binary.BigEndian.PutUint16(msg[2:4], icmpChecksum(msg))
		if err := unix.Sendto(fd, msg, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
			if errors.Is(err, unix.EMSGSIZE) {
				// ping: local error: message too long
				res = "msg-too-long"
				return nil
			}
			return fmt.Errorf("sendto %s: %w", dst, err)
		}
		buf := make([]byte, 65536)
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
			nr, _, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("recvfrom: %w", err)
			}
			p := buf[:nr]
			if len(p) < 20 || len(p) < int(p[0]&0x0f)*4+8 {
				continue
			}
			ic := p[int(p[0]&0x0f)*4:]
			switch {
			case ic[0] == 0 && binary.BigEndian.Uint16(ic[4:6]) == id && binary.BigEndian.Uint16(ic[6:8]) == seq:
				res = "reply"
				return nil
			case ic[0] == 3 || ic[0] == 11:
				q := ic[8:]
				if len(q) < 28 || len(q) < int(q[0]&0x0f)*4+8 {
					continue
				}
				qi := q[int(q[0]&0x0f)*4:]
				if qi[0] != 8 || binary.BigEndian.Uint16(qi[4:6]) != id || binary.BigEndian.Uint16(qi[6:8]) != seq {
					continue
				}
				if ic[0] == 3 && ic[1] == 4 {
					res = fmt.Sprintf("frag-needed mtu %d", binary.BigEndian.Uint16(ic[6:8]))
				} else {
					res = fmt.Sprintf("icmp %d/%d", ic[0], ic[1])
				}
				return nil
			}
		}
		res = "timeout"
		return nil
	})
	return res, err
}

// fill writes netsim's payload pattern (0x10, 0x11, …) into b.
func fill(b []byte) []byte {
	for i := range b {
		b[i] = byte(0x10 + i)
	}
	return b
}

// ServeUDPEcho opens a UDP echo server on port in ns (an unconnected
// socket answering each datagram with sendto) and returns how to stop it.
func (n *Net) ServeUDPEcho(ns string, port uint16) (func(), error) {
	var c *net.UDPConn
	err := n.Do(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("udp echo on %s:%d: %w", ns, port, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			nr, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(buf[:nr], from)
		}
	}()
	return func() { c.Close(); <-done }, nil
}

// SendUDP sends one datagram of size bytes from a connected UDP socket in
// ns and waits for the echo. The result is "reply" or "timeout".
func (n *Net) SendUDP(ns string, dst netip.AddrPort, size int, timeout time.Duration) (string, error) {
	var res string
	err := n.Do(ns, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write(fill(make([]byte, size))); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		buf := make([]byte, 65536)
		if nr, err := c.Read(buf); err == nil && nr == size {
			res = "reply"
		} else {
			res = "timeout"
		}
		return nil
	})
	return res, err
}

// ServeTCPEcho opens a TCP echo server on port in ns: each connection's
// bytes are written back, and the server closes when the client does.
func (n *Net) ServeTCPEcho(ns string, port uint16) (func(), error) {
	var l *net.TCPListener
	err := n.Do(ns, func() error {
		var err error
		l, err = net.ListenTCP("tcp4", &net.TCPAddr{Port: int(port)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tcp echo on %s:%d: %w", ns, port, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	return func() { l.Close(); <-done }, nil
}

// DialTCP connects from ns to dst, sends size bytes, reads them back and
// closes. The result is "reply", "refused" or "timeout".
func (n *Net) DialTCP(ns string, dst netip.AddrPort, size int, timeout time.Duration) (string, error) {
	var res string
	err := n.Do(ns, func() error {
		d := net.Dialer{Timeout: timeout}
		c, err := d.Dial("tcp4", dst.String())
		if err != nil {
			if errors.Is(err, unix.ECONNREFUSED) {
				res = "refused"
				return nil
			}
			res = "timeout"
			return nil
		}
		defer c.Close()
		if _, err := c.Write(fill(make([]byte, size))); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
			res = "timeout"
			return nil
		}
		res = "reply"
		return nil
	})
	return res, err
}
