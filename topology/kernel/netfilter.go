package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"netsim/topology"
)

// RestoreCommand is the iptables-restore that loads netsim's rules: the
// legacy one when it is installed (netsim prints rules as iptables-legacy
// does; both backends hook the same netfilter), else iptables-restore.
// It is empty when neither is installed.
func RestoreCommand() string {
	for _, c := range []string{"iptables-legacy-restore", "iptables-restore"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// SupportedNetfilter reports why the rules of netsim's nodes cannot be
// loaded here: no iptables-restore, or a kernel without the nat table. It
// probes in a throwaway namespace.
func SupportedNetfilter(prefix string) error {
	restore := RestoreCommand()
	if restore == "" {
		return errors.New("needs iptables-restore (apt-get install iptables) to load netsim's iptables rules")
	}
	n := New(prefix)
	defer n.Cleanup()
	ns, err := n.AddNS("probe")
	if err != nil {
		return fmt.Errorf("network namespaces: %w", err)
	}
	probe := "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.0.0.0/8 -m statistic --mode random --probability 0.5 -j MASQUERADE --random-fully\nCOMMIT\n"
	if err := n.restore(ns, restore, probe); err != nil {
		return fmt.Errorf("no kernel support for the nat table, statistic or MASQUERADE: %w", err)
	}
	return nil
}

// restore pipes rules into `ip netns exec ns iptables-restore`.
func (n *Net) restore(ns, restore, rules string) error {
	line := "ip netns exec " + ns + " " + restore + " <<EOF"
	cmd := exec.Command("ip", "netns", "exec", ns, restore)
	cmd.Stdin = strings.NewReader(rules)
	out, err := cmd.CombinedOutput()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.Log = append(n.Log, line+"  # "+strings.TrimSpace(string(out)))
		return fmt.Errorf("%s: %v: %s", line, err, strings.TrimSpace(string(out)))
	}
	n.Log = append(n.Log, line)
	return nil
}

var nfacctName = regexp.MustCompile(`--nfacct-name +(\S+)`)

// netfilter loads into every node's namespace the iptables rules netsim
// built for it (flanneld's, kube-proxy's: h.Filter.Save) with
// iptables-restore, after creating the nfacct counters the rules name (as
// kube-proxy does), and sets the node's IPv4 sysctls netsim models
// (route_localnet, rp_filter, accept_local, proxy_arp) to netsim's values.
// br_netfilter's bridge-nf-call-iptables, which netsim's nodes have on, is
// the kernel's per-namespace default (1); it is written all the same.
func (n *Net) netfilter(w *topology.World) error {
	restore := RestoreCommand()
	if restore == "" {
		return fmt.Errorf("iptables-restore: %w (install iptables)", ErrUnsupported)
	}
	for _, h := range w.Nodes {
		if h.Filter == nil {
			continue
		}
		ns := n.NS[h.Name]
		rules := h.Filter.Save(false, "raw", "mangle", "nat", "filter")
		err := n.Do(ns, func() error {
			seen := map[string]bool{}
			for _, m := range nfacctName.FindAllStringSubmatch(rules, -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					if err := nfacctAdd(m[1]); err != nil {
						return fmt.Errorf("nfacct add %s: %w", m[1], err)
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if err := n.restore(ns, restore, rules); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		err = n.Do(ns, func() error {
			for _, c := range h.Stack.Sysctls() {
				if err := sysctl(sysctlPath(c.Key), strconv.Itoa(c.Value)); err != nil {
					return err
				}
			}
			return sysctl("net/bridge/bridge-nf-call-iptables", "1")
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	return nil
}

// sysctlPath turns a sysctl key into its /proc/sys path; a device name in
// net.ipv4.conf.DEV.KNOB keeps its dots ("flannel.1").
func sysctlPath(key string) string {
	if rest, ok := strings.CutPrefix(key, "net.ipv4.conf."); ok {
		if i := strings.LastIndexByte(rest, '.'); i > 0 {
			return "net/ipv4/conf/" + rest[:i] + "/" + rest[i+1:]
		}
	}
	return strings.ReplaceAll(key, ".", "/")
}

// nfacctAdd creates the extended accounting object name in the calling
// thread's namespace, as `nfacct add NAME` does (NFNL_MSG_ACCT_NEW); one
// that exists already is fine.
func nfacctAdd(name string) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	const (
		subsysAcct = 7 // NFNL_SUBSYS_ACCT
		msgNew     = 0 // NFNL_MSG_ACCT_NEW
		attrName   = 1 // NFACCT_NAME
	)
	attr := append([]byte(name), 0)
	alen := 4 + len(attr)
	var b bytes.Buffer
	total := unix.SizeofNlMsghdr + 4 + (alen+3)&^3
	binary.Write(&b, binary.NativeEndian, unix.NlMsghdr{Len: uint32(total), Type: subsysAcct<<8 | msgNew,
		Flags: unix.NLM_F_REQUEST | unix.NLM_F_CREATE | unix.NLM_F_ACK, Seq: 1})
	b.Write([]byte{unix.AF_UNSPEC, 0, 0, 0}) // nfgenmsg: family, NFNETLINK_V0, res_id
	binary.Write(&b, binary.NativeEndian, uint16(alen))
	binary.Write(&b, binary.NativeEndian, uint16(attrName))
	b.Write(attr)
	b.Write(make([]byte, total-b.Len()))
	if err := unix.Sendto(fd, b.Bytes(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 4096)
	nr, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	// One NLMSG_ERROR answers the request (error 0 is the ACK).
	if nr >= unix.SizeofNlMsghdr+4 && binary.NativeEndian.Uint16(buf[4:6]) == unix.NLMSG_ERROR {
		if e := -int32(binary.NativeEndian.Uint32(buf[unix.SizeofNlMsghdr:])); e != 0 && unix.Errno(e) != unix.EEXIST {
			return unix.Errno(e)
		}
	}
	return nil
}

// IPTablesSave prints the rules loaded in the namespace of the netsim
// namespace name (a node) with the iptables-save that matches
// RestoreCommand.
func (n *Net) IPTablesSave(name string) (string, error) {
	restore := RestoreCommand()
	if restore == "" {
		return "", fmt.Errorf("iptables-save: %w", ErrUnsupported)
	}
	save := strings.TrimSuffix(restore, "-restore") + "-save"
	out, err := exec.Command("ip", "netns", "exec", n.NS[name], save).Output()
	if err != nil {
		return "", fmt.Errorf("ip netns exec %s %s: %w", n.NS[name], save, err)
	}
	return string(out), nil
}

var chainCounters = regexp.MustCompile(`^(:\S+ \S+) \[\d+:\d+\]$`)

// SaveTables splits iptables-save output into its tables' lines, without
// comments and with the chain counters zeroed (iptables-legacy-save always
// prints them; they are not what is compared).
func SaveTables(save string) map[string][]string {
	out := map[string][]string{}
	table := ""
	for _, l := range strings.Split(save, "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "*"):
			table = l[1:]
			out[table] = nil
		default:
			out[table] = append(out[table], chainCounters.ReplaceAllString(l, "$1 [0:0]"))
		}
	}
	return out
}
