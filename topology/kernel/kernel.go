// Package kernel realises a resolved netsim topology from real Linux
// devices in network namespaces — the ground truth that netsim's data paths
// are compared with (see the differential test in this package).
//
// Design notes:
//
//   - Everything lives in named network namespaces that carry a unique
//     prefix (Net.Prefix): one per node, one per pod, one for the underlay.
//     Nothing is created in the root namespace except the namespace names
//     themselves (/run/netns/<name>), and Net.Cleanup deletes every one of
//     them, which destroys the devices, routes and sockets inside.
//   - Devices, addresses, routes, neighbours and FDB entries are made with
//     iproute2 (`ip -n NS …`, `bridge -n NS …`) exactly as the programs
//     netsim models make them: flanneld for flannel.1, the CNI bridge
//     plugin for cni0 and the veth pairs. Each command is logged in
//     Net.Log so that a failure shows the whole setup.
//   - Code that must run inside a namespace (sysctls, sockets, captures,
//     ethtool ioctls) runs in Net.Do: a fresh goroutine locked to its OS
//     thread, which setns(2)es into the namespace and is never unlocked, so
//     the thread ends with the goroutine and never serves other goroutines.
//     A socket made there stays in that namespace wherever it is used.
//   - Transmit checksum offload is switched off on every device made, so
//     the kernel computes checksums in software: what an AF_PACKET capture
//     on a veth sees is then what a real NIC puts on the wire, instead of
//     a CHECKSUM_PARTIAL header with a pseudo-header sum.
//   - IPv6 is disabled in every namespace (no router solicitations, MLD or
//     DAD frames in the captures); netsim models IPv4 only.
//   - The mapping from netsim names to kernel namespaces is Net.NS: the
//     netsim namespace name ("node-1", "default/pod-a") to the kernel one.
package kernel

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnsupported is returned by Realise for a topology this package cannot
// build from kernel devices yet.
var ErrUnsupported = errors.New("not realisable from kernel devices yet")

// Net is a set of network namespaces made for one realised topology.
type Net struct {
	// Prefix starts the name of every namespace made.
	Prefix string
	// NS maps a netsim namespace name ("node-1", "default/pod-a") to the
	// kernel namespace realising it.
	NS map[string]string
	// Log is every command run, in order, with its error if it failed.
	Log []string

	mu   sync.Mutex
	made []string
}

// New returns an empty Net whose namespaces are named prefix + name.
func New(prefix string) *Net {
	return &Net{Prefix: prefix, NS: map[string]string{}}
}

// Supported reports why the kernel test cannot run here: not root, or a
// missing iproute2, network namespace, veth, bridge or vxlan support. It
// probes by making a throwaway namespace with one device of each kind.
func Supported(prefix string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (creates network namespaces)")
	}
	for _, tool := range []string{"ip", "bridge"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs iproute2's %q: %w", tool, err)
		}
	}
	n := New(prefix)
	defer n.Cleanup()
	ns, err := n.AddNS("probe")
	if err != nil {
		return fmt.Errorf("network namespaces: %w", err)
	}
	for _, c := range []struct {
		kind string
		args []string
	}{
		{"veth", []string{"link", "add", "p0", "type", "veth", "peer", "name", "p1"}},
		{"bridge", []string{"link", "add", "b0", "type", "bridge"}},
		{"vxlan", []string{"link", "add", "x0", "type", "vxlan", "id", "1", "dstport", "8472", "nolearning"}},
	} {
		if err := n.IP(ns, c.args...); err != nil {
			return fmt.Errorf("no kernel support for %s devices: %w", c.kind, err)
		}
	}
	return nil
}

// AddNS creates the namespace Prefix+name and returns its full name.
func (n *Net) AddNS(name string) (string, error) {
	full := n.Prefix + name
	if err := n.run("ip", "netns", "add", full); err != nil {
		return "", err
	}
	n.mu.Lock()
	n.made = append(n.made, full)
	n.mu.Unlock()
	// A new namespace: loopback up, no IPv6.
	err := n.Do(full, func() error {
		for _, k := range []string{"all", "default"} {
			if err := sysctl("net/ipv6/conf/"+k+"/disable_ipv6", "1"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return full, n.IP(full, "link", "set", "lo", "up")
}

// IP runs `ip -n ns args…`.
func (n *Net) IP(ns string, args ...string) error {
	return n.run("ip", append([]string{"-n", ns}, args...)...)
}

// Bridge runs `bridge -n ns args…`.
func (n *Net) Bridge(ns string, args ...string) error {
	return n.run("bridge", append([]string{"-n", ns}, args...)...)
}

func (n *Net) run(cmd string, args ...string) error {
	line := cmd + " " + strings.Join(args, " ")
	out, err := exec.Command(cmd, args...).CombinedOutput()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.Log = append(n.Log, line+"  # "+strings.TrimSpace(string(out)))
		return fmt.Errorf("%s: %v: %s", line, err, strings.TrimSpace(string(out)))
	}
	n.Log = append(n.Log, line)
	return nil
}

// Do runs fn on an OS thread that has entered the namespace ns (a full
// name). The thread is never returned to the Go scheduler.
func (n *Net) Do(ns string, fn func() error) error {
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's exit ends the thread, so no
		// other goroutine ever runs in this namespace by accident.
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Cleanup deletes every namespace made, last first, and reports the
// first failure. It may be called more than once.
func (n *Net) Cleanup() error {
	n.mu.Lock()
	made := n.made
	n.made = nil
	n.mu.Unlock()
	var first error
	for i := len(made) - 1; i >= 0; i-- {
		if err := n.run("ip", "netns", "del", made[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RemoveStale deletes the namespaces left by earlier runs that were
// killed before their cleanup ran: names that start with base, then the
// decimal process ID of their maker, then "-", whose process is gone.
func RemoveStale(base string) error {
	ents, err := os.ReadDir("/run/netns")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	n := New("")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base)
		pid, _, dash := strings.Cut(rest, "-")
		if !ok || !dash || pid == "" || strings.Trim(pid, "0123456789") != "" {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue
		}
		if err := n.run("ip", "netns", "del", e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// sysctl writes a value under /proc/sys of the calling thread's namespace.
func sysctl(path, value string) error {
	if err := os.WriteFile("/proc/sys/"+path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(path, "/", "."), value, err)
	}
	return nil
}

// ethtool commands and the struct they take (linux/ethtool.h).
const (
	ethtoolSTXCSUM = 0x17 // set transmit checksum offload
	ethtoolSTSO    = 0x1f // set TCP segmentation offload
	ethtoolSGSO    = 0x24 // set generic segmentation offload
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// noOffload switches off transmit checksum offload and segmentation
// offloads on every device of the calling thread's namespace but lo.
func noOffload() error {
	links, err := netInterfaces()
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	for _, name := range links {
		if name == "lo" {
			continue
		}
		for _, cmd := range []uint32{ethtoolSTSO, ethtoolSGSO, ethtoolSTXCSUM} {
			if err := ethtoolSet(fd, name, cmd, 0); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
				return fmt.Errorf("ethtool %s cmd %#x: %w", name, cmd, err)
			}
		}
	}
	return nil
}

// ethtoolSet issues SIOCETHTOOL with an ethtool_value.
func ethtoolSet(fd int, dev string, cmd, data uint32) error {
	v := ethtoolValue{cmd: cmd, data: data}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], dev)
	ifr.data = uintptr(unsafe.Pointer(&v))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&v)
	if errno != 0 {
		return errno
	}
	return nil
}

// netInterfaces lists the device names of the calling thread's namespace.
func netInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	names := make([]string, len(ifs))
	for i, f := range ifs {
		names[i] = f.Name
	}
	return names, nil
}

// Device is the state of one kernel device that the comparison checks.
type Device struct {
	MTU int
	MAC string
	Up  bool
}

// Devices lists the devices (but lo) of every namespace that realises a
// netsim namespace, by netsim namespace name and device name.
func (n *Net) Devices() (map[string]map[string]Device, error) {
	out := map[string]map[string]Device{}
	for name, ns := range n.NS {
		devs := map[string]Device{}
		err := n.Do(ns, func() error {
			ifs, err := net.Interfaces()
			if err != nil {
				return fmt.Errorf("list interfaces: %w", err)
			}
			for _, f := range ifs {
				if f.Flags&net.FlagLoopback != 0 {
					continue
				}
				devs[f.Name] = Device{MTU: f.MTU, MAC: f.HardwareAddr.String(), Up: f.Flags&net.FlagUp != 0}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = devs
	}
	return out, nil
}
