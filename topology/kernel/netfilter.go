package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
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
// probes in a throwaway namespace. IP sets are probed apart
// (SupportedIPSets): only topologies whose rules match a set need them.
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

// IPSetCommand is the ipset tool that creates netsim's IP sets in a node's
// namespace (`ipset restore`) and reads them back (`ipset save`); it is
// empty when ipset is not installed.
func IPSetCommand() string {
	if p, err := exec.LookPath("ipset"); err == nil {
		return p
	}
	return ""
}

// SupportedIPSets reports why the IP sets of netsim's nodes (felix's
// cali40all-ipam-pools and cali40masq-ipam-pools, which Calico's
// natOutgoing rule matches) cannot be made here: no ipset tool, or a
// kernel without hash:net sets or the iptables set match. It probes in a
// throwaway namespace. Topologies whose rules match no set do not need
// it: their sets (if any) are then not created, see netfilter.
func SupportedIPSets(prefix string) error {
	ipset := IPSetCommand()
	if ipset == "" {
		return errors.New("needs the ipset tool (apt-get install ipset) to create the IP sets netsim's rules match (Calico's natOutgoing)")
	}
	restore := RestoreCommand()
	if restore == "" {
		return errors.New("needs iptables-restore (apt-get install iptables) to load rules that match IP sets")
	}
	n := New(prefix)
	defer n.Cleanup()
	ns, err := n.AddNS("probe")
	if err != nil {
		return fmt.Errorf("network namespaces: %w", err)
	}
	if err := n.pipe(ns, ipset, "create probe hash:net family inet hashsize 1024 maxelem 1048576\nadd probe 10.0.0.0/8\n", "restore"); err != nil {
		return fmt.Errorf("no kernel support for hash:net IP sets (ip_set_hash_net): %w", err)
	}
	probe := "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -m set --match-set probe src -m set ! --match-set probe dst -j MASQUERADE --random-fully\nCOMMIT\n"
	if err := n.restore(ns, restore, probe); err != nil {
		return fmt.Errorf("no kernel support for the iptables set match (xt_set): %w", err)
	}
	return nil
}

// restore pipes rules into `ip netns exec ns iptables-restore`.
func (n *Net) restore(ns, restore, rules string) error {
	return n.pipe(ns, restore, rules)
}

// pipe runs `ip netns exec ns tool args…` with input on its standard
// input, logging the command.
func (n *Net) pipe(ns, tool, input string, args ...string) error {
	line := strings.Join(append([]string{"ip netns exec " + ns + " " + tool}, args...), " ") + " <<EOF"
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, tool}, args...)...)
	cmd.Stdin = strings.NewReader(input)
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
// built for it (flanneld's, kube-proxy's, felix's: h.Filter.Save) with
// iptables-restore, after creating the nfacct counters the rules name (as
// kube-proxy does) and the node's IP sets (felix's pool sets: `ipset
// restore` of netsim's `ipset save`, h.Filter.SaveIPSets; sets live in the
// network namespace, as the rules do), and sets the node's IPv4 sysctls netsim models
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
		if err := n.ipsets(h.Name, ns, h.Filter.SaveIPSets(), rules); err != nil {
			return err
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

// ipsets creates a node's IP sets (sets, `ipset save` text) in its
// namespace ns with `ipset restore`. Without the ipset tool a node whose
// rules match a set is ErrUnsupported; sets that no rule matches (felix
// makes its pool sets with natOutgoing off too) are then left out.
func (n *Net) ipsets(node, ns, sets, rules string) error {
	if sets == "" {
		return nil
	}
	ipset := IPSetCommand()
	if ipset == "" {
		if strings.Contains(rules, "--match-set") {
			return fmt.Errorf("%s: its iptables rules match IP sets, which need the ipset tool (apt-get install ipset): %w", node, ErrUnsupported)
		}
		n.mu.Lock()
		n.Log = append(n.Log, "# "+node+": no ipset tool; its IP sets are not created (no rule matches them)")
		n.mu.Unlock()
		return nil
	}
	if err := n.pipe(ns, ipset, sets, "restore"); err != nil {
		return fmt.Errorf("%s: ipset restore: %w", node, err)
	}
	return nil
}

// IPSetSave prints the IP sets of the namespace of the netsim namespace
// name (a node) with `ipset save`.
func (n *Net) IPSetSave(name string) (string, error) {
	ipset := IPSetCommand()
	if ipset == "" {
		return "", fmt.Errorf("ipset save: %w", ErrUnsupported)
	}
	out, err := exec.Command("ip", "netns", "exec", n.NS[name], ipset, "save").Output()
	if err != nil {
		return "", fmt.Errorf("ip netns exec %s ipset save: %w", n.NS[name], err)
	}
	return string(out), nil
}

var setInitval = regexp.MustCompile(` initval 0x[0-9a-f]+`)

// SaveSets turns `ipset save` output into the lines compared: per set its
// create line without "initval 0x…" (the hash seed, random per set since
// ipset 7.11) and then its members sorted (a hash set prints them in
// bucket order, which has no meaning). Sets keep their order.
func SaveSets(save string) []string {
	var out, members []string
	flush := func() {
		sort.Strings(members)
		out = append(out, members...)
		members = nil
	}
	for _, l := range strings.Split(save, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "create "):
			flush()
			out = append(out, setInitval.ReplaceAllString(l, ""))
		default:
			members = append(members, l)
		}
	}
	flush()
	return out
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
