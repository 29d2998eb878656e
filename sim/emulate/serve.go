package emulate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Echo servers: in `netsim run` a pod answers on the ports it declares
// (its containers' ports, or ports: in the scenario) with an echo. An
// emulated pod's simulated stack is gone, so the emulator starts the same
// programs for real, inside the pod's namespace: a TCP server on each
// declared TCP port and a UDP echo on each UDP port. The TCP server reads
// the first bytes: an HTTP/1.x request gets an HTTP 200 answer whose body
// says who answered and what it saw (method, path, Host, the client
// address and port — the source after any NAT), anything else is echoed
// back as `netsim run`'s echo does. SCTP ports are not served (Go has no
// SCTP sockets); the emulator says so at start.

// servers holds the sockets of the echo servers, to close them (and every
// connection they accepted) at Close: a socket keeps its namespace alive
// after `ip netns del`.
type servers struct {
	mu     sync.Mutex
	closed bool
	socks  map[io.Closer]struct{}
	wg     sync.WaitGroup
}

func (s *servers) add(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	if s.socks == nil {
		s.socks = map[io.Closer]struct{}{}
	}
	s.socks[c] = struct{}{}
	return true
}

func (s *servers) remove(c io.Closer) {
	s.mu.Lock()
	delete(s.socks, c)
	s.mu.Unlock()
	c.Close()
}

func (s *servers) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.socks {
		c.Close()
	}
	s.socks = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// Served is one echo server started in an emulated namespace.
type Served struct {
	Endpoint *Endpoint
	Proto    string // "tcp" or "udp"
	Port     uint16
}

// serve starts the echo servers of ep's declared ports and returns what it
// started and the SCTP ports it could not serve.
func (e *Emulator) serve(ep *Endpoint) (started []Served, sctp []uint16, err error) {
	tcp, udp, sctp := ep.stack.BoundPorts()
	for _, p := range tcp {
		var l net.Listener
		err := e.Net.Do(ep.NS, func() error {
			var err error
			l, err = net.Listen("tcp4", ":"+strconv.Itoa(int(p)))
			return err
		})
		if err != nil {
			return started, sctp, fmt.Errorf("tcp echo on port %d: %w", p, err)
		}
		if !e.srv.add(l) {
			return started, sctp, errors.New("emulator closed")
		}
		e.srv.wg.Add(1)
		go e.acceptLoop(ep, l, p)
		started = append(started, Served{ep, "tcp", p})
	}
	for _, p := range udp {
		var c net.PacketConn
		err := e.Net.Do(ep.NS, func() error {
			var err error
			c, err = net.ListenPacket("udp4", ":"+strconv.Itoa(int(p)))
			return err
		})
		if err != nil {
			return started, sctp, fmt.Errorf("udp echo on port %d: %w", p, err)
		}
		if !e.srv.add(c) {
			return started, sctp, errors.New("emulator closed")
		}
		e.srv.wg.Add(1)
		go e.udpEcho(c)
		started = append(started, Served{ep, "udp", p})
	}
	return started, sctp, nil
}

func (e *Emulator) udpEcho(c net.PacketConn) {
	defer e.srv.wg.Done()
	defer e.srv.remove(c)
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo(buf[:n], from)
	}
}

func (e *Emulator) acceptLoop(ep *Endpoint, l net.Listener, port uint16) {
	defer e.srv.wg.Done()
	defer e.srv.remove(l)
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !e.srv.add(c) {
			return
		}
		e.srv.wg.Add(1)
		go func() {
			defer e.srv.wg.Done()
			defer e.srv.remove(c)
			answer(c, ep, port)
		}()
	}
}

// httpMethods start an HTTP/1.x request line.
var httpMethods = []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "PATCH ", "OPTIONS ", "CONNECT ", "TRACE "}

// answer serves one connection: HTTP requests get an HTTP answer, other
// bytes are echoed.
func answer(c net.Conn, ep *Endpoint, port uint16) {
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.Peek(1); err != nil {
		return
	}
	head, _ := r.Peek(r.Buffered())
	isHTTP := false
	for _, m := range httpMethods {
		isHTTP = isHTTP || bytes.HasPrefix(head, []byte(m))
	}
	if !isHTTP {
		c.SetReadDeadline(time.Time{})
		io.Copy(c, r)
		return
	}
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		req, err := readRequest(r)
		if err != nil {
			return
		}
		body := fmt.Sprintf("netsim echo: %s (%s) port %d\nclient: %s\n%s %s %s\n", strings.TrimPrefix(ep.Ref, "pod/"), ep.IP, port, c.RemoteAddr(), req.method, req.target, req.proto)
		for _, h := range req.headers {
			body += h + "\n"
		}
		resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nServer: netsim-echo\r\n", len(body))
		if req.close {
			resp += "Connection: close\r\n"
		}
		resp += "\r\n"
		if req.method != "HEAD" {
			resp += body
		}
		if _, err := io.WriteString(c, resp); err != nil || req.close {
			return
		}
	}
}

type request struct {
	method, target, proto string
	headers               []string
	close                 bool
}

// readRequest reads a request line and headers (and skips a
// Content-Length body).
func readRequest(r *bufio.Reader) (request, error) {
	var q request
	line, err := r.ReadString('\n')
	if err != nil {
		return q, err
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		return q, fmt.Errorf("bad request line %q", line)
	}
	q.method, q.target, q.proto = f[0], f[1], f[2]
	q.close = q.proto == "HTTP/1.0"
	n := 0
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return q, err
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		if len(q.headers) < 64 {
			q.headers = append(q.headers, h)
		}
		k, v, _ := strings.Cut(h, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length":
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		case "connection":
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "close":
				q.close = true
			case "keep-alive":
				q.close = false
			}
		}
	}
	if n > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return q, err
		}
	}
	return q, nil
}
