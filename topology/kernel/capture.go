package kernel

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Frame is one captured Ethernet frame and its direction on the device.
type Frame struct {
	Data []byte
	// Out is true for a frame the device sent (PACKET_OUTGOING).
	Out bool
}

// Capture is an AF_PACKET capture of one device, running until Stop.
type Capture struct {
	fd     int
	stop   atomic.Bool
	done   chan struct{}
	mu     sync.Mutex
	frames []Frame
	err    error
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Capture starts capturing every frame sent or received by device dev of
// the namespace ns (a full name).
func (n *Net) Capture(ns, dev string) (*Capture, error) {
	c := &Capture{fd: -1, done: make(chan struct{})}
	err := n.Do(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		// Protocol 0 until bound: no frames of other devices slip in.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET to %s: %w", dev, err)
		}
		tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture %s in %s: %w", dev, ns, err)
	}
	go c.loop()
	return c, nil
}

func (c *Capture) loop() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		nr, from, err := unix.Recvfrom(c.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			if c.stop.Load() {
				return
			}
			continue
		case err != nil:
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		out := false
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			out = ll.Pkttype == unix.PACKET_OUTGOING
		}
		c.mu.Lock()
		c.frames = append(c.frames, Frame{Data: append([]byte(nil), buf[:nr]...), Out: out})
		c.mu.Unlock()
	}
}

// Stop ends the capture once every queued frame is read, closes the
// socket and returns the frames in arrival order.
func (c *Capture) Stop() ([]Frame, error) {
	c.stop.Store(true)
	<-c.done
	unix.Close(c.fd)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames, c.err
}
